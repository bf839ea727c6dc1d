"""Background jobs: every run executes in its own detached process, through a small per-folder queue.

`submit` writes a run folder (config.json, status 'queued'), makes sure a scheduler serves that
checkpoints folder, and returns. The scheduler (`python -m fer_core.jobs ROOT`, started on demand;
a lock file keeps it to one per folder) starts `python -m fer_core.jobs.worker RUN_DIR` for the oldest
queued runs while fewer than the allowed number are running, records each worker's exit, and
exits once nothing is queued. Scheduler and workers run in their own sessions with their output in
files, so they outlive the Streamlit server or terminal that started them; a run reports only
through its folder, and `cancel` stops it by signal (the worker records 'cancelled').

A run whose config names a cluster backend (config.backend, see cluster/) is queued the same way; the
scheduler sends it to its engine as its own job, at most its launch's `at_once` of one sweep at a time,
and watches the engine until it ends (cluster.repair). Such runs never count against this machine's limit.

POSIX only (flock, process groups).
"""
from __future__ import annotations

import dataclasses
import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

from fer_core.common import paths
from fer_core.jobs import cluster
from fer_core.training.config import TrainConfig
from fer_core.common.files import atomic_write_json
from fer_core.common.processes import is_run_process, process_alive, process_command, process_start_time
from fer_core.runs.store import (ACTIVE, CONFIG, LOG, STATUS, RunError, RunRecord, create_run, load_run, read_json,
                                 read_recorded_status, read_status, reconcile_run, run_lock, write_status)

WORKER_MODULE = "fer_core.jobs.worker"
SCHEDULER_LOCK = ".scheduler.lock"  # flock-ed by the live scheduler, which writes its pid in it
SCHEDULER_LOG = ".scheduler.log"
SETTINGS = ".jobs.json"  # {"max_concurrent": n} for this checkpoints folder
POLL_SECONDS = 0.5
LOG_TAIL_LINES = 20
KILL_WAIT_SECONDS = 5.0
ENGINE_POLL_SECONDS = 5.0  # how often the scheduler asks cluster engines about the jobs it sent

_spawned: list[subprocess.Popen] = []  # schedulers this process started; reaped on later calls


def _root(root: str | os.PathLike | None) -> Path:
    return Path(root or paths.checkpoints_dir()).resolve()


# ---------------------------------------------------------------- how many jobs at once

def _check_limit(value, what: str) -> int:
    try:
        n = int(str(value).strip())
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"{what} must be a whole number of jobs, at least 1; got {value!r}")
    return n


def gpu_ids() -> list[str]:
    """The CUDA devices workers can be spread over, as CUDA_VISIBLE_DEVICES entries.

    $CUDA_VISIBLE_DEVICES if set, else torch's count if torch is already loaded, else the NVIDIA
    driver's device list: the scheduler never imports torch just to count (seconds per start).
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = []
        for entry in (e.strip() for e in visible.split(",")):
            if not entry or entry.startswith("-"):
                break  # CUDA ignores everything from the first invalid entry on
            ids.append(entry)
        return ids
    if "torch" in sys.modules:
        return [str(i) for i in range(sys.modules["torch"].cuda.device_count())]
    try:
        return [str(i) for i in range(len(os.listdir("/proc/driver/nvidia/gpus")))]
    except OSError:
        return []


def default_max_concurrent() -> int:
    """Jobs at once unless a folder sets its own: $FER_MAX_JOBS, else one per GPU, else one."""
    env = os.environ.get("FER_MAX_JOBS", "").strip()
    if env:
        return _check_limit(env, "FER_MAX_JOBS")
    return max(1, len(gpu_ids()))


def get_max_concurrent(root: str | os.PathLike | None = None) -> int:
    """How many runs under `root` may execute at once: the folder's setting, else default_max_concurrent()."""
    path = _root(root) / SETTINGS
    if path.exists():
        settings = read_json(path)
        value = settings.get("max_concurrent") if isinstance(settings, dict) else None
        if value is not None:
            return _check_limit(value, f"max_concurrent in {path}")
    return default_max_concurrent()


