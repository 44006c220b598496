"""HTTP load on `categorizer serve`: latency of single transactions and batched throughput.

Starts the server in a subprocess (`categorizer serve --bundle BUNDLE`), then from this process
(on the same machine, so client and server share the CPUs) measures, after a warm-up:

* single-transaction requests at concurrency 1, 8 and 32: p50/p95/p99/mean latency in ms and
  requests per second, for ``--seconds`` each;
* 64-transaction requests at concurrency 1 and 2: transactions per second;
* for each phase, the mean rows and requests per engine call (from the server's /metrics),
  which shows the micro-batcher at work.

The default client (``--client raw``) is a minimal asyncio HTTP/1.1 keep-alive client, one
connection per concurrent caller: it costs the shared CPUs little. ``--client httpx`` uses
`httpx.AsyncClient` instead; on 2 cores its own overhead dominates at concurrency 32 (on the tiny
bundle it measured ~55 requests/s where the raw client measured ~600), so it measures the
client more than the server.

Results go to benchmarks/results/serve_<name>.json with the machine they ran on.

    python -m benchmarks.serve_load --bundle runs/bundle --name minilm_l6
    python -m benchmarks.serve_load --bundle runs/bundle --seconds 2 --concurrency 1,8

This is a measurement, not a test: on a shared machine the numbers vary with the load, which is
recorded with them (before and after).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from benchmarks.machine import machine_info, write_result

RESULTS = Path(__file__).parent / "results"
TARGETS = {"c1_p50_ms": 3.0, "c1_p99_ms": 10.0, "batch64_tx_per_s": 1_500}
FALLBACK = [
    {"description": "POS PURCHASE STARBUCKS #1234 SEATTLE WA", "amount": -5.75},
    {"description": "ACH DEPOSIT ACME CORP PAYROLL", "amount": 2450.0},
    {"description": "UBER TRIP HELP.UBER.COM", "amount": -23.1},
    {"description": "SHELL OIL 57442 HOUSTON TX", "amount": -41.0},
    {"description": "NETFLIX.COM 866-579-7172 CA", "amount": -15.49},
]


def synthetic_transactions(n: int, seed: int) -> list[dict[str, Any]]:
    """`n` synthetic transactions as API dicts (a fixed handful without the training extra)."""
    try:
        from training.synthesis.synth import SynthConfig, generate
    except ImportError:
        return [FALLBACK[i % len(FALLBACK)] for i in range(n)]
    frame = generate(SynthConfig(n=n, seed=seed, workers=1))
    rows = []
    for row in frame.to_dict("records"):
        txn = {"description": row["description"], "amount": float(row["amount"])}
        if isinstance(row.get("mcc"), str):
            txn["mcc"] = row["mcc"]
        rows.append(txn)
    return rows


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def server(bundle: Path, port: int, threads: int | None) -> Iterator[str]:
    """Run `categorizer serve` in a subprocess until the block ends; yield its URL."""
    command = [sys.executable, "-m", "categorizer.cli", "serve", "--bundle", str(bundle)]
    command += ["--port", str(port), "--no-access-log", "--log-level", "warning"]
    if threads:
        command += ["--threads", str(threads)]
    env = {k: v for k, v in os.environ.items() if k != "CATEGORIZER_API_KEYS"}  # no auth here
    process = subprocess.Popen(command, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    """Poll /readyz until 200; fail when the server exits or the time is up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with code {process.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server was not ready after {timeout:.0f} s")


_JSON = {"content-type": "application/json"}
Send = Callable[[bytes], Awaitable[int]]
"""Posts one JSON body to /v1/categorize and returns the status code."""


class RawConnection:
    """One HTTP/1.1 keep-alive connection that posts JSON bodies to /v1/categorize."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, url: str) -> RawConnection:
        """Connect to the server at `url` (http://host:port)."""
        host, port = url.removeprefix("http://").rsplit(":", 1)
        return cls(*await asyncio.open_connection(host, int(port)))

    async def post(self, body: bytes) -> int:
        """Send one request; read the whole response; return its status."""
        head = (
            b"POST /v1/categorize HTTP/1.1\r\nHost: bench\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
        )
        self.writer.write(head + body)
        await self.writer.drain()
        lines = (await self.reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in lines
            if line.lower().startswith(b"content-length:")
        )
        await self.reader.readexactly(length)
        return int(lines[0].split(b" ", 2)[1])

    def close(self) -> None:
        """Close the connection."""
        self.writer.close()


@asynccontextmanager
async def senders(kind: str, url: str, concurrency: int) -> AsyncIterator[list[Send]]:
    """One `Send` per concurrent caller, for the `raw` or the `httpx` client."""
    if kind == "httpx":
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

            async def send(body: bytes) -> int:
                response = await client.post("/v1/categorize", content=body, headers=_JSON)
                return response.status_code

            yield [send] * concurrency
        return
    connections = [await RawConnection.open(url) for _ in range(concurrency)]
    try:
        yield [connection.post for connection in connections]
    finally:
        for connection in connections:
            connection.close()


async def run_phase(
    url: str, bodies: Sequence[bytes], concurrency: int, args: argparse.Namespace
) -> dict[str, Any]:
    """`concurrency` callers posting `bodies` in turn: latencies after the warm-up."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    async with senders(args.client, url, concurrency) as sends:
        started = time.perf_counter()
        measure_from, stop_at = started + args.warmup, started + args.warmup + args.seconds

        async def caller(k: int) -> None:
            i = k
            while (now := time.perf_counter()) < stop_at:
                status = await sends[k](bodies[i % len(bodies)])
                i += concurrency
                if now < measure_from:
                    continue
                if status == 200:
                    latencies.append(time.perf_counter() - now)
                else:
                    errors[str(status)] = errors.get(str(status), 0) + 1

        await asyncio.gather(*(caller(k) for k in range(concurrency)))
    return summarize(latencies, errors, concurrency, args.seconds)


def summarize(
    latencies: list[float], errors: dict[str, int], concurrency: int, seconds: float
) -> dict[str, Any]:
    """Requests per second and latency percentiles in ms of one phase."""
    times = np.asarray(latencies) * 1e3
    figures: dict[str, Any] = {
        "concurrency": concurrency,
        "requests": len(latencies),
        "errors": errors,
        "requests_per_s": round(len(latencies) / seconds, 1),
    }
    if len(times):
        for q in (50, 95, 99):
            figures[f"p{q}_ms"] = round(float(np.percentile(times, q)), 3)
        figures["mean_ms"] = round(float(times.mean()), 3)
    return figures


_SAMPLE = re.compile(r"^(categorizer_batch_(?:rows|requests)_(?:sum|count)) ([0-9.e+-]+)$", re.M)


def batch_counters(url: str) -> dict[str, float]:
    """The server's batch-size sums and counts (Prometheus text format)."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return {name: float(value) for name, value in _SAMPLE.findall(text)}


def measure_phase(
    url: str, bodies: list[dict[str, Any]], concurrency: int, args: argparse.Namespace
) -> dict[str, Any]:
    """One phase, with the mean engine-call size the server saw during it."""
    payloads = [json.dumps(body).encode("utf-8") for body in bodies]
    before = batch_counters(url)
    figures = asyncio.run(run_phase(url, payloads, concurrency, args))
    rows = len(bodies[0]["transactions"])
    figures["rows_per_request"] = rows
    figures["tx_per_s"] = round(figures["requests_per_s"] * rows, 1)
    after = batch_counters(url)
    calls = after["categorizer_batch_rows_count"] - before["categorizer_batch_rows_count"]
    if calls:
        for kind in ("rows", "requests"):
            key = f"categorizer_batch_{kind}_sum"
            figures[f"mean_{kind}_per_engine_call"] = round((after[key] - before[key]) / calls, 2)
    print(json.dumps(figures), file=sys.stderr)
    return figures


def measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Every phase against a running server."""
    transactions = synthetic_transactions(args.texts, args.seed)
    singles = [{"transactions": [t]} for t in transactions]
    batches = [
        {"transactions": [transactions[(b * args.batch + i) % len(transactions)]
                          for i in range(args.batch)]}
        for b in range(max(1, len(transactions) // args.batch))
    ]  # fmt: skip
    single = [measure_phase(url, singles, c, args) for c in args.concurrency]
    batched = [measure_phase(url, batches, c, args) for c in args.batch_concurrency]
    c1 = next((r for r in single if r["concurrency"] == 1), None)
    best = max(r["tx_per_s"] for r in batched)
    meets = {f"batch{args.batch}_tx_per_s": best >= TARGETS["batch64_tx_per_s"]}
    if c1 is not None and "p50_ms" in c1:
        meets["c1_p50_ms"] = c1["p50_ms"] <= TARGETS["c1_p50_ms"]
        meets["c1_p99_ms"] = c1["p99_ms"] <= TARGETS["c1_p99_ms"]
    return {
        "single": single,
        "batched": batched,
        f"best_batch{args.batch}_tx_per_s": best,
        "meets_targets": meets,
        "model": httpx.get(f"{url}/v1/model", timeout=10).json(),
    }


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, required=True, help="the model bundle to serve")
    parser.add_argument("--name", default=None, help="results name (default: the bundle's)")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per phase")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds first")
    parser.add_argument("--concurrency", type=_ints, default=[1, 8, 32])
    parser.add_argument("--batch", type=int, default=64, help="transactions per batch request")
    parser.add_argument("--batch-concurrency", type=_ints, default=[1, 2])
    parser.add_argument("--threads", type=int, default=None, help="server ONNX Runtime threads")
    parser.add_argument("--texts", type=int, default=2_000, help="synthetic transactions")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw", help="see above")
    parser.add_argument("--out", type=Path, default=None, help="default: results/serve_NAME.json")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with server(args.bundle, free_port(), args.threads) as url:
        result = measure(url, args)
    model = result.pop("model")
    result = {
        "bundle": str(args.bundle),
        "model": {k: model[k] for k in ("name", "version", "base_model", "quantization")},
        "server": {
            "threads": model["threads"],
            "env": {k: v for k, v in os.environ.items() if k.startswith("CATEGORIZER_")},
        },
        "client": f"{args.client} (HTTP/1.1 keep-alive, one connection per caller, same machine)",
        "seconds_per_phase": args.seconds,
        **result,
        "targets": TARGETS,
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "machine": machine_info(),
        "date": dt.date.today().isoformat(),
    }
    out = args.out or RESULTS / f"serve_{args.name or args.bundle.resolve().name}.json"
    write_result(result, out)


if __name__ == "__main__":
    main()
