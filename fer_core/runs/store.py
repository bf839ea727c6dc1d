"""The run folder: the single source of truth about a training run (deep or classical).

checkpoints/<run_id>/
    config.json        the full configuration
    status.json        queued | running | completed | failed | cancelled, with error and traceback
    metrics.csv        one row per epoch, rewritten atomically as training goes
    best.pt            deep runs: the best checkpoint (selected on val), self-contained (checkpoint.py)
    last.pt            deep runs: the whole training state after the last completed epoch, to resume a
                       failed or cancelled run (training/resume.py); removed when the run completes
    model.onnx         deep runs: best.pt in ONNX, preprocessing inside, with model.onnx.json (its card and
                       best.pt's SHA-256): what predictions use, without PyTorch (inference/run_onnx.py);
                       model.int8.onnx: the same quantized to int8, on request (inference/quantize.py)
    model.skops        classical runs: the fitted pipeline, with model_card.json (checkpoint.py)
    evaluation.json    the final evaluation on the test split
    predictions.csv    per-image predictions on the test split: id, label, prediction, probabilities
    log.txt            output of the process that ran it (background jobs)

Every write is atomic (common/files.py): a crash or a kill at any moment leaves the previous complete
version, never half a file. Reading never writes: a run whose process died without saying so
(SIGKILL, power loss) is reported as failed by `read_status`, and recorded so only by `reconcile_run`
(called on purpose: `jobs.reconcile`, the `runs` command).
"""
from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import re
import shutil
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from datetime import datetime
from pathlib import Path
from typing import Any

from fer_core.common import paths
from fer_core.common.files import atomic_write_bytes, atomic_write_json, read_bounded
from fer_core.common.processes import is_run_process, process_start_time
from fer_core.runs.fields import CONFIG_FIELDS, EVALUATION_FIELDS, STATUS_FIELDS, bad_field
from fer_core.runs.notes import RunNotes, read_notes
from fer_core.common.synthetic import is_synthetic_source
from fer_core.common.wording import percent

STATUSES = ("queued", "running", "completed", "failed", "cancelled")
ACTIVE = ("queued", "running")
UNREADABLE = "unreadable"  # how listings show a run folder whose files cannot be used (never written)
CONFIG, STATUS, METRICS, CHECKPOINT = "config.json", "status.json", "metrics.csv", "best.pt"
RESUME_STATE = "last.pt"
EVALUATION, PREDICTIONS, LOG = "evaluation.json", "predictions.csv", "log.txt"
CLASSICAL_MODEL, CLASSICAL_CARD = "model.skops", "model_card.json"
LEGACY_CLASSICAL_MODEL = "model.joblib"  # a pickle, from before 2026-11-26: loaded only on the user's say-so
MODEL_FILES = (CHECKPOINT, CLASSICAL_MODEL, LEGACY_CLASSICAL_MODEL)  # any of them: the run has a model
# Size limits for reading run files (far above any real one): checked before a byte is read.
MAX_JSON_BYTES = 1024**2  # status, config, notes, model card
MAX_EVALUATION_BYTES = 16 * 1024**2  # a 1,000-class confusion matrix is ~4 MB
MAX_METRICS_BYTES = 16 * 1024**2  # 100,000 epochs
MAX_PREDICTIONS_BYTES = 512 * 1024**2  # 2 million test images
# elapsed_seconds: since the run started (data loading included) to the end of this epoch's validation
METRIC_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "val_macro_f1", "lr", "epoch_seconds",
                  "elapsed_seconds")


class RunError(Exception):
    """A run folder is missing, unreadable or not a run: the message says which and why."""


BUILTIN = "builtin"  # the name of the bundled model wherever a run folder can be given


def resolve_run_dir(run: str | os.PathLike) -> Path:
    """A run folder from what a user typed: 'builtin' is the bundled model, anything else a path."""
    if str(run) == BUILTIN:
        folder = paths.builtin_model_dir()
        if not (folder / CONFIG).exists():
            raise RunError(f"the bundled model is missing from {folder}; reinstall the package, or make it with "
                           "`python -m fer_core builtin --from-run RUN_DIR`")
        return folder
    return Path(run)


def is_builtin(run_dir: str | os.PathLike) -> bool:
    """Whether a folder is the bundled model's (which the app never deletes or overwrites)."""
    try:
        return Path(run_dir).resolve() == paths.builtin_model_dir().resolve()
    except OSError:
        return False


def dataset_name(config: dict) -> str:
    """How to name the data a run learned from: the file or folder name, or 'synthetic faces'."""
    data = config.get("data")
    return "synthetic faces" if is_synthetic_source(data) else Path(str(data)).name