def set_max_concurrent(n: int | None, root: str | os.PathLike | None = None) -> None:
    """Set the folder's limit (None: back to the default); a running scheduler applies it at its next poll."""
    root = _root(root)
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_json(root / SETTINGS, {"max_concurrent": None if n is None else _check_limit(n, "max_concurrent")})


def _pick_gpu(ids: list[str], busy: list[str]) -> str | None:
    """The least-loaded GPU (lowest position on ties) given the GPUs running jobs hold; None without GPUs."""
    if not ids:
        return None
    return min(ids, key=lambda g: (busy.count(g), ids.index(g)))


# ---------------------------------------------------------------- queueing

def _enqueue(config: TrainConfig, root: Path, at_once: int | None = None, **status_fields) -> Path:
    if not isinstance(config, TrainConfig):
        raise ValueError(f"expected a TrainConfig (see config.make_config), got {type(config).__name__}")
    backend = cluster.check_backend(config.backend)
    if backend:
        status_fields.update(backend=backend["name"], **({"at_once": at_once} if at_once is not None else {}))
    return create_run(config, root, **status_fields)


def _check_at_once(config: TrainConfig, at_once: int | None) -> int | None:
    if at_once is None:
        return None
    if not config.backend:
        raise ValueError("a limit of runs at once on a cluster (--at-once) needs a cluster backend (ray or slurm); "
                         "this machine's queue runs one job per GPU (or FER_MAX_JOBS)")
    return _check_limit(at_once, "the number of runs at once on the cluster")


def _prepare_root(root, max_concurrent: int | None) -> Path:
    root = _root(root)
    if max_concurrent is not None:
        set_max_concurrent(max_concurrent, root)
    else:
        get_max_concurrent(root)  # a bad FER_MAX_JOBS is reported here, not only in the scheduler's log
    return root


def submit(config: TrainConfig, root: str | os.PathLike | None = None, max_concurrent: int | None = None,
           at_once: int | None = None, sweep: str | None = None) -> Path:
    """Queue a run and return its folder at once; it executes in a separate, detached process (on the
    cluster its config's backend names, if any).

    `max_concurrent`, if given, becomes the folder's limit from now on (see set_max_concurrent). On a
    cluster, at most `at_once` runs of the same `sweep` id (new_sweep_id) are sent at a time.
    """
    at_once = _check_at_once(config, at_once)
    root = _prepare_root(root, max_concurrent)
    run_dir = _enqueue(config, root, at_once=at_once, **({"sweep": sweep} if sweep else {}))
    ensure_scheduler(root)
    return run_dir


def new_sweep_id(n_archs: int, n_strategies: int) -> str:
    """The id every run of one launch carries in its status ("sweep")."""
    return f"{datetime.now():%Y%m%d-%H%M%S}-{n_archs}x{n_strategies}-{os.urandom(2).hex()}"


def sweep(base: TrainConfig, archs: list[str], strategies: list[str], root: str | os.PathLike | None = None,
          max_concurrent: int | None = None, at_once: int | None = None) -> list[Path]:
    """Queue one run per (architecture, imbalance strategy) pair of `base`; returns their folders in queue order.

    Every run's status.json carries the same "sweep" id. With a cluster backend each run is its own
    cluster job, at most `at_once` of them at a time (None: all at once, the engine queues them).
    `base.imbalance_options` are kept only for runs of `base.imbalance` (another strategy does not take
    the same options).
    """
    for name, values in (("archs", archs), ("strategies", strategies)):
        if isinstance(values, str) or not values:
            raise ValueError(f"{name} must be a non-empty list of names, got {values!r}")
    archs, strategies = list(dict.fromkeys(archs)), list(dict.fromkeys(strategies))
    configs = [dataclasses.replace(base, arch=arch, imbalance=strategy,
                                   imbalance_options=dict(base.imbalance_options) if strategy == base.imbalance else {})
               for arch in archs for strategy in strategies]
    for c in configs:
        c.validate()  # refuse the whole grid before queueing any of it
    at_once = _check_at_once(base, at_once)
    root = _prepare_root(root, max_concurrent)
    sweep_id = new_sweep_id(len(archs), len(strategies))
    run_dirs = [_enqueue(c, root, at_once=at_once, sweep=sweep_id) for c in configs]
    ensure_scheduler(root)
    return run_dirs


