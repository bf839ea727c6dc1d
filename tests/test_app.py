"""The Streamlit app, page by page, through streamlit.testing.v1.AppTest."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 120  # torch and friends import slowly on a cold 2-core machine


def test_home_shows_the_synthetic_dataset_by_default():
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception
    assert any("SYNTHETIC" in s.value for s in at.subheader)
    assert at.metric[0].label == "images" and int(at.metric[0].value.replace(",", "")) > 1000
    assert len(at.get("plotly_chart")) == 1


def test_home_bad_dataset_path_gives_a_message_not_a_traceback(tmp_path):
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT).run()
    at.text_input(key="home_dataset_path").set_value(str(tmp_path / "missing.zip"))
    at.button[0].click().run()
    assert not at.exception
    assert "no such file or folder" in at.error[0].value


def test_home_reads_a_kaggle_zip(kaggle_zip):
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT).run()
    at.text_input(key="home_dataset_path").set_value(str(kaggle_zip))
    at.button[0].click().run()
    assert not at.exception
    assert any(str(kaggle_zip) in s.value for s in at.subheader)
