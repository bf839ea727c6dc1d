"""Cluster backends end to end: a real local Ray cluster (127.0.0.1, started once for this module and
stopped after) and submitit's local executor each run a 2-run sweep to completion and a third run that
is cancelled; unreachable clusters and missing packages give one clear line."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import pytest

from fer_core.jobs import cluster
from fer_core.jobs.cluster import ray_jobs  # noqa: F401  (cluster.ray_jobs below)
from fer_core.jobs import queue as jobs
from fer_core.runs.store import ACTIVE, load_run, read_status
from fer_core.training.config import make_config
from tests.conftest import stop_background_jobs
from tests.jobs.test_queue import in_training, wait_for

SWEEP = dict(arch="pca_rf", synthetic_size=600)  # a classical baseline: seconds of work per run
DEEP = dict(arch="simple_cnn", epochs=50, synthetic_size=800, batch_size=32, torch_threads=1)  # far longer than we wait
TIMINGS: dict[str, float] = {}  # printed at the end of the module (pytest -s), for the README and the closing note


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def session_members(sid: int) -> list[int]:
    """The processes of a session (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) == sid:  # after the state, ppid and pgrp: the session id
            found.append(int(stat.parent.name))
    return found


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "checkpoints"
    yield root
    stop_background_jobs(root)


@pytest.fixture(scope="module")
def ray_address():
    """A one-node Ray cluster on 127.0.0.1 (the head in its own process group, stopped after the module)."""
    pytest.importorskip("ray.job_submission", reason="ray is not installed (requirements-cluster.txt)")
    from ray.job_submission import JobSubmissionClient
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's sockets live under it
    dashboard = free_port()
    head = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "ray"), "start", "--head", "--block",
         "--node-ip-address=127.0.0.1", "--port", str(free_port()), "--dashboard-host=127.0.0.1",
         "--dashboard-port", str(dashboard), "--ray-client-server-port", str(free_port()),
         "--dashboard-agent-listen-port", str(free_port()), "--num-cpus=4", "--num-gpus=0", "--temp-dir", temp,
         "--include-dashboard=true", "--disable-usage-stats"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env=dict(os.environ, RAY_USAGE_STATS_ENABLED="0"))
    address = f"http://127.0.0.1:{dashboard}"
    t0 = time.monotonic()

    def answers():
        try:
            JobSubmissionClient(address)
            return True
        except Exception:
            return head.poll() is not None  # it died: stop waiting
    wait_for(answers, 120, "the local Ray cluster to answer")
    assert head.poll() is None, "ray start --head exited"
    TIMINGS["ray cluster start (s)"] = time.monotonic() - t0
    yield address
    os.killpg(head.pid, signal.SIGTERM)  # --block: the head stops its processes when it is stopped
    try:
        head.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(head.pid, signal.SIGKILL)
        head.wait(timeout=10)
    for pid in session_members(head.pid):  # Ray's workers lead groups of their own, in the head's session
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    cluster.ray_jobs._clients.clear()
    shutil.rmtree(temp, ignore_errors=True)
    print("\ncluster test timings:", ", ".join(f"{k} {v:.1f}" for k, v in TIMINGS.items()))


def sweep_and_cancel(root, capsys, flags: list[str], name: str) -> tuple[list, object]:
    """A 2-run sweep from the command line (both sent at once), plus a deep run cancelled once it trains;
    returns their folders."""
    from fer_core import cli
    t0 = time.monotonic()
    assert cli.main(["sweep", "--arch", "pca_rf", "--imbalance", "none", "class_weights", "--synthetic-size", "600",
                     "--out", str(root), "--at-once", "2", *flags]) == 0
    sweep = [Path(line) for line in capsys.readouterr().out.split()]
    assert len(sweep) == 2 and all(d.parent == root for d in sweep)
    backend = load_run(sweep[0]).config["backend"]  # as the flags made it
    deep = jobs.submit(make_config(backend=backend, **DEEP), root)
    wait_for(lambda: read_status(deep)["status"] == "running" and in_training(deep), 150,
             f"the deep run to train on {name}")
    t1 = time.monotonic()
    assert jobs.cancel(deep, timeout=20) == "cancelled"
    TIMINGS[f"{name} cancel (s)"] = time.monotonic() - t1
    wait_for(lambda: all(read_status(d)["status"] not in ACTIVE for d in sweep), 150, f"the {name} sweep to end")
    TIMINGS[f"{name} 2-run sweep + cancelled run (s)"] = time.monotonic() - t0
    return sweep, deep


