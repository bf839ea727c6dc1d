"""Cold start of a one-photo answer (issue 26): `python -m fer_core predict --run builtin face.png` in a
fresh process, against `python -c "import onnxruntime, numpy, cv2"` (the least any ONNX answer costs)
measured in the same run, interleaved so that both see the same machine load.

Prints the median wall time and the largest peak RSS (the process's own maximum resident set, from
wait4) of each command over --repeats runs, and their ratios. Goals: predict <= 3x the import's wall
time, <= 300 MB peak. Also measured, for comparison: the int8 model, and `--engine torch` (the PyTorch
path every predict took before runs carried model.onnx).

    python benchmarks/bench_cold_start.py [--zip ../shared/data/fer2013.zip] [--repeats 7]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def one_face(zip_path: str | None) -> np.ndarray:
    """A FER2013 test face (or a synthetic one without --zip)."""
    if zip_path:
        from fer_core.data import load_dataset
        return load_dataset(zip_path).split("test").images[0]
    from fer_core.data.synthetic import generate_synthetic
    return generate_synthetic(21, seed=0).images[3]


# A small process runs each command and reports its child's figures: Linux carries a parent's peak RSS
# into a forked child, so this benchmark (which holds the dataset) must not be the direct parent.
LAUNCHER = """
import os, subprocess, sys, time
start = time.perf_counter()
process = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(process.pid, 0)
print(time.perf_counter() - start, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def measure(command: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one run of `command`, which must succeed."""
    done = subprocess.run([sys.executable, "-c", LAUNCHER, *command], cwd=ROOT, capture_output=True, text=True)
    wall, peak_kb, code = done.stdout.split()
    if code != "0":
        raise SystemExit(f"{' '.join(command)} failed: {done.stderr[-500:]}")
    return float(wall), int(peak_kb) / 1024  # Linux: kilobytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zip", help="FER2013 zip to take the face from (default: a synthetic face)")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        face = Path(folder) / "face.png"
        cv2.imwrite(str(face), one_face(args.zip))
        predict = [sys.executable, "-m", "fer_core", "predict", "--run", "builtin", str(face)]
        commands = {
            "import onnxruntime, numpy, cv2": [sys.executable, "-c", "import onnxruntime, numpy, cv2"],
            "predict --run builtin (fp32)": predict,
            "predict --run builtin --engine onnxruntime-int8": predict + ["--engine", "onnxruntime-int8"],
            "predict --run builtin --engine torch": predict + ["--engine", "torch"],
        }
        for command in commands.values():  # warm the page cache: every row starts from the same disk state
            measure(command)
        results = {name: [] for name in commands}
        loads = []
        for _ in range(args.repeats):
            for name, command in commands.items():
                results[name].append(measure(command))
            loads.append(float(Path("/proc/loadavg").read_text().split()[0]))

    base = statistics.median(wall for wall, _ in results["import onnxruntime, numpy, cv2"])
    print(f"{os.cpu_count()} CPUs; {args.repeats} runs of each, interleaved; 1-minute load average during the runs "
          f"{min(loads):.2f}-{max(loads):.2f}")
    print(f"{'command':50} {'median s':>9} {'x import':>9} {'peak MB':>8}")
    for name, runs in results.items():
        wall = statistics.median(w for w, _ in runs)
        peak = max(m for _, m in runs)
        print(f"{name:50} {wall:9.2f} {wall / base:9.1f} {peak:8.0f}")
    print("goals: predict (fp32) <= 3.0x the import's time and <= 300 MB peak")


if __name__ == "__main__":
    main()
