"""RunGuard: the context a run's work happens in, so that every ending is recorded in status.json."""
from __future__ import annotations

import os
import socket
from pathlib import Path

from fer_core.common.processes import process_start_time
from fer_core.runs.store import write_status


class RunCancelled(BaseException):
    """Raised inside a run when it is asked to stop (SIGTERM from `jobs.cancel`, or Ctrl-C).

    A BaseException, as KeyboardInterrupt is: no `except Exception` on the way (an image reader
    skipping one bad file, a cache reader) may swallow a cancel and carry on."""


class RunGuard:
    """Context manager around a run's work: marks it running, then completed, failed or cancelled.

    Any exception is recorded in status.json (error in plain words plus the traceback) and swallowed,
    so the calling process exits cleanly; SIGTERM is turned into RunCancelled while inside.
    """

    def __init__(self, run_dir: Path, install_sigterm: bool = True):
        self.run_dir = Path(run_dir)
        self.install_sigterm = install_sigterm
        self.status = "running"
        self._previous_handler = None

    def __enter__(self) -> "RunGuard":
        import signal
        import threading

        write_status(self.run_dir, "running", pid=os.getpid(), pid_start=process_start_time(os.getpid()),
                     host=socket.gethostname())  # a cluster run's node, not the machine that queued it
        if self.install_sigterm and threading.current_thread() is threading.main_thread():
            def on_sigterm(signum, frame):
                raise RunCancelled("cancelled by request")
            self._previous_handler = signal.signal(signal.SIGTERM, on_sigterm)
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        import signal
        import traceback

        if self._previous_handler is not None:
            signal.signal(signal.SIGTERM, self._previous_handler)
        if exc_type is None:
            self.status = "completed"
            write_status(self.run_dir, "completed", error=None, phase="done")
        elif issubclass(exc_type, (RunCancelled, KeyboardInterrupt)):
            self.status = "cancelled"
            write_status(self.run_dir, "cancelled", error="cancelled before it finished", phase="cancelled")
        else:
            self.status = "failed"
            write_status(self.run_dir, "failed", error=describe_error(exc),
                         traceback="".join(traceback.format_exception(exc_type, exc, tb)))
        return True


def describe_error(exc: BaseException) -> str:
    """A failure in plain words, with what to do for the common ones."""
    text = str(exc) or type(exc).__name__
    if "out of memory" in text.lower():
        return ("the device ran out of memory. Try a smaller batch size or input size, or a smaller "
                f"architecture. ({text.splitlines()[0]})")
    return text if type(exc).__name__ in ("ValueError", "DataError", "RuntimeError") else f"{type(exc).__name__}: {text}"
