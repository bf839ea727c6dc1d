"""Shared helpers for the Streamlit pages that are not UI: which dataset is active, remembering it
across reloads (app/settings.py), loading it safely."""
from __future__ import annotations

from dataclasses import dataclass

from fer_core.app.settings import read_settings, update_settings
from fer_core.common.emotions import CLASS_SETS
from fer_core.common.synthetic import SYNTHETIC, is_synthetic_source
from fer_core.data import DataError, FaceDataset, load_dataset
from fer_core.data.votes import LABEL_MODES

MAX_PATH_CHARS = 4096


@dataclass
class DatasetChoice:
    """What the user picked: a path, or the built-in synthetic faces; optionally a FER+ votes file and
    how to use it (data/votes.py LABEL_MODES)."""

    path: str = SYNTHETIC
    class_set: str = "all"
    votes: str = ""
    label_mode: str = "fer2013"

    @property
    def votes_path(self) -> str | None:
        return self.votes.strip() or None

    @property
    def effective_label_mode(self) -> str:
        """The label mode that applies: without a votes file, always the source's own labels."""
        return self.label_mode if self.votes_path else "fer2013"

    @property
    def is_synthetic(self) -> bool:
        return is_synthetic_source(self.path)


def load_choice(choice: DatasetChoice) -> tuple[FaceDataset | None, str | None]:
    """(dataset, None) on success or (None, a message saying what was wrong and what to do)."""
    try:
        return load_dataset(None if choice.is_synthetic else choice.path, class_set=choice.class_set,
                            votes=choice.votes_path, label_mode=choice.effective_label_mode), None
    except DataError as exc:
        return None, str(exc)
    except (OSError, ValueError) as exc:
        return None, f"Could not read the dataset: {exc}"


def remember_choice(choice: DatasetChoice) -> None:
    """Store the choice in the data folder, so a reload or a link to any page keeps using it."""
    update_settings(dataset=choice.path, class_set=choice.class_set, votes=choice.votes, label_mode=choice.label_mode)


def remembered_choice() -> DatasetChoice:
    """The choice stored by `remember_choice`; the synthetic faces when there is none or it is not a
    well-formed record (only bounded strings are taken from the file)."""
    record = read_settings()
    dataset, class_set = record.get("dataset"), record.get("class_set")
    votes, label_mode = record.get("votes"), record.get("label_mode")
    if not _a_path(dataset) or not dataset.strip():
        return DatasetChoice()
    if class_set not in CLASS_SETS:
        class_set = "all"
    if not _a_path(votes) or label_mode not in LABEL_MODES:
        votes, label_mode = "", "fer2013"
    return DatasetChoice(dataset, class_set, votes, label_mode)


def _a_path(value) -> bool:
    return isinstance(value, str) and len(value) <= MAX_PATH_CHARS and "\x00" not in value
