"""Background jobs: detached workers, the queue's limit, cancel, sweeps and crashes, with tiny real runs."""
from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from fer_core.jobs import queue as jobs
from fer_core.common import paths
from fer_core.training.config import make_config
from fer_core.runs.store import (ACTIVE, CONFIG, RESUME_STATE, STATUS, RunError, new_run_dir, read_json, read_metrics,
                                 read_status, write_status)
from fer_core.common.files import atomic_write_json
from fer_core.common.processes import process_alive
from tests.conftest import stop_background_jobs

FAST = dict(arch="pca_rf", synthetic_size=600)  # a classical baseline: seconds
DEEP = dict(arch="simple_cnn", epochs=50, synthetic_size=800, batch_size=32)  # runs far longer than the tests wait


def wait_for(predicate, timeout: float, what: str, required: bool = True):
    """Poll until predicate() is truthy and return its value; on timeout fail (or return None if not required)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    if required:
        pytest.fail(f"timed out after {timeout} s waiting for {what}")
    return None


def wait_finished(run_dirs, timeout: float = 60) -> list[dict]:
    wait_for(lambda: all(read_status(d)["status"] not in ACTIVE for d in run_dirs), timeout, "the runs to finish")
    return [read_status(d) for d in run_dirs]


def in_training(run_dir) -> bool:
    """The worker itself is in its epochs (training/loop.py reports its phase), not just launched."""
    return read_status(run_dir).get("phase") == "training" or bool(read_metrics(run_dir))


@pytest.fixture
def root(tmp_path):
    """A checkpoints folder for one test; whatever it started is stopped at teardown."""
    root = tmp_path / "checkpoints"
    yield root
    stop_background_jobs(root)


def overlap(statuses: list[dict]) -> int:
    """The largest number of runs whose [started_at, finished_at] intervals overlap."""
    events = sorted([(s["started_at"], 1) for s in statuses] + [(s["finished_at"], -1) for s in statuses])
    count = best = 0
    for _, step in events:
        count += step
        best = max(best, count)
    return best


def test_submit_returns_at_once_and_the_queue_never_exceeds_max_concurrent(root):
    run_dirs, seconds = [], []
    for seed in range(3):
        t0 = time.monotonic()
        run_dirs.append(jobs.submit(make_config(seed=seed, **FAST), root, max_concurrent=2))
        seconds.append(time.monotonic() - t0)
    assert max(seconds) < 0.5, seconds
    assert jobs.get_max_concurrent(root) == 2
    assert all(read_json(d / STATUS)["status"] in ACTIVE for d in run_dirs)

    most_alive = 0
    while any(read_status(d)["status"] in ACTIVE for d in run_dirs):
        alive = [s for s in map(read_status, run_dirs) if s["status"] == "running" and process_alive(s.get("pid"))]
        most_alive = max(most_alive, len(alive))
        time.sleep(0.05)
    statuses = [read_status(d) for d in run_dirs]
    assert [s["status"] for s in statuses] == ["completed"] * 3, [s.get("error") for s in statuses]
    assert most_alive <= 2
    assert overlap(statuses) == 2  # two side by side, the third only after one of them ended
    assert len({s["pid"] for s in statuses}) == 3  # each run in a process of its own, not this one
    assert os.getpid() not in {s["pid"] for s in statuses}


def test_a_run_outlives_its_submitter_and_a_queued_run_cancelled_before_it_starts_never_runs(root):
    code = ("import sys; from fer_core import jobs; from fer_core.training.config import make_config; "
            f"print(jobs.submit(make_config(**{FAST!r}), sys.argv[1], max_concurrent=1))")
    out = subprocess.run([sys.executable, "-c", code, str(root)], cwd=paths.PROJECT_ROOT, capture_output=True,
                         text=True, timeout=60, check=True)
    first = root / os.path.basename(out.stdout.strip())  # submitted by a process that has exited since
    second = jobs.submit(make_config(seed=1, **FAST), root)
    wait_for(lambda: read_status(first)["status"] == "running", 20, "the first run to start")
    assert jobs.queue_position(second) == 1
    assert [r.run_dir for r in jobs.active_runs(root)] == [first, second]

    assert jobs.cancel(second) == "cancelled"
    assert jobs.queue_position(second) is None
    status = wait_finished([first])[0]
    assert status["status"] == "completed", status.get("error")
    assert (first / "log.txt").exists()
    wait_for(lambda: not jobs.scheduler_running(root), 5, "the scheduler to exit once the queue is empty")
    assert jobs.scheduler_pid(root) is None
    status = read_status(second)
    assert status["status"] == "cancelled"
    assert "pid" not in status and "started_at" not in status
    assert not (second / "log.txt").exists()
    assert jobs.active_runs(root) == []


def test_sweep_queues_archs_x_strategies_spread_over_gpus_and_all_complete(root, monkeypatch):
    # Two (pretend) GPUs: by default one job per GPU, each worker given its own device.
    # The classical baselines ignore CUDA_VISIBLE_DEVICES, so this runs on a CPU-only machine.
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    monkeypatch.delenv("FER_MAX_JOBS", raising=False)
    assert jobs.default_max_concurrent() == 2
    archs, strategies = ["pca_rf", "hog_svm"], ["none", "class_weights"]
    run_dirs = jobs.sweep(make_config(**FAST), archs, strategies, root)

    assert len(run_dirs) == 4
    configs = [read_json(d / CONFIG) for d in run_dirs]
    assert [(c["arch"], c["imbalance"]) for c in configs] == list(itertools.product(archs, strategies))
    assert all(c["synthetic_size"] == 600 for c in configs)
    statuses = wait_finished(run_dirs, timeout=90)
    assert [s["status"] for s in statuses] == ["completed"] * 4, [s.get("error") for s in statuses]
    assert len({s["sweep"] for s in statuses}) == 1
    assert {s["gpu"] for s in statuses} == {"0", "1"}
    assert overlap(statuses) <= 2


def test_sweep_refuses_an_empty_or_invalid_grid_before_queueing_anything(root):
    for archs, strategies in (([], ["none"]), (["pca_rf"], []), ("pca_rf", ["none"])):
        with pytest.raises(ValueError, match="non-empty list"):
            jobs.sweep(make_config(**FAST), archs, strategies, root)
    bad = make_config(**FAST)
    bad.epochs = 0
    with pytest.raises(ValueError, match="epochs"):
        jobs.sweep(bad, ["pca_rf"], ["none"], root)
    assert not root.exists() or not any(root.iterdir())


def test_cancel_of_a_running_job_ends_cancelled_and_its_process_is_gone(root):
    run_dir = jobs.submit(make_config(**DEEP), root)
    status = wait_for(lambda: (s := read_status(run_dir))["status"] == "running" and s, 30, "the run to start")
    wait_for(lambda: in_training(run_dir), 30, "the training loop", required=False)  # SIGTERM lands mid-epoch
    pid = status["pid"]

    t0 = time.monotonic()
    assert jobs.cancel(run_dir, timeout=15) == "cancelled"
    assert time.monotonic() - t0 < 15, "the worker should stop on SIGTERM, not need SIGKILL"
    final = read_status(run_dir)
    assert final["status"] == "cancelled" and final.get("cancel_requested_at")
    assert not process_alive(pid, status.get("pid_start"))
    assert read_json(run_dir / CONFIG)["arch"] == "simple_cnn"
    assert jobs.cancel(run_dir) == "cancelled"  # a finished run is left as it is


def test_a_killed_worker_is_reported_failed_with_a_readable_record(root):
    config = make_config(**DEEP)
    run_dir = jobs.submit(config, root)
    status = wait_for(lambda: (s := read_status(run_dir))["status"] == "running" and s, 30, "the run to start")
    wait_for(lambda: in_training(run_dir), 30, "the training loop", required=False)
    os.kill(status["pid"], signal.SIGKILL)

    failed = wait_for(lambda: (s := read_status(run_dir))["status"] == "failed" and "exit_code" in s and s,
                      10, "the scheduler to record the exit")
    assert failed["exit_code"] == -signal.SIGKILL
    assert "killed by SIGKILL" in failed["error"]
    assert json.loads((run_dir / STATUS).read_text())["status"] == "failed"
    assert read_json(run_dir / CONFIG) == json.loads(json.dumps(config.to_dict()))
    read_metrics(run_dir)  # whatever epochs it finished are still readable


def test_a_worker_that_crashes_on_an_invalid_config_ends_failed_with_the_error(root):
    run_dir = new_run_dir("pca_rf", "none", root)
    atomic_write_json(run_dir / CONFIG, {"arch": "pca_rf", "learning_rate": 0.1})  # written by hand, with a typo
    write_status(run_dir, "queued", queued_at=time.time())
    assert jobs.ensure_scheduler(root) is True
    assert jobs.ensure_scheduler(root) is False  # one scheduler per folder

    [status] = wait_finished([run_dir], timeout=30)
    assert status["status"] == "failed"
    assert "learning_rate" in status["error"] and "Traceback" in status["traceback"]


def test_limits_and_gpu_choice(root, monkeypatch):
    monkeypatch.setenv("FER_MAX_JOBS", "3")
    assert jobs.default_max_concurrent() == jobs.get_max_concurrent(root) == 3
    jobs.set_max_concurrent(2, root)
    assert jobs.get_max_concurrent(root) == 2
    jobs.set_max_concurrent(None, root)
    assert jobs.get_max_concurrent(root) == 3
    for bad in (0, -1, "two", 1.5):
        with pytest.raises(ValueError, match="at least 1"):
            jobs.set_max_concurrent(bad, root)
    monkeypatch.setenv("FER_MAX_JOBS", "zero")
    with pytest.raises(ValueError, match="FER_MAX_JOBS"):
        jobs.submit(make_config(**FAST), root)

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3,-1,4")
    assert jobs.gpu_ids() == ["2", "3"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert jobs.gpu_ids() == []
    assert jobs._pick_gpu(["0", "1", "2"], []) == "0"
    assert jobs._pick_gpu(["0", "1", "2"], ["0", "2"]) == "1"
    assert jobs._pick_gpu(["0", "1"], ["0", "1", "0"]) == "1"
    assert jobs._pick_gpu([], []) is None


def test_bad_arguments_say_what_is_wrong(root):
    with pytest.raises(ValueError, match="TrainConfig"):
        jobs.submit({"arch": "pca_rf"}, root)
    with pytest.raises(RunError, match="not a run folder"):
        jobs.cancel(root)
    with pytest.raises(ValueError, match="timeout"):
        jobs.cancel(root, timeout=-1)
    assert jobs.queue_position(root / "nope") is None


def test_the_runs_command_restarts_a_stranded_queue_and_reading_never_does(root):
    """A queued run whose scheduler died (none is running) stays queued while pages and code only read
    (active_runs, list_runs); the `runs` command's explicit repair (jobs.reconcile) starts it."""
    from pathlib import Path

    from fer_core import runs
    from fer_core.runs.store import create_run
    run_dir = create_run(make_config(**FAST), root)  # queued, and no scheduler started
    assert [r.run_dir for r in jobs.active_runs(root)] == [run_dir] and runs.list_runs(root)
    assert not jobs.scheduler_running(root) and read_status(run_dir)["status"] == "queued"
    listing = subprocess.run([sys.executable, "-m", "fer_core", "runs", "--out", str(root), "--json"],
                             cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=120)
    assert listing.returncode == 0, listing.stderr
    assert wait_finished([run_dir], timeout=120)[0]["status"] == "completed"
    wait_for(lambda: not jobs.scheduler_running(root), 10, "the scheduler to exit once the queue is empty")
    assert jobs.reconcile(root) is False  # nothing queued: nothing to repair


