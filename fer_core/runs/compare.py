"""Comparing runs: the runs table, the strategy table, confusion matrices, misclassified images, CSV.

Everything here reads run folders (through `fer_core.runs`) and returns plain pandas / numpy data,
so the Runs page only renders it and the tests check it without Streamlit.

Column names of the runs table (also the CSV export):

    run_id, architecture, strategy, status, test_accuracy, macro_f1, test_labels, f1_<class>..., epochs,
    duration_s, data, note

`test_labels` says which labels the test figures are on: the source's own, or the FER+ majority.

`note` says in plain words why a run has no scores (still running, failed with what error, ...).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from fer_core import runs
from fer_core.common.emotions import ALL_CLASSES
from fer_core.common.spreadsheet import safe_cell
from fer_core.runs.store import RunRecord
from fer_core.common.synthetic import is_synthetic_source
from fer_core.common.wording import percent as say_percent, score as say_score

F1_PREFIX = "f1_"
PROB_PREFIX = "prob_"
STRATEGY_COLUMNS = ("data", "model", "strategy", "test_accuracy", "test_accuracy_sd", "macro_f1", "macro_f1_sd",
                    "val_accuracy", "val_macro_f1", "best_val_score", "val_metric", "epochs", "best_epoch", "seeds",
                    "runs", "run_id")
# The strategy table's score columns, where the best value of each column is highlighted.
SCORE_COLUMNS = ("test_accuracy", "macro_f1", "val_accuracy", "val_macro_f1")
REPEAT_KEYS = ("seed", "device", "torch_threads", "num_workers_threads")  # keys that differ between repeats of
# one setting (num_workers_threads: torch_threads's name in config.json files written before 2026-11-26)


class SourceUnavailable(Exception):
    """A run's dataset cannot be loaded any more (moved, deleted, unreadable): the message says which."""


# ---------------------------------------------------------------- labels

def test_labels(config: dict) -> str:
    """Which labels a run's val and test figures are on: 'source labels' or 'FER+ majority'."""
    from fer_core.data.votes import scored_description
    return scored_description(config.get("label_mode") or "fer2013", config.get("votes"))


def data_label(config: dict) -> str:
    """How a run's data is named in tables: synthetic data is always labelled as such; runs scored on FER+
    labels say so (their test set is another one: never set against runs scored on the source's labels)."""
    data = config.get("data")
    if is_synthetic_source(data):
        from fer_core.data.synthetic import DEFAULT_SIZE
        label = f"SYNTHETIC ({config.get('synthetic_size') or DEFAULT_SIZE} faces)"
    else:
        label = str(data)
    class_set = config.get("class_set") or "all"
    label = label if class_set == "all" else f"{label} [{class_set}]"
    scored = test_labels(config)
    return label if scored == "source labels" else f"{label} · {scored}"


def strategy_label(config: dict) -> str:
    """The imbalance strategy with its non-default options, e.g. 'focal (gamma=1.0)'."""
    name = config.get("imbalance") or "none"
    options = {k: v for k, v in (config.get("imbalance_options") or {}).items() if v is not None}
    if options:
        name = f"{name} ({', '.join(f'{k}={v}' for k, v in sorted(options.items()))})"
    if config.get("votes") and config.get("label_mode") == "distribution":
        name += " · vote distribution"  # trained on soft targets: another way to learn, same test labels
    return name


def config_differences(records: Sequence[RunRecord]) -> pd.DataFrame:
    """For two or more runs: one row per config key whose value is not the same in all of them (keys a
    run lacks count as different), one column per run; empty when they agree on everything."""
    keys = sorted({k for r in records for k in r.config})
    rows = []
    for key in keys:
        values = [json.dumps(r.config.get(key), sort_keys=True, default=str) for r in records]
        if len(set(values)) > 1:
            rows.append({"setting": key, **{r.run_id: _shown(key, r.config.get(key, "(not set)")) for r in records}})
    return pd.DataFrame(rows, columns=["setting", *(r.run_id for r in records)])


def _shown(key: str, value) -> str:
    """A config value for people: the data source by name (synthetic said), nothing set as a dash."""
    if key == "data" and is_synthetic_source(value):
        return "synthetic faces"
    if value is None:
        return "–"
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def has_evaluation(record: RunRecord) -> bool:
    """True when the run has both its evaluation.json and predictions.csv."""
    return record.evaluation is not None and (record.run_dir / runs.PREDICTIONS).exists()