def check_like_local_runs(sweep, deep, backend_name: str) -> None:
    for run_dir in sweep:
        record = load_run(run_dir)  # what Runs shows: the same folder a local run writes
        assert record.state == "completed", record.status.get("error")
        assert record.evaluation and 0 <= record.evaluation["accuracy"] <= 1
        assert record.config["backend"]["name"] == backend_name  # the config records where it ran
        assert record.status["backend"] == backend_name and record.status["cluster_job"]
        assert record.status["host"] == socket.gethostname()
        assert (run_dir / "log.txt").is_file()  # the worker's output, as for a local run
    assert len({read_status(d)["sweep"] for d in sweep}) == 1
    final = read_status(deep)
    assert final["status"] == "cancelled" and final.get("cancel_requested_at")
    assert final.get("epoch") is None or final["epoch"] < DEEP["epochs"]


# ---------------------------------------------------------------- Ray

def test_a_ray_sweep_runs_to_completion_and_a_ray_run_is_cancelled(root, ray_address, capsys):
    sweep, deep = sweep_and_cancel(root, capsys, ["--backend", "ray", "--address", ray_address, "--gpus", "0"], "ray")
    check_like_local_runs(sweep, deep, "ray")
    client = cluster.ray_jobs._client(ray_address)
    job, deadline = read_status(deep)["cluster_job"], time.monotonic() + 60
    while str(client.get_job_status(job)) not in ("JobStatus.STOPPED", "STOPPED") and time.monotonic() < deadline:
        time.sleep(0.5)  # the run records its cancel before Ray's job table says STOPPED
    assert str(client.get_job_status(job)) in ("JobStatus.STOPPED", "STOPPED")
    wait_for(lambda: not jobs.scheduler_running(root), 15, "the scheduler to exit once the cluster runs ended")


def test_a_ray_job_that_fails_before_python_starts_is_recorded_by_the_repair_step_only(root, ray_address,
                                                                                           monkeypatch):
    monkeypatch.setattr(cluster.ray_jobs, "sys", types.SimpleNamespace(executable="/nonexistent/python"))
    run_dir = jobs._enqueue(make_config(backend=cluster.backend_options("ray", address=ray_address, gpus=0),
                                        **SWEEP), root)
    job = jobs._send(run_dir)  # sent from this process (no scheduler), with a python the node does not have
    assert job and read_status(run_dir)["cluster_job"] == job
    wait_for(lambda: cluster.engine_state(run_dir, read_status(run_dir)).ended, 60, "the job to fail")
    assert read_status(run_dir)["status"] == "queued"  # reading never repairs
    assert cluster.repair(run_dir)
    status = read_status(run_dir)
    assert status["status"] == "failed" and f"ray job {job} ended (failed" in status["error"]
    assert "log.txt" in status["error"]