def test_a_killed_background_run_resumes_in_the_background_in_its_folder(root):
    run_dir = jobs.submit(make_config(arch="simple_cnn", epochs=4, synthetic_size=300, batch_size=32,
                                      torch_threads=1), root)
    wait_for(lambda: (run_dir / RESUME_STATE).exists(), 60, "the first epoch's last.pt")
    os.kill(read_status(run_dir)["pid"], signal.SIGKILL)
    wait_for(lambda: read_status(run_dir)["status"] == "failed", 10, "the kill to be recorded")
    done = len(read_metrics(run_dir))
    assert 1 <= done < 4

    assert jobs.resume(run_dir) >= 1
    assert wait_finished([run_dir])[0]["status"] == "completed"
    assert [m["epoch"] for m in read_metrics(run_dir)] == [1, 2, 3, 4]
    assert not (run_dir / RESUME_STATE).exists() and [d.name for d in root.iterdir() if d.is_dir()] == [run_dir.name]


def test_an_old_workers_exit_never_overwrites_its_run_reopened_since(root):
    """A run resumed before the scheduler reaped its killed worker stays queued for the new attempt."""
    run_dir = new_run_dir("simple_cnn", "none", root)
    atomic_write_json(run_dir / CONFIG, make_config(arch="simple_cnn").to_dict())
    write_status(run_dir, "running", pid=999_999_999, pid_start=None)
    write_status(run_dir, "queued", drop=("pid", "pid_start"), resume_from=1)  # as jobs.resume leaves it
    jobs._record_exit(run_dir, -signal.SIGKILL, 999_999_999)
    assert read_status(run_dir)["status"] == "queued"