# ---------------------------------------------------------------- reading the queue

def _statuses(root: Path, check_running: bool = True, skip: dict | None = None) -> list[tuple[Path, dict]]:
    """(run folder, status) for every run under root; running runs whose process died read as failed."""
    try:
        dirs = [d for d in root.iterdir() if d.is_dir()]
    except FileNotFoundError:
        return []
    out = []
    for d in dirs:
        try:
            status = read_recorded_status(d)
            if check_running and status.get("status") == "running" and d not in (skip or {}):
                status = read_status(d)
        except (RunError, OSError):
            continue  # not a run, or being created or deleted right now
        out.append((d, status))
    return out


def _queue_order(item: tuple[Path, dict]) -> tuple:
    return item[1].get("queued_at") or 0, item[0].name


def _on_cluster(status: dict) -> bool:
    return bool(status.get("backend")) and status.get("backend") != "local"


def _queued(root: Path) -> list[Path]:
    """This machine's queue, in start order (cluster runs wait in their own: _cluster_work)."""
    return [d for d, s in sorted(_statuses(root, check_running=False), key=_queue_order)
            if s.get("status") == "queued" and not _on_cluster(s)]


def _cluster_work(root: Path) -> tuple[list[Path], list[Path]]:
    """(cluster runs waiting to be sent, in queue order; cluster runs sent and not yet ended)."""
    statuses = [x for x in sorted(_statuses(root, check_running=False), key=_queue_order) if _on_cluster(x[1])]
    waiting = [d for d, s in statuses if s.get("status") == "queued" and not s.get("cluster_job")]
    sent = [d for d, s in statuses if s.get("status") in ACTIVE and s.get("cluster_job")]
    return waiting, sent


def _needs_scheduler(root: Path) -> bool:
    waiting, sent = _cluster_work(root)
    return bool(_queued(root) or waiting or sent)


def active_runs(root: str | os.PathLike | None = None) -> list[RunRecord]:
    """Running runs (oldest first), then queued ones in the order they will start. Only reads."""
    root = _root(root)
    statuses = _statuses(root)
    running = sorted((x for x in statuses if x[1].get("status") == "running"),
                     key=lambda x: (x[1].get("started_at") or 0, x[0].name))
    queued = sorted((x for x in statuses if x[1].get("status") == "queued"), key=_queue_order)
    records = []
    for d, _ in running + queued:
        try:
            records.append(load_run(d))
        except RunError:
            continue
    return records


def reconcile(root: str | os.PathLike | None = None) -> bool:
    """The explicit repair step (reads never repair; the `runs` command and the Train page call this):
    runs whose process died are recorded as failed, and if runs are queued and no scheduler serves the
    folder (it died, or the machine restarted), one is started, so queued runs never strand.
    True if a scheduler was started."""
    root = _root(root)
    _record_vanished(root)
    _repair_cluster_runs(root)
    return ensure_scheduler(root) if _needs_scheduler(root) else False


def _repair_cluster_runs(root: Path) -> None:
    """What the engines know of the cluster runs sent from this folder, merged into their status."""
    for run_dir in _cluster_work(root)[1]:
        try:
            cluster.repair(run_dir)
        except (RunError, OSError):
            continue  # deleted while we looked


