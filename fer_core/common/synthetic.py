"""The built-in synthetic faces are named "synthetic" (or nothing) wherever a data source is asked for:
the one test for that, so every page, command and run folder agrees on what is synthetic."""
from __future__ import annotations

SYNTHETIC = "synthetic"


def is_synthetic_source(data) -> bool:
    """Whether a data setting (a config's `data`, a path typed by a user) means the synthetic faces."""
    return data is None or str(data).strip().lower() in ("", SYNTHETIC)
