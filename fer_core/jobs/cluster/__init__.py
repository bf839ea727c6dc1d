"""Where a run executes when not in this machine's queue: a Ray cluster (Jobs API) or Slurm (submitit).

A run's config.json names its backend (`TrainConfig.backend`, {} = this machine's queue):

    {"name": "ray", "address": "auto", "gpus": 1, "cpus": 1}
    {"name": "slurm", "partition": "gpu", "gpus": 1, "time_limit_minutes": 120, "sbatch": {}, "executor": "slurm"}

The folder's scheduler (queue.py) sends each queued cluster run to its engine as its own job, at most
the launch's `at_once` of a sweep at a time. On the node the job runs `python -m fer_core.jobs.worker
RUN_DIR`, which writes the same run folder as a local worker: the checkpoints folder, the dataset and
the project with its virtual environment must be at the same paths on both sides (NFS, a shared home). What only the
engine knows (still waiting in its queue, failed before Python started, node lost) reaches status.json
through `repair`, which the explicit repair step (`jobs.reconcile`) and the scheduler call; never a read.

ray and submitit are optional (requirements-cluster.txt): they are imported only when a cluster run
is submitted, watched or cancelled, and their absence is one ClusterError line saying what to install.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fer_core.runs.store import LOG, RunError, read_json, read_recorded_status, run_lock, write_status

BACKENDS = ("local", "ray", "slurm")
SLURM_EXECUTORS = ("slurm", "local")  # local: submitit's LocalExecutor, the same job as a process here
INSTALL = "install the cluster extras: `.venv/bin/pip install -r requirements-cluster.txt`"
# option -> (default, what it is); every option of a backend, with its default
OPTIONS: dict[str, dict[str, tuple[Any, str]]] = {
    "ray": {"address": ("auto", "the cluster: auto (the one this machine belongs to), ray://HOST:10001 or "
                                "http://HOST:8265 (its dashboard)"),
            "gpus": (1, "GPUs reserved per run"),
            "cpus": (1, "CPUs reserved per run")},
    "slurm": {"partition": (None, "the Slurm partition (default: the cluster's default partition)"),
              "gpus": (1, "GPUs per run (--gpus-per-node)"),
              "time_limit_minutes": (120, "each job's time limit in minutes (--time)"),
              "sbatch": ({}, "extra sbatch options, e.g. {\"account\": \"lab\", \"qos\": \"normal\"}"),
              "executor": ("slurm", "slurm: sbatch on this cluster; local: submitit's local executor (a process "
                                    "on this machine, to try the Slurm path without a cluster)")},
}


class ClusterError(RunError):
    """A cluster backend cannot be used (package missing, cluster unreachable, job refused): one line why."""


def backend_options(name: str | None, **given: Any) -> dict:
    """The config's `backend` value for a backend name and its options (None values take the defaults);
    {} for the local queue. ValueError naming a bad value."""
    name = name or "local"
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; valid: {', '.join(BACKENDS)}")
    if name == "local":
        extra = sorted(k for k, v in given.items() if v is not None)
        if extra:
            raise ValueError(f"{', '.join(extra)} apply to a cluster backend (ray or slurm), not to the local queue")
        return {}
    return check_backend({"name": name, **{k: v for k, v in given.items() if v is not None}})


def check_backend(backend: dict) -> dict:
    """A config's `backend` checked and completed with the defaults ({} stays {}); ValueError naming the
    first bad value."""
    if not isinstance(backend, dict):
        raise ValueError(f"backend must be a JSON object like {{\"name\": \"ray\"}}, got {backend!r}")
    if not backend or backend.get("name") == "local":
        if set(backend) - {"name"}:
            raise ValueError("the local backend takes no options")
        return {}
    name = backend.get("name")
    if name not in OPTIONS:
        raise ValueError(f"unknown backend {name!r}; valid: {', '.join(BACKENDS)}")
    options = OPTIONS[name]
    unknown = sorted(set(backend) - set(options) - {"name"})
    if unknown:
        raise ValueError(f"the {name} backend has no option(s) {', '.join(unknown)}; it takes: {', '.join(options)}")
    out = {"name": name, **{k: backend.get(k, default) for k, (default, _) in options.items()}}
    if name == "ray" and (not isinstance(out["address"], str) or not out["address"].strip()):
        raise ValueError(f"ray address must be text such as auto or ray://HOST:10001, got {out['address']!r}")
    for key in ("gpus", "cpus"):
        if key in out and (isinstance(out[key], bool) or not isinstance(out[key], (int, float)) or out[key] < 0):
            raise ValueError(f"{name} {key} must be a number >= 0, got {out[key]!r}")
    if name == "slurm":
        if out["partition"] is not None and (not isinstance(out["partition"], str) or not out["partition"].strip()):
            raise ValueError(f"slurm partition must be a name, got {out['partition']!r}")
        if int(out["gpus"]) != out["gpus"]:
            raise ValueError(f"slurm gpus must be a whole number, got {out['gpus']!r}")
        limit = out["time_limit_minutes"]
        if isinstance(limit, bool) or not isinstance(limit, (int, float)) or limit <= 0:
            raise ValueError(f"slurm time_limit_minutes must be a positive number, got {limit!r}")
        if not isinstance(out["sbatch"], dict) or not all(isinstance(k, str) and k and isinstance(v, (str, int, float))
                                                          for k, v in out["sbatch"].items()):
            raise ValueError(f"slurm sbatch options must map option names to values, got {out['sbatch']!r}")
        if out["executor"] not in SLURM_EXECUTORS:
            raise ValueError(f"unknown slurm executor {out['executor']!r}; valid: {', '.join(SLURM_EXECUTORS)}")
    return out


def parse_sbatch(items: list[str] | None) -> dict[str, str]:
    """`--sbatch account=lab --sbatch qos=normal` -> {"account": "lab", "qos": "normal"}."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip().lstrip("-")
        if not sep or not key:
            raise ValueError(f"sbatch option {item!r} is not KEY=VALUE (e.g. account=lab)")
        out[key] = value.strip()
    return out


