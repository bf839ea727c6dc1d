"""Data-layer speed and memory on the real FER2013 zip.

Measures, in one run: a naive per-image PIL loop over the zip, our first (decoding) load, our cached
load, and the peak resident memory of a full load (each load in a fresh subprocess so memory and
caches are not shared). Targets (foundation issue): decode >= 3x faster than the PIL loop, cached
load < 0.2 s, peak memory < 1 GB.

    python benchmarks/bench_data_load.py [--zip ../shared/data/fer2013.zip] [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time, zipfile
import numpy as np
sys.path.insert(0, {root!r})
mode, zip_path, cache_dir = sys.argv[1:4]
# imports happen before the clock starts: we time loading, not Python start-up
from PIL import Image
from fer_core.data import read_source
t0 = time.perf_counter()
if mode == "pil":
    images, labels = [], []
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            with zf.open(info) as f:
                images.append(np.asarray(Image.open(f).convert("L")))
            labels.append(info.filename.split("/")[1])
    n = len(images)
    images = np.stack(images)
else:
    ds = read_source(zip_path, cache_dir=cache_dir, use_cache=True)
    n = len(ds)
seconds = time.perf_counter() - t0
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"seconds": seconds, "n": n, "peak_mb": peak_mb}}))
"""


def run_child(mode: str, zip_path: str, cache_dir: str) -> dict:
    code = CHILD.format(root=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code, mode, zip_path, cache_dir], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zip", default=str(ROOT.parent / "shared" / "data" / "fer2013.zip"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[dict]] = {"pil": [], "decode": [], "cached": []}
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as cache_dir:
            results["pil"].append(run_child("pil", args.zip, cache_dir))
            results["decode"].append(run_child("decode", args.zip, cache_dir))  # empty cache: decodes, then saves
            results["cached"].append(run_child("cached", args.zip, cache_dir))  # served from the cache
    med = {k: statistics.median(r["seconds"] for r in v) for k, v in results.items()}
    peak = {k: max(r["peak_mb"] for r in v) for k, v in results.items()}
    print(f"machine: {platform.processor() or platform.machine()}, {__import__('os').cpu_count()} CPUs, "
          f"python {platform.python_version()}")
    print(f"images: {results['decode'][0]['n']}  (median of {args.repeats} runs, each in a fresh process)")
    print(f"{'load':<28}{'seconds':>10}{'peak RSS MB':>14}")
    print(f"{'naive PIL loop over zip':<28}{med['pil']:>10.3f}{peak['pil']:>14.0f}")
    print(f"{'fer_core first load':<28}{med['decode']:>10.3f}{peak['decode']:>14.0f}")
    print(f"{'fer_core cached load':<28}{med['cached']:>10.3f}{peak['cached']:>14.0f}")
    print(f"decode speed-up vs PIL: {med['pil'] / med['decode']:.1f}x (target >= 3x); "
          f"cached load {med['cached']:.3f} s (target < 0.2 s); peak {max(peak['decode'], peak['cached']):.0f} MB "
          "(target < 1024 MB)")


if __name__ == "__main__":
    main()
