"""The service builds, loads a bundle and answers over HTTP without torch or transformers."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

HEAVY = ("torch", "transformers", "training", "pandas", "sklearn", "optimum")

SCRIPT = textwrap.dedent(
    """
    import json, socket, sys, threading, time
    import httpx, uvicorn
    from serving.app import create_app
    from serving.settings import Settings

    app = create_app(Settings(bundle=sys.argv[1], threads=1, access_log=False))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    url = "http://127.0.0.1:%d/v1/categorize" % sock.getsockname()[1]
    body = {"transactions": [{"description": "NETFLIX.COM", "amount": -15.49}]}
    response = httpx.post(url, json=body, timeout=30)
    server.should_exit = True
    thread.join(30)
    heavy = sorted(name for name in sys.argv[2:] if name in sys.modules)
    print(json.dumps({"status": response.status_code, "heavy": heavy}))
    """
)


def test_serving_imports_no_training_stack(tiny_bundle: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tiny_bundle), *HEAVY],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome == {"status": 200, "heavy": []}


def test_serving_source_never_imports_the_training_stack() -> None:
    import serving

    root = Path(serving.__file__).parent
    for path in root.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for name in ("torch", "transformers", "training", "pandas"):
            assert f"import {name}" not in text, (path, name)
            assert f"from {name}" not in text, (path, name)
