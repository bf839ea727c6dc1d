"""Resuming a stopped run: its whole training state in last.pt, and continuing from it.

last.pt (runs.store.RESUME_STATE) holds, as tensors and plain values only (loaded with
`weights_only=True`, so the file cannot run code): the epochs completed, the config it was trained
with, the model, optimiser, learning-rate schedule and EMA weights, the augmenter's and the mixer's
generators, the global torch / CUDA / numpy / Python RNG states, the best-so-far selection (epoch,
score, epochs since, and a copy of best.pt's weights) and early-stopping state, and the training time
so far. The imbalance sampler needs nothing: its order is drawn afresh from (seed, epoch) each epoch.

It is written after the first and the final epoch, and after every epoch that ends 30 s or more after
the last write (loop.RESUME_STATE_EVERY_S): every epoch would slow fast GPU runs by ~40%. A resumed
run trains again the epochs that ended after it; their metrics rows go, and best.pt goes back to the
best last.pt knew (an epoch trained again saves it again). Continued with the same seed on the same
kind of device, a run trains exactly as if it had never stopped (on CPU; on a GPU within its usual
nondeterminism).

last.pt is removed when the run completes; a failed or cancelled run keeps it, to be resumed.
Runs under torchrun do not write it: resuming them is not supported yet.
"""
from __future__ import annotations

import io
import json
import pickle
import random
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from fer_core.common.files import atomic_write_bytes
from fer_core.models.runtime import unwrap
from fer_core.runs.store import (ACTIVE, CONFIG, RESUME_STATE, RunError, keep_metrics_through, read_json, read_status,
                                 write_status)

if TYPE_CHECKING:
    from fer_core.training.loop import Training

STATE_FORMAT = 1
RESUMABLE = ("failed", "cancelled")
# The fields of a run's last ending, dropped when it starts again (a stale one would describe the new attempt).
ENDING_FIELDS = ("error", "traceback", "exit_code", "finished_at", "cancel_requested_at")


# ---------------------------------------------------------------- RNG states as tensors and plain values

def _rng_state(device: torch.device) -> dict:
    _, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos), "has_gauss": int(has_gauss),
                       "cached_gaussian": float(cached)}}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    if device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], device)


# ---------------------------------------------------------------- saving and restoring

def cpu_weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A CPU copy of a model's state dict (what best.pt holds)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in unwrap(model).state_dict().items()}


def training_state(run: "Training") -> dict:
    """Everything needed to continue `run` after its last completed epoch (run.epoch)."""
    ctx = run.ctx
    return {
        "format": STATE_FORMAT, "epoch": run.epoch, "stopped": run.stopped, "config": run.config.to_dict(),
        "device_type": run.device.type,
        "model": unwrap(run.model).state_dict(), "optimizer": ctx.optimizer.state_dict(),
        "schedule": ctx.schedule.state_dict(), "ema": ctx.ema.state_dict() if ctx.ema is not None else None,
        "augmenter": ctx.augmenter.state_dict(), "mixer": ctx.mixer.state_dict() if ctx.mixer is not None else None,
        "rng": _rng_state(run.device),
        "selection": {"best_epoch": run.best_epoch, "best_score": run.best_score, "since_best": run.since_best},
        "best_weights": run.best_weights,
        "elapsed_seconds": run.elapsed(),
    }


def save_training_state(run: "Training") -> None:
    """Write last.pt atomically (a kill mid-write leaves the previous epoch's)."""
    buffer = io.BytesIO()
    torch.save(training_state(run), buffer)
    atomic_write_bytes(run.run_dir / RESUME_STATE, buffer.getvalue())


