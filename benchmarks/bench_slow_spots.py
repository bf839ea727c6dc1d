"""The app's slow spots a new user met (new-user issue, item 15), timed on this machine.

1. The first page on a cold server: a fresh Python process opens Home through Streamlit's AppTest
   (imports and the first script run; the browser test records the same from a real browser), with
   and without the GPU probe (a subprocess that imports torch; skipped where no GPU driver exists).
2. Explain's "Score every method" (ROAD, the bundled model): one face and eight faces, per method.
3. Dataset's embedding of the bundled model's features: the features of 1,500 faces, then PCA, and
   t-SNE of 1,000; the import of torch it needs the first time, timed apart in a fresh process.

    python benchmarks/bench_slow_spots.py

Faces come from FER2013's train split when ../shared/data/fer2013.zip exists, else synthetic ones.
Give the load average with the figures: these are wall times on a shared machine.
"""
from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

COLD_HOME = """
import time
start = time.perf_counter()
{patch}
from streamlit.testing.v1 import AppTest
at = AppTest.from_file("streamlit_app.py", default_timeout=300).run()
assert not at.exception, at.exception
print(time.perf_counter() - start)
"""


def seconds_in_fresh_process(code: str) -> float:
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def faces(n: int):
    from fer_core.data import load_dataset
    zip_path = ROOT.parent / "shared" / "data" / "fer2013.zip"
    ds = load_dataset(zip_path if zip_path.exists() else None)
    return ds.images[:n], ("FER2013 train" if zip_path.exists() else "synthetic")


def main() -> None:
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}")

    asked = seconds_in_fresh_process(COLD_HOME.format(
        patch="import fer_core.app.system_info as s; s.gpu_impossible = lambda: False"))
    now = seconds_in_fresh_process(COLD_HOME.format(patch=""))
    print(f"1. Home, cold (fresh process, imports + first run): {now:.1f} s; {asked:.1f} s when torch is asked "
          "about GPUs in a subprocess (as before, and still where a GPU driver is present)")

    import_torch = seconds_in_fresh_process(
        "import time; s = time.perf_counter(); import torch, timm; print(time.perf_counter() - s)")
    from fer_core.explain import compare_methods, method_names
    from fer_core.inference.embedding import embed_features, run_features
    from fer_core.inference.predictor import Predictor

    predictor = Predictor.from_run("builtin")
    images, source = faces(1500)
    print(f"2. Score every method (ROAD, built-in model, {source} faces):")
    for n in (1, 8):
        per_method, last = {}, [time.perf_counter(), None]

        def step(name: str, done: int, total: int) -> None:
            now = time.perf_counter()
            if last[1] is not None:
                per_method[last[1]] = per_method.get(last[1], 0.0) + now - last[0]
            last[:] = [now, name]

        start = time.perf_counter()
        compare_methods(predictor.model, predictor.card, images[:n], metric="road", progress=step)
        total = time.perf_counter() - start
        step("", 0, 1)
        slowest = max(per_method, key=per_method.get)
        print(f"   {n} face(s): {total:.1f} s for {len(method_names())} methods; slowest {slowest} "
              f"{per_method[slowest]:.1f} s")

    print(f"3. Embedding (built-in model's features, {source} faces); import torch+timm in a fresh "
          f"process: {import_torch:.1f} s")
    start = time.perf_counter()
    features = run_features("builtin", images)
    after_features = time.perf_counter()
    embed_features(features, "pca")
    after_pca = time.perf_counter()
    embed_features(features[:1000], "tsne")
    after_tsne = time.perf_counter()
    print(f"   features of {len(images):,} faces {after_features - start:.1f} s; PCA {after_pca - after_features:.2f} s;"
          f" t-SNE of 1,000 {after_tsne - after_pca:.1f} s")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
