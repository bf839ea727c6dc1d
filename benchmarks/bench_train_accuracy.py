"""Accuracy within a time budget: train with the default recipe on the real zip, report the result.

Runs `python -m fer_core train` in a child process (its peak memory is measured with
getrusage), then prints wall time, epochs, test accuracy, macro-F1, per-class recall and peak RSS.
Test figures are the final evaluation the run itself wrote: the best epoch was selected on the val
split carved from train, never on test.

Target (training-engine issue): simple_cnn, default recipe, <= 10 minutes on 2 CPU cores, >= 58% on
the zip's test split (PublicTest); training on full FER2013 under 4 GB of host RAM.

    python benchmarks/bench_train_accuracy.py [--arch simple_cnn] [--minutes 10] [-- extra train options]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zip", default=str(ROOT.parent / "shared" / "data" / "fer2013.zip"))
    parser.add_argument("--arch", default="simple_cnn")
    parser.add_argument("--minutes", type=float, default=10.0, help="training time budget")
    parser.add_argument("--out", default=None, help="where to keep the run folder (default: a temporary one)")
    parser.add_argument("extra", nargs="*", help="more `train` options, after --")
    args = parser.parse_args()

    out = args.out or tempfile.mkdtemp(prefix="fer-bench-")
    command = [sys.executable, "-m", "fer_core", "train", "--data", args.zip, "--arch", args.arch,
               "--time-limit", str(args.minutes), "--out", out, *args.extra]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"training failed:\n{result.stderr[-3000:]}")
    run_dir = Path(result.stdout.strip().splitlines()[-1])
    evaluation = json.loads((run_dir / "evaluation.json").read_text())
    metrics = (run_dir / "metrics.csv").read_text().strip().splitlines()[1:]
    train_seconds = evaluation["train_seconds"]
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs; command: {' '.join(command[1:])}")
    print(f"run folder: {run_dir}")
    print(f"epochs: {len(metrics)}  training (incl. per-epoch val): {train_seconds / 60:.2f} min  "
          f"whole process: {wall / 60:.2f} min  peak RSS: {peak_mb:.0f} MB")
    print(f"best epoch {evaluation['best_epoch']} (selected on {evaluation['selected_on']} = "
          f"{evaluation['best_val_score']:.4f})")
    print(f"TEST ({evaluation['split']}, {evaluation['n']} images): accuracy {evaluation['accuracy']:.4f}  "
          f"macro-F1 {evaluation['macro_f1']:.4f}")
    print("per-class recall: " + ", ".join(f"{c} {m['recall']:.2f}" for c, m in evaluation["per_class"].items()))


if __name__ == "__main__":
    main()
