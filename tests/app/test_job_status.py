"""fer_core.app.job_status: live progress, failures in plain words and the recent-runs list."""
from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from fer_core import runs
from fer_core.runs.guard import describe_error
from fer_core.jobs import queue as jobs
from fer_core.app import job_status as js
from fer_core.training.config import TrainConfig
from fer_core.data import DataError, load_dataset


@pytest.fixture
def no_scheduler(monkeypatch):
    """Queue runs without starting any process: the folders are what these tests look at."""
    monkeypatch.setattr(jobs, "ensure_scheduler", lambda root=None: False)


# ---------------------------------------------------------------- live progress

def make_run(root, epochs=4, **config) -> "runs.Path":
    return runs.create_run(TrainConfig(epochs=epochs, **config).validate(), root)


def add_epochs(run_dir, n: int) -> None:
    for e in range(1, n + 1):
        runs.append_metrics(run_dir, {"epoch": e, "train_loss": 1.0 / e, "train_acc": 0.5 + 0.1 * e,
                                      "val_loss": 1.2 / e, "val_acc": 0.4 + 0.1 * e, "val_macro_f1": 0.3 + 0.1 * e,
                                      "lr": 1e-3, "epoch_seconds": 1.0})


def test_progress_of_a_run_mid_epoch_gives_the_epoch_fraction_and_latest_metrics(tmp_path):
    run_dir = make_run(tmp_path)
    add_epochs(run_dir, 2)
    runs.write_status(run_dir, "running", phase="training", epoch=2, batch=5, batches=10, best_epoch=2)
    p = js.read_progress(run_dir)
    assert (p.state, p.epoch, p.epochs) == ("running", 2, 4)
    assert p.fraction == pytest.approx((2 + 5 / 10) / 4)
    assert p.latest["epoch"] == 2 and p.latest["val_acc"] == pytest.approx(0.6)
    assert p.label == "epoch 3/4, batch 5/10" and p.best_epoch == 2 and p.can_cancel


def test_progress_between_epochs_before_training_and_when_done(tmp_path):
    run_dir = make_run(tmp_path)
    queued = js.read_progress(run_dir)
    assert (queued.fraction, queued.queue_position, queued.latest) == (0.0, 1, {})
    assert queued.label == "queued, 1st in line"
    runs.write_status(run_dir, "running", phase="loading data", epoch=0)
    assert js.read_progress(run_dir).label == "loading data" and js.read_progress(run_dir).fraction == 0.0
    add_epochs(run_dir, 3)
    runs.write_status(run_dir, "running", phase="training", epoch=3, batch=0, batches=10)
    assert js.read_progress(run_dir).fraction == pytest.approx(0.75)
    assert js.read_progress(run_dir).label == "epoch 3/4 done"
    runs.write_status(run_dir, "completed", phase="done")  # early stopping: done before the planned epochs
    done = js.read_progress(run_dir)
    assert done.fraction == 1.0 and not done.can_cancel


def test_live_runs_lists_running_then_queued_with_curves_once_an_epoch_ended(no_scheduler, tmp_path):
    running, first, second = make_run(tmp_path), make_run(tmp_path), make_run(tmp_path)
    make_run(tmp_path)  # a fourth run, finished: not live
    finished = sorted(p for p in tmp_path.iterdir() if p.is_dir())[-1]
    runs.write_status(finished, "completed")
    add_epochs(running, 1)
    runs.write_status(running, "running", phase="training", epoch=1, batch=3, batches=6)

    live = js.live_runs(tmp_path)
    assert [r.progress.run_dir for r in live] == [running, first, second]
    assert [r.progress.queue_position for r in live] == [None, 1, 2]
    assert live[0].figure is not None and len(live[0].figure.data) == 5
    assert live[1].figure is None and live[1].progress.fraction == 0.0
    assert live[0].progress.fraction == pytest.approx((1 + 0.5) / 4)


def test_cancel_run_says_what_happened(no_scheduler, tmp_path):
    run_dir = make_run(tmp_path)
    assert js.cancel_run(run_dir) == f"Cancelled {run_dir.name}."
    assert runs.read_status(run_dir)["status"] == "cancelled"
    assert js.cancel_run(run_dir) == f"{run_dir.name} is already cancelled: nothing to cancel."
    assert js.cancel_run(tmp_path / "nope").startswith("Could not cancel nope:")


# ---------------------------------------------------------------- errors in plain words

def failed(error: str, traceback: str | None = None) -> dict:
    return {"status": "failed", "error": error, **({"traceback": traceback} if traceback else {})}


