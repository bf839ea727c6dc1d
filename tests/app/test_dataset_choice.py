"""The active dataset is remembered in the data folder, and a hostile settings file changes nothing."""
from __future__ import annotations

import json

import pytest

from fer_core.app.dataset_choice import DatasetChoice, remember_choice, remembered_choice
from fer_core.app.settings import settings_path


def test_without_a_remembered_choice_it_is_the_synthetic_faces():
    assert remembered_choice() == DatasetChoice()


def test_a_remembered_choice_is_read_back(tmp_path):
    remember_choice(DatasetChoice(str(tmp_path / "fer2013.zip"), "no_disgust"))
    assert remembered_choice() == DatasetChoice(str(tmp_path / "fer2013.zip"), "no_disgust")
    assert json.loads(settings_path().read_text()) == {"dataset": str(tmp_path / "fer2013.zip"),
                                                        "class_set": "no_disgust", "votes": "", "label_mode": "fer2013"}
    with_votes = DatasetChoice(str(tmp_path / "fer2013.zip"), "all", str(tmp_path / "ferplus.csv"), "distribution")
    remember_choice(with_votes)
    assert remembered_choice() == with_votes


@pytest.mark.parametrize("votes, label_mode", [(7, "majority"), ("a\u0000b", "majority"), ("x" * 5000, "majority"),
                                               ("/v.csv", "__import__"), ("/v.csv", None)])
def test_a_damaged_votes_choice_means_the_dataset_own_labels(votes, label_mode):
    settings_path().parent.mkdir(parents=True, exist_ok=True)
    settings_path().write_text(json.dumps({"dataset": "/some/fer2013.zip", "votes": votes, "label_mode": label_mode}))
    assert remembered_choice() == DatasetChoice("/some/fer2013.zip", "all")


@pytest.mark.parametrize("content", [
    b"", b"not json", b"[1, 2]", b'{"dataset": 7}', b'{"dataset": ""}', b'{"dataset": "a\\u0000b"}',
    json.dumps({"dataset": "x" * 5000}).encode(), b"[" * 100_000, b'{"dataset": "' + b"x" * 70_000 + b'"}',
])
def test_a_damaged_settings_file_means_the_synthetic_faces(content):
    settings_path().parent.mkdir(parents=True, exist_ok=True)
    settings_path().write_bytes(content)
    assert remembered_choice() == DatasetChoice()


def test_an_unknown_class_set_falls_back_to_all_classes():
    settings_path().parent.mkdir(parents=True, exist_ok=True)
    settings_path().write_text(json.dumps({"dataset": "/some/fer2013.zip", "class_set": "__import__"}))
    assert remembered_choice() == DatasetChoice("/some/fer2013.zip", "all")


def test_an_unwritable_data_folder_only_means_nothing_is_remembered(monkeypatch, tmp_path):
    blocker = tmp_path / "a file"
    blocker.write_text("")
    monkeypatch.setenv("FER_DATA_DIR", str(blocker / "data"))
    remember_choice(DatasetChoice("/some/fer2013.zip"))
    assert remembered_choice() == DatasetChoice()
