"""Categorize bank transactions with a small model distilled from an LLM.

The runtime library: taxonomy, transaction schema, text normalisation. It imports no torch,
transformers or fastapi, so that serving stays small and starts fast.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("txn-categorizer")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
