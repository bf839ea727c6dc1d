"""Shared helpers for the Streamlit pages that are not UI: which dataset is active, loading it safely."""
from __future__ import annotations

from dataclasses import dataclass

from fer_core.common.synthetic import SYNTHETIC, is_synthetic_source
from fer_core.data import DataError, FaceDataset, load_dataset

@dataclass
class DatasetChoice:
    """What the user picked: a path, or the built-in synthetic faces."""

    path: str = SYNTHETIC
    class_set: str = "all"

    @property
    def is_synthetic(self) -> bool:
        return is_synthetic_source(self.path)


def load_choice(choice: DatasetChoice) -> tuple[FaceDataset | None, str | None]:
    """(dataset, None) on success or (None, a message saying what was wrong and what to do)."""
    try:
        return load_dataset(None if choice.is_synthetic else choice.path, class_set=choice.class_set), None
    except DataError as exc:
        return None, str(exc)
    except (OSError, ValueError) as exc:
        return None, f"Could not read the dataset: {exc}"