def check_regular(path: Path) -> None:
    """A named pipe or device in a run folder would block or never end a read: refuse it first."""
    if path.exists() and not path.is_file():
        raise RunError(f"{path} is unreadable (not a regular file)")


def read_json(path: Path, limit: int | None = None) -> Any:
    """A run file's JSON; RunError naming the file when it is missing, not a regular file, over its
    size limit (MAX_JSON_BYTES unless given: a sparse 2 GiB status.json cost seconds and gigabytes on
    every page run), not UTF-8 or not JSON."""
    check_regular(Path(path))
    try:
        return json.loads(read_bounded(path, limit or MAX_JSON_BYTES).decode())
    except FileNotFoundError:
        raise RunError(f"{path} is missing") from None
    except UnicodeDecodeError as exc:
        raise RunError(f"{path} is unreadable (not UTF-8 text: byte 0x{exc.object[exc.start]:02x} at "
                       f"position {exc.start})") from None
    except (OSError, ValueError, RecursionError) as exc:
        raise RunError(f"{path} is unreadable ({exc})") from None


# ---------------------------------------------------------------- creating runs

def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:40] or "run"


def new_run_dir(arch: str, strategy: str, root: str | os.PathLike | None = None) -> Path:
    """Create and return a fresh folder named <time>-<arch>-<strategy> (suffixed if taken)."""
    root = Path(root) if root else paths.checkpoints_dir()
    root.mkdir(parents=True, exist_ok=True)
    base = f"{datetime.now():%Y%m%d-%H%M%S}-{_slug(arch)}-{_slug(strategy)}"
    for n in range(1000):
        candidate = root / (base if n == 0 else f"{base}-{n}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise RunError(f"could not create a run folder under {root}")


_held = threading.local()  # the run folders whose lock this thread holds, with how deeply


@contextmanager
def run_lock(run_dir: str | os.PathLike):
    """The run folder's lock (flock on the folder itself), which every change to status.json takes, so
    a read-merge-write never loses a field another process wrote meanwhile (a cancel request).
    Re-entrant within a thread: a caller holding it may call write_status."""
    key = os.path.realpath(run_dir)
    depth = _held.__dict__.setdefault("depth", {})
    if key in depth:
        depth[key] += 1
        try:
            yield
        finally:
            depth[key] -= 1
        return
    fd = os.open(run_dir, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        depth[key] = 1
        try:
            yield
        finally:
            del depth[key]
    finally:
        os.close(fd)  # releases the flock


def write_status(run_dir: Path, status: str, drop: tuple[str, ...] = (), **fields: Any) -> dict:
    """Set the run's status (merging with what is there, less the fields named in `drop`, under the run's
    lock, so no other writer's field is lost); records this process as its owner when running. The one
    writer of status.json."""
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}; valid: {', '.join(STATUSES)}")
    run_dir = Path(run_dir)
    with run_lock(run_dir):
        return _merge_status(run_dir, status, fields, drop)


def _merge_status(run_dir: Path, status: str, fields: dict, drop: tuple[str, ...] = ()) -> dict:
    try:
        current = read_recorded_status(run_dir)
    except RunError:
        current = {}
    for key in drop:
        current.pop(key, None)
    current.update(fields)
    current["status"] = status
    now = time.time()
    current["updated_at"] = now
    if status == "running":
        current.setdefault("started_at", now)
        current.setdefault("pid", os.getpid())
        current.setdefault("pid_start", process_start_time(current["pid"]))
        current.setdefault("host", socket.gethostname())
    if status in ("completed", "failed", "cancelled"):
        current["finished_at"] = now
    atomic_write_json(run_dir / STATUS, current)
    return current


def read_recorded_status(run_dir: Path) -> dict:
    """status.json exactly as recorded, its fields checked (RunError when it cannot be used)."""
    path = Path(run_dir) / STATUS
    status = read_json(path)
    problem = bad_field(status, STATUS_FIELDS)
    if problem:
        raise RunError(f"{path} is unreadable ({problem})")
    return status


def read_status(run_dir: Path) -> dict:
    """The run's status, as it is: a running run whose process is gone reads as failed (nothing is written)."""
    status = read_recorded_status(run_dir)
    if _process_vanished(status):
        status = {**status, "status": "failed", "error": _vanished_error(status)}
    return status


def reconcile_run(run_dir: Path) -> bool:
    """Record as failed a running run whose process is gone; True when it changed something."""
    try:
        status = read_recorded_status(run_dir)
    except RunError:
        return False  # nothing a repair can do: listings show it as unreadable, with the reason
    if not _process_vanished(status):
        return False
    write_status(run_dir, "failed", error=_vanished_error(status))
    return True


def _process_vanished(status: dict) -> bool:
    """A run that says it is running on this machine, whose process no longer exists (or never was
    ours: a record without its start time, or naming a process that is not our code, is stale)."""
    return status.get("status") == "running" and status.get("host", socket.gethostname()) == socket.gethostname() \
        and not is_run_process(status.get("pid"), status.get("pid_start"))


def _vanished_error(status: dict) -> str:
    return (f"the training process (pid {status.get('pid')}) stopped without finishing: it was killed "
            "or crashed. The metrics and checkpoints up to its last completed epoch are kept: resume it to "
            "continue from there.")


# ---------------------------------------------------------------- metrics rows

def append_metrics(run_dir: Path, row: dict) -> None:
    """Add one epoch's row to metrics.csv (the whole small file is rewritten atomically)."""
    path = Path(run_dir) / METRICS
    rows = read_metrics(run_dir) if path.exists() else []
    _write_metrics(path, rows + [row])


def keep_metrics_through(run_dir: Path, epoch: int) -> None:
    """Drop the rows after `epoch` (a resumed run trains those epochs again)."""
    path = Path(run_dir) / METRICS
    rows = read_metrics(run_dir)
    if any(r.get("epoch") is not None and r["epoch"] > epoch for r in rows):
        _write_metrics(path, [r for r in rows if r.get("epoch") is None or r["epoch"] <= epoch])


def _write_metrics(path: Path, rows: list[dict]) -> None:
    rows = [{k: row.get(k) for k in METRIC_COLUMNS} for row in rows]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=METRIC_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(path, out.getvalue().encode())


def read_metrics(run_dir: Path) -> list[dict]:
    """Per-epoch rows as dicts of floats (epoch as int); [] before the first epoch ends."""
    path = Path(run_dir) / METRICS
    if not path.exists():
        return []
    check_regular(path)
    try:
        raw = read_bounded(path, MAX_METRICS_BYTES)
        if b"\0" in raw:
            raise ValueError("it holds NUL bytes: it is damaged")
        reader = csv.DictReader(io.StringIO(raw.decode(), newline=""))
        if raw.strip() and "epoch" not in (reader.fieldnames or []):
            raise ValueError("its first line is not the header naming its columns (epoch, ...)")
        rows = list(reader)
    except UnicodeDecodeError as exc:
        raise RunError(f"{path} is unreadable (not UTF-8 text: byte 0x{exc.object[exc.start]:02x} at "
                       f"position {exc.start})") from None
    except (OSError, ValueError, csv.Error) as exc:  # csv.Error: a field over csv.field_size_limit
        raise RunError(f"{path} is unreadable ({exc})") from None
    out = []
    for line, r in enumerate(rows, start=2):
        try:
            out.append({k: (int(float(v)) if k == "epoch" else float(v)) if v not in (None, "") else None
                        for k, v in r.items() if k in METRIC_COLUMNS})
        except (TypeError, ValueError, OverflowError):
            raise RunError(f"{path} is unreadable (line {line} holds a value that is not a number)") from None
    return out


# ---------------------------------------------------------------- reading runs

@dataclass
class RunRecord:
    """Everything a page or the CLI needs to show about one run, read from its folder."""

    run_dir: Path
    config: dict
    status: dict
    metrics: list[dict] = field(default_factory=list)
    evaluation: dict | None = None

    @property
    def run_id(self) -> str:
        return self.run_dir.name

    @classmethod
    def unreadable(cls, run_dir: Path, reason: str) -> "RunRecord":
        """How a listing shows a run folder it cannot use: state 'unreadable', the reason as its error."""
        return cls(Path(run_dir), {}, {"status": UNREADABLE, "error": reason})

    @property
    def state(self) -> str:
        return self.status.get("status", "unknown")

    @cached_property
    def notes(self) -> RunNotes:
        """The run's name, tags and notes (notes.json), read once per record."""
        return read_notes(self.run_dir)

    @property
    def readable(self) -> bool:
        return self.state != UNREADABLE

    @property
    def has_checkpoint(self) -> bool:
        """A deep model (best.pt) is saved (never for an unreadable run: its model is not to be trusted)."""
        return self.readable and (self.run_dir / CHECKPOINT).exists()

    @property
    def has_model(self) -> bool:
        """A trained model of either kind is saved."""
        return self.readable and any((self.run_dir / name).exists() for name in MODEL_FILES)

    @property
    def is_builtin(self) -> bool:
        return is_builtin(self.run_dir)

    @property
    def trained_on_synthetic(self) -> bool:
        return is_synthetic_source(self.config.get("data"))

    def provenance(self) -> dict:
        """Which model this is and what it learned from, for every prediction view."""
        return {"model": BUILTIN if self.is_builtin else self.run_id, "run_id": self.run_id,
                "arch": self.config.get("arch"), "dataset": dataset_name(self.config),
                "synthetic": self.trained_on_synthetic, "recipe": self.config.get("recipe")}

    def describe(self) -> str:
        """One friendly line naming the model, e.g. "the built-in model (fast_cnn, learned from real faces
        in fer2013.zip)"."""
        what = "the built-in model" if self.is_builtin else f"run {self.run_id}"
        data = "SYNTHETIC drawn faces, not real ones" if self.trained_on_synthetic \
            else f"real faces in {dataset_name(self.config)}"
        return f"{what} ({self.config.get('arch')}, learned from {data})"

    def test_accuracy(self, tta: str = "none") -> float | None:
        """The test accuracy measured for predictions made with test-time augmentation `tta` ('none': one
        pass per face, as Demo and `predict` answer by default); None where it was not measured. An
        evaluation with TTA keeps the one-pass score under 'without_tta'."""
        ev = self.evaluation or {}
        scores = ev if (ev.get("tta") or "none") == tta else ev.get("without_tta") if tta == "none" else None
        accuracy = scores.get("accuracy") if isinstance(scores, dict) else None
        return float(accuracy) if isinstance(accuracy, (int, float)) and 0 <= accuracy <= 1 else None

    def test_accuracy_text(self) -> str | None:
        """The model's headline test accuracy in words, the one source for every page: '64.9%' or, for an
        evaluation with test-time augmentation, '64.9% one pass per face, 65.8% with flip TTA'; None where
        it was not measured."""
        one_pass, tta = self.test_accuracy("none"), (self.evaluation or {}).get("tta") or "none"
        with_tta = self.test_accuracy(tta) if tta != "none" else None
        if with_tta is None:
            return None if one_pass is None else percent(one_pass)
        if one_pass is None:
            return f"{percent(with_tta)} with {tta} TTA"
        return f"{percent(one_pass)} one pass per face, {percent(with_tta)} with {tta} TTA"

    def summary(self) -> dict:
        """One flat row for tables: identity, status and headline metrics."""
        ev = self.evaluation or {}
        best_val = max((m["val_acc"] for m in self.metrics if m.get("val_acc") is not None), default=None)
        started, finished = self.status.get("started_at"), self.status.get("finished_at")
        return {
            "run_id": self.run_id, "arch": self.config.get("arch"), "imbalance": self.config.get("imbalance"),
            "status": self.state, "epochs": len(self.metrics),
            "test_accuracy": ev.get("accuracy"), "test_macro_f1": ev.get("macro_f1"), "best_val_acc": best_val,
            "duration_s": (finished or self.status.get("updated_at") or 0) - started if started else None,
            "data": "synthetic" if self.trained_on_synthetic else self.config.get("data"),
            "error": self.status.get("error"),
        }


def load_run(run_dir: str | os.PathLike) -> RunRecord:
    """Read one run folder ('builtin': the bundled model); RunError if it is not a readable run."""
    run_dir = resolve_run_dir(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: no such run folder")
    config = read_json(run_dir / CONFIG)
    status = read_status(run_dir)
    evaluation = read_json(run_dir / EVALUATION, MAX_EVALUATION_BYTES) if (run_dir / EVALUATION).exists() else None
    evaluated = (run_dir / EVALUATION).exists()
    for name, value, fields in ((CONFIG, config, CONFIG_FIELDS), (EVALUATION, evaluation, EVALUATION_FIELDS)):
        problem = (name == CONFIG or evaluated) and bad_field(value, fields)
        if problem:  # a hand-edited, damaged or foreign file
            raise RunError(f"{run_dir / name} is unreadable ({problem})")
    return RunRecord(run_dir, config, status, read_metrics(run_dir), evaluation)


def run_folders(root: str | os.PathLike | None = None) -> list[Path]:
    """The run folders under root, newest first (names start with the time): those with a config or
    a status file, whatever state those are in."""
    root = Path(root) if root else paths.checkpoints_dir()
    try:
        candidates = [p for p in root.iterdir() if not p.name.startswith(".")]
    except OSError:  # no such folder yet, or not one we may read
        return []
    found = []
    for p in candidates:
        try:
            if p.is_dir() and ((p / CONFIG).exists() or (p / STATUS).exists() or (p / CONFIG).is_symlink()):
                found.append(p)
        except OSError:
            found.append(p)  # a folder we may not look into is still a run folder the user should see
    return sorted(found, reverse=True)


def load_listed(run_dir: Path) -> RunRecord:
    """load_run for listings: a run folder that cannot be read comes back as an unreadable record."""
    try:
        return load_run(run_dir)
    except RunError as exc:
        return RunRecord.unreadable(run_dir, str(exc))
    except OSError as exc:
        return RunRecord.unreadable(run_dir, f"{run_dir} could not be read ({exc.strerror or exc})")


def list_runs(root: str | os.PathLike | None = None) -> list[RunRecord]:
    """Every run under the checkpoints folder, newest first. A folder that cannot be read is listed
    as an unreadable record (state 'unreadable', the reason as its error) and never hides the others."""
    return [load_listed(d) for d in run_folders(root)]


def delete_run(run_dir: str | os.PathLike, root: str | os.PathLike | None = None) -> None:
    """Remove a run folder; refuses an active run (cancel it first), anything that is not a run, the
    bundled model, and any folder that is not directly inside `root` (the checkpoints folder unless given)."""
    run_dir = Path(run_dir)
    if is_builtin(run_dir) or str(run_dir) == BUILTIN:
        raise RunError("the built-in model is part of the package and cannot be deleted")
    root = Path(root) if root is not None else paths.checkpoints_dir()
    if run_dir.is_symlink() or run_dir.resolve().parent != root.resolve():
        raise RunError(f"{run_dir} is not a run folder inside the checkpoints folder {root}; nothing deleted")
    if not (run_dir / CONFIG).exists():
        raise RunError(f"{run_dir} is not a run folder; nothing deleted")
    if read_status(run_dir).get("status") in ACTIVE:
        raise RunError(f"{run_dir.name} is still {read_status(run_dir)['status']}: cancel it before deleting")
    shutil.rmtree(run_dir)


# ---------------------------------------------------------------- finishing runs

def write_evaluation(run_dir: Path, ids, labels, probabilities, classes, split: str = "test",
                     extra: dict | None = None) -> dict:
    """Store the final evaluation (evaluation.json) and per-image predictions (predictions.csv)."""
    import numpy as np

    from fer_core.common.metrics import classification_report

    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels)
    predictions = probabilities.argmax(axis=1)
    report = {"split": split, "n": int(len(labels)), "classes": list(classes),
              **classification_report(labels, predictions, classes), **(extra or {})}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "label", "prediction", *(f"prob_{c}" for c in classes)])
    for i, lab, pred, probs in zip(ids, labels, predictions, probabilities):
        writer.writerow([i, classes[lab], classes[pred], *(f"{p:.5f}" for p in probs)])
    atomic_write_bytes(Path(run_dir) / PREDICTIONS, out.getvalue().encode())
    atomic_write_json(Path(run_dir) / EVALUATION, report)
    return report


