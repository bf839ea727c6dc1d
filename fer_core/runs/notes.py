"""A run's name, tags and notes: what people write about a run (like an experiment tracker's), kept in
its folder as notes.json, written atomically. Reading never fails a run: a missing or damaged file reads
as no notes."""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from fer_core.common.files import atomic_write_json, read_bounded

NOTES = "notes.json"
MAX_NAME, MAX_TAGS, MAX_TAG, MAX_NOTES = 80, 20, 32, 5000
MAX_NOTES_FILE_BYTES = 1024**2  # checked before reading: a sparse 2 GiB notes.json is refused unread


@dataclass
class RunNotes:
    name: str = ""
    tags: list[str] = field(default_factory=list)
    notes: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def parse_tags(text: str) -> list[str]:
    """'baseline, focal  ,Focal' -> ['baseline', 'focal']: comma-separated, trimmed, once each (case-insensitive)."""
    seen, tags = set(), []
    for tag in (t.strip() for t in str(text).split(",")):
        if tag and tag.lower() not in seen:
            seen.add(tag.lower())
            tags.append(tag)
    return tags


def check_notes(notes: RunNotes) -> RunNotes:
    """The notes with whitespace tidied; ValueError saying what is too long or not allowed."""
    name = " ".join(str(notes.name).split())
    tags = parse_tags(",".join(notes.tags))
    if len(name) > MAX_NAME:
        raise ValueError(f"a run's name is at most {MAX_NAME} characters; this one has {len(name)}")
    if len(tags) > MAX_TAGS:
        raise ValueError(f"a run has at most {MAX_TAGS} tags; got {len(tags)}")
    long = [t for t in tags if len(t) > MAX_TAG or re.search(r"[\x00-\x1f]", t)]
    if long:
        raise ValueError(f"tags are at most {MAX_TAG} characters of plain text: {long[0][:40]!r} is not")
    if len(notes.notes) > MAX_NOTES:
        raise ValueError(f"notes are at most {MAX_NOTES:,} characters; these have {len(notes.notes):,}")
    return RunNotes(name, tags, str(notes.notes))


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def read_notes(run_dir: str | Path) -> RunNotes:
    path = Path(run_dir) / NOTES
    try:
        if not path.is_file():
            return RunNotes()
        raw = json.loads(read_bounded(path, MAX_NOTES_FILE_BYTES).decode())
        tags = raw.get("tags")
        # A field of the wrong type reads as empty, not as its repr (a null tag is no tag "None"); the others stay.
        return check_notes(RunNotes(_text(raw.get("name")),
                                    [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else [],
                                    _text(raw.get("notes"))))
    except (OSError, ValueError, AttributeError, TypeError, RecursionError):
        return RunNotes()  # damaged or hand-edited beyond use: no notes, the run itself still reads


def write_notes(run_dir: str | Path, notes: RunNotes) -> RunNotes:
    """Check and store the notes (atomically); returns what was stored."""
    notes = check_notes(notes)
    atomic_write_json(Path(run_dir) / NOTES, notes.to_dict())
    return notes
