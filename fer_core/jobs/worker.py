"""What a background job process runs: `python -m fer_core.jobs.worker RUN_DIR`.

Reads the run folder's config.json and executes it (deep training or a classical baseline), or, for a
run reopened to resume (its status names `resume_from`), continues it from its last.pt; every outcome
is recorded in the run folder, never only printed.
"""
from __future__ import annotations

import sys
from pathlib import Path

from fer_core.models.classical import is_classical
from fer_core.runs.guard import RunGuard
from fer_core.runs.store import CONFIG, read_json, read_recorded_status
from fer_core.training.config import TrainConfig


def execute(run_dir: str | Path, progress=None) -> str:
    """Run the job described by run_dir/config.json; returns the final status.

    `progress`, if given, receives training progress events (the CLI draws a bar with them)."""
    run_dir = Path(run_dir)
    before = read_recorded_status(run_dir).get("status")
    if before not in ("queued", "running"):
        return before  # cancelled while its cluster job waited to start: it must not come back to life
    with RunGuard(run_dir) as guard:
        resume = read_recorded_status(run_dir).get("resume_from") is not None
        config = TrainConfig.from_dict(read_json(run_dir / CONFIG)).validate()
        if is_classical(config.arch):  # no model card yet: the config's arch says which trainer
            from fer_core.training.classical import run_classical
            run_classical(config, run_dir)
        else:
            from fer_core.training.loop import run_training
            run_training(config, run_dir, progress=progress, resume=resume)
    return guard.status


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m fer_core.jobs.worker RUN_DIR")
    status = execute(sys.argv[1])
    sys.exit(0 if status in ("completed", "cancelled") else 1)
