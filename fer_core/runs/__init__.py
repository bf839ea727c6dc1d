"""Run folders: the store every page and command reads runs from, and what a trained model is on disk.

    from fer_core import runs
    record = runs.load_run("checkpoints/20261126-135252-fast_cnn-none")   # or "builtin"
    record.summary(), record.metrics, record.evaluation

store.py is the folder itself (files, status, records); card.py and checkpoint.py the trained
model; guard.py the context a run's work happens in; compare.py tables across runs; builtin.py the
model bundled with the package.
"""
from fer_core.runs.store import (ACTIVE, BUILTIN, CHECKPOINT, CLASSICAL_CARD, CLASSICAL_MODEL, CONFIG, EVALUATION,
                                 LEGACY_CLASSICAL_MODEL, LOG, METRIC_COLUMNS, METRICS, MODEL_FILES, PREDICTIONS,
                                 STATUS, STATUSES, UNREADABLE, RunError, RunRecord, append_metrics, create_run, dataset_name,
                                 delete_run, is_builtin, list_runs, load_listed, load_run, new_run_dir, read_json, read_metrics,
                                 read_predictions, read_status, reconcile_run, resolve_run_dir, run_folders,
                                 write_evaluation, write_status)

__all__ = ["ACTIVE", "BUILTIN", "CHECKPOINT", "CLASSICAL_CARD", "CLASSICAL_MODEL", "CONFIG", "EVALUATION",
           "LEGACY_CLASSICAL_MODEL", "LOG", "METRIC_COLUMNS", "METRICS", "MODEL_FILES", "PREDICTIONS", "STATUS",
           "STATUSES", "UNREADABLE", "RunError", "RunRecord", "append_metrics", "create_run", "dataset_name", "delete_run",
           "is_builtin", "list_runs", "load_listed", "load_run", "new_run_dir", "read_json", "read_metrics", "read_predictions",
           "read_status", "reconcile_run", "resolve_run_dir", "run_folders", "write_evaluation", "write_status"]