def test_an_unreachable_ray_cluster_is_one_clear_line(root, capsys):
    pytest.importorskip("ray.job_submission", reason="ray is not installed (requirements-cluster.txt)")
    from fer_core import cli
    address = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(cluster.ClusterError, match="cannot be reached"):
        cluster.check_reachable({"name": "ray", "address": address})
    assert cli.main(["sweep", "--arch", "pca_rf", "--backend", "ray", "--address", address, "--out", str(root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: the Ray cluster at") and "cannot be reached" in err[0]
    assert not root.exists() or not any(root.iterdir())  # nothing was queued


# ---------------------------------------------------------------- Slurm (submitit's local executor)

def test_a_slurm_sweep_runs_to_completion_and_a_slurm_run_is_cancelled_with_the_local_executor(root, capsys):
    pytest.importorskip("submitit", reason="submitit is not installed (requirements-cluster.txt)")
    flags = ["--backend", "slurm", "--slurm-executor", "local", "--gpus", "0", "--job-time-limit", "10"]
    sweep, deep = sweep_and_cancel(root, capsys, flags, "slurm (local executor)")
    check_like_local_runs(sweep, deep, "slurm")
    assert list((sweep[0] / "slurm").glob("*_submitted.pkl"))  # submitit's own files stay in the run folder


def test_slurm_without_sbatch_is_one_clear_line(monkeypatch):
    pytest.importorskip("submitit", reason="submitit is not installed (requirements-cluster.txt)")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(cluster.ClusterError, match="no Slurm here: sbatch/sacct are not on this machine's PATH"):
        cluster.check_reachable(cluster.backend_options("slurm", partition="gpu"))


# ---------------------------------------------------------------- packages missing

@pytest.mark.parametrize("backend, module", [({"name": "ray", "address": "auto"}, "ray.job_submission"),
                                             ({"name": "slurm", "executor": "local"}, "submitit")])
def test_a_backend_without_its_package_says_what_to_install(backend, module, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    monkeypatch.setattr(cluster.ray_jobs, "_clients", {})
    with pytest.raises(cluster.ClusterError) as caught:
        cluster.check_reachable(backend)
    message = str(caught.value)
    assert "\n" not in message and "not installed" in message and "pip install -r requirements-cluster.txt" in message


class FakeSlurmJob:
    """submitit.SlurmJob as a real cluster's sacct and scancel would answer (no Slurm here)."""

    states: dict[str, str] = {}
    cancelled: list[str] = []

    def __init__(self, folder, job_id):
        self.job_id = job_id

    @property
    def state(self) -> str:
        return self.states[self.job_id]

    def cancel(self, check: bool = True) -> None:
        self.cancelled.append(self.job_id)
        self.states[self.job_id] = "CANCELLED by 1000"


def test_what_slurm_knows_reaches_the_status_through_the_repair_step_and_cancel_is_scancel(tmp_path, monkeypatch):
    from fer_core.runs.store import write_status
    monkeypatch.setitem(sys.modules, "submitit", types.SimpleNamespace(SlurmJob=FakeSlurmJob))
    monkeypatch.setattr(FakeSlurmJob, "states", {"11": "PENDING", "12": "RUNNING"})
    monkeypatch.setattr(FakeSlurmJob, "cancelled", [])
    backend = cluster.backend_options("slurm", partition="gpu")
    lost, stopped = (jobs._enqueue(make_config(backend=backend, **SWEEP), tmp_path) for _ in range(2))
    write_status(lost, "queued", cluster_job="11")
    write_status(stopped, "running", cluster_job="12", host="node7", pid=4242, pid_start="1")  # on a node

    assert cluster.repair(lost) and read_status(lost)["cluster_state"] == "pending"
    assert not cluster.repair(lost)  # nothing new to record
    FakeSlurmJob.states["11"] = "NODE_FAIL"
    assert read_status(lost)["status"] == "queued"  # reading never repairs
    jobs._repair_cluster_runs(tmp_path)  # what jobs.reconcile and the scheduler call
    status = read_status(lost)
    assert status["status"] == "failed" and "slurm job 11 ended (failed: NODE_FAIL)" in status["error"]

    assert jobs.cancel(stopped, timeout=1) == "cancelled"  # not "running on node7: cancel it there"
    assert FakeSlurmJob.cancelled == ["12"]
    assert read_status(stopped)["error"] == "cancelled on the cluster (slurm job 12 was stopped)"
