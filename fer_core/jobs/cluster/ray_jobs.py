"""The Ray backend: each run is one Ray job (Jobs API) whose entrypoint is the worker, on a node with
the GPUs and CPUs the backend asks for; `ray job stop` is the cancel (SIGTERM, which the worker records
as 'cancelled'; Ray kills it 3 s later if it has not stopped)."""
from __future__ import annotations

import logging
import shlex
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

from fer_core.jobs.cluster import INSTALL, ClusterError, EngineState, worker_env
from fer_core.runs.store import LOG

_clients: dict[str, object] = {}  # address -> JobSubmissionClient, one connection check per process
# address -> (when, why) it last could not be reached: the page's 2-second poll must not wait on a cluster
# that is down every time (a ray:// address takes 30 s to time out); a launch's check always tries afresh
_unreachable_since: dict[str, tuple[float, str]] = {}
RETRY_SECONDS = 60.0
# Ray's job states -> ours
STATES = {"PENDING": "pending", "RUNNING": "running", "SUCCEEDED": "succeeded", "FAILED": "failed",
          "STOPPED": "stopped"}


def _client(address: str, fresh: bool = False):
    if address in _clients:
        return _clients[address]
    failed = _unreachable_since.get(address)
    if failed and not fresh and time.monotonic() - failed[0] < RETRY_SECONDS:
        raise ClusterError(failed[1])
    try:
        from ray.job_submission import JobSubmissionClient
    except ImportError:
        raise ClusterError(f"the ray backend needs Ray, which is not installed for this Python; {INSTALL}") from None
    try:
        with _quiet():
            client = JobSubmissionClient(address)
    except RuntimeError as exc:
        if "ray[default]" in str(exc):
            raise ClusterError(f"the ray backend needs Ray's job API (ray[default]); {INSTALL}") from None
        raise ClusterError(_unreachable(address, exc)) from None
    except Exception as exc:  # requests' and Ray's own connection errors, bad addresses
        message = _unreachable(address, exc)
        _unreachable_since[address] = (time.monotonic(), message)
        raise ClusterError(message) from None
    _unreachable_since.pop(address, None)
    _clients[address] = client
    return client


@contextmanager
def _quiet():
    """Ray's client logs and warns on stderr as it connects: our one line says what matters."""
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(logging.NOTSET)


def _unreachable(address: str, exc: Exception) -> str:
    reason = " ".join(str(exc).split())[:300] or type(exc).__name__
    return (f"the Ray cluster at {address} cannot be reached ({reason}); check the address and that the "
            "cluster is up (`ray status` on its head node)")


def check(backend: dict) -> str:
    _clients.pop(backend["address"], None)  # a launch asks the cluster itself, not what we knew of it
    client = _client(backend["address"], fresh=True)
    return f"Ray at {backend['address']} ({getattr(client, '_address', backend['address'])})"


def submit(run_dir: Path, backend: dict) -> str:
    client = _client(backend["address"])
    python, run, log = (shlex.quote(str(p)) for p in (sys.executable, run_dir, run_dir / LOG))
    try:
        return client.submit_job(
            entrypoint=f"exec {python} -u -m fer_core.jobs.worker {run} >> {log} 2>&1",
            runtime_env={"env_vars": worker_env()},
            entrypoint_num_gpus=backend["gpus"] or None, entrypoint_num_cpus=backend["cpus"] or None,
            metadata={"fer_run": run_dir.name},
        )
    except Exception as exc:
        _clients.pop(backend["address"], None)
        raise ClusterError(f"Ray at {backend['address']} refused the job: {' '.join(str(exc).split())[:300]}") \
            from None


def state(run_dir: Path, backend: dict, job: str) -> EngineState:
    client = _client(backend["address"])
    try:
        info = client.get_job_info(job)
    except Exception as exc:
        _clients.pop(backend["address"], None)
        return EngineState("unknown", " ".join(str(exc).split())[:300])
    return EngineState(STATES.get(str(getattr(info.status, "value", info.status)), "unknown"), info.message or "")


def cancel(run_dir: Path, backend: dict, job: str) -> None:
    client = _client(backend["address"])
    try:
        client.stop_job(job)
    except Exception as exc:
        _clients.pop(backend["address"], None)
        raise ClusterError(f"Ray at {backend['address']} could not stop job {job}: "
                           f"{' '.join(str(exc).split())[:300]}") from None
