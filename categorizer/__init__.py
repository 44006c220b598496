"""Categorize bank transactions with a small model distilled from an LLM.

The runtime library: taxonomy, transaction schema, text normalisation. It imports no torch,
transformers or fastapi, so that serving stays small and starts fast. `Categorizer` and
`Prediction` (from `categorizer.engine`) are imported on first use, so ``import categorizer``
stays light.
"""

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from categorizer.engine import Categorizer, Prediction

__all__ = ["Categorizer", "Prediction", "__version__"]
_LAZY = frozenset({"Categorizer", "Prediction"})

try:
    __version__ = version("txn-categorizer")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"


def __getattr__(name: str) -> Any:
    """Import the engine's public names on first use (PEP 562)."""
    if name in _LAZY:
        from categorizer import engine

        return getattr(engine, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
