"""What a background job process runs: `python -m fer_core.worker RUN_DIR`.

Reads the run folder's config.json and executes it (deep training or a classical baseline); every
outcome is recorded in the run folder, never only printed.
"""
from __future__ import annotations

import sys
from pathlib import Path

from .config import TrainConfig
from .runs import CONFIG, read_json, run_guard


def execute(run_dir: str | Path, progress=None) -> str:
    """Run the job described by run_dir/config.json; returns the final status.

    `progress`, if given, receives training progress events (the CLI draws a bar with them)."""
    run_dir = Path(run_dir)
    with run_guard(run_dir) as guard:
        config = TrainConfig.from_dict(read_json(run_dir / CONFIG)).validate()
        from .classical import is_classical, run_classical
        if is_classical(config.arch):
            run_classical(config, run_dir)
        else:
            from .train import run_training
            run_training(config, run_dir, progress=progress)
    return guard.status


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m fer_core.worker RUN_DIR")
    status = execute(sys.argv[1])
    sys.exit(0 if status in ("completed", "cancelled") else 1)