def _record_vanished(root: Path, skip: dict | None = None) -> None:
    """Record as failed every running run (but those in `skip`) whose process is gone."""
    for run_dir, status in _statuses(root, check_running=False):
        if status.get("status") == "running" and run_dir not in (skip or {}):
            try:
                reconcile_run(run_dir)
            except (RunError, OSError):
                continue  # deleted while we looked


def queue_position(run_dir: str | os.PathLike) -> int | None:
    """1 for the next run to start, 2 for the one after, ...; None if the run is not queued."""
    run_dir = Path(run_dir).resolve()
    queued = _queued(run_dir.parent)
    return queued.index(run_dir) + 1 if run_dir in queued else None


# ---------------------------------------------------------------- cancelling

def _signal(pid: int | None, pid_start: str | None, sig: int) -> None:
    """Signal a run's process, only if it is still the one its status names (pid, start time, our code)."""
    if not is_run_process(pid, pid_start):
        return
    try:
        if WORKER_MODULE in process_command(pid) and os.getpgid(pid) == pid:
            os.killpg(pid, sig)  # our worker leads the group we created for it: this reaches what it started too
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def cancel(run_dir: str | os.PathLike, timeout: float = 10.0) -> str:
    """Stop a run and return its final status.

    A queued run is marked cancelled and never starts. A running one gets SIGTERM, which it turns
    into a 'cancelled' status; if it has not stopped after `timeout` seconds it is killed and
    marked cancelled here. A run sent to a cluster is stopped by its engine (_cancel_on_cluster).
    Completed, failed and cancelled runs are left as they are.
    """
    if timeout < 0:
        raise ValueError(f"timeout must be >= 0 seconds, got {timeout}")
    run_dir = Path(run_dir).resolve()
    if not (run_dir / STATUS).exists():
        raise RunError(f"{run_dir} is not a run folder (it has no {STATUS})")
    with run_lock(run_dir):
        reconcile_run(run_dir)  # a run whose process already died is failed, and stays so
        status = read_status(run_dir)
        if status.get("status") not in ACTIVE:
            return status.get("status", "unknown")
        if status.get("status") == "queued" and not status.get("cluster_job"):
            return write_status(run_dir, "cancelled", error="cancelled before it started")["status"]
        if status.get("cluster_job"):  # on a cluster (or waiting in its engine's queue): the engine stops it
            status = write_status(run_dir, status["status"], cancel_requested_at=time.time())
        elif status.get("host", socket.gethostname()) != socket.gethostname():
            raise RunError(f"{run_dir.name} is running on {status['host']}: cancel it there")
        else:
            status = write_status(run_dir, "running", cancel_requested_at=time.time())
    if status.get("cluster_job"):
        return _cancel_on_cluster(run_dir, status, timeout)
    pid, pid_start = status.get("pid"), status.get("pid_start")
    _signal(pid, pid_start, signal.SIGTERM)
    deadline, killed = time.monotonic() + timeout, False
    while is_run_process(pid, pid_start):  # even once it has recorded 'cancelled': wait until it is gone
        if time.monotonic() >= deadline:
            if killed:
                break
            _signal(pid, pid_start, signal.SIGKILL)
            deadline, killed = time.monotonic() + KILL_WAIT_SECONDS, True
        time.sleep(0.1)
    with run_lock(run_dir):
        status = read_recorded_status(run_dir)
        if status.get("status") in ACTIVE:  # it died before it could record anything
            note = f" (it did not stop within {timeout:g} s of being asked, so it was killed)" if killed else ""
            status = write_status(run_dir, "cancelled", error="cancelled while running" + note)
        return status["status"]


def _cancel_on_cluster(run_dir: Path, status: dict, timeout: float) -> str:
    """The engine's own cancel (ray job stop, scancel); the run is recorded as cancelled once its worker
    has recorded it, its job has ended, or `timeout` has passed (+ the engine's own grace period)."""
    cluster.cancel_job(run_dir, status)
    cluster.wait_stopped(run_dir, timeout + KILL_WAIT_SECONDS)
    with run_lock(run_dir):
        status = read_recorded_status(run_dir)
        if status.get("status") in ACTIVE:  # waiting in the engine's queue, or killed before it could record
            where = f"{status.get('backend')} job {status['cluster_job']}"
            status = write_status(run_dir, "cancelled", error=f"cancelled on the cluster ({where} was stopped)")
        return status["status"]