def status_note(record: RunRecord) -> tuple[str, str] | None:
    """(level, message) explaining why a run shows no scores, or None for an evaluated run.

    level is "info" (queued, running), "warning" (cancelled, no evaluation) or "error" (failed).
    """
    state, status = record.state, record.status
    if state == runs.UNREADABLE:
        return "error", f"unreadable: {status.get('error')}"
    if state == "running":
        epoch, total = status.get("epoch"), status.get("epochs") or record.config.get("epochs")
        done = f" (epoch {epoch} of {total})" if epoch and total else ""
        return "info", f"still running{done}; its scores appear when it finishes"
    if state == "queued":
        return "info", "queued: waiting for a free slot to start"
    if state == "failed":
        return "error", f"failed: {status.get('error') or 'no error message was recorded'}"
    if state == "cancelled":
        return "warning", "cancelled before it finished; it has no final evaluation"
    if not has_evaluation(record):
        return "warning", "no final evaluation on the test split was recorded"
    return None


# ---------------------------------------------------------------- the runs table

def _classes_in(records: Iterable[RunRecord]) -> list[str]:
    """Every class any run was evaluated on, canonical classes first, then others in first-seen order."""
    seen: list[str] = []
    for r in records:
        for c in (r.evaluation or {}).get("classes") or []:
            if c not in seen:
                seen.append(c)
    return [c for c in ALL_CLASSES if c in seen] + [c for c in seen if c not in ALL_CLASSES]


def runs_table(records: Sequence[RunRecord]) -> pd.DataFrame:
    """One row per run, in the given order (list_runs gives newest first); scores are NaN without evaluation."""
    classes = _classes_in(records)
    rows = []
    for r in records:
        summary = r.summary()
        evaluated = has_evaluation(r)
        ev = r.evaluation if evaluated else {}
        per_class = ev.get("per_class") or {}
        note = status_note(r)
        rows.append({
            "run_id": r.run_id,
            "name": r.notes.name,
            "tags": ", ".join(r.notes.tags),
            "architecture": r.config.get("arch"),
            "strategy": strategy_label(r.config),
            "status": r.state,
            "test_accuracy": ev.get("accuracy", math.nan),
            "macro_f1": ev.get("macro_f1", math.nan),
            "test_labels": test_labels(r.config),
            **{F1_PREFIX + c: per_class.get(c, {}).get("f1", math.nan) for c in classes},
            "epochs": len(r.metrics),
            "duration_s": summary["duration_s"] if summary["duration_s"] is not None else math.nan,
            "data": data_label(r.config),
            "note": note[1] if note else "",
        })
    columns = ["run_id", "name", "tags", "architecture", "strategy", "status", "test_accuracy", "macro_f1",
               "test_labels", *(F1_PREFIX + c for c in classes), "epochs", "duration_s", "data", "note"]
    return pd.DataFrame(rows, columns=columns)


def remap_rows(rows: Iterable[int], old_ids: Sequence[str], new_ids: Sequence[str]) -> list[int]:
    """Row positions selected in a listing of `old_ids`, as positions in `new_ids` (runs that are gone
    are dropped), so a table selection keeps pointing at the same runs when runs appear or vanish."""
    position = {run_id: i for i, run_id in enumerate(new_ids)}
    kept = (old_ids[i] for i in rows if 0 <= i < len(old_ids))
    return sorted(position[run_id] for run_id in kept if run_id in position)


def f1_columns(table: pd.DataFrame) -> list[str]:
    """The per-class F1 columns of a runs table, in order."""
    return [c for c in table.columns if c.startswith(F1_PREFIX)]


def per_class_f1(records: Sequence[RunRecord]) -> pd.DataFrame:
    """Per-class test F1 of the evaluated runs: index = class, one column per run id."""
    table = runs_table([r for r in records if has_evaluation(r)]).set_index("run_id")
    table = table[f1_columns(table)]
    table.columns = [c[len(F1_PREFIX):] for c in table.columns]
    out = table.T
    out.index.name, out.columns.name = "class", "run_id"
    return out


# ---------------------------------------------------------------- the strategy table

