"""Saliency-map latency on CPU: one 48x48 face through `fer_core.explain`, per method.

For each model, `explain_faces` is called on one face --calls times after --warmup calls and the
median and 90th-percentile wall times are reported (ScoreCAM, which runs one forward pass per
channel, and the faithfulness metrics get --slow-calls calls). Models: a randomly initialised
simple_cnn at its native 48 px input and at 32 px (the input size of the test fixture), or the
model of a run folder (--run). Latency does not depend on the weights, only on architecture and size.

Target (explainability issue): gradcam median under 50 ms for simple_cnn on CPU.

On a CPU shared with other work (a training job, other processes), pass --threads 1: two torch
threads spinning against a busy CPU made the 48 px Grad-CAM ~1 s instead of ~15 ms in our runs.

    python benchmarks/bench_gradcam.py [--run RUN_DIR] [--calls 50] [--warmup 5] [--threads N]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fer_core import explain  # noqa: E402
from fer_core.transforms.config import AugmentConfig
from fer_core.common.emotions import CANONICAL_CLASSES  # noqa: E402
from fer_core.models.architectures import build_model  # noqa: E402
from fer_core.runs.card import ModelCard
from fer_core.runs.checkpoint import load_checkpoint

TARGET_MS = 50.0
SLOW = ("scorecam",)


def random_simple_cnn(input_size: int):
    torch.manual_seed(0)
    model = build_model("simple_cnn", len(CANONICAL_CLASSES)).eval()
    aug = AugmentConfig(input_size=input_size, per_image_norm=True)
    return model, ModelCard("simple_cnn", list(CANONICAL_CLASSES), aug.to_dict())


def timed_ms(fn, calls: int, warmup: int) -> tuple[float, float]:
    """(median, 90th percentile) milliseconds of `fn()` over `calls` calls after `warmup` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times), float(np.percentile(times, 90))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", help="a run folder: benchmark its model instead of the random simple_cnn ones")
    parser.add_argument("--calls", type=int, default=50, help="timed calls per method (default 50)")
    parser.add_argument("--slow-calls", type=int, default=10, help="timed calls for ScoreCAM and the metrics")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--methods", nargs="+", default=explain.method_names(), help="default: all")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    if args.run:
        model, card, _ = load_checkpoint(Path(args.run) / "best.pt")
        models = {f"{card.arch}@{card.augment_config.input_size} ({Path(args.run).name})": (model, card)}
    else:
        models = {f"simple_cnn@{size}": random_simple_cnn(size) for size in (48, 32)}
    face = np.random.default_rng(0).integers(0, 256, (1, 48, 48), dtype=np.uint8)

    rows: dict[str, dict[str, tuple[float, float]]] = {}
    for label, (model, card) in models.items():
        for method in args.methods:
            calls = args.slow_calls if method in SLOW else args.calls
            rows.setdefault(method, {})[label] = timed_ms(
                lambda: explain.explain_faces(model, card, face, method=method), calls, min(args.warmup, calls))
        result = explain.explain_faces(model, card, face, method="gradcam")
        for metric in explain.FAITHFULNESS_METRICS.names():
            rows.setdefault(f"faithfulness: {metric}", {})[label] = timed_ms(
                lambda: explain.faithfulness(model, card, face, result.heatmaps, result.targets, metric=metric),
                args.slow_calls, 1)

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; one 48x48 face per call; median / p90 ms")
    labels = list(models)
    print(f"{'method':<28}" + "".join(f"{label:>26}" for label in labels))
    for name, per_model in rows.items():
        cells = "".join(f"{per_model[lb][0]:>15.1f} / {per_model[lb][1]:>7.1f}" for lb in labels)
        print(f"{name:<28}{cells}")
    if "gradcam" in rows:
        worst = max(v[0] for v in rows["gradcam"].values())
        verdict = "met" if worst < TARGET_MS else "NOT met"
        print(f"gradcam median: {worst:.1f} ms at worst (target < {TARGET_MS:.0f} ms): {verdict}")


if __name__ == "__main__":
    main()