def describe(backend: dict) -> str:
    """Where a run executes, in words: 'this machine', 'Ray at auto', 'Slurm partition gpu'."""
    backend = check_backend(backend or {})
    if not backend:
        return "this machine"
    if backend["name"] == "ray":
        return f"Ray at {backend['address']}"
    if backend["executor"] == "local":
        return "submitit's local executor (the Slurm path, as a process on this machine)"
    return f"Slurm partition {backend['partition']}" if backend["partition"] else "Slurm (default partition)"


def _engine(name: str):
    if name == "ray":
        from fer_core.jobs.cluster import ray_jobs
        return ray_jobs
    if name == "slurm":
        from fer_core.jobs.cluster import slurm
        return slurm
    raise ClusterError(f"unknown backend {name!r}; valid: {', '.join(BACKENDS)}")


def check_reachable(backend: dict) -> str:
    """Raise ClusterError (one line) unless the backend's package is installed and its cluster answers;
    returns what answered, in words. Called before a launch."""
    backend = check_backend(backend)
    if not backend:
        return "this machine"
    return _engine(backend["name"]).check(backend)


# ---------------------------------------------------------------- what the scheduler and cancel call

@dataclass(frozen=True)
class EngineState:
    """A cluster job as its engine sees it: kind pending | running | succeeded | failed | stopped | unknown."""

    kind: str
    detail: str = ""

    @property
    def ended(self) -> bool:
        return self.kind in ("succeeded", "failed", "stopped")


def run_backend(run_dir: Path) -> dict:
    """The run's backend from its config.json ({} for the local queue)."""
    config = read_json(Path(run_dir) / "config.json")
    return check_backend(config.get("backend") or {}) if isinstance(config, dict) else {}


def worker_env() -> dict[str, str]:
    """Variables the worker on a node needs: our package on its path, the folders this side names."""
    from fer_core.common import paths
    env = {"PYTHONPATH": str(paths.PROJECT_ROOT), "PYTHONUNBUFFERED": "1"}
    for key in ("FER_DATA_DIR", "FER_CHECKPOINTS_DIR", "FER_BUILTIN_DIR"):
        if os.environ.get(key):
            env[key] = str(Path(os.environ[key]).resolve())
    return env


def submit(run_dir: Path) -> str:
    """Send a queued run to its engine; returns the engine's job id (ClusterError when refused)."""
    backend = run_backend(run_dir)
    return _engine(backend["name"]).submit(Path(run_dir).resolve(), backend)


def engine_state(run_dir: Path, status: dict) -> EngineState:
    """What the engine says of the run's job; 'unknown' when it cannot say (unreachable, package missing)."""
    job = status.get("cluster_job")
    if not job:
        return EngineState("unknown", "not sent to a cluster")
    try:
        backend = run_backend(run_dir)
        return _engine(backend["name"]).state(Path(run_dir), backend, job)
    except (ClusterError, RunError, ValueError) as exc:
        return EngineState("unknown", str(exc))


def cancel_job(run_dir: Path, status: dict) -> None:
    """Ask the engine to stop the run's job (`ray job stop`, `scancel`); ClusterError when it cannot."""
    backend = run_backend(run_dir)
    _engine(backend["name"]).cancel(Path(run_dir), backend, status["cluster_job"])


def _log_tail(run_dir: Path, lines: int = 20) -> str:
    try:
        text = (Path(run_dir) / LOG).read_bytes()[-16384:].decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def repair(run_dir: Path) -> bool:
    """Merge what the engine knows into an active cluster run's status (the explicit repair step):
    a job that ended while the folder still says queued or running is recorded as failed (or cancelled
    when it was stopped); a job still waiting in the engine's queue has that said in `cluster_state`.
    True when it wrote something."""
    run_dir = Path(run_dir)
    try:
        status = read_recorded_status(run_dir)
    except RunError:
        return False
    if status.get("status") not in ("queued", "running") or not status.get("cluster_job"):
        return False
    state = engine_state(run_dir, status)  # outside the lock: it may wait on the network
    if state.kind == "unknown":
        return False
    with run_lock(run_dir):
        status = read_recorded_status(run_dir)
        if status.get("status") not in ("queued", "running") or not status.get("cluster_job"):
            return False
        engine = status.get("backend", "cluster")
        if not state.ended:
            if status.get("cluster_state") == state.kind:
                return False
            write_status(run_dir, status["status"], cluster_state=state.kind)
            return True
        if state.kind == "stopped" or status.get("cancel_requested_at"):
            write_status(run_dir, "cancelled", cluster_state=state.kind,
                         error=f"cancelled on the cluster ({engine} job {status['cluster_job']} was stopped)")
            return True
        tail = _log_tail(run_dir)
        what = (f"the {engine} job {status['cluster_job']} ended ({state.kind}"
                + (f": {state.detail}" if state.detail else "") + ") before the run recorded its end")
        write_status(run_dir, "failed", cluster_state=state.kind,
                     error=f"{what}. Last lines of log.txt:\n{tail}" if tail else f"{what}. Its log.txt is empty.")
        return True


def wait_stopped(run_dir: Path, timeout: float) -> bool:
    """After a cancel request: wait until the run records an end or its job has ended; True if either."""
    deadline = time.monotonic() + timeout
    while True:
        status = read_recorded_status(run_dir)
        if status.get("status") not in ("queued", "running"):
            return True
        if engine_state(run_dir, status).ended:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)
