"""What background runs are doing, read from their folders, for the Train page (no Streamlit).

* live progress of queued and running runs (`read_progress`, `live_runs`), which the page's
  fragment polls every 2 seconds;
* the recent runs as table rows, with failed runs' errors in plain words (`recent_jobs`,
  `describe_failure`), `cancel_run`, and `resume_run` for a failed or cancelled run that kept its last.pt.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fer_core import jobs
from fer_core.common.wording import format_duration, ordinal
from fer_core.runs.store import (ACTIVE, RESUME_STATE, UNREADABLE, RunError, RunRecord, dataset_name, load_listed,
                                 load_run, read_status, run_folders)

# ---------------------------------------------------------------- live progress

@dataclass
class RunProgress:
    """Where one run stands, from its folder."""

    run_dir: Path
    arch: str
    imbalance: str
    state: str
    phase: str
    epoch: int  # epochs completed
    epochs: int  # epochs planned
    batch: int  # batches done in the current epoch (0 between epochs)
    batches: int
    fraction: float  # share of the planned work done, 0..1
    latest: dict  # the last metrics row; {} before the first epoch ends
    metrics: list[dict]
    best_epoch: int | None = None
    queue_position: int | None = None  # 1 = next to start
    elapsed_s: float | None = None  # since the run started (running runs)
    images_per_s: float | None = None  # training images per second over the last epoch
    eta_s: float | None = None  # time left at the recent epochs' pace
    cluster: str | None = None  # a cluster run: its backend and what its engine last said, e.g. "ray, pending"

    def pace(self) -> str:
        """'running 1 min 05 s · about 40 s left · 2,900 images/s', as far as known."""
        parts = [f"running {format_duration(self.elapsed_s)}"] if self.elapsed_s is not None else []
        if self.eta_s is not None:
            parts.append(f"about {format_duration(self.eta_s)} left")
        if self.images_per_s:
            parts.append(f"{self.images_per_s:,.0f} images/s")
        return " · ".join(parts)

    @property
    def run_id(self) -> str:
        return self.run_dir.name

    @property
    def can_cancel(self) -> bool:
        return self.state in ACTIVE

    @property
    def label(self) -> str:
        """The progress bar's text, e.g. 'epoch 3/6, batch 20/48'."""
        if self.state == "queued" and self.cluster:
            return f"queued on {self.cluster}"
        if self.state == "queued":
            return f"queued, {ordinal(self.queue_position)} in line" if self.queue_position else "queued"
        if self.state != "running":
            return f"{self.state} after {self.epoch}/{self.epochs} epochs"
        if self.phase == "training" and self.batch and self.batches:
            return f"epoch {self.epoch + 1}/{self.epochs}, batch {self.batch}/{self.batches}"
        if self.phase == "training":
            return f"epoch {self.epoch}/{self.epochs} done"
        return f"{self.phase} ({self.epoch}/{self.epochs} epochs done)" if self.epoch else self.phase


def progress_of(record: RunRecord, queue_position: int | None = None) -> RunProgress:
    """A RunProgress from an already-loaded run (see read_progress)."""
    status = record.status
    epochs = int(status.get("epochs") or record.config.get("epochs") or 1)
    epoch = int(status.get("epoch") if status.get("epoch") is not None else len(record.metrics))
    phase = status.get("phase") or ("waiting to start" if record.state == "queued"
                                    else "starting the training process (loading its libraries)")
    batch, batches = int(status.get("batch") or 0), int(status.get("batches") or 0)
    if record.state == "completed":
        fraction = 1.0
    else:
        partial = batch / batches if phase == "training" and batches else 0.0
        fraction = min(1.0, max(0.0, (epoch + partial) / epochs))
    elapsed = eta = speed = None
    if record.state == "running" and status.get("started_at"):
        elapsed = max(0.0, time.time() - status["started_at"])
        recent = [m["epoch_seconds"] for m in record.metrics[-3:] if m.get("epoch_seconds")]
        if recent:
            per_epoch = sum(recent) / len(recent)
            eta = max(0.0, (epochs - epoch - (batch / batches if batches else 0.0)) * per_epoch)
            batch_size = record.config.get("batch_size")
            if batches and batch_size:  # the last batch may be smaller: an upper bound, within one batch
                speed = batches * batch_size / recent[-1]
    return RunProgress(
        run_dir=record.run_dir, arch=record.config.get("arch", "?"), imbalance=record.config.get("imbalance", "?"),
        state=record.state, phase=phase, epoch=epoch, epochs=epochs, batch=batch, batches=batches,
        fraction=fraction, latest=dict(record.metrics[-1]) if record.metrics else {}, metrics=record.metrics,
        best_epoch=status.get("best_epoch"), queue_position=queue_position, elapsed_s=elapsed,
        images_per_s=speed, eta_s=eta, cluster=_cluster_words(status),
    )


