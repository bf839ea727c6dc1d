"""The Slurm backend through submitit: each run is one sbatch job (or, with executor 'local', submitit's
local executor: the same job as a process on this machine). The job's Python replaces itself with the
worker (exec), so Slurm's signals reach the worker directly; `scancel` is the cancel (SIGTERM, which the
worker records as 'cancelled'). submitit's files (the job's pickle and its own logs) go in RUN_DIR/slurm."""
from __future__ import annotations

import os
import shutil
import signal
import sys
from pathlib import Path

from fer_core.common.processes import process_alive, process_command
from fer_core.jobs.cluster import INSTALL, ClusterError, EngineState, worker_env
from fer_core.runs.store import LOG

FOLDER = "slurm"
_jobs: dict[str, object] = {}  # job id -> the submitit Job this process submitted (local ones are its children)
# sacct's states -> ours (the rest: still pending)
ENDED = {"COMPLETED": "succeeded", "CANCELLED": "stopped", "FAILED": "failed", "TIMEOUT": "failed",
         "NODE_FAIL": "failed", "OUT_OF_MEMORY": "failed", "PREEMPTED": "failed", "BOOT_FAIL": "failed",
         "DEADLINE": "failed"}


def _submitit():
    try:
        import submitit
    except ImportError:
        raise ClusterError(f"the slurm backend needs submitit, which is not installed for this Python; {INSTALL}") \
            from None
    return submitit


def check(backend: dict) -> str:
    _submitit()
    if backend["executor"] == "local":
        return "submitit's local executor on this machine"
    if shutil.which("sbatch") is None or shutil.which("sacct") is None:
        raise ClusterError("no Slurm here: sbatch/sacct are not on this machine's PATH; launch from a Slurm "
                           "login node (or choose the local executor to try the Slurm path on this machine)")
    return f"Slurm ({backend['partition'] or 'default partition'})"


def exec_worker(run_dir: str) -> None:
    """What the job runs on the node: become `python -m fer_core.jobs.worker RUN_DIR`, output in log.txt."""
    os.environ.update(worker_env())
    fd = os.open(Path(run_dir) / LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.execv(sys.executable, [sys.executable, "-u", "-m", "fer_core.jobs.worker", str(run_dir)])


def _executor(run_dir: Path, backend: dict):
    submitit = _submitit()
    check(backend)
    executor = submitit.AutoExecutor(folder=run_dir / FOLDER, cluster="local" if backend["executor"] == "local"
                                     else "slurm")
    params = dict(name=f"fer-{run_dir.name}", timeout_min=int(max(1, round(backend["time_limit_minutes"]))),
                  gpus_per_node=int(backend["gpus"]), tasks_per_node=1, nodes=1)
    if backend["executor"] == "slurm":
        params.update(slurm_additional_parameters=dict(backend["sbatch"]),
                      **({"slurm_partition": backend["partition"]} if backend["partition"] else {}))
    executor.update_parameters(**params)
    return executor


def submit(run_dir: Path, backend: dict) -> str:
    executor = _executor(run_dir, backend)
    try:
        job = executor.submit(exec_worker, str(run_dir))
    except Exception as exc:  # sbatch's refusal (bad partition, account), as submitit reports it
        raise ClusterError(f"Slurm refused the job: {' '.join(str(exc).split())[:300]}") from None
    _jobs[str(job.job_id)] = job
    return str(job.job_id)


def _local_controller(run_dir: Path, job: str) -> bool:
    """Whether the local executor's controller (its pid is the job id) still runs this run's job."""
    pid = int(job) if job.isdigit() else None
    return bool(pid) and process_alive(pid) and str(run_dir / FOLDER) in " ".join(process_command(pid))


def state(run_dir: Path, backend: dict, job: str) -> EngineState:
    if backend["executor"] == "local":
        handle = _jobs.get(job)
        if handle is not None:  # ours: its process tells (and is reaped by asking)
            code = handle._process.poll()
            if code is None:
                return EngineState("running")
            return EngineState("succeeded" if code == 0 else "failed", f"exit code {code}")
        if _local_controller(run_dir, job):
            return EngineState("running")
        return EngineState("failed", "the local job's process is gone")
    submitit = _submitit()
    try:
        found = submitit.SlurmJob(run_dir / FOLDER, job).state
    except Exception as exc:
        return EngineState("unknown", " ".join(str(exc).split())[:300])
    word = str(found).split()[0].upper() if found else "UNKNOWN"
    if word in ENDED:
        return EngineState(ENDED[word], word)
    return EngineState("running" if word in ("RUNNING", "COMPLETING") else
                       "pending" if word in ("PENDING", "REQUEUED", "CONFIGURING", "SUSPENDED") else "unknown", word)


def cancel(run_dir: Path, backend: dict, job: str) -> None:
    if backend["executor"] == "local":
        handle = _jobs.get(job)
        if handle is not None:
            handle.cancel(check=False)  # SIGINT to its controller, which passes it to the worker
        elif _local_controller(run_dir, job):
            os.kill(int(job), signal.SIGINT)
        return
    submitit = _submitit()
    try:
        submitit.SlurmJob(run_dir / FOLDER, job).cancel(check=True)
    except Exception as exc:
        raise ClusterError(f"scancel {job} failed: {' '.join(str(exc).split())[:300]}") from None
