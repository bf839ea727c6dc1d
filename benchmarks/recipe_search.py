"""Several variants of a training recipe at once on one GPU, each its own `train` process, in a fixed budget.

1. Calibration: every variant for a few epochs, all at once, gives the seconds an epoch takes with
   that many processes sharing the GPU, and each command's fixed cost (start-up, data, test).
2. The search: every variant again, all at once, with its epochs fitted to the time left, so the
   one-cycle schedule completes instead of being cut by the time guard (which is still set, as a
   backstop). The `long` variant (if chosen) also gets the time the others leave when they finish,
   running alone at about --solo-epoch-s an epoch.
3. A summary (summary.json, summary.md): per variant, its options, epochs planned and run, best val
   accuracy and its epoch (the selection; never test), PublicTest accuracy with the variant's TTA and
   without, macro-F1, per-class recall and the whole command's seconds. Logs per process in --logs.

    python benchmarks/recipe_search.py --zip data/fer2013.zip --budget-s 470 --out /tmp/out --runs /tmp/runs
    python benchmarks/recipe_search.py --zip synthetic --variants baseline mixup --calibrate-epochs 1 \\
        --budget-s 200 --out /tmp/o --runs /tmp/r -- --arch simple_cnn --device cpu --synthetic-size 600
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# name -> `train` options on top of the recipe. Crops: 40 px random crops of the 48 px face (resized to
# the net's 48 px input, so an epoch costs the same), scored with ten-crop TTA.
CROPS = ["--crop-size", "40", "--tta", "ten_crop"]
VARIANTS: dict[str, list[str]] = {
    "baseline": [],
    "mixup": ["--mixup", "0.4"],
    "cutmix": ["--cutmix", "1.0"],
    "crop40": CROPS,
    "crop40_mixup_wd": [*CROPS, "--mixup", "0.4", "--weight-decay", "0.1"],
    "long": [*CROPS, "--mixup", "0.4", "--weight-decay", "0.1"],  # the best guess, trained longest
}
LONG = "long"


@dataclass
class Process:
    """One `train` command in flight or finished."""

    name: str
    options: list[str]
    log: Path
    started: float = field(default_factory=time.perf_counter)
    popen: subprocess.Popen | None = None
    seconds: float | None = None
    returncode: int | None = None
    run_dir: Path | None = None


def launch(name: str, options: list[str], out: Path, logs: Path) -> Process:
    """Start `python -m fer_core train OPTIONS --out OUT`, its output going to LOGS/NAME.log."""
    out.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}.log"
    command = [sys.executable, "-m", "fer_core", "train", *options, "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"), "PYTHONUNBUFFERED": "1"}
    handle = log.open("w")
    handle.write(" ".join(command) + "\n")
    handle.flush()
    process = Process(name, VARIANTS[name], log)
    process.popen = subprocess.Popen(command, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT, env=env)
    return process


def wait_all(processes: list[Process], deadline: float) -> None:
    """Wait for every process; past `deadline` (perf_counter), stop the ones still running."""
    pending = list(processes)
    while pending:
        for p in list(pending):
            if p.popen.poll() is not None:
                p.seconds, p.returncode = time.perf_counter() - p.started, p.popen.returncode
                p.run_dir = _run_dir_from_log(p.log)
                pending.remove(p)
        if pending and time.perf_counter() > deadline:
            for p in pending:
                p.popen.terminate()
            deadline = math.inf
            for p in pending:
                try:
                    p.popen.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.popen.kill()
        time.sleep(0.5)


def _run_dir_from_log(log: Path) -> Path | None:
    for line in reversed(log.read_text(errors="replace").splitlines()):
        if line.startswith("run folder: "):
            return Path(line[len("run folder: "):].strip())
    return None


def read_metrics(run_dir: Path | None) -> list[dict]:
    if run_dir is None or not (run_dir / "metrics.csv").exists():
        return []
    with (run_dir / "metrics.csv").open(newline="") as f:
        return [{k: float(v) if v else None for k, v in row.items()} for row in csv.DictReader(f)]


def calibrate(processes: list[Process]) -> tuple[float, float, list[str]]:
    """(seconds an epoch takes with all of them running, the largest fixed cost of one command, the
    variants that worked). A variant that failed is reported and left out, so the others still run."""
    epoch_s, fixed_s, working = [], [], []
    for p in processes:
        metrics = read_metrics(p.run_dir)
        if p.returncode != 0 or not metrics:
            print(f"calibration of {p.name} failed (exit {p.returncode}), left out; the end of {p.log}:\n"
                  + "\n".join(p.log.read_text(errors="replace").splitlines()[-15:]), flush=True)
            continue
        steady = [m["epoch_seconds"] for m in metrics[1:]] or [metrics[0]["epoch_seconds"]]
        epoch_s.append(statistics.median(steady))
        fixed_s.append(p.seconds - sum(m["epoch_seconds"] for m in metrics))
        working.append(p.name)
    if not working:
        raise SystemExit("every variant failed in calibration; see the logs above")
    return max(epoch_s), max(fixed_s), working


def summarise(p: Process, planned: int) -> dict:
    row = {"variant": p.name, "options": " ".join(p.options), "epochs_planned": planned,
           "exit": p.returncode, "command_seconds": round(p.seconds or 0, 1)}
    metrics = read_metrics(p.run_dir)
    row["epochs_run"] = len(metrics)
    evaluation = p.run_dir / "evaluation.json" if p.run_dir else None
    if evaluation is None or not evaluation.exists():
        row["error"] = (p.log.read_text(errors="replace").strip().splitlines() or ["no output"])[-1][-300:]
        if metrics:
            best = max(metrics, key=lambda m: m["val_acc"])
            row.update(best_val_acc=best["val_acc"], best_epoch=int(best["epoch"]))
        return row
    ev = json.loads(evaluation.read_text())
    plain = ev.get("without_tta", {"accuracy": ev["accuracy"], "macro_f1": ev["macro_f1"]})
    row.update(best_val_acc=ev["best_val_score"], best_epoch=ev["best_epoch"], selected_on=ev["selected_on"],
               tta=ev["tta"], test_acc_tta=ev["accuracy"], test_acc_plain=plain["accuracy"],
               macro_f1_tta=ev["macro_f1"], macro_f1_plain=plain["macro_f1"], test_n=ev["n"],
               recall={c: round(m["recall"], 3) for c, m in ev["per_class"].items()},
               last_val_acc=metrics[-1]["val_acc"] if metrics else None, run_dir=str(p.run_dir))
    return row


def _pct(value) -> str:
    return f"{100 * value:.2f}" if isinstance(value, float) else "-"


def _table_line(r: dict) -> str:
    head = (f"| {r['variant']} | {r['options'] or '(recipe)'} | {r['epochs_run']}/{r['epochs_planned']} | "
            f"{_pct(r.get('best_val_acc'))} ({r.get('best_epoch', '-')}) |")
    if "macro_f1_tta" not in r:
        failed = f"FAILED (exit {r['exit']}): {r.get('error', '')}"
        return head + f" - | - | - | - | - | {failed} | {r['command_seconds']:.0f} |"
    recall = ", ".join(f"{c} {v:.2f}" for c, v in r["recall"].items())
    return head + (f" {_pct(r['last_val_acc'])} | {_pct(r['test_acc_tta'])} | {r['tta']} | "
                   f"{_pct(r['test_acc_plain'])} | {r['macro_f1_tta']:.3f} | {recall} | {r['command_seconds']:.0f} |")


def markdown(rows: list[dict], header: str) -> str:
    lines = [header, "",
             "| variant | options | epochs run/planned | best val acc (epoch) | last val acc | test acc with TTA | "
             "TTA | without TTA | macro-F1 | per-class recall | command s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    return "\n".join([*lines, *(_table_line(r) for r in rows)]) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zip", required=True, help="the dataset, or 'synthetic' for the built-in faces")
    parser.add_argument("--recipe", default="fer2013-gpu")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget-s", type=float, required=True, help="seconds for everything this script does")
    parser.add_argument("--calibrate-epochs", type=int, default=3)
    parser.add_argument("--long-share", type=float, default=0.7,
                        help="with a long variant: the others get this share of the training window")
    parser.add_argument("--solo-epoch-s", type=float, default=1.1,
                        help="seconds an epoch takes alone on the GPU (0.85-1.02 measured on an H200)")
    parser.add_argument("--max-epochs", type=int, default=400)
    parser.add_argument("--margin-s", type=float, default=25, help="left unplanned, for start-up noise")
    parser.add_argument("--out", required=True, help="summary.json and summary.md go here")
    parser.add_argument("--runs", required=True, help="run folders and per-process logs go here")
    parser.add_argument("extra", nargs="*", help="more `train` options for every variant, after --")
    args = parser.parse_args()

    t0 = time.perf_counter()
    deadline = t0 + args.budget_s
    out, runs = Path(args.out), Path(args.runs)
    out.mkdir(parents=True, exist_ok=True)
    data = [] if args.zip == "synthetic" else ["--data", args.zip]
    base = [*data, "--recipe", args.recipe, "--seed", str(args.seed)]

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - t0:.0f} s] {message}", flush=True)

    n = len(args.variants)
    log(f"calibration: {n} variants at once, {args.calibrate_epochs} epochs each")
    calibration = [launch(v, [*base, *VARIANTS[v], *args.extra, "--epochs", str(args.calibrate_epochs)],
                          runs / "calibration", runs / "logs" / "calibration") for v in args.variants]
    wait_all(calibration, deadline - 60)
    epoch_s, fixed_s, variants = calibrate(calibration)
    left = deadline - time.perf_counter()
    window = left - fixed_s - args.margin_s
    long_on = LONG in variants and len(variants) > 1
    planned_epoch_s = epoch_s * 1.05  # calibration is short; a little slack for noise
    short_epochs = max(1, min(args.max_epochs, int(window * (args.long_share if long_on else 1.0) / planned_epoch_s)))
    solo_s = max(args.solo_epoch_s, planned_epoch_s / n)
    long_epochs = min(args.max_epochs, short_epochs + max(0, int((window - short_epochs * planned_epoch_s) / solo_s)))
    guard_min = max(0.1, (window + args.margin_s / 2) / 60)
    log(f"an epoch takes {epoch_s:.2f} s with {n} at once; fixed cost per command {fixed_s:.0f} s; {left:.0f} s left, "
        f"{window:.0f} s to train: {short_epochs} epochs each" + (f", {long_epochs} for {LONG}" if long_on else "")
        + f"; time guard {guard_min:.2f} min")

    planned = {v: long_epochs if (v == LONG and long_on) else short_epochs for v in variants}
    search = [launch(v, [*base, *VARIANTS[v], *args.extra, "--epochs", str(planned[v]), "--time-limit",
                         f"{guard_min:.3f}"], runs / "search", runs / "logs" / "search") for v in variants]
    wait_all(search, deadline - 5)
    rows = [summarise(p, planned[p.name]) for p in search]
    every_run = f", every run with {' '.join(args.extra)}" if args.extra else ""
    header = (f"{args.recipe} variants (options on top of the recipe), seed {args.seed}{every_run}; "
              f"{len(variants)} processes at once on one device (calibrated with {n}): {epoch_s:.2f} s "
              f"an epoch, {fixed_s:.0f} s fixed cost per command; budget {args.budget_s:.0f} s, used "
              f"{time.perf_counter() - t0:.0f} s. Best epoch selected on val accuracy; test (PublicTest for the "
              "FER2013 zip) scored once.")
    calibration_figures = {"epoch_seconds": epoch_s, "fixed_seconds": fixed_s, "processes": n}
    (out / "summary.json").write_text(json.dumps({"header": header, "calibration": calibration_figures,
                                                  "variants": variants, "rows": rows}, indent=1))
    table = markdown(rows, header)
    (out / "summary.md").write_text(table)
    log("done")
    print(table)


if __name__ == "__main__":
    main()
