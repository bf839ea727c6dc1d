"""Shared by the training benchmarks: run `python -m fer_core train` in a fresh process, read its folder."""
from __future__ import annotations

import csv
import json
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_ZIP = ROOT.parent / "shared" / "data" / "fer2013.zip"


def machine() -> str:
    """This machine in words, for the report."""
    import torch
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda})"
    return f"CPU {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"


@dataclass
class Finished:
    """A completed run as the benchmarks report it."""

    run_dir: Path
    wall_seconds: float  # the whole `train` command: start-up, data loading, training, test evaluation
    peak_rss_mb: float  # largest resident memory of any child process so far
    config: dict
    evaluation: dict
    metrics: list[dict]


def train(options: list[str], out: Path) -> Finished:
    """Run `python -m fer_core train OPTIONS --out OUT` and read the run folder it prints last."""
    command = [sys.executable, "-m", "fer_core", "train", *options, "--out", str(out)]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"training failed ({' '.join(command[3:])}):\n{result.stderr[-3000:]}")
    run_dir = Path(result.stdout.strip().splitlines()[-1])
    with (run_dir / "metrics.csv").open(newline="") as f:
        metrics = [{k: float(v) if v else None for k, v in row.items()} for row in csv.DictReader(f)]
    return Finished(run_dir, wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
                    json.loads((run_dir / "config.json").read_text()),
                    json.loads((run_dir / "evaluation.json").read_text()), metrics)
