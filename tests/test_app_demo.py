"""The Demo page through AppTest: the best run by itself, a friendly answer, friendly errors."""
from __future__ import annotations

from pathlib import Path

import cv2
from streamlit.testing.v1 import AppTest

from fer_core.data.synthetic import generate_synthetic
from fer_core.emotions import DISPLAY_NAMES

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 180


def demo_page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT)
    at.switch_page("pages/demo.py")
    return at


def test_without_runs_the_demo_says_what_to_do_in_one_sentence():
    at = demo_page().run()
    assert not at.exception
    assert "no trained model yet" in at.info[0].value.lower()


def test_an_uploaded_photo_gets_an_emotion_in_plain_words(run_in_checkpoints):
    at = demo_page().run()
    ok, buf = cv2.imencode(".png", generate_synthetic(40, seed=3).images[0])
    at.file_uploader(key="demo_upload").set_value(("me.png", buf.tobytes(), "image/png"))
    at.run()
    assert not at.exception
    shown = " ".join(m.value for m in at.markdown)
    assert any(name in shown for name in DISPLAY_NAMES.values())
    assert "sure" in at.get("progress")[0].proto.text


def test_a_file_that_is_not_a_photo_gets_a_friendly_message(run_in_checkpoints):
    at = demo_page().run()
    at.file_uploader(key="demo_upload").set_value(("cat.jpg", b"definitely not a picture", "image/jpeg"))
    at.run()
    assert not at.exception
    assert "doesn't look like a photo" in at.error[0].value
