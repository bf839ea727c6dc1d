"""Time to accuracy for a training recipe on the real FER2013 zip, one fresh process per seed.

Printed per seed:
- a table of wall seconds since the run started (data loading included), epoch, val accuracy and
  val macro-F1 (val is carved from train);
- when val accuracy first reached each of --marks;
- test accuracy with and without test-time augmentation, macro-F1 and per-class recall (the best
  epoch is selected on val; test is evaluated once, at the end);
- the whole command's wall time (start-up, data from the cache, training, test evaluation) and peak memory.

    python benchmarks/bench_time_to_accuracy.py --recipe fer2013-cpu --seeds 0 1
    python benchmarks/bench_time_to_accuracy.py --recipe fer2013-cpu --seeds 0 -- --config no_cap.json
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from training_runs import SHARED_ZIP, Finished, machine, train


def time_to(metrics: list[dict], mark: float) -> str:
    for row in metrics:
        if row["val_acc"] >= mark:
            return f"{row['elapsed_seconds']:.0f} s (epoch {row['epoch']:.0f})"
    return "not reached"


def report(run: Finished, marks: list[float]) -> None:
    ev, config = run.evaluation, run.config
    print(f"\n== seed {config['seed']}: {config['arch']} at {config['input_size']} px, recipe {config['recipe']}, "
          f"imbalance {config['imbalance']}  ({run.run_dir})")
    print(f"{'wall s':>8}{'epoch':>7}{'val acc':>9}{'val F1':>9}")
    for row in run.metrics:
        print(f"{row['elapsed_seconds']:>8.0f}{row['epoch']:>7.0f}{row['val_acc']:>9.4f}{row['val_macro_f1']:>9.4f}")
    print("val accuracy first reached: " + "; ".join(f"{m:.0%} at {time_to(run.metrics, m)}" for m in marks))
    plain = ev.get("without_tta", {"accuracy": ev["accuracy"], "macro_f1": ev["macro_f1"]})
    print(f"best epoch {ev['best_epoch']} of {len(run.metrics)} on {ev['selected_on']} ({ev['best_val_score']:.4f})")
    print(f"TEST ({ev['n']} images): accuracy {ev['accuracy']:.4f} with TTA '{ev['tta']}', {plain['accuracy']:.4f} "
          f"without; macro-F1 {ev['macro_f1']:.4f} (without TTA {plain['macro_f1']:.4f})")
    print("per-class recall: " + ", ".join(f"{c} {m['recall']:.3f}" for c, m in ev["per_class"].items()))
    print(f"whole command: {run.wall_seconds / 60:.2f} min; peak memory {run.peak_rss_mb:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zip", default=str(SHARED_ZIP))
    parser.add_argument("--recipe", default="fer2013-cpu")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--marks", type=float, nargs="+", default=[0.55, 0.60, 0.65], help="val accuracies to time")
    parser.add_argument("--out", help="keep run folders here (default: a temporary folder)")
    parser.add_argument("extra", nargs="*", help="more `train` options, after --")
    args = parser.parse_args()

    out = Path(args.out or tempfile.mkdtemp(prefix="fer-tta-"))
    print(f"machine: {machine()}; recipe {args.recipe}; data {args.zip}")
    runs = []
    for seed in args.seeds:
        runs.append(train(["--data", args.zip, "--recipe", args.recipe, "--seed", str(seed), *args.extra], out))
        report(runs[-1], args.marks)
    if len(runs) > 1:
        print(f"\n{'seed':>4}{'test acc':>10}{'no TTA':>8}{'macro-F1':>10}{'minutes':>9}")
        for run in runs:
            ev = run.evaluation
            plain = ev.get("without_tta", ev)
            print(f"{run.config['seed']:>4}{ev['accuracy']:>10.4f}{plain['accuracy']:>8.4f}{ev['macro_f1']:>10.4f}"
                  f"{run.wall_seconds / 60:>9.2f}")


if __name__ == "__main__":
    main()
