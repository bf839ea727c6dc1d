"""A run's name, tags and notes (fer_core.runs.notes): checked, stored atomically, never breaking a run."""
from __future__ import annotations

import pytest

from fer_core.runs.notes import NOTES, RunNotes, parse_tags, read_notes, write_notes


def test_notes_are_stored_in_the_run_folder_and_read_back_tidied(tmp_path):
    assert read_notes(tmp_path) == RunNotes()
    stored = write_notes(tmp_path, RunNotes("  focal   baseline ", ["focal", "Focal", " seed-0 "], "gamma 2\nvs 1"))
    assert stored == RunNotes("focal baseline", ["focal", "seed-0"], "gamma 2\nvs 1")
    assert read_notes(tmp_path) == stored
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically: no temporary left behind


def test_tags_are_split_on_commas_once_each():
    assert parse_tags("baseline, focal  ,Focal,, ") == ["baseline", "focal"]


@pytest.mark.parametrize("notes, message", [
    (RunNotes("x" * 81), "at most 80 characters"),
    (RunNotes(tags=[f"t{i}" for i in range(21)]), "at most 20 tags"),
    (RunNotes(tags=["x" * 33]), "tags are at most 32 characters"),
    (RunNotes(notes="x" * 5001), "at most 5,000 characters"),
])
def test_what_is_too_long_is_refused_and_nothing_is_written(tmp_path, notes, message):
    with pytest.raises(ValueError, match=message):
        write_notes(tmp_path, notes)
    assert not (tmp_path / NOTES).exists()


@pytest.mark.parametrize("content", ["[]", "{", "\x00", '"text"', '{"tags": ["' + "x" * 40 + '"]}'])
def test_a_damaged_notes_file_reads_as_no_notes(tmp_path, content):
    (tmp_path / NOTES).write_text(content)
    assert read_notes(tmp_path) == RunNotes()


@pytest.mark.parametrize("content, expected", [
    ('{"name": ["a"], "tags": "x", "notes": 5}', RunNotes()),
    ('{"name": "kept", "tags": [1, null, "real"], "notes": {"a": 1}}', RunNotes("kept", ["real"], "")),
    ('{"name": null, "tags": null, "notes": "kept"}', RunNotes("", [], "kept")),
])
def test_a_field_of_the_wrong_type_reads_as_empty_and_the_others_stay(tmp_path, content, expected):
    (tmp_path / NOTES).write_text(content)
    assert read_notes(tmp_path) == expected  # never tags "1" and "None", a name "['a']" or notes "5"