def load_training_state(run_dir: Path) -> dict:
    """last.pt, loaded safely (weights_only, on the CPU); RunError saying why when it cannot be used."""
    path = Path(run_dir) / RESUME_STATE
    if not path.is_file():
        raise RunError(f"{path} is missing")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported global" in str(exc):  # weights_only refused an object: loading it could run its code
            raise RunError(f"{path} is not a resume state this tool wrote: it holds Python objects other than "
                           "tensors and plain values, so it was not loaded (loading such a file can run "
                           "code)") from None
        raise RunError(f"{path} is not a readable resume state (it is damaged)") from None
    except Exception as exc:  # truncated, not a torch file
        raise RunError(f"{path} is not a readable resume state ({type(exc).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT or not isinstance(state.get("epoch"), int):
        raise RunError(f"{path} is not a resume state this version of the tool can use")
    return state


def _same_config(a: dict, b: dict) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def restore_training(run: "Training") -> None:
    """Put `run` (freshly set up from its config.json) back where its last.pt left it."""
    state = load_training_state(run.run_dir)
    name = run.run_dir.name
    if not _same_config(state["config"], run.config.to_dict()):
        raise RunError(f"{name}: config.json differs from the configuration its {RESUME_STATE} was trained with; "
                       "it cannot be resumed (start a new run with the configuration you want)")
    if state["device_type"] != run.device.type:
        raise RunError(f"{name} was training on {state['device_type']}, but its device now resolves to "
                       f"{run.device.type}: resume it where a {state['device_type']} device is available")
    ctx = run.ctx
    try:
        unwrap(run.model).load_state_dict(state["model"])
        ctx.optimizer.load_state_dict(state["optimizer"])
        ctx.schedule.load_state_dict(state["schedule"])
        if ctx.ema is not None:
            ctx.ema.load_state_dict(state["ema"])
        ctx.augmenter.load_state_dict(state["augmenter"])
        if ctx.mixer is not None:
            ctx.mixer.load_state_dict(state["mixer"])
        _set_rng_state(state["rng"], run.device)
        selection = state["selection"]
        run.best_epoch, run.best_score = int(selection["best_epoch"]), float(selection["best_score"])
        run.since_best = int(selection["since_best"])
        run.epoch, run.stopped = state["epoch"], bool(state["stopped"])
        run.started -= float(state["elapsed_seconds"])  # elapsed_seconds and the time limit count the earlier time
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise RunError(f"{run.run_dir / RESUME_STATE} does not fit this run ({type(exc).__name__}: "
                       f"{' '.join(str(exc).split())[:200]})") from None
    run.best_weights = state.get("best_weights")
    keep_metrics_through(run.run_dir, run.epoch)  # rows of epochs that ended after last.pt was written
    _put_back_best_checkpoint(run)
    run.status(phase="training", epoch=run.epoch, best_epoch=run.best_epoch, batch=0)


def _put_back_best_checkpoint(run: "Training") -> None:
    """best.pt as last.pt knew it: a best epoch saved after last.pt was written is one the resumed run trains
    again (it saves best.pt again if that epoch is again the best), so the older best goes back meanwhile."""
    from fer_core.runs.checkpoint import save_checkpoint
    from fer_core.runs.store import CHECKPOINT

    path = run.run_dir / CHECKPOINT
    try:
        saved_epoch = torch.load(path, map_location="cpu", weights_only=True)["info"]["epoch"]
    except Exception:  # noqa: BLE001 - missing or damaged: written again from last.pt below when it can be
        saved_epoch = None
    if saved_epoch == run.best_epoch or run.best_weights is None:
        return
    import copy
    best = copy.deepcopy(unwrap(run.eval_model))
    best.load_state_dict(run.best_weights)
    save_checkpoint(path, best, run.card, epoch=run.best_epoch, select=run.select, score=run.best_score)


def discard_training_state(run_dir: Path) -> None:
    """Remove last.pt (the run completed: it is no longer needed, and it is as large as the model twice over)."""
    (Path(run_dir) / RESUME_STATE).unlink(missing_ok=True)


# ---------------------------------------------------------------- reopening a run folder

def reopen(run_dir: str | Path, status: str, **fields) -> int:
    """Check that a run can be resumed and mark it `status` ('queued' or 'running') for it, dropping the
    fields of its last ending; returns the epoch it continues after. RunError saying why not.

    Call under the run's lock (jobs does) so that no cancel or scheduler changes it meanwhile."""
    from fer_core.models.classical import is_classical

    run_dir = Path(run_dir)
    name = run_dir.name
    if not (run_dir / CONFIG).is_file():
        raise RunError(f"{run_dir} is not a run folder (it has no {CONFIG})")
    state = read_status(run_dir).get("status")
    if state == "completed":
        raise RunError(f"{name} has completed: there is nothing to resume")
    if state in ACTIVE:
        raise RunError(f"{name} is still {state}: only a failed or cancelled run can be resumed")
    if state not in RESUMABLE:
        raise RunError(f"{name} is {state}: only a failed or cancelled run can be resumed")
    config = read_json(run_dir / CONFIG)
    if isinstance(config, dict) and is_classical(str(config.get("arch"))):
        raise RunError(f"{name} is a classical baseline, fitted in one go: launch it again instead")
    if not (run_dir / RESUME_STATE).exists():
        raise RunError(f"{name} has no {RESUME_STATE} to resume from: it stopped before its first epoch ended, "
                       "or it was trained under torchrun (not resumable yet). Launch it again instead")
    epoch = load_training_state(run_dir)["epoch"]
    # A queued run has no process yet: the last one's pid goes too (the scheduler matches exits by it).
    drop = ENDING_FIELDS + (("pid", "pid_start") if status == "queued" else ())
    write_status(run_dir, status, drop=drop, resume_from=epoch, epoch=epoch, batch=0,
                 phase=f"resuming after epoch {epoch}", **fields)
    return epoch