def test_out_of_memory_is_explained():
    error = describe_error(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    f = js.describe_failure(failed(error))
    assert f.sentence.startswith("The run ran out of memory. Lower the batch size")
    assert f.original == error


def test_a_killed_worker_is_explained(tmp_path):
    # as the scheduler records a SIGKILL-ed worker, and as read_status records a vanished process
    run_dir = make_run(tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    runs.write_status(run_dir, "running", pid=dead.pid, pid_start="0")
    vanished = runs.read_status(run_dir)
    assert vanished["status"] == "failed"
    for status in (failed(jobs._exit_error(-signal.SIGKILL, run_dir)), vanished):
        assert js.describe_failure(status).sentence.startswith("The training process was stopped from outside")


def test_missing_data_is_explained(tmp_path):
    with pytest.raises(DataError) as caught:
        load_dataset(tmp_path / "gone.zip")
    f = js.describe_failure(failed(describe_error(caught.value)))
    assert f.sentence.startswith("The dataset could not be found or read") and "gone.zip" in f.original


def test_pretrained_weights_unavailable_offline_is_explained():
    error = ("PretrainedWeightsUnavailable: pretrained weights for 'resnet18' are not in the local cache and cannot "
             "be downloaded (HF_HUB_OFFLINE is set). To use pretrained weights, run once with internet access")
    assert "Untick 'pretrained'" in js.describe_failure(failed(error)).sentence


def test_other_errors_keep_their_first_line_and_non_failures_have_none():
    f = js.describe_failure(failed("ValueError: something odd\nsecond line", traceback="Traceback ..."))
    assert f.sentence == "The run failed: ValueError: something odd. The full error is in the details below."
    assert f.traceback == "Traceback ..."
    assert "diverged" in js.describe_failure(failed("training diverged at epoch 3 (loss nan)")).sentence
    assert js.describe_failure({"status": "completed"}) is None
    assert js.describe_failure({"status": "cancelled", "error": "cancelled while running"}) is None


def test_recent_jobs_rows_carry_status_progress_and_the_failure(tmp_path):
    ok, bad = make_run(tmp_path, epochs=2), make_run(tmp_path, epochs=2)
    add_epochs(ok, 2)
    runs.write_status(ok, "completed", epoch=2)
    runs.write_status(bad, "failed", error=describe_error(MemoryError()))
    rows = {r.run_id: r for r in js.recent_jobs(tmp_path)}
    assert rows[ok.name].table_row()["status"] == "✅ completed after 2/2 epochs"
    assert rows[ok.name].table_row()["progress"] == 1.0 and rows[ok.name].failure is None
    assert rows[bad.name].table_row()["status"].startswith("❌ failed")
    assert rows[bad.name].failure.sentence.startswith("The run ran out of memory")
    assert len(js.recent_jobs(tmp_path, limit=1)) == 1
    with pytest.raises(ValueError, match="limit must be at least 1"):
        js.recent_jobs(tmp_path, limit=0)


def test_the_duration_estimate_comes_from_the_last_similar_completed_run(tmp_path):
    from fer_core.app.job_status import estimate_duration
    from fer_core.runs.store import append_metrics, create_run, write_status
    from fer_core.training.config import TrainConfig
    assert estimate_duration("simple_cnn", None, 6, tmp_path) is None
    run = create_run(TrainConfig(epochs=3), tmp_path)
    for epoch in (1, 2, 3):
        append_metrics(run, {"epoch": epoch, "val_acc": 0.5})
    import json
    write_status(run, "completed")
    status = json.loads((run / runs.STATUS).read_text())
    (run / runs.STATUS).write_text(json.dumps({**status, "started_at": 1000.0, "finished_at": 1012.0}))  # 12 s, 3 epochs
    estimate = estimate_duration("simple_cnn", None, 6, tmp_path)
    assert estimate.seconds == 24.0 and estimate.from_run == run.name
    assert estimate.sentence(2) == (f"Estimated about 24 s per run; 2 runs one after another: about 48 s (the last "
                                    f"similar run here, {run.name}, took 12 s for 3 epochs).")
    assert estimate_duration("resnet18", None, 6, tmp_path) is None  # another architecture says nothing
    assert estimate_duration("simple_cnn", "/data/fer2013.zip", 6, tmp_path) is None  # nor other data


def test_a_running_run_says_how_long_it_has_run_how_long_is_left_and_its_speed(tmp_path):
    import json
    import time

    from fer_core.runs.store import append_metrics, create_run, load_run, write_status
    run = create_run(TrainConfig(epochs=6, batch_size=50), tmp_path)
    for epoch in (1, 2):
        append_metrics(run, {"epoch": epoch, "val_acc": 0.5, "epoch_seconds": 10.0})
    write_status(run, "running", phase="training", epoch=2, batch=0, batches=40)
    status = json.loads((run / runs.STATUS).read_text())
    (run / runs.STATUS).write_text(json.dumps({**status, "started_at": time.time() - 25}))
    progress = js.progress_of(load_run(run))
    assert progress.eta_s == pytest.approx(40.0) and progress.images_per_s == pytest.approx(200.0)
    assert 24 <= progress.elapsed_s <= 60
    assert progress.pace().endswith("about 40 s left · 200 images/s") and progress.pace().startswith("running ")
