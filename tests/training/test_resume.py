"""Resuming runs: a run stopped after epoch k and resumed ends exactly as one that never stopped."""
from __future__ import annotations

import json

import pytest
import torch

import fer_core.training.loop as loop
from fer_core import jobs, runs
from fer_core.jobs import worker
from fer_core.runs.store import RESUME_STATE
from fer_core.training.config import make_config
from fer_core.training.resume import load_training_state

TINY = dict(arch="fast_cnn", synthetic_size=300, epochs=3, batch_size=32, device="cpu", seed=5, augment="light",
            torch_threads=1,
            drop_rate=0.2)
TIMING = ("epoch_seconds", "elapsed_seconds")


class Interrupt(Exception):
    """Raised by a progress callback to stop a run as a crash would."""


def _stop_after(epoch: int):
    def progress(event: dict) -> None:
        if event.get("done") and event["epoch"] == epoch:
            raise Interrupt(f"stopped after epoch {epoch}")
    return progress


def _new_run(root, **options):
    return runs.create_run(make_config(**{**TINY, **options}), root)


def _same_tensors(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.allclose(a[k].float(), b[k].float(), atol=1e-6) for k in a)


def _metrics_without_timing(run_dir) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in TIMING} for row in runs.read_metrics(run_dir)]


@pytest.fixture
def keep_last_state(monkeypatch):
    """Completed runs keep last.pt, so their final training state can be compared."""
    monkeypatch.setattr(loop, "discard_training_state", lambda run_dir: None)


@pytest.mark.parametrize("options", [
    dict(scheduler="cosine", warmup_epochs=1),
    dict(mixup_alpha=0.4, cutmix_alpha=1.0, mix_prob=0.8, ema_decay=0.9, scheduler="onecycle",
         imbalance="oversample"),
    dict(scheduler="plateau", optimizer="sgd", early_stopping=5, label_smoothing=0.1),
], ids=["cosine", "mixup-cutmix-ema", "plateau-sgd"])
def test_a_run_interrupted_and_resumed_ends_as_one_never_interrupted(tmp_path, keep_last_state, options):
    whole = _new_run(tmp_path / "whole", **options)
    assert worker.execute(whole) == "completed", runs.read_status(whole).get("traceback")

    broken = _new_run(tmp_path / "broken", **options)
    assert worker.execute(broken, progress=_stop_after(1)) == "failed"
    assert "stopped after epoch 1" in runs.read_status(broken)["error"]
    assert len(runs.read_metrics(broken)) == 1 and load_training_state(broken)["epoch"] == 1

    assert jobs.resume(broken, foreground=True) == 1
    assert worker.execute(broken) == "completed", runs.read_status(broken).get("traceback")

    status = runs.read_status(broken)
    assert status["resume_from"] == 1 and status.get("error") is None and "traceback" not in status
    a, b = load_training_state(whole), load_training_state(broken)
    assert a["epoch"] == b["epoch"] == 3
    assert _same_tensors(a["model"], b["model"])
    if options.get("ema_decay"):
        assert _same_tensors(a["ema"], b["ema"])
    assert a["selection"] == b["selection"]
    rows_a, rows_b = _metrics_without_timing(whole), _metrics_without_timing(broken)
    assert len(rows_a) == len(rows_b) == 3 and all(ra == pytest.approx(rb) for ra, rb in zip(rows_a, rows_b))
    ev_a, ev_b = runs.load_run(whole).evaluation, runs.load_run(broken).evaluation
    assert (ev_a["accuracy"], ev_a["best_epoch"]) == (ev_b["accuracy"], ev_b["best_epoch"])
    # the time spent before the interruption still counts
    assert runs.read_metrics(broken)[-1]["elapsed_seconds"] > runs.read_metrics(broken)[0]["elapsed_seconds"]


def test_last_state_is_kept_each_epoch_loads_safely_and_goes_when_the_run_completes(tmp_path):
    run_dir = _new_run(tmp_path, epochs=2)
    assert worker.execute(run_dir, progress=_stop_after(1)) == "failed"
    raw = torch.load(run_dir / RESUME_STATE, weights_only=True)  # tensors and plain values only
    assert raw["epoch"] == 1 and raw["config"]["seed"] == 5 and set(raw["rng"]) >= {"torch", "numpy", "python"}
    jobs.resume(run_dir, foreground=True)
    assert worker.execute(run_dir) == "completed"
    assert not (run_dir / RESUME_STATE).exists()
    assert [m["epoch"] for m in runs.read_metrics(run_dir)] == [1, 2]


def test_an_early_stopped_run_resumed_after_a_failed_final_evaluation_trains_no_further(tmp_path, monkeypatch):
    run_dir = _new_run(tmp_path, epochs=30, time_limit_minutes=1e-4)

    def broken_evaluation(run):
        raise RuntimeError("disk full")
    monkeypatch.setattr(loop, "final_evaluation", broken_evaluation)
    assert worker.execute(run_dir) == "failed"
    monkeypatch.undo()
    jobs.resume(run_dir, foreground=True)
    assert worker.execute(run_dir) == "completed"
    assert len(runs.read_metrics(run_dir)) == 1


