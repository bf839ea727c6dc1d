"""Imbalance strategies on the real FER2013 zip: each strategy x seed is one run of a recipe.

Every run selects its best epoch on val macro-F1 (val carved from train); test is evaluated once.
Printed: one line per run, then a table of mean ± sd over seeds of test accuracy, test macro-F1 and
disgust recall (the rarest class), as Markdown for the README.

    python benchmarks/bench_imbalance_strategies.py --recipe fer2013-cpu --seeds 0 1 2 --epochs 6
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from training_runs import SHARED_ZIP, machine, train

STRATEGIES = ("none", "class_weights", "effective_number", "focal", "oversample", "undersample")


def mean_sd(values: list[float], scale: float = 1.0, digits: int = 1) -> str:
    mean = statistics.fmean(values) * scale
    sd = statistics.stdev(values) * scale if len(values) > 1 else 0.0
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zip", default=str(SHARED_ZIP))
    parser.add_argument("--recipe", default="fer2013-cpu")
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, help="shorten the recipe to this many epochs (the table says so)")
    parser.add_argument("--out", help="keep run folders here (default: a temporary folder)")
    parser.add_argument("extra", nargs="*", help="more `train` options, after --")
    args = parser.parse_args()

    out = Path(args.out or tempfile.mkdtemp(prefix="fer-imbalance-"))
    shortened = f", shortened to {args.epochs} epochs" if args.epochs else ""
    print(f"machine: {machine()}; recipe {args.recipe}{shortened}; best epoch on val macro-F1; data {args.zip}")
    results: dict[str, list[dict]] = {}
    for strategy in args.strategies:
        for seed in args.seeds:
            options = ["--data", args.zip, "--recipe", args.recipe, "--imbalance", strategy, "--seed", str(seed),
                       "--select-metric", "val_macro_f1", *(["--epochs", str(args.epochs)] if args.epochs else []),
                       *args.extra]
            run = train(options, out)
            ev = run.evaluation
            row = {"accuracy": ev["accuracy"], "macro_f1": ev["macro_f1"],
                   "disgust_recall": ev["per_class"]["disgust"]["recall"], "minutes": run.wall_seconds / 60}
            results.setdefault(strategy, []).append(row)
            print(f"{strategy:<17} seed {seed}: test acc {row['accuracy']:.4f}  macro-F1 {row['macro_f1']:.4f}  "
                  f"disgust recall {row['disgust_recall']:.3f}  ({row['minutes']:.1f} min, {run.run_dir.name})",
                  flush=True)

    print("\n| strategy | test accuracy (%) | test macro-F1 | disgust recall (%) | seeds | minutes/run |")
    print("|---|---|---|---|---|---|")
    for strategy, rows in results.items():
        print(f"| {strategy} | {mean_sd([r['accuracy'] for r in rows], 100)} "
              f"| {mean_sd([r['macro_f1'] for r in rows], digits=3)} "
              f"| {mean_sd([r['disgust_recall'] for r in rows], 100)} | {len(rows)} "
              f"| {statistics.fmean(r['minutes'] for r in rows):.1f} |")


if __name__ == "__main__":
    main()
