"""The Streamlit app, page by page, through streamlit.testing.v1.AppTest."""
from __future__ import annotations


from streamlit.testing.v1 import AppTest

from tests.app_pages.app import open_app

from tests.app.test_uploads import class_folder_entries, make_zip



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