def test_rows_written_after_the_last_state_are_trained_again_not_doubled(tmp_path):
    run_dir = _new_run(tmp_path, epochs=2)
    assert worker.execute(run_dir, progress=_stop_after(1)) == "failed"
    runs.append_metrics(run_dir, {"epoch": 2, "train_loss": 9.0})  # as if killed between the row and last.pt
    jobs.resume(run_dir, foreground=True)
    assert worker.execute(run_dir) == "completed"
    rows = runs.read_metrics(run_dir)
    assert [m["epoch"] for m in rows] == [1, 2] and rows[1]["train_loss"] != 9.0


@pytest.mark.parametrize("state, message", [
    ("completed", "has completed: there is nothing to resume"),
    ("running", "is still running"),
    ("queued", "is still queued"),
])
def test_only_failed_or_cancelled_runs_resume(tmp_path, state, message):
    run_dir = _new_run(tmp_path)  # queued
    if state != "queued":
        runs.write_status(run_dir, state)  # running: owned by this (live) process
    with pytest.raises(runs.RunError, match=message):
        jobs.resume(run_dir)


def test_a_run_without_last_state_or_with_a_damaged_one_is_refused_clearly(tmp_path):
    run_dir = _new_run(tmp_path)
    runs.write_status(run_dir, "failed", error="boom")
    with pytest.raises(runs.RunError, match="no last.pt to resume from: it stopped before its first epoch"):
        jobs.resume(run_dir)
    (run_dir / RESUME_STATE).write_bytes(b"not a torch file")
    with pytest.raises(runs.RunError, match="not a readable resume state"):
        jobs.resume(run_dir)
    assert runs.read_status(run_dir)["status"] == "failed"  # nothing changed


def test_a_file_that_would_run_code_is_refused(tmp_path):
    run_dir = _new_run(tmp_path)
    runs.write_status(run_dir, "cancelled")
    torch.save({"format": 1, "epoch": 1, "evil": Interrupt("x")}, run_dir / RESUME_STATE)
    with pytest.raises(runs.RunError, match="holds Python objects other than tensors"):
        jobs.resume(run_dir)


def test_a_changed_config_is_refused_when_the_run_continues(tmp_path):
    run_dir = _new_run(tmp_path, epochs=2)
    assert worker.execute(run_dir, progress=_stop_after(1)) == "failed"
    config = runs.read_json(run_dir / runs.CONFIG)
    (run_dir / runs.CONFIG).write_text(json.dumps({**config, "lr": 0.5}))
    jobs.resume(run_dir, foreground=True)
    assert worker.execute(run_dir) == "failed"
    assert "config.json differs" in runs.read_status(run_dir)["error"]


def test_a_run_whose_process_vanished_keeps_what_the_message_promises_and_resumes(tmp_path):
    import subprocess
    import sys
    run_dir = _new_run(tmp_path, epochs=2)
    assert worker.execute(run_dir, progress=_stop_after(1)) == "failed"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    runs.write_status(run_dir, "running", drop=("error", "traceback"), pid=gone.pid, pid_start=None)  # killed
    error = runs.read_status(run_dir)["error"]
    assert "metrics and checkpoints up to its last completed epoch are kept: resume it" in error
    assert len(runs.read_metrics(run_dir)) == 1 and (run_dir / runs.CHECKPOINT).exists()
    assert jobs.resume(run_dir, foreground=True) == 1
    assert worker.execute(run_dir) == "completed"
    assert [m["epoch"] for m in runs.read_metrics(run_dir)] == [1, 2]


def test_epochs_after_an_older_last_state_are_trained_again_and_best_pt_goes_back(tmp_path, keep_last_state,
                                                                                 monkeypatch):
    """last.pt is not rewritten every epoch (RESUME_STATE_EVERY_S): rows and best.pt newer than it are undone."""
    monkeypatch.setattr(loop, "RESUME_STATE_EVERY_S", 1e9)  # written after the first and final epochs only
    whole = _new_run(tmp_path / "whole", epochs=4, lr=3e-3)  # val: best at epoch 3
    assert worker.execute(whole) == "completed"
    broken = _new_run(tmp_path / "broken", epochs=4, lr=3e-3)
    assert worker.execute(broken, progress=_stop_after(3)) == "failed"
    assert load_training_state(broken)["epoch"] == 1 and len(runs.read_metrics(broken)) == 3
    assert torch.load(broken / runs.CHECKPOINT, weights_only=True)["info"]["epoch"] > 1  # a later best was saved

    config = make_config(**{**TINY, "epochs": 4, "lr": 3e-3})
    run = loop.set_up(config, broken)
    loop.restore_training(run)  # what a resumed run does before its epochs
    put_back = torch.load(broken / runs.CHECKPOINT, weights_only=True)
    assert put_back["info"]["epoch"] == 1 and len(runs.read_metrics(broken)) == 1
    runs.write_status(broken, "failed", error="stopped after epoch 3")  # set_up marked it running

    jobs.resume(broken, foreground=True)
    assert worker.execute(broken) == "completed"
    a, b = load_training_state(whole), load_training_state(broken)
    assert _same_tensors(a["model"], b["model"]) and a["selection"] == b["selection"]
    assert _same_tensors(a["best_weights"], b["best_weights"])
    assert runs.load_run(whole).evaluation["accuracy"] == runs.load_run(broken).evaluation["accuracy"]