# ---------------------------------------------------------------- resuming

def resume(run_dir: str | os.PathLike, foreground: bool = False) -> int:
    """Reopen a failed or cancelled run to continue from its last completed epoch (its last.pt); returns
    that epoch. RunError saying why when it cannot be resumed.

    Queued for the folder's scheduler, or with `foreground` marked running by this process, which then
    executes it itself (`train --resume`)."""
    from fer_core.training.resume import reopen

    run_dir = Path(run_dir).resolve()
    if not (run_dir / STATUS).exists():
        raise RunError(f"{run_dir} is not a run folder (it has no {STATUS})")
    with run_lock(run_dir):
        reconcile_run(run_dir)  # a run whose process died reads as failed: record it so first
        if foreground:
            epoch = reopen(run_dir, "running", pid=os.getpid(), pid_start=process_start_time(os.getpid()),
                           host=socket.gethostname(), started_at=time.time())
        else:
            epoch = reopen(run_dir, "queued", queued_at=time.time(), cluster_job=None, cluster_state=None)
    if not foreground:
        ensure_scheduler(run_dir.parent)
    return epoch


# ---------------------------------------------------------------- the scheduler

def _lock(fd: int, attempts: int = 10) -> bool:
    """Take the scheduler lock; a few tries, since scheduler_running() holds it for an instant to probe."""
    for _ in range(attempts):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            time.sleep(0.02)
    return False


def _write_pid(fd: int, pid: int) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(pid).encode(), 0)


