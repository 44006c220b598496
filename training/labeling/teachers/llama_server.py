"""llama.cpp's ``llama-server`` as a child process: started on a free local port, always stopped.

`LlamaServer` runs the binary (`find_binary`: ``$LLAMA_SERVER``, else ``<sys.prefix>/bin``, else
``PATH``) on 127.0.0.1 with a GGUF model, waits until ``GET /health`` answers 200, and exposes the
OpenAI-compatible root as `base_url`. It is stopped by `stop`, by leaving its ``with`` block
(an exception or Ctrl-C included), and, as a safety net, at interpreter exit (`weakref.finalize`):

- the server runs in its own session (``start_new_session``), so a Ctrl-C in the terminal reaches
  only Python, which then stops the server in order instead of racing it;
- stopping sends SIGTERM to the server's process group, then SIGKILL after a grace period;
- on Linux the child also asks the kernel for SIGTERM when its parent dies
  (``PR_SET_PDEATHSIG``), so even ``kill -9`` of Python leaves no server behind. The kernel sends
  it when the *thread* that started the server exits: start it from a thread that outlives it.

When the server exits during start-up, or is not healthy in time, `TeacherError` carries the tail
of its log.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from categorizer.cpus import usable_cpus
from training.labeling.teachers.base import TeacherError

__all__ = ["BINARY_ENV", "LlamaServer", "find_binary"]

logger = logging.getLogger(__name__)

BINARY_ENV = "LLAMA_SERVER"
_HOST = "127.0.0.1"
_LOG_TAIL = 2000
_PORT_ATTEMPTS = 3  # a free port can be taken between choosing it and the server binding it
_PR_SET_PDEATHSIG = 1


def find_binary() -> Path:
    """The ``llama-server`` to run: ``$LLAMA_SERVER``, ``<sys.prefix>/bin/llama-server``, PATH.

    Raises:
        TeacherError: none of them exists (the message names ``make llama-server``).
    """
    configured = os.environ.get(BINARY_ENV)
    if configured:
        path = Path(configured).expanduser()
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise TeacherError(f"${BINARY_ENV} is {configured!r}, which is not an executable file")
    beside = Path(sys.prefix) / "bin" / "llama-server"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("llama-server")
    if found:
        return Path(found)
    raise TeacherError(
        f"llama.cpp's llama-server is not installed (looked at ${BINARY_ENV}, {beside} and PATH): "
        "run `make llama-server` (scripts/build_llama_server.sh builds it once per machine, "
        f"12-20 min on 2 cores) or set {BINARY_ENV} to a llama-server binary"
    )


class LlamaServer:
    """One ``llama-server`` process serving one GGUF model on 127.0.0.1.

    Args:
        model: the GGUF file.
        ctx_size: the KV cache in tokens, shared by the slots (``-c``; each slot gets
            ``ctx_size / parallel`` unless ``--kv-unified`` is among `args`).
        parallel: slots, i.e. requests evaluated together (``-np``).
        threads: CPU threads (``-t``; default `usable_cpus`).
        args: more llama-server options, e.g. ``("-fa", "on")``.
        binary: the executable (default `find_binary`).
        startup_timeout: seconds to wait for ``/health`` (loading 1 GB from a cold disk is slow).
        stop_grace: seconds between SIGTERM and SIGKILL when stopping (it exits in ~1-3 s).
        env: extra environment variables for the server.

    Raises:
        TeacherError: the model file or the binary is missing.
    """

    def __init__(
        self,
        model: str | Path,
        *,
        ctx_size: int,
        parallel: int = 1,
        threads: int | None = None,
        args: Sequence[str] = (),
        binary: str | Path | None = None,
        startup_timeout: float = 180.0,
        stop_grace: float = 10.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.model = Path(model)
        if not self.model.is_file():
            raise TeacherError(f"the GGUF model {self.model} does not exist")
        if ctx_size < 1 or parallel < 1 or (threads is not None and threads < 1):
            raise TeacherError(
                f"llama-server needs ctx_size, parallel and threads >= 1, got "
                f"{ctx_size}, {parallel}, {threads}"
            )
        self.binary = Path(binary) if binary else find_binary()
        self.ctx_size, self.parallel = ctx_size, parallel
        self.threads = threads or usable_cpus()
        self.args = tuple(args)
        self.startup_timeout = startup_timeout
        self.stop_grace = stop_grace
        # Idle OpenMP threads sleep instead of spinning: on cores shared with other work (or with
        # this Python process), spinning threads made each request several times slower.
        self.env = {"OMP_WAIT_POLICY": "PASSIVE", **(env or {})}
        self.port: int | None = None
        self.log_path: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize | None = None

    def __repr__(self) -> str:
        state = f"pid {self.pid} on port {self.port}" if self.running else "stopped"
        return f"LlamaServer({self.model.name!r}, {state})"

    @property
    def url(self) -> str:
        """The server's root, ``http://127.0.0.1:PORT``."""
        if self.port is None:
            raise TeacherError("the llama-server has not been started")
        return f"http://{_HOST}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible API root, ``http://127.0.0.1:PORT/v1``."""
        return f"{self.url}/v1"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs (also its process group id)."""
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def command(self, port: int) -> list[str]:
        """The command line that serves the model on `port`."""
        return [
            str(self.binary),
            *("-m", str(self.model), "--host", _HOST, "--port", str(port)),
            *("-c", str(self.ctx_size), "-np", str(self.parallel), "-t", str(self.threads)),
            "--no-webui",
            *self.args,
        ]

    def start(self) -> LlamaServer:
        """Start the server and wait until it is healthy; a no-op when it already runs.

        Raises:
            TeacherError: it exited during start-up or was not healthy within
                `startup_timeout` (the message ends with the tail of its log).
        """
        if self.running:
            return self
        for attempt in range(_PORT_ATTEMPTS):
            try:
                self._spawn(_free_port())
                self._wait_healthy()
                return self
            except TeacherError as exc:
                log = self.log_tail()
                self.stop()
                if "bind" not in log or attempt + 1 == _PORT_ATTEMPTS:
                    raise TeacherError(f"{exc}; its log ends:\n{log}") from None
                logger.info("port %s was taken; retrying on another", self.port)
            except BaseException:  # Ctrl-C while waiting: leave nothing running
                self.stop()
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self, grace: float | None = None) -> None:
        """Stop the server: SIGTERM to its process group, SIGKILL after `grace` seconds.

        Args:
            grace: seconds to wait after SIGTERM (default `stop_grace`).
        """
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        process, self._process = self._process, None
        if process is not None:
            _terminate(process, self.stop_grace if grace is None else grace)
            logger.info("llama-server (pid %d) stopped", process.pid)
        if self.log_path is not None:
            self.log_path.unlink(missing_ok=True)
            self.log_path = None

    def slot_action(self, slot: int, action: str, filename: str) -> dict[str, Any] | None:
        """``save`` or ``restore`` a slot's prompt and KV cache to or from a file.

        The file is a plain name inside the folder given as ``--slot-save-path`` in `args`.

        Returns:
            The server's answer (``n_saved`` / ``n_restored`` tokens), or None when it refused
            (an unreadable or incompatible file, a prompt that does not fit the slot).
        """
        try:
            response = httpx.post(
                f"{self.url}/slots/{slot}",
                params={"action": action},
                json={"filename": filename},
                timeout=60.0,
            )
        except httpx.HTTPError as exc:
            logger.warning("llama-server slot %d %s of %s failed: %s", slot, action, filename, exc)
            return None
        if response.status_code != 200:
            logger.debug("llama-server slot %d %s of %s: %s", slot, action, filename, response.text)
            return None
        return dict(response.json())

    def log_tail(self, chars: int = _LOG_TAIL) -> str:
        """The end of the server's log (empty when there is none)."""
        if self.log_path is None or not self.log_path.is_file():
            return ""
        return self.log_path.read_text(errors="replace")[-chars:]

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- internals ---------------------------------------------------------------------------

    def _spawn(self, port: int) -> None:
        handle, name = tempfile.mkstemp(prefix="llama-server-", suffix=".log")
        self.log_path, self.port = Path(name), port
        command = self.command(port)
        logger.info("starting %s", " ".join(command))
        with os.fdopen(handle, "wb") as log:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
                start_new_session=True,
                preexec_fn=_die_with_parent(),
            )
        # The safety net: runs at interpreter exit, or when this object is collected unstopped.
        self._finalizer = weakref.finalize(self, _terminate, self._process, 3.0)

    def _wait_healthy(self) -> None:
        """Poll ``/health`` until it answers 200 (it answers 503 while the model loads)."""
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout
        url = f"http://{_HOST}:{self.port}/health"
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                code = self._process.poll()
                if code is not None:
                    raise TeacherError(f"llama-server exited with status {code} while starting")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(url).status_code == 200:
                        logger.info("llama-server ready on port %d", self.port)
                        return
                time.sleep(0.2)
        raise TeacherError(
            f"llama-server was not healthy within {self.startup_timeout:g} s "
            f"(serving {self.model.name})"
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((_HOST, 0))
        return int(sock.getsockname()[1])


def _terminate(process: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the process group, wait `grace` seconds, then SIGKILL it; reap the process."""
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
    logger.warning("llama-server (pid %d) did not exit after SIGKILL", process.pid)


def _die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` asking Linux to SIGTERM the server when its parent dies (else None).

    libc and the parent's pid are looked up here, before the fork, so the child only makes one
    foreign call between fork and exec.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def setup() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)

    return setup
