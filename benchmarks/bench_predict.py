"""Inference speed and what test-time augmentation does, for one trained run.

1. Predicts every image of the test split (for the real zip: the 3,589 PublicTest faces) with each
   test-time augmentation the run supports (none, flip, ten_crop where trained on crops); prints
   images/s, accuracy and macro-F1 for each. The checkpoint was selected on val; test is only
   reported here.
2. Detect + predict on a 1280x720 JPEG with one face (a test face scaled to 220 px, pasted into a
   cluttered random scene): median ms over --repeats calls, from JPEG bytes to probabilities.

Both for each inference engine (--engines: eager PyTorch, ONNX Runtime (the CPU default: the run's
model.onnx) and ONNX Runtime int8 (its model.int8.onnx, from `export --int8`)).
0. First, the run's own ONNX files alone (issue 26): faces/s at batch 256 on 48x48 faces with
   --threads ONNX Runtime threads (default 2), fp32 (model.onnx) and int8 (model.int8.onnx): the median
   of --passes passes over the test faces.
Targets: >= 5,000 faces/s for 48x48 crops in batches without TTA (int8), and a median of
<= 100 ms for detect + predict on a 1280x720 photo, on the 2-core VM.

    python benchmarks/bench_predict.py --run builtin --data ../shared/data/fer2013.zip [--repeats 30]

A run to measure: `python -m fer_core train --recipe fer2013-cpu --data ../shared/data/fer2013.zip`.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fer_core import runs  # noqa: E402
from fer_core.training.config import TrainConfig  # noqa: E402
from fer_core.data import load_dataset  # noqa: E402
from fer_core.common.metrics import macro_f1  # noqa: E402
from fer_core.inference import run_onnx  # noqa: E402
from fer_core.inference.predictor import Predictor  # noqa: E402
from fer_core.inference.run_onnx import load_run_onnx  # noqa: E402

BATCH = 256


def scene_with_one_face(face: np.ndarray, seed: int = 0) -> bytes:
    """A 1280x720 JPEG: smooth random background with shapes, one face of 220 px pasted in."""
    rng = np.random.default_rng(seed)
    scene = cv2.resize(rng.integers(0, 256, (9, 16, 3), dtype=np.uint8), (1280, 720), interpolation=cv2.INTER_CUBIC)
    for _ in range(25):
        centre = tuple(int(v) for v in rng.integers(0, (1280, 720)))
        cv2.circle(scene, centre, int(rng.integers(5, 60)), tuple(int(c) for c in rng.integers(0, 256, 3)), -1)
    big = cv2.resize(face, (220, 220), interpolation=cv2.INTER_CUBIC)
    scene[250:470, 530:750] = big[:, :, None]
    ok, buf = cv2.imencode(".jpg", scene, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return buf.tobytes()


def onnx_throughput(run: str, faces: np.ndarray, threads: int, passes: int) -> None:
    """Faces/s of the run's model.onnx and model.int8.onnx at batch 256 (section 0)."""
    print(f"\n== the run's ONNX files, batch {BATCH}, {threads} ONNX Runtime threads, {len(faces)} faces x {passes} passes "
          f"(goal: >= 5,000 faces/s int8)")
    for precision in ("fp32", "int8"):
        model = load_run_onnx(run, precision, threads=threads)
        if model is None:
            print(f"{precision}: the run has no {run_onnx.FILES[precision]} made from its best.pt")
            continue
        model.probabilities(faces[:BATCH])  # warm-up
        rates = []
        for _ in range(passes):
            start = time.perf_counter()
            model.probabilities(faces, batch_size=BATCH)
            rates.append(len(faces) / (time.perf_counter() - start))
        print(f"{precision}: median {statistics.median(rates):,.0f} faces/s (min {min(rates):,.0f}, "
              f"max {max(rates):,.0f}); load average {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="run folder")
    parser.add_argument("--data", help="dataset (default: the one the run was trained on)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--engines", nargs="+", default=["torch", "onnxruntime", "onnxruntime-int8"],
                        help="inference engines to compare (none: section 0 only)")
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime threads for section 0")
    parser.add_argument("--passes", type=int, default=5, help="passes over the test faces in section 0")
    args = parser.parse_args()

    config = TrainConfig.from_dict(runs.load_run(args.run).config)
    ds = load_dataset(args.data or config.data, class_set=config.class_set, val_fraction=config.val_fraction,
                      seed=config.seed, synthetic_size=config.synthetic_size)
    test = ds.split("test")
    photo = scene_with_one_face(test.images[0])
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, device {args.device}, {torch.get_num_threads()} "
          f"torch threads; test split of {ds.source}: {len(test)} images")
    onnx_throughput(args.run, test.images, args.threads, args.passes)
    for engine in [e for e in args.engines if e != "none"]:
        predictor = Predictor.from_run(args.run, device=args.device, engine=engine)
        labels = predictor.check_dataset_classes(test.classes)[test.labels]
        size = predictor.card.augment_config.input_size if predictor.is_deep else 48
        print(f"\n== engine {predictor.engine}: run {predictor.run_id} ({predictor.arch}, input {size} px)")
        predictor.predict_faces(test.images[:64])  # warm-up
        print(f"{'tta':10} {'faces/s':>9} {'accuracy':>9} {'macro-F1':>9}")
        for tta in predictor.tta_modes():
            start = time.perf_counter()
            probs = predictor.predict_faces(test.images, tta=tta)
            seconds = time.perf_counter() - start
            pred = probs.argmax(1)
            print(f"{tta:10} {len(test) / seconds:9.0f} {float((pred == labels).mean()):9.4f} "
                  f"{macro_f1(labels, pred, len(predictor.classes)):9.4f}")

        predictor.predict_photo(photo)  # warm-up (loads the cascade)
        times, found = [], 0
        for _ in range(args.repeats):
            start = time.perf_counter()
            result = predictor.predict_photo(photo)
            times.append((time.perf_counter() - start) * 1000)
            found = len(result.faces) if not result.whole_image else 0
        print(f"detect + predict, 1280x720 JPEG with one face: median {statistics.median(times):.1f} ms "
              f"(min {min(times):.1f}, max {max(times):.1f}; {found} face(s) found)")

if __name__ == "__main__":
    main()