def scheduler_running(root: str | os.PathLike | None = None) -> bool:
    """Whether a scheduler currently serves the folder (it holds the lock file)."""
    try:
        fd = os.open(_root(root) / SCHEDULER_LOCK, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False  # closing the file below releases the probe's lock
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def scheduler_pid(root: str | os.PathLike | None = None) -> int | None:
    """The pid of the scheduler serving the folder, or None when there is none."""
    root = _root(root)
    for _ in range(50):
        if not scheduler_running(root):
            return None
        try:
            text = (root / SCHEDULER_LOCK).read_text().strip()
        except OSError:
            return None
        if text.isdigit() and process_alive(int(text)):
            return int(text)
        time.sleep(0.01)  # the lock has just changed hands and the pid is being written
    return None


def _child_env() -> dict[str, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    for key in ("FER_DATA_DIR", "FER_CHECKPOINTS_DIR"):  # children start in the project folder
        if env.get(key):
            env[key] = str(Path(env[key]).resolve())
    return env


def _popen_detached(args: list[str], log_path: Path, env: dict[str, str], pass_fds=()) -> subprocess.Popen:
    with open(log_path, "ab") as log:
        return subprocess.Popen([sys.executable, "-m", *args], cwd=paths.PROJECT_ROOT, env=env,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, pass_fds=pass_fds)


def ensure_scheduler(root: str | os.PathLike | None = None) -> bool:
    """Start the folder's scheduler unless one is running; True if this call started one.

    The lock is taken here and handed to the new process, so two quick calls never start two.
    """
    root = _root(root)
    root.mkdir(parents=True, exist_ok=True)
    _spawned[:] = [p for p in _spawned if p.poll() is None]
    if scheduler_running(root):  # the common case, answered without waiting
        return False
    fd = os.open(root / SCHEDULER_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not _lock(fd):
            return False
        proc = _popen_detached(["fer_core.jobs", str(root), str(fd)], root / SCHEDULER_LOG, _child_env(),
                               pass_fds=(fd,))
        _write_pid(fd, proc.pid)
        _spawned.append(proc)
        return True
    finally:
        os.close(fd)  # the scheduler's inherited copy keeps the lock


def _log(message: str) -> None:
    print(f"{datetime.now():%Y-%m-%d %H:%M:%S} {message}", flush=True)


def _log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 16384))
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def _exit_error(code: int, run_dir: Path) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        what = f"the worker process was killed by {name}"
        if -code == signal.SIGKILL:
            what += ": by hand, or by the system when it ran out of memory"
    elif code == 0:
        what = "the worker process exited without recording a result"
    else:
        what = f"the worker process exited with code {code} before recording a result"
    tail = _log_tail(run_dir / LOG)
    return f"{what}. Last lines of log.txt:\n{tail}" if tail else f"{what}. Its log.txt is empty."


def _record_exit(run_dir: Path, code: int, pid: int | None = None) -> None:
    """After a worker exits: if it could not record its own end (killed, crashed hard), record it."""
    with run_lock(run_dir):
        status = read_recorded_status(run_dir)
        state = status.get("status")
        if pid is not None and status.get("pid") != pid:
            return  # the run has been reopened since (resumed): its status is no longer this worker's
        # 'failed' without traceback or exit code: _record_vanished saw the process gone before we reaped it
        if state in ACTIVE or (state == "failed" and "traceback" not in status and "exit_code" not in status):
            if status.get("cancel_requested_at"):
                write_status(run_dir, "cancelled", error="cancelled while running", exit_code=code)
            else:
                write_status(run_dir, "failed", error=_exit_error(code, run_dir), exit_code=code)


def _launch(run_dir: Path, gpu: str | None, env: dict[str, str]) -> subprocess.Popen | None:
    """Start the worker for a queued run and record its pid; None if the run is no longer queued."""
    with run_lock(run_dir):
        if read_recorded_status(run_dir).get("status") != "queued":
            return None  # cancelled since we looked
        if gpu is not None:
            env = dict(env, CUDA_VISIBLE_DEVICES=gpu)
        try:
            proc = _popen_detached([WORKER_MODULE, str(run_dir)], run_dir / LOG, env)
        except OSError as exc:
            write_status(run_dir, "failed", error=f"could not start the worker process: {exc}")
            return None
        # Recorded now, not only by the worker once it is up, so cancel and crash detection work at once.
        write_status(run_dir, "running", pid=proc.pid, pid_start=process_start_time(proc.pid),
                     started_at=time.time(), **({"gpu": gpu} if gpu is not None else {}))
    return proc


def _wants_gpu(run_dir: Path) -> bool:
    try:
        config = read_json(run_dir / CONFIG)
        return isinstance(config, dict) and config.get("device", "auto") in ("auto", "cuda")
    except RunError:
        return False


def _send_cluster_runs(statuses: list[tuple[Path, dict]]) -> None:
    """Send waiting cluster runs to their engines in queue order, at most `at_once` of one sweep (or of
    a lone run) sent and not ended at a time."""
    def group(run_dir: Path, status: dict) -> str:
        return status.get("sweep") or run_dir.name

    cluster_runs = [(d, s) for d, s in sorted(statuses, key=_queue_order) if _on_cluster(s)]
    sent = Counter(group(d, s) for d, s in cluster_runs if s.get("status") in ACTIVE and s.get("cluster_job"))
    for run_dir, status in cluster_runs:
        if status.get("status") != "queued" or status.get("cluster_job"):
            continue
        limit = status.get("at_once")
        if limit is not None and sent[group(run_dir, status)] >= limit:
            continue
        if _send(run_dir):
            sent[group(run_dir, status)] += 1


def _send(run_dir: Path) -> str | None:
    """Submit one queued cluster run to its engine and record the job id; None if it is no longer
    waiting, or the engine refused it (then the run is failed, saying why)."""
    with run_lock(run_dir):
        status = read_recorded_status(run_dir)
        if status.get("status") != "queued" or status.get("cluster_job"):
            return None  # cancelled or sent since we looked
        try:
            job = cluster.submit(run_dir)
        except (cluster.ClusterError, RunError, ValueError, OSError) as exc:
            write_status(run_dir, "failed", error=f"could not send the run to {status.get('backend')}: {exc}")
            _log(f"{run_dir.name}: could not send it to {status.get('backend')}: {exc}")
            return None
        write_status(run_dir, "queued", cluster_job=job, cluster_state="submitted", sent_at=time.time())
    _log(f"{run_dir.name}: sent to {status.get('backend')} as job {job}")
    return job


def serve(root: str | os.PathLike, lock_fd: int | None = None, poll: float = POLL_SECONDS) -> int:
    """The scheduler loop (`python -m fer_core.jobs ROOT [LOCK_FD]`); returns once nothing is queued or running.

    `lock_fd` is the folder's lock file already locked by ensure_scheduler; without it the lock is
    taken here, and if another scheduler holds it this returns at once.
    """
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / SCHEDULER_LOCK, os.O_RDWR | os.O_CREAT, 0o644) if lock_fd is None else lock_fd
    try:
        if lock_fd is None and not _lock(fd):
            return 0
        _write_pid(fd, os.getpid())
        _log(f"scheduler {os.getpid()} serving {root}")
        ids = gpu_ids()
        children: dict[Path, subprocess.Popen] = {}
        engines_asked = 0.0
        while True:
            for run_dir, proc in list(children.items()):
                if proc.poll() is not None:
                    del children[run_dir]
                    _log(f"{run_dir.name}: worker exited with code {proc.returncode}")
                    try:
                        _record_exit(run_dir, proc.returncode, proc.pid)
                    except (OSError, RunError) as exc:
                        _log(f"{run_dir.name}: could not record the exit: {exc}")
            _record_vanished(root, skip=children)
            if time.monotonic() - engines_asked >= ENGINE_POLL_SECONDS:
                _repair_cluster_runs(root)
                engines_asked = time.monotonic()
            statuses = _statuses(root, skip=children)
            _send_cluster_runs(statuses)
            on_cluster = any(_on_cluster(s) and s.get("status") in ACTIVE for _, s in statuses)
            statuses = [(d, s) for d, s in statuses if not _on_cluster(s)]  # the rest is this machine's
            running = [s for _, s in statuses if s.get("status") == "running"]
            queued = [d for d, s in sorted(statuses, key=_queue_order) if s.get("status") == "queued"]
            try:
                limit = get_max_concurrent(root)
            except (ValueError, RunError) as exc:
                _log(f"{exc}; running one job at a time")
                limit = 1
            busy = [s["gpu"] for s in running if s.get("gpu") is not None]
            env = _child_env()
            if not ids and limit > 1 and "OMP_NUM_THREADS" not in env:
                # CPU jobs side by side: share the cores instead of each taking all of them
                env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // limit))
            for run_dir in queued[:max(0, limit - len(running))]:
                gpu = _pick_gpu(ids, busy) if len(ids) > 1 and _wants_gpu(run_dir) else None
                try:
                    proc = _launch(run_dir, gpu, env)
                except (OSError, RunError) as exc:
                    _log(f"{run_dir.name}: could not start: {exc}")
                    continue
                if proc is not None:
                    children[run_dir] = proc
                    busy.append(gpu)
                    _log(f"{run_dir.name}: started worker {proc.pid}" + (f" on GPU {gpu}" if gpu else ""))
            if not children and not queued and not on_cluster:
                # Let go of the lock, then look once more: a submit() that saw the lock still held
                # just before this relies on us to pick up its run.
                fcntl.flock(fd, fcntl.LOCK_UN)
                if not _needs_scheduler(root) or not _lock(fd):
                    _log(f"scheduler {os.getpid()} done")
                    return 0
                _write_pid(fd, os.getpid())
            time.sleep(poll)
    finally:
        os.close(fd)
