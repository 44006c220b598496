"""Saved llama.cpp slot states, so each prompt family's system prompt is evaluated once per machine.

The ``llama:`` teacher keeps one llama-server slot per prompt family (the primary question, and
the detailed question of each primary). A slot's first request evaluates its ~600-900-token
system message: ~10-20 s on 2 cores, ~3 minutes for all 17 families. `PrefixStore` saves a
slot's prompt and KV cache (``POST /slots/N?action=save``, ~28 KB per token) after its first use
and restores it into the slot when a later server starts (``action=restore``, ~50 ms), so a new
run starts warm.

The files live in ``<cache>/llama-prefixes/<fingerprint>/``: the fingerprint covers the model
file, the server binary and the server options that shape the cache, because a state restored
into another model or build would be wrong, not just slow. The server checks the saved tokens
against each request's prompt itself (the common prefix is reused, the rest evaluated), so a
state whose suffix belongs to another transaction is still exact. Files are written under a
temporary name and renamed, so two runs never see half a file.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from training.labeling.teachers.llama_server import LlamaServer

__all__ = ["PrefixStore", "fingerprint"]

logger = logging.getLogger(__name__)


def fingerprint(model_identity: str, binary: Path, options: Sequence[str]) -> str:
    """16 hex digits naming one (model, server build, cache-shaping options) combination."""
    try:  # the binary's bytes, not its path or mtime: a copy in a fresh venv is the same build
        build = hashlib.sha256(binary.read_bytes()).hexdigest()  # 15 MB: ~10 ms
    except OSError:
        build = str(binary)
    text = "\x1f".join([model_identity, build, *options])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class PrefixStore:
    """One folder of saved slot states, named by prompt family and system-message hash.

    Args:
        folder: where the states live; llama-server must run with ``--slot-save-path`` set to it
            (`server_args`).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def server_args(self) -> list[str]:
        """The llama-server options that let it read and write this folder."""
        self.folder.mkdir(parents=True, exist_ok=True)
        return ["--slot-save-path", f"{self.folder}{os.sep}"]

    @staticmethod
    def name(family: str | None, system: str) -> str:
        """The file of a family's state: ``<family>-<sha256 of its system message, 12>.bin``."""
        digest = hashlib.sha256(system.encode()).hexdigest()[:12]
        return f"{family or 'PRIMARY'}-{digest}.bin"

    def has(self, name: str) -> bool:
        """True when a state of that name is saved."""
        return (self.folder / name).is_file()

    def restore(self, server: LlamaServer, slot: int, name: str) -> bool:
        """Load a saved state into `slot`; False when there is none or the server refused it."""
        if not self.has(name):
            return False
        answer = server.slot_action(slot, "restore", name)
        restored = int((answer or {}).get("n_restored") or 0)
        if restored:
            logger.debug("restored %d tokens of %s into slot %d", restored, name, slot)
        else:
            logger.info("could not restore %s into slot %d; it will be evaluated", name, slot)
        return restored > 0

    def save(self, server: LlamaServer, slot: int, name: str) -> bool:
        """Save `slot`'s state as `name` (atomically); False when the server could not."""
        temporary = f".tmp-{os.getpid()}-{name}"
        answer = server.slot_action(slot, "save", temporary)
        if not answer or not answer.get("n_saved"):
            (self.folder / temporary).unlink(missing_ok=True)
            return False
        os.replace(self.folder / temporary, self.folder / name)
        logger.debug("saved %d tokens of slot %d as %s", answer["n_saved"], slot, name)
        return True
