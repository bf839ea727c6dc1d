"""The bundled model (`--run builtin`): a completed real-data run folder copied into the package.

Made by one command, `python -m fer_core builtin --from-run RUN_DIR`, which checks that the run is a
completed deep run trained on real faces, small enough to ship (MAX_BYTES), and that its checkpoint
loads safely; then it writes model.onnx from it (the answer path without PyTorch, inference/run_onnx.py)
and model.int8.onnx (kept only if int8 loses at most MAX_INT8_LOSS_POINTS of test accuracy), and
replaces fer_core/assets/builtin/ as a whole (a new folder renamed into place). card.json beside the
run files says where the model came from and how it scored.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from fer_core import runs
from fer_core.common import paths

MAX_BYTES = 4 * 1024 * 1024
MAX_INT8_LOSS_POINTS = 0.3  # model.int8.onnx ships only if it loses at most this much test accuracy vs fp32
CARD = "card.json"
# What a run folder needs to be used and described; predictions.csv and log.txt stay behind.
FILES = (runs.CONFIG, runs.STATUS, runs.METRICS, runs.CHECKPOINT, runs.EVALUATION)


def check_candidate(run_dir: str | os.PathLike) -> runs.RunRecord:
    """The run's record if it can become the bundled model; RunError saying why not otherwise."""
    record = runs.load_run(run_dir)
    name = record.run_id
    if record.is_builtin:
        raise runs.RunError("that is the bundled model already; give the folder of a new run")
    if record.state != "completed" or not record.evaluation:
        raise runs.RunError(f"run {name} is {record.state}, not completed with a test evaluation")
    if not record.has_checkpoint:
        raise runs.RunError(f"run {name} has no {runs.CHECKPOINT}: only deep runs can be bundled")
    if record.trained_on_synthetic:
        raise runs.RunError(f"run {name} was trained on the synthetic faces; the bundled model must learn from "
                            "real faces (train with --data PATH)")
    size = sum((record.run_dir / f).stat().st_size for f in FILES if (record.run_dir / f).exists())
    if size > MAX_BYTES:
        raise runs.RunError(f"run {name} takes {size / 2**20:.1f} MB; the bundled model may take at most "
                            f"{MAX_BYTES / 2**20:.0f} MB (choose a smaller architecture)")
    from fer_core.runs.checkpoint import load_checkpoint
    load_checkpoint(record.run_dir / runs.CHECKPOINT)  # weights_only: refuses anything but tensors
    return record


def card_for(record: runs.RunRecord) -> dict:
    """Provenance and headline figures of the bundled model (card.json)."""
    ev = record.evaluation or {}
    best_val = max((m["val_acc"] for m in record.metrics if m.get("val_acc") is not None), default=None)
    return {
        **record.provenance(), "model": runs.BUILTIN,
        "test": {k: ev.get(k) for k in ("split", "n", "accuracy", "macro_f1", "tta", "without_tta", "best_epoch",
                                        "selected_on", "device", "train_seconds")},
        "per_class": ev.get("per_class"), "best_val_acc": best_val,
        "train_command": _train_command(record.config),
        "bundled_with": f"python -m fer_core builtin --from-run {record.run_id}",
        "bundled_at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }


def _int8_decision(record: runs.RunRecord, staging: Path) -> dict:
    """Quantize the model in `staging` (inference/quantize.py) and keep model.int8.onnx only if it loses
    at most MAX_INT8_LOSS_POINTS of test accuracy against fp32; what was measured and decided."""
    from fer_core.inference.quantize import quantize_run
    result = quantize_run(record.run_dir, staging)
    shipped = result.accuracy_loss_points <= MAX_INT8_LOSS_POINTS
    if not shipped:
        result.path.unlink()
        result.sidecar.unlink()
    r = result.report
    return {"shipped": shipped, "accuracy_loss_points": round(result.accuracy_loss_points, 3),
            "allowed_loss_points": MAX_INT8_LOSS_POINTS, "split": r["split"], "n": r["n"],
            "fp32": r["fp32"], "int8": r["int8"], "top1_agreement": r["top1_agreement"]}


def _train_command(config: dict) -> str:
    """The `train` command that reproduces the run: its recipe plus the options that differ from it."""
    from fer_core.training.config import RECIPES, TrainConfig
    recipe = config.get("recipe")
    defaults = {**TrainConfig().to_dict(), **(RECIPES[recipe]["options"] if recipe in RECIPES else {})}
    flags = {"arch": "--arch", "input_size": "--input-size", "epochs": "--epochs", "imbalance": "--imbalance",
             "seed": "--seed", "time_limit_minutes": "--time-limit"}
    parts = ["python -m fer_core train", f"--data {runs.dataset_name(config)}"]
    parts += [f"--recipe {recipe}"] if recipe else []
    parts += [f"{flag} {config[key]}" for key, flag in flags.items()
              if key in config and config[key] is not None and config[key] != defaults.get(key)]
    return " ".join(parts)


def install_from_run(run_dir: str | os.PathLike, target: str | os.PathLike | None = None) -> dict:
    """Make a run the bundled model (replacing the previous one); returns its card."""
    record = check_candidate(run_dir)
    target = Path(target) if target else paths.builtin_model_dir()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".builtin-", dir=target.parent))
    try:
        for name in FILES:
            if (record.run_dir / name).exists():
                shutil.copy2(record.run_dir / name, staging / name)
        from fer_core.inference.export import write_run_onnx
        write_run_onnx(record.run_dir, staging)  # answers without PyTorch; parity-checked as it is written
        card = {**card_for(record), "int8": _int8_decision(record, staging)}
        (staging / CARD).write_text(json.dumps(card, indent=2) + "\n")
        for file in staging.iterdir():  # readable by everyone, like the rest of the package
            file.chmod(0o644)
        staging.chmod(0o755)
        old = target.with_name(target.name + ".old")
        if target.exists():
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
        staging.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return card


def read_card(folder: str | os.PathLike | None = None) -> dict | None:
    """The bundled model's card.json (None when there is no bundled model)."""
    path = Path(folder or paths.builtin_model_dir()) / CARD
    return json.loads(path.read_text()) if path.exists() else None