def read_predictions(run_dir: Path):
    """predictions.csv as a pandas DataFrame (id, label, prediction, prob_<class>...)."""
    import pandas as pd

    path = Path(run_dir) / PREDICTIONS
    check_regular(path)
    try:
        return pd.read_csv(io.BytesIO(read_bounded(path, MAX_PREDICTIONS_BYTES)))
    except FileNotFoundError:
        raise RunError(f"{path} is missing: the run has no final evaluation yet") from None
    except (OSError, ValueError) as exc:
        raise RunError(f"{path} is unreadable ({exc})") from None


def create_run(config, root: str | os.PathLike | None = None, **status_fields: Any) -> Path:
    """A new run folder holding config.json and a 'queued' status (config: a validated TrainConfig).

    Relative data and weights paths are made absolute first: workers run in the project folder.
    """
    import dataclasses

    config.validate()
    changes = {}
    if not is_synthetic_source(config.data) and Path(config.data).exists():
        changes["data"] = str(Path(config.data).resolve())
    if config.votes and Path(config.votes).exists():
        changes["votes"] = str(Path(config.votes).resolve())
    if isinstance(config.pretrained, str) and Path(config.pretrained).exists():
        changes["pretrained"] = str(Path(config.pretrained).resolve())
    config = dataclasses.replace(config, **changes) if changes else config
    run_dir = new_run_dir(config.arch, config.imbalance, root)
    atomic_write_json(run_dir / CONFIG, config.to_dict())  # before the status: a queued run always has its config
    write_status(run_dir, "queued", queued_at=time.time(), epochs=config.epochs, **status_fields)
    return run_dir
