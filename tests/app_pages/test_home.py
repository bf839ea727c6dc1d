"""The Streamlit app, page by page, through streamlit.testing.v1.AppTest."""
from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from tests.app_pages.app import open_app

from tests.app.test_uploads import class_folder_entries, make_zip



@pytest.fixture
def checkpoints_without_scheduler(isolated_project_dirs, monkeypatch):
    """The app's checkpoints folder, where launched runs stay queued (no process is started)."""
    from fer_core.jobs import queue
    monkeypatch.setattr(queue, "ensure_scheduler", lambda root=None: False)
    return isolated_project_dirs / "checkpoints"


def home() -> AppTest:
    return open_app().run()


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_home_shows_the_synthetic_dataset_by_default():
    at = open_app().run()
    assert not at.exception
    assert any("SYNTHETIC" in s.value for s in at.subheader)
    assert int(metric(at, "images").replace(",", "")) > 1000
    assert len(at.get("plotly_chart")) == 1


def test_home_bad_dataset_path_gives_a_message_not_a_traceback(tmp_path):
    at = open_app().run()
    at.text_input(key="home_dataset_path").set_value(str(tmp_path / "missing.zip"))
    at.button[0].click().run()
    assert not at.exception
    assert "no such file or folder" in at.error[0].value
    assert "The active dataset is still **synthetic**" in at.error[0].value  # and which one the pages use


def test_home_reads_a_kaggle_zip(kaggle_zip):
    at = open_app().run()
    at.text_input(key="home_dataset_path").set_value(str(kaggle_zip))
    at.button[0].click().run()
    assert not at.exception
    assert any(str(kaggle_zip) in s.value for s in at.subheader)


def test_home_shows_the_device_run_counts_and_links():
    at = home()
    assert not at.exception
    assert metric(at, "training device") == "CPU"
    assert any("CPU only" in c.value and "torch" in c.value for c in at.caption)
    assert metric(at, "runs") == "0" and metric(at, "running / queued") == "0 / 0"
    assert [link.label.split(":")[0] for link in at.get("page_link")] == \
        ["**Dataset**", "**Train**", "**Runs**", "**Explain**", "**Demo**", "**Video**"]


def test_home_counts_existing_runs(run_in_checkpoints):
    at = home()
    assert not at.exception
    assert metric(at, "runs") == "1" and metric(at, "running / queued") == "0 / 0"


def test_home_upload_of_a_class_folder_zip_becomes_the_active_dataset():
    at = home()
    at.file_uploader(key="home_upload").set_value(("my faces.zip", make_zip(class_folder_entries()), "application/zip"))
    at.run()
    assert not at.exception and not at.error
    stored = at.session_state["active_dataset"].path
    assert "/uploads/" in stored and stored.endswith("-my_faces.zip")
    assert "now the active dataset" in at.success[0].value
    assert at.text_input(key="home_dataset_path").value == stored
    assert any(stored in s.value for s in at.subheader)
    assert metric(at, "images") == "30"
    at.run()  # a rerun with the file still in the uploader keeps it, without storing it again
    assert not at.exception and at.session_state["active_dataset"].path == stored


def test_home_refused_upload_shows_why_and_keeps_the_dataset():
    at = home()
    bad = make_zip({**class_folder_entries(per_class=2), "../evil.png": b"x"})
    at.file_uploader(key="home_upload").set_value(("evil.zip", bad, "application/zip"))
    at.run()
    assert not at.exception
    assert "'../evil.png'" in at.error[0].value
    assert at.session_state["active_dataset"].is_synthetic
    assert any("SYNTHETIC" in s.value for s in at.subheader)


def test_a_reload_or_a_link_to_a_page_keeps_the_chosen_dataset(kaggle_zip, checkpoints_without_scheduler):
    at = open_app().run()
    at.text_input(key="home_dataset_path").set_value(str(kaggle_zip))
    at.selectbox(key="home_class_set").set_value("no_disgust")
    at.button[0].click().run()
    assert not at.exception

    reloaded = open_app().run()  # a new browser session: F5, or another tab
    assert reloaded.text_input(key="home_dataset_path").value == str(kaggle_zip)
    assert reloaded.selectbox(key="home_class_set").value == "no_disgust"
    assert any(str(kaggle_zip) in s.value for s in reloaded.subheader)

    train = open_app("train").run()  # a link straight to Train: the dataset is said beside Launch
    assert not train.exception
    assert any(f"Trains on **📁 {kaggle_zip}** · classes: no_disgust" in m.value for m in train.markdown)
    train.number_input(key="train_epochs").set_value(1)
    train.number_input(key="train_batch_size").set_value(8)
    train.button(key="train_launch").click().run()
    assert not train.exception and not train.error, [e.value for e in train.error]
    [run_dir] = [p for p in checkpoints_without_scheduler.iterdir() if p.is_dir()]
    config = json.loads((run_dir / "config.json").read_text())
    assert (config["data"], config["class_set"]) == (str(kaggle_zip), "no_disgust")


def test_home_takes_fer_plus_votes_by_path_or_upload_and_the_choice_is_remembered(tmp_path):
    from tests.conftest import synthetic_votes
    votes = synthetic_votes(tmp_path / "votes.csv", 4000)
    at = home()
    at.text_input(key="home_votes").set_value(str(votes))
    at.selectbox(key="home_label_mode").set_value("distribution")
    at.button[0].click().run()
    assert not at.exception and not at.error
    assert "FER+ distribution: 3,200 of 4,000 faces kept" in at.info[0].value
    assert metric(at, "images") == "3,200"
    choice = at.session_state["active_dataset"]
    assert (choice.votes, choice.label_mode) == (str(votes), "distribution")
    reloaded = home()
    assert reloaded.text_input(key="home_votes").value == str(votes)
    assert reloaded.selectbox(key="home_label_mode").value == "distribution"

    uploaded = home()
    uploaded.text_input(key="home_votes").set_value("")
    uploaded.button[0].click().run()
    uploaded.file_uploader(key="home_votes_upload").set_value(("ferplus.csv", votes.read_bytes(), "text/csv"))
    uploaded.run()
    assert not uploaded.exception and not uploaded.error
    stored = uploaded.session_state["active_dataset"].votes
    assert "/uploads/" in stored and stored.endswith("-ferplus.csv")
    bad = home()
    bad.file_uploader(key="home_votes_upload").set_value(("v.csv", b"image,neutral\na.png,1\n", "text/csv"))
    bad.run()
    assert not bad.exception and "v.csv: line 1: the columns are image,neutral" in bad.error[0].value
    (tmp_path / "missing").mkdir()
    wrong = home()
    wrong.text_input(key="home_votes").set_value(str(tmp_path / "missing"))
    wrong.button[0].click().run()
    assert not wrong.exception and "is a folder" in wrong.error[0].value