def _cluster_words(status: dict) -> str | None:
    """'ray', 'slurm, job 123: pending': where a cluster run stands, as far as its status knows."""
    backend = status.get("backend")
    if not backend or backend == "local":
        return None
    job, state = status.get("cluster_job"), status.get("cluster_state")
    if not job:
        return f"{backend} (not sent yet)"
    return f"{backend}, job {job}" + (f": {state}" if state else "")


def read_progress(run_dir: str | Path) -> RunProgress:
    """Re-read one run folder (status.json, metrics.csv) and say where the run stands."""
    record = load_run(run_dir)
    return progress_of(record, jobs.queue_position(record.run_dir) if record.state == "queued" else None)


@dataclass
class LiveRun:
    """One active run as the page's live panel shows it."""

    progress: RunProgress
    figure: Any = None  # plotly Figure of the curves so far; None before the first epoch ends


def live_runs(root: str | Path | None = None) -> list[LiveRun]:
    """Running runs (oldest first), then queued ones in start order, with their curves so far."""
    from fer_core.figures.training import training_curves

    out, position = [], 0
    for record in jobs.active_runs(root):
        local_queue = record.state == "queued" and not record.status.get("backend")
        if local_queue:
            position += 1
        progress = progress_of(record, position if local_queue else None)
        figure = training_curves(record.metrics, epochs=progress.epochs, best_epoch=progress.best_epoch) \
            if record.metrics else None
        out.append(LiveRun(progress, figure))
    return out


# ---------------------------------------------------------------- the job list and errors

@dataclass
class Failure:
    """A failed run's error: a sentence with what to do, and the error as recorded."""

    sentence: str
    original: str
    traceback: str | None = None


# (any of these lower-case fragments in the error, the sentence); the first match wins, so the
# specific cases come before the ones whose words they share (a SIGKILL message mentions memory).
_KNOWN_ERRORS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("sigkill", "was killed", "stopped without finishing"),
     "The training process was stopped from outside: killed by hand, or by the system when the machine ran "
     "out of memory. Its Resume button, where shown, continues it from its last completed epoch; if nobody stopped it, "
     "launch it again with a smaller batch size or input size, or with fewer runs at once."),
    (("out of memory", "can't allocate memory", "cannot allocate memory", "memoryerror"),
     "The run ran out of memory. Lower the batch size or the input size, choose a smaller architecture, or "
     "run fewer jobs at once."),
    (("pretrained weights",),
     "The pretrained weights could not be loaded: they are not in the local cache and cannot be downloaded "
     "(this machine looks offline), or the weights file is missing. Untick 'pretrained' to train from "
     "scratch, or run once with internet access so the weights are downloaded and cached."),
    (("no such file or folder", "no such file or directory", "no image files found", "is not a dataset",
      "rows is usable", "no data rows", "none of the image files could be read", "not a readable zip"),
     "The dataset could not be found or read. Check that the file or folder still exists and pick it again "
     "on Home, then launch again."),
    (("diverged",),
     "Training diverged (the loss became NaN or infinite). Lower the learning rate, for example by a factor "
     "of 10, and launch again."),
    (("larger than the training set",),
     "The batch size is larger than the training set. Choose a smaller batch size or a larger dataset."),
    (("have no training images",),
     "Some classes have no training images. Choose a class set without them on Home (e.g. no_disgust), or "
     "add images for them."),
    (("no cuda gpu", "cuda is not available", "not compiled with cuda"),
     "No GPU was available to this run. Choose device 'auto' or 'cpu' and launch again."),
    (("not supported for classical baselines",),
     "This imbalance strategy does not apply to the classical baselines; they support none, class_weights, "
     "undersample and oversample."),
)


def describe_failure(status: dict) -> Failure | None:
    """For a failed run's status.json: the error in plain words with what to do; None if it did not fail."""
    if status.get("status") == UNREADABLE:
        original = str(status.get("error"))
        return Failure(f"This run folder cannot be read: {original}. Fix or delete the file it names; "
                       "the other runs are not affected.", original)
    if status.get("status") != "failed":
        return None
    original = str(status.get("error") or "the run failed without recording an error")
    text = f"{original}\n{status.get('traceback') or ''}".lower()
    for fragments, sentence in _KNOWN_ERRORS:
        if any(f in text for f in fragments):
            return Failure(sentence, original, status.get("traceback"))
    if "exited with code" in text or "exited without recording" in text:
        sentence = ("The training process crashed before it could record why. Its last log lines are in the "
                    "details below; launch it again, and if it fails the same way, report them.")
    else:
        sentence = f"The run failed: {original.splitlines()[0].rstrip('.')}. The full error is in the details below."
    return Failure(sentence, original, status.get("traceback"))