def _best_val(record: RunRecord) -> tuple[float, str]:
    """(best validation score, metric name): the training's own selection score when it recorded one."""
    ev = record.evaluation or {}
    metric = ev.get("selected_on")
    if ev.get("best_val_score") is not None and metric:
        return float(ev["best_val_score"]), metric
    metric = metric if metric in runs.METRIC_COLUMNS else "val_acc"
    values = [m[metric] for m in record.metrics if m.get(metric) is not None]
    return (max(values) if values else math.nan), metric


def _val_scores(record: RunRecord) -> tuple[float, float]:
    """(val accuracy, val macro-F1) of the epoch the run kept (its best epoch; the last row when it does
    not say), NaN where not recorded: the same two metrics for every run, whatever it was selected on."""
    if not record.metrics:
        return math.nan, math.nan
    best = (record.evaluation or {}).get("best_epoch") or record.status.get("best_epoch")
    row = next((m for m in record.metrics if best is not None and m.get("epoch") == best), record.metrics[-1])
    acc, f1 = row.get("val_acc"), row.get("val_macro_f1")
    return (math.nan if acc is None else acc), (math.nan if f1 is None else f1)


def _setting(config: dict) -> str:
    """A run's configuration without what only repeats it (seed) or places it (device, threads):
    runs with the same setting are repeats of one experiment."""
    return json.dumps({k: v for k, v in config.items() if k not in REPEAT_KEYS}, sort_keys=True, default=str)


def strategy_table(records: Sequence[RunRecord]) -> pd.DataFrame:
    """Model x strategy -> test accuracy and macro-F1, val accuracy and val macro-F1 (at the kept epoch),
    the selection score, epochs (like seed project 000's table).

    Built from the evaluated runs only, one row per (model, strategy). Runs that differ only in their
    seed are repeats: a row gives their mean (val scores too), the standard deviation (`*_sd`, NaN
    for one seed) and `seeds`. When a pair was run in several settings, the row is the setting with the best mean
    validation score (choosing on test scores would flatter the table); `runs` counts every run of
    the pair and `run_id` is the repeat with the best validation score.
    """
    rows = []
    for r in records:
        if not has_evaluation(r):
            continue
        best_val, metric = _best_val(r)
        val_accuracy, val_macro_f1 = _val_scores(r)
        rows.append({"data": data_label(r.config), "model": r.config.get("arch"), "strategy": strategy_label(r.config),
                     "setting": _setting(r.config),
                     "test_accuracy": r.evaluation.get("accuracy"), "macro_f1": r.evaluation.get("macro_f1"),
                     "val_accuracy": val_accuracy, "val_macro_f1": val_macro_f1, "best_val_score": best_val,
                     "val_metric": metric, "epochs": len(r.metrics),
                     "best_epoch": r.evaluation.get("best_epoch", r.status.get("best_epoch")), "run_id": r.run_id})
    if not rows:
        return pd.DataFrame(columns=list(STRATEGY_COLUMNS))
    df = pd.DataFrame(rows)
    pair = ["data", "model", "strategy"]  # scores on different data are never set against each other
    df["runs"] = df.groupby(pair)["run_id"].transform("size")
    repeats = df.groupby([*pair, "setting"])
    df["seeds"] = repeats["run_id"].transform("size")
    for column in ("test_accuracy", "macro_f1"):
        df[f"{column}_sd"] = repeats[column].transform("std")  # NaN for a single seed
        df[column] = repeats[column].transform("mean")
    for column in ("val_accuracy", "val_macro_f1"):
        df[column] = repeats[column].transform("mean")
    df["mean_val"] = repeats["best_val_score"].transform("mean")
    # Stable sorts: among equal val scores the first run given (the newest from list_runs) wins.
    df = df.sort_values("best_val_score", ascending=False, na_position="last", kind="stable")
    df = df.sort_values("mean_val", ascending=False, na_position="last", kind="stable")
    df = df.drop_duplicates(pair).sort_values(pair, kind="stable")
    df["best_val_score"] = df["mean_val"]
    return df[list(STRATEGY_COLUMNS)].reset_index(drop=True)


