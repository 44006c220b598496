"""``registry.json``, the model registry's one file: read here by training and serving alike.

`training.lifecycle.registry` owns the folder (registering, promoting, locking, atomic writes); the
service only follows which version is promoted. Both read the file through `read_registry`, so
a file one accepts the other accepts too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from categorizer.errors import InputError

REGISTRY_FORMAT = "registry/1"
REGISTRY_FILE = "registry.json"
_FIX = "restore it from a backup, or move the folder aside and register the bundles again"


class RegistryError(InputError):
    """A registry file is unreadable or inconsistent, or a registry operation is refused."""


def read_registry(root: str | Path) -> dict[str, Any]:
    """ROOT/registry.json, checked for shape: its format, a versions list, a promoted name.

    Raises:
        RegistryError: The file is missing, not JSON, or not a registry (the message names it).
    """
    path = Path(root) / REGISTRY_FILE
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RegistryError(
            f"{path} is missing: point at a folder `categorizer retrain --registry` made (or "
            "open one with training.lifecycle.registry.Registry.open to create it)"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RegistryError(f"{path} is not valid JSON ({exc}); {_FIX}") from None
    if not isinstance(state, dict) or state.get("format") != REGISTRY_FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise RegistryError(
            f"{path}: field 'format' must be {REGISTRY_FORMAT!r}, got {found!r}; {_FIX}"
        )
    if not isinstance(state.get("versions"), list):
        raise RegistryError(f"{path}: field 'versions' must be a list; {_FIX}")
    promoted = state.get("promoted")
    if promoted is not None and not isinstance(promoted, str):
        raise RegistryError(f"{path}: field 'promoted' must be a string or null; {_FIX}")
    return state


def promoted_bundle(root: str | Path) -> Path | None:
    """The promoted version's bundle folder, or None when nothing is promoted yet.

    Raises:
        RegistryError: The file cannot be read, or names a promoted version it does not hold.
    """
    root = Path(root)
    state = read_registry(root)
    name = state.get("promoted")
    if not name:
        return None
    for version in state["versions"]:
        if isinstance(version, dict) and version.get("version") == name:
            return (root / str(version["bundle"])).resolve()
    raise RegistryError(
        f"{root / REGISTRY_FILE}: the promoted version {name!r} is not among its versions"
    )
