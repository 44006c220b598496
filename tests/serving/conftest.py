"""Real uvicorn servers on 127.0.0.1 for the serving tests, and bundles to serve."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

import uvicorn
from fastapi import FastAPI

from serving.app import create_app
from serving.settings import Settings

STARTUP_TIMEOUT_S = 60.0


@dataclass
class LiveServer:
    """A server running in a thread of the test process."""

    url: str
    app: FastAPI
    server: uvicorn.Server


@contextlib.contextmanager
def live_server(**settings: Any) -> Iterator[LiveServer]:
    """Run `create_app(Settings(**settings))` under uvicorn on a free port until the block ends.

    The listening socket is bound before uvicorn starts (port 0), so no other process can take
    the port in between. Shutdown is uvicorn's graceful one (lifespan shutdown included).
    """
    settings.setdefault("threads", 1)
    settings.setdefault("access_log", False)
    app = create_app(Settings(**settings))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", app, server)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@pytest.fixture(scope="session")
def bundle_v2(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of `tiny_bundle` whose manifest says version "2" (the manifest is not hashed)."""
    folder = tmp_path_factory.mktemp("bundle_v2") / "bundle"
    shutil.copytree(tiny_bundle, folder)
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["version"] = "2"
    manifest_path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def serve() -> Any:
    """`live_server` itself: ``with serve(bundle=..., max_queue=1) as live: ...``."""
    return live_server
