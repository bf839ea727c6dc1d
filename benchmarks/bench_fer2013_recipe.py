"""Time to accuracy for a named recipe on the real FER2013 zip, and an imbalance-strategy comparison.

Each run is `python -m fer_core train --recipe NAME ...` in a fresh process. Printed per run: a
time-to-accuracy table (cumulative training seconds, epoch, val accuracy and macro-F1 at that epoch)
and, at the end, test accuracy with and without test-time augmentation, macro-F1 and per-class
recall. The best epoch is selected on the val split carved from train; test is only reported.

    # the recipe as designed (meant for a GPU: about 15 minutes on one H200)
    python benchmarks/bench_fer2013_recipe.py --recipe fer2013-best
    # a shortened schedule that proves the pipeline end to end on a CPU
    python benchmarks/bench_fer2013_recipe.py --recipe fer2013-best --epochs 2 --time-limit 20 -- --batch-size 64
    # the same recipe under several imbalance strategies, one table (macro-F1 is the point here)
    python benchmarks/bench_fer2013_recipe.py --strategies none class_weights focal oversample undersample
"""
from __future__ import annotations

import argparse
import csv
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def device_name() -> str:
    import torch
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda})"
    return f"CPU ({platform.machine()}, {torch.get_num_threads()} threads)"


def train(args, strategy: str | None, out: Path) -> tuple[Path, float]:
    command = [sys.executable, "-m", "fer_core", "train", "--data", args.zip, "--recipe", args.recipe,
               "--out", str(out)]
    for flag, value in (("--epochs", args.epochs), ("--time-limit", args.time_limit), ("--arch", args.arch),
                        ("--imbalance", strategy)):
        if value is not None:
            command += [flag, str(value)]
    command += args.extra
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"training failed ({' '.join(command[3:])}):\n{result.stderr[-3000:]}")
    return Path(result.stdout.strip().splitlines()[-1]), time.perf_counter() - start


def report(run_dir: Path, wall: float) -> dict:
    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    ev = json.loads((run_dir / "evaluation.json").read_text())
    config = json.loads((run_dir / "config.json").read_text())
    print(f"\n== {run_dir.name}  ({config['arch']}, imbalance {config['imbalance']}, recipe {config['recipe']})")
    print(f"{'train s':>9}{'epoch':>7}{'val acc':>9}{'val F1':>9}")
    elapsed = 0.0
    for r in rows:
        elapsed += float(r["epoch_seconds"])
        print(f"{elapsed:>9.1f}{int(float(r['epoch'])):>7}{float(r['val_acc']):>9.4f}{float(r['val_macro_f1']):>9.4f}")
    plain = ev.get("without_tta", {"accuracy": ev["accuracy"], "macro_f1": ev["macro_f1"]})
    print(f"wall {wall / 60:.2f} min (process), best epoch {ev['best_epoch']} on {ev['selected_on']}")
    print(f"TEST {ev['n']} images: accuracy {ev['accuracy']:.4f} with TTA '{ev['tta']}', {plain['accuracy']:.4f} "
          f"without; macro-F1 {ev['macro_f1']:.4f} (without TTA {plain['macro_f1']:.4f})")
    print("per-class recall: " + ", ".join(f"{c} {m['recall']:.2f}" for c, m in ev["per_class"].items()))
    best_val_f1 = max(float(r["val_macro_f1"]) for r in rows)
    return {"imbalance": config["imbalance"], "accuracy": ev["accuracy"], "macro_f1": ev["macro_f1"],
            "disgust_recall": ev["per_class"].get("disgust", {}).get("recall"), "best_val_f1": best_val_f1,
            "epochs": len(rows), "minutes": wall / 60}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zip", default=str(ROOT.parent / "shared" / "data" / "fer2013.zip"))
    parser.add_argument("--recipe", default="fer2013-best")
    parser.add_argument("--arch", help="override the recipe's architecture")
    parser.add_argument("--epochs", type=int, help="override the recipe's epochs (e.g. a short CPU proof)")
    parser.add_argument("--time-limit", type=float, help="override the recipe's time budget (minutes)")
    parser.add_argument("--strategies", nargs="+", help="compare these imbalance strategies (one run each)")
    parser.add_argument("--out", help="keep run folders here (default: a temporary folder)")
    parser.add_argument("extra", nargs="*", help="more `train` options, after --")
    args = parser.parse_args()

    out = Path(args.out or tempfile.mkdtemp(prefix="fer-recipe-"))
    print(f"device: {device_name()}; recipe {args.recipe}; data {args.zip}")
    results = [report(*train(args, s, out)) for s in (args.strategies or [None])]
    if len(results) > 1:
        print(f"\n{'imbalance':<16}{'test acc':>9}{'macro-F1':>9}{'disgust R':>10}{'best val F1':>12}{'epochs':>7}{'min':>6}")
        for r in results:
            print(f"{r['imbalance']:<16}{r['accuracy']:>9.4f}{r['macro_f1']:>9.4f}{r['disgust_recall'] or 0:>10.2f}"
                  f"{r['best_val_f1']:>12.4f}{r['epochs']:>7}{r['minutes']:>6.1f}")


if __name__ == "__main__":
    main()
