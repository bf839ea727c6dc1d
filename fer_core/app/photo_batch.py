"""What the Demo page's "Many photos" tab says about a zip of photos: photos read, faces found, photos
with no face and files that failed, each counted apart (from inference.batch.result_rows)."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass
class PhotoBatchSummary:
    faces: pd.DataFrame       # one row per face found: what the emotion counts and the table show
    no_face: list[str]        # photos read in which no face was found (their guess is not counted)
    failed: pd.DataFrame      # files that could not be read: image, error
    n_photos: int             # photos read (with or without a face)
    zip_error: str | None     # the whole zip could not be used: why (nothing else is then said)

    def headline(self) -> str:
        """'12 photos read: 15 faces found; no face found in 2 photos; 1 file could not be read.'"""
        parts = [f"{_count(len(self.faces), 'face')} found"]
        if self.no_face:
            parts.append(f"no face found in {_count(len(self.no_face), 'photo')}")
        if len(self.failed):
            parts.append(f"{_count(len(self.failed), 'file')} could not be read")
        return f"{_count(self.n_photos, 'photo')} read: " + "; ".join(parts) + "."


def summarise(rows: list[dict], zip_name: str) -> PhotoBatchSummary:
    """Split `result_rows` of one zip named `zip_name` into faces, photos without a face and failures.
    An error row named after the zip itself (not `zip:member`) means the whole zip could not be used."""
    table = pd.DataFrame(rows, columns=["image", "face", "label", "error", "no_face"] if not rows else None)
    errors = table[table["error"].notna()]
    whole = errors[errors["image"] == zip_name]
    read = table[table["error"].isna()]
    no_face = read["no_face"].fillna(False).astype(bool)
    return PhotoBatchSummary(
        faces=read[~no_face], no_face=list(dict.fromkeys(read.loc[no_face, "image"])),
        failed=errors[errors["image"] != zip_name][["image", "error"]], n_photos=read["image"].nunique(),
        zip_error=str(whole["error"].iloc[0]) if len(whole) else None)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