STATE_ICONS = {"queued": "⏳", "running": "🏃", "completed": "✅", "failed": "❌", "cancelled": "⏹️",
               UNREADABLE: "⚠️"}


@dataclass
class JobRow:
    """One recent run for the job list."""

    progress: RunProgress
    started: datetime | None
    duration_s: float | None
    test_accuracy: float | None
    failure: Failure | None
    dataset: str = ""

    @property
    def run_id(self) -> str:
        return self.progress.run_id

    @property
    def can_resume(self) -> bool:
        """Failed or cancelled, with the training state of its last completed epoch kept (last.pt)."""
        return self.progress.state in ("failed", "cancelled") and (self.progress.run_dir / RESUME_STATE).is_file()

    def table_row(self) -> dict:
        """A flat dict for st.dataframe, narrow enough for the page: the live panel's progress words
        (after the state's icon) and fraction, text cells empty rather than None, the test accuracy as a
        fraction (shown as a percentage). Failures are explained below the table, in full sentences."""
        p = self.progress
        return {"run": p.run_id, "dataset": self.dataset,  # the run's name says its architecture and strategy
                "status": f"{STATE_ICONS.get(p.state, '')} {p.label}".strip(),
                "progress": p.fraction, "test accuracy": self.test_accuracy,
                "started": self.started.strftime("%Y-%m-%d %H:%M") if self.started else "",
                "took": format_duration(self.duration_s)}


def job_row(record: RunRecord) -> JobRow:
    summary = record.summary()
    started = record.status.get("started_at")  # a queued run has not started: no time shown
    return JobRow(progress_of(record), datetime.fromtimestamp(started) if started else None,
                  summary["duration_s"], summary["test_accuracy"], describe_failure(record.status),
                  dataset_name(record.config) if record.readable else "")


def recent_jobs(root: str | Path | None = None, limit: int = 20) -> list[JobRow]:
    """The newest `limit` runs under the checkpoints folder (newest first), whatever their state.

    Only those runs' folders are read (the page asks every 2 seconds, and old runs pile up).
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    rows = []
    for d in run_folders(root)[:limit]:
        rows.append(job_row(load_listed(d)))  # an unreadable folder is a row saying why
    return rows


def cancel_run(run_dir: str | Path) -> str:
    """Cancel a queued or running run (jobs.cancel) and say in a sentence how it ended up."""
    name = Path(run_dir).name
    try:
        before = read_status(Path(run_dir))["status"]
        if before not in ACTIVE:
            return f"{name} is already {before}: nothing to cancel."
        after = jobs.cancel(run_dir)
    except RunError as exc:
        return f"Could not cancel {name}: {exc}"
    return f"Cancelled {name}." if after == "cancelled" else f"{name} {after} before it could be cancelled."


def resume_run(run_dir: str | Path) -> str:
    """Queue a failed or cancelled run to continue from its last completed epoch (jobs.resume); a sentence
    saying what happened."""
    name = Path(run_dir).name
    try:
        epoch = jobs.resume(run_dir)
    except (RunError, OSError) as exc:
        return f"Could not resume {name}: {exc}"
    return f"Resuming {name} after epoch {epoch}: it is queued and continues in the same run folder."


@dataclass
class DurationEstimate:
    """How long a run like the one about to be launched took here last time."""

    seconds: float          # scaled to the planned epochs
    from_run: str
    its_seconds: float
    its_epochs: int

    def sentence(self, runs_planned: int = 1) -> str:
        each = f"about {format_duration(self.seconds)}"
        total = f"; {runs_planned} runs one after another: about {format_duration(self.seconds * runs_planned)}" \
            if runs_planned > 1 else ""
        epochs = f"{self.its_epochs} epoch{'s' if self.its_epochs != 1 else ''}"
        return (f"Estimated {each} per run{total} (the last similar run here, {self.from_run}, took "
                f"{format_duration(self.its_seconds)} for {epochs}).")


def estimate_duration(arch: str, data: str | None, epochs: int,
                      root: str | Path | None = None) -> DurationEstimate | None:
    """From the newest completed run with the same architecture and data: its duration scaled by epochs
    (data loading included in the scaling: a rough figure, said to be one). None when there is none.
    Run folders are read newest first, only until one matches."""
    from fer_core.common.synthetic import is_synthetic_source

    def source(d) -> str | None:
        return None if is_synthetic_source(d) else str(d)

    for run_dir in run_folders(root):
        record = load_listed(run_dir)
        summary = record.summary()
        if record.state == "completed" and record.config.get("arch") == arch \
                and source(record.config.get("data")) == source(data) and summary["duration_s"] and summary["epochs"]:
            return DurationEstimate(summary["duration_s"] * epochs / summary["epochs"], record.run_id,
                                    summary["duration_s"], summary["epochs"])
    return None
