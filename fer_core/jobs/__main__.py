"""The scheduler process: `python -m fer_core.jobs CHECKPOINTS_DIR [LOCKED_FD]` (started by ensure_scheduler)."""
import sys

from fer_core.jobs.queue import serve

if len(sys.argv) not in (2, 3):
    sys.exit("usage: python -m fer_core.jobs CHECKPOINTS_DIR [LOCKED_FD]")
sys.exit(serve(sys.argv[1], int(sys.argv[2]) if len(sys.argv) == 3 else None))
