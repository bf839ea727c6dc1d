"""Background training jobs: a queue per checkpoints folder, a scheduler process, one worker per run.

    from fer_core import jobs
    run_dir = jobs.submit(config)        # returns at once; the run trains in the background
    jobs.active_runs(), jobs.cancel(run_dir), jobs.resume(run_dir)
"""
from fer_core.jobs.queue import (active_runs, cancel, ensure_scheduler, get_max_concurrent, gpu_ids, queue_position,
                                 new_sweep_id, reconcile, resume, scheduler_pid, scheduler_running, set_max_concurrent, submit, sweep)

__all__ = ["active_runs", "cancel", "ensure_scheduler", "get_max_concurrent", "gpu_ids", "new_sweep_id", "queue_position",
           "reconcile", "resume", "scheduler_pid", "scheduler_running", "set_max_concurrent", "submit", "sweep"]
