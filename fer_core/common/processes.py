"""Is a process still the one we started? (pid reuse is told apart by the process's start time, and a
process that is not ours by its command line.)"""
from __future__ import annotations

import os
from pathlib import Path

PID_MAX = 2**22  # Linux's highest possible pid (kernel.pid_max's ceiling)


def process_start_time(pid: int) -> str | None:
    """Linux: the process's start time in clock ticks, to tell a live pid from a reused one."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def process_alive(pid: int | None, start_time: str | None = None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state in ("Z", "X"):  # exited, waiting to be reaped
            return False
    except (OSError, IndexError):
        pass
    return start_time is None or process_start_time(pid) in (None, start_time)


def process_command(pid: int) -> list[str]:
    """The process's command line (argv), [] when it cannot be read."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [arg.decode(errors="replace") for arg in raw.split(b"\0") if arg]


def runs_our_code(argv: list[str]) -> bool:
    """True for a command line of ours: `python -m fer_core ...` or `python -m fer_core.jobs.worker RUN`."""
    return any(arg == "fer_core" or arg.startswith("fer_core.") for arg in argv)


def is_run_process(pid, start_time) -> bool:
    """True only when `pid` is a live process started at `start_time` (both as recorded in a run's
    status) that runs our code, or is this very process. A record missing either, naming pid 0 or 1, a
    process started at another time (a reused pid) or a foreign program is stale: nothing may signal it."""
    if type(pid) is not int or not 1 < pid <= PID_MAX or not isinstance(start_time, str) or not start_time:
        return False
    if pid == os.getpid():
        return process_start_time(pid) == start_time
    if not process_alive(pid) or process_start_time(pid) != start_time:
        return False
    return runs_our_code(process_command(pid))
