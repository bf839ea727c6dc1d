"""Is a process still the one we started? (pid reuse is told apart by the process's start time)."""
from __future__ import annotations

import os
from pathlib import Path


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
    except ProcessLookupError:
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