def strategy_display(table: pd.DataFrame) -> pd.DataFrame:
    """The strategy table for reading: test accuracy and macro-F1 as 'mean ± sd' text, no sd columns, and
    no selection-score column (its metric differs from run to run: val accuracy and val macro-F1 have
    their own columns; `val_metric` says which one chose the epoch), and no run id: a page row fits the
    page's width, and the CSV of `table` names each row's run."""
    shown = table.drop(columns=["test_accuracy_sd", "macro_f1_sd", "best_val_score", "run_id"])
    shown["test_accuracy"] = [mean_sd_text(m, sd, percent=True)
                              for m, sd in zip(table["test_accuracy"], table["test_accuracy_sd"])]
    shown["macro_f1"] = [mean_sd_text(m, sd) for m, sd in zip(table["macro_f1"], table["macro_f1_sd"])]
    shown["val_accuracy"] = [say_percent(v) for v in table["val_accuracy"]]  # as the test accuracy beside it
    shown["val_macro_f1"] = [say_score(v) for v in table["val_macro_f1"]]
    return shown


def best_in_column(table: pd.DataFrame) -> dict[str, list[int]]:
    """For each score column of a strategy table, the rows holding its highest value among the rows on the
    same data (one per data source with two rows or more: runs on different data are never ranked)."""
    best = {column: [] for column in SCORE_COLUMNS}
    for _, group in table.groupby("data", sort=False) if "data" in table else []:
        if len(group) < 2:
            continue
        for column in SCORE_COLUMNS:
            values = pd.to_numeric(group[column], errors="coerce") if column in group else pd.Series(dtype=float)
            if not values.isna().all():
                best[column].append(int(values.idxmax()))
    return best


def highlight_best(shown: pd.DataFrame, table: pd.DataFrame):
    """The display table as a pandas Styler with the best value of each score column, among the runs on
    the same data, in bold green (read from the numeric `table`, since the display shows text)."""
    best = best_in_column(table)

    def style(column: pd.Series) -> list[str]:
        rows = best.get(column.name, [])
        return ["font-weight: bold; color: #1b7f3b" if i in rows else "" for i in column.index]

    return shown.style.apply(style, subset=[c for c in SCORE_COLUMNS if c in shown])


def mean_sd_text(mean: float, sd: float, percent: bool = False) -> str:
    """'63.2% ± 0.4' for a mean over seeds, or just '63.2%' when there is one seed (sd NaN)."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return ""
    value = say_percent(mean) if percent else say_score(mean)
    if sd is None or math.isnan(sd):
        return value
    return f"{value} ± {sd * 100:.1f}" if percent else f"{value} ± {sd:.3f}"


# ---------------------------------------------------------------- predictions and confusion matrices

def prediction_classes(predictions: pd.DataFrame) -> list[str]:
    """The classes of a predictions table, in the model's order (from its prob_<class> columns)."""
    classes = [c[len(PROB_PREFIX):] for c in predictions.columns if c.startswith(PROB_PREFIX)]
    missing = [c for c in ("id", "label", "prediction") if c not in predictions.columns]
    if missing or not classes:
        raise ValueError(f"not a predictions table: it needs id, label, prediction and prob_<class> columns; "
                         f"it has {', '.join(map(str, predictions.columns))}")
    return classes


def confusion_matrix(predictions: pd.DataFrame, normalise: bool = False) -> pd.DataFrame:
    """Counts of (true class, predicted class): index = true class, columns = predicted class.

    `normalise` divides each row by its total (recall on the diagonal); a class with no test
    images gets a row of NaN rather than zeros, which would read as 0 % recall.
    """
    classes = prediction_classes(predictions)
    unknown = sorted(set(predictions["label"]).union(predictions["prediction"]) - set(classes))
    if unknown:
        raise ValueError(f"predictions name class(es) {', '.join(map(str, unknown))} that are not among "
                         f"the table's classes ({', '.join(classes)})")
    counts = pd.crosstab(pd.Categorical(predictions["label"], categories=classes),
                         pd.Categorical(predictions["prediction"], categories=classes), dropna=False)
    matrix = counts.reindex(index=classes, columns=classes, fill_value=0).astype(np.int64)
    matrix.index.name, matrix.columns.name = "true", "predicted"
    if not normalise:
        return matrix
    totals = matrix.sum(axis=1).replace(0, np.nan)
    return matrix.div(totals, axis=0)


def most_confused(matrix: pd.DataFrame) -> tuple[str, str] | None:
    """The (true, predicted) pair with the most off-diagonal images in a count matrix; None if none."""
    values = matrix.to_numpy(dtype=np.float64).copy()
    np.fill_diagonal(values, 0)
    values = np.nan_to_num(values)
    if values.max(initial=0) <= 0:
        return None
    i, j = np.unravel_index(int(values.argmax()), values.shape)
    return str(matrix.index[i]), str(matrix.columns[j])


