"""Forged run records must never make Cancel signal a process that is not our worker: a running status
without its start time, naming pid 1, a reused pid or a foreign program is stale, read as failed, and
repaired as failed; only our own worker (pid, start time and command line all matching) is signalled."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from fer_core import jobs, runs
from fer_core.common.processes import is_run_process, process_start_time
from fer_core.training.config import TrainConfig


@pytest.fixture
def foreign():
    """A process that is not ours, leading a process group of its own (as one a test or a user started)."""
    proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
    yield proc
    proc.kill()
    proc.wait()


def _running(root, **fields):
    run_dir = runs.create_run(TrainConfig(epochs=1), root)
    (run_dir / runs.STATUS).write_text(__import__("json").dumps({"status": "running", **fields}))
    return run_dir


@pytest.mark.parametrize("record", ["no-start-time", "wrong-start-time", "right-start-time"])
def test_a_forged_running_record_is_stale_and_cancel_never_signals_the_process(tmp_path, foreign, record):
    fields = {"pid": foreign.pid}
    if record != "no-start-time":
        fields["pid_start"] = process_start_time(foreign.pid) if record == "right-start-time" else "12345"
    run_dir = _running(tmp_path, **fields)
    assert runs.read_status(run_dir)["status"] == "failed"
    assert run_dir not in [r.run_dir for r in jobs.active_runs(tmp_path)]
    assert jobs.cancel(run_dir, timeout=1) == "failed"  # repaired as failed, not signalled
    time.sleep(0.2)
    assert foreign.poll() is None, "Cancel signalled a process that is not our worker"
    assert runs.read_json(run_dir / runs.STATUS)["status"] == "failed"


@pytest.mark.parametrize("pid", [0, 1, -1, "1", True, 2**40, None])
def test_pid_zero_one_negative_or_not_an_int_is_never_a_run_process(pid):
    assert not is_run_process(pid, process_start_time(1) or "1")


def test_our_own_worker_is_still_signalled_by_cancel(tmp_path):
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "fer_core.jobs.worker"],
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while "fer_core.jobs.worker" not in open(f"/proc/{worker.pid}/cmdline").read() and time.monotonic() < deadline:
            time.sleep(0.05)
        run_dir = _running(tmp_path, pid=worker.pid, pid_start=process_start_time(worker.pid),
                           host=os.uname().nodename)
        assert runs.read_status(run_dir)["status"] == "running"
        assert jobs.cancel(run_dir, timeout=5) == "cancelled"
        assert worker.wait(timeout=5) is not None
    finally:
        worker.kill()
        worker.wait()
