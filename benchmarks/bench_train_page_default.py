"""Out-of-the-box check: the Train page's default simple_cnn run on the synthetic faces, on CPU.

Builds the run exactly as the Train page does with its defaults (fer_core.train_form: the
architecture's CPU starting values and the default synthetic size), queues it as a background
job, and prints the wall time from Launch to completed and its test accuracy. First it times, in
fresh processes, what the job process imports before it trains: its own modules (torch and
scikit-learn; timm and torchvision only for a timm net or EMA), against the same plus timm (what every
worker imported before).

Target (dashboard issue): a new user trains a simple_cnn run from the Train page in under 2 minutes
on CPU.

    python benchmarks/bench_train_page_default.py [--out DIR]
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fer_core import runs  # noqa: E402
from fer_core.app import train_form as tf  # noqa: E402


WORKER_IMPORTS = "import fer_core.jobs.worker, fer_core.training.loop"


def import_seconds(statement: str, repeats: int = 3) -> float:
    """Median wall time of `statement` in a fresh Python process."""
    code = f"import time; s = time.perf_counter(); {statement}; print(time.perf_counter() - s)"
    times = sorted(float(subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1],
                                        capture_output=True, text=True, check=True).stdout)
                   for _ in range(repeats))
    return times[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="checkpoints folder for the run (default: a temporary one)")
    args = parser.parse_args()
    root = args.out or tempfile.mkdtemp(prefix="fer-bench-page-")

    lean, with_timm = import_seconds(WORKER_IMPORTS), import_seconds(WORKER_IMPORTS + ", timm")
    print(f"job process imports before training (median of 3, load {os.getloadavg()[0]:.2f}): {lean:.2f} s; "
          f"with timm and torchvision as before: {with_timm:.2f} s ({with_timm / lean:.2f}x)")
    form = tf.TrainForm(archs=["simple_cnn"], synthetic_size=tf.default_synthetic_size(gpu=False),
                        **tf.starting_values("simple_cnn", gpu=False))
    (config,) = tf.build_configs(form)
    start = time.perf_counter()
    (run_dir,) = tf.launch([config], root=root)
    while runs.load_run(run_dir).state in runs.ACTIVE:
        time.sleep(0.25)
    wall = time.perf_counter() - start
    record = runs.load_run(run_dir)

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs; run {run_dir}")
    print(f"settings: {config.synthetic_size} synthetic faces, input {config.input_size}, {config.epochs} epochs, "
          f"batch {config.batch_size}, {config.torch_threads} CPU thread(s)")
    accuracy = (record.evaluation or {}).get("accuracy")
    print(f"{record.state} {wall:.1f} s after Launch (target under 120 s)"
          + (f"; test accuracy {accuracy:.3f}" if accuracy is not None else f"; error: {record.status.get('error')}"))


if __name__ == "__main__":
    main()