def select_predictions(predictions: pd.DataFrame, true_class: str, predicted_class: str,
                       limit: int | None = None) -> pd.DataFrame:
    """The test images with this (true, predicted) pair, most confident prediction first."""
    classes = prediction_classes(predictions)
    for name, value in (("true class", true_class), ("predicted class", predicted_class)):
        if value not in classes:
            raise ValueError(f"unknown {name} {value!r}; valid: {', '.join(classes)}")
    rows = predictions[(predictions["label"] == true_class) & (predictions["prediction"] == predicted_class)]
    rows = rows.sort_values(PROB_PREFIX + predicted_class, ascending=False, kind="stable")
    return rows if limit is None else rows.head(limit)


# ---------------------------------------------------------------- the run's images

@dataclass
class RunImages:
    """One split of a run's dataset, reloaded to show its images: ids, faces and class names."""

    ids: np.ndarray      # (N,) str
    images: np.ndarray   # (N, 48, 48) uint8
    labels: np.ndarray   # (N,) str class names
    source: str

    def get(self, ids: Sequence[str], labels: Sequence[str] | None = None) -> tuple[np.ndarray, list[str]]:
        """(faces for the ids found, in order; ids not found). With `labels`, an id whose image now has
        another class counts as not found: the source changed since the run, so it is not that face."""
        position = {i: k for k, i in enumerate(self.ids.tolist())}
        found, missing = [], []
        for n, i in enumerate(ids):
            k = position.get(str(i))
            if k is None or (labels is not None and self.labels[k] != labels[n]):
                missing.append(str(i))
            else:
                found.append(k)
        return self.images[np.asarray(found, dtype=np.int64)], missing


DATA_KEYS = ("data", "class_set", "val_fraction", "seed", "synthetic_size", "votes", "label_mode")


def data_config(config: dict) -> dict:
    """The part of a run's config that decides its data (a small cache key for pages)."""
    return {k: config.get(k) for k in DATA_KEYS}


def load_run_images(config: dict, split: str = "test") -> RunImages:
    """Reload the run's data source the way training loaded it and keep `split`'s images.

    `config` is the run's config (or its data_config). Raises SourceUnavailable (saying why) when
    the source is gone or unreadable.
    """
    from fer_core.data import SPLITS, DataError, load_dataset

    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    try:
        ds = load_dataset(config.get("data"), class_set=config.get("class_set") or "all",
                          val_fraction=config.get("val_fraction") or 0.1, seed=config.get("seed") or 0,
                          synthetic_size=config.get("synthetic_size"), votes=config.get("votes"),
                          label_mode=config.get("label_mode") or "fer2013")
    except (DataError, OSError, ValueError) as exc:
        raise SourceUnavailable(f"the run's data ({data_label(config)}) cannot be loaded: {exc}") from None
    part = ds.split(split)
    return RunImages(ids=part.ids.astype(str), images=part.images,
                     labels=np.asarray(part.classes, dtype=object)[part.labels].astype(str), source=ds.source)


def upscale(images: np.ndarray, factor: int = 3) -> np.ndarray:
    """Nearest-neighbour enlargement of (N, H, W) or (H, W) faces, so pixels stay crisp on screen."""
    if not isinstance(factor, (int, np.integer)) or factor < 1:
        raise ValueError(f"upscale factor must be a whole number >= 1, got {factor!r}")
    images = np.asarray(images)
    return images.repeat(factor, axis=-2).repeat(factor, axis=-1)


# ---------------------------------------------------------------- CSV

def to_csv_bytes(table: pd.DataFrame) -> bytes:
    """A table as UTF-8 CSV (no index column), for st.download_button; pd.read_csv reads it back. Text
    cells and headers a spreadsheet would run as formulas get a leading ' (common/spreadsheet.py)."""
    safe = table.copy()
    safe.columns = [safe_cell(str(c)) for c in safe.columns]
    for i, dtype in enumerate(safe.dtypes):
        if dtype == object or isinstance(dtype, pd.StringDtype):
            safe.isetitem(i, safe.iloc[:, i].map(safe_cell))
    return safe.to_csv(index=False).encode("utf-8")


def prediction_mtime(run_dir: str | Path) -> float:
    """The predictions file's modification time (0 if absent), as a cache key for pages."""
    try:
        return (Path(run_dir) / runs.PREDICTIONS).stat().st_mtime
    except OSError:
        return 0.0
