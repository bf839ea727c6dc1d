"""The Demo page through AppTest: the best run by itself, a friendly answer, friendly errors."""
from __future__ import annotations

import io
import json
import zipfile

import cv2
import numpy as np
from streamlit.testing.v1 import AppTest

from fer_core.common.emotions import DISPLAY_NAMES
from fer_core.data.synthetic import generate_synthetic
from tests.app_pages.app import open_app


def demo_page() -> AppTest:
    return open_app("demo")


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
    assert at.error[0].value == ("cat.jpg is not an image: it looks like a text file. "
                                 "Upload a PNG, JPEG, BMP, GIF, TIFF, WebP or PGM image.")


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small JPEG whose header says it is width x height pixels (what a 63 MP camera photo declares)."""
    data = bytearray(cv2.imencode(".jpg", generate_synthetic(40, seed=3).images[0])[1].tobytes())
    sof = data.index(b"\xff\xc0")  # start of frame: marker, length (2), precision (1), height (2), width (2)
    data[sof + 5:sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


def test_an_oversized_photo_is_refused_with_the_real_reason(run_in_checkpoints):
    at = demo_page().run()
    at.file_uploader(key="demo_upload").set_value(("camera.jpg", jpeg_claiming(9000, 7000), "image/jpeg"))
    at.run()
    assert not at.exception
    assert "9000x7000 pixels, over the 50,000,000-pixel limit; resize it first" in at.error[0].value


def upload_face(at: AppTest) -> AppTest:
    ok, buf = cv2.imencode(".png", generate_synthetic(40, seed=3).images[0])
    at.file_uploader(key="demo_upload").set_value(("me.png", buf.tobytes(), "image/png"))
    return at.run()


LIVE_NEEDS_A_BROWSER = "The live camera works when the app is opened in a browser (`streamlit run streamlit_app.py`)."


def test_the_camera_is_asked_for_only_when_chosen_and_upload_comes_first(bundled_model):
    at = demo_page().run()
    assert [t.label for t in at.tabs][:3] == ["🖼️ Upload a photo", "🎥 Live camera", "📷 One snapshot"]
    assert not at.get("camera_input")  # nothing asks the browser for the camera on arrival
    at.toggle(key="demo_use_camera").set_value(True).run()
    assert not at.exception and len(at.get("camera_input")) == 1


def test_out_of_the_box_the_demo_answers_with_the_bundled_model_and_names_it(bundled_model):
    at = demo_page().run()
    # no "train a model first": the only note is the live camera's, which needs a browser (not AppTest)
    assert not at.exception and [i.value for i in at.info] == [LIVE_NEEDS_A_BROWSER]
    assert any("the built-in model (fast_cnn, learned from real faces in fer2013.zip)" in c.value for c in at.caption)
    upload_face(at)
    assert not at.exception and not at.warning
    assert "sure" in at.get("progress")[0].proto.text


def test_the_bundled_real_face_model_is_preferred_to_a_synthetic_run(bundled_model, run_in_checkpoints):
    at = demo_page().run()
    assert any("the built-in model" in c.value for c in at.caption)


def test_a_model_trained_on_synthetic_faces_is_flagged_beside_the_answer(run_in_checkpoints):
    at = upload_face(demo_page().run())
    assert not at.exception
    assert any(f"run {run_in_checkpoints.name}" in c.value and "SYNTHETIC" in c.value for c in at.caption)
    assert "synthetic" in at.warning[0].value


def test_a_zip_of_photos_gives_a_table_a_count_per_emotion_and_a_csv_listing_unreadable_files(bundled_model):
    from tests.inference.test_live import frame_with_faces
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("class/two.png", cv2.imencode(".png", frame_with_faces(2))[1].tobytes())
        zf.writestr("class/one.png", cv2.imencode(".png", frame_with_faces(1, seed=5))[1].tobytes())
        zf.writestr("class/wall.png", cv2.imencode(".png", np.full((200, 300), 110, np.uint8))[1].tobytes())
        zf.writestr("class/broken.jpg", b"not a jpeg")
        zf.writestr("notes.txt", b"not an image: skipped")
    at = demo_page().run()
    at.file_uploader(key="demo_many_upload").set_value(("party.zip", buffer.getvalue(), "application/zip"))
    at.run()
    assert not at.exception and not at.error
    # photos read, faces, photos without a face and failures, each counted apart
    assert any(m.value == "**3 photos read: 3 faces found; no face found in 1 photo; 1 file could not be read.**"
               for m in at.markdown)
    assert any("No face was found in party.zip:class/wall.png" in c.value for c in at.caption)
    assert "1 file(s) could not be read" in at.warning[0].value
    assert list(at.dataframe[0].value["image"]) == ["party.zip:class/broken.jpg"]  # shown, not folded away
    table = at.dataframe[-1].value
    assert list(table["image"]) == ["party.zip:class/one.png"] + ["party.zip:class/two.png"] * 2
    assert set(table["label"]) <= {"angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"}
    chart = at.get("plotly_chart")[0]
    assert chart.proto.spec and "demo_many_counts" in chart.proto.id
    assert sum(json.loads(chart.proto.spec)["data"][0]["y"]) == 3  # the wall's guess is not counted
    assert at.get("download_button")[0].label.startswith("⬇️ All rows as CSV")


def test_a_zip_without_photos_says_why_plainly(bundled_model):
    at = demo_page().run()
    empty = io.BytesIO()
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("readme.txt", b"no photos here")
    at.file_uploader(key="demo_many_upload").set_value(("empty.zip", empty.getvalue(), "application/zip"))
    at.run()
    assert not at.exception
    assert at.error[0].value.startswith("empty.zip could not be used: the zip holds no image files")
    assert not any("read:" in m.value for m in at.markdown) and not at.expander


def test_the_answer_shows_the_boxed_photo_the_runner_up_what_sure_means_and_a_fresh_start(bundled_model):
    from tests.inference.test_live import frame_with_faces
    at = demo_page().run()
    ok, photo = cv2.imencode(".png", frame_with_faces(1))  # a 640x480 photo with one face in it
    at.file_uploader(key="demo_upload").set_value(("me.png", photo.tobytes(), "image/png"))
    at.run()
    assert not at.exception
    assert any(c.value.startswith("I found 1 face") for c in at.caption)
    upload_tab, live_tab, snapshot_tab, _ = at.tabs  # the answer in the upload's own tab, not under the others
    assert any(c.value.startswith("I found 1 face") for c in upload_tab.caption)
    assert not any(c.value.startswith("I found") for tab in (live_tab, snapshot_tab) for c in tab.caption)
    assert len(at.get("image")) >= 2  # the photo with its face box, and the face itself
    assert any(c.value.startswith("Next most likely: ") for c in at.caption)
    sure = next(c.value for c in at.caption if c.value.startswith('"Sure" is the share'))
    one_pass = json.loads((bundled_model / "evaluation.json").read_text())["without_tta"]["accuracy"]
    # the one-pass accuracy, as the page answers (no TTA)
    assert f"3,589 test faces it was checked on, its answer was right {one_pass:.1%} of the time" in sure
    assert "right 64.9% of the time" in sure  # the figure README and the Dataset page give, one pass per face
    assert any("stay on this computer" in c.value for c in at.caption)
    at.button(key="demo_try_another_upload").click().run()
    assert not at.exception and not at.get("progress")  # the answer is gone: an empty upload box again
    assert at.file_uploader(key="demo_upload_1").value is None


def test_a_best_looking_run_that_cannot_be_loaded_gives_way_to_the_bundled_model(bundled_model, run_in_checkpoints):
    """A run claiming real data and a top val score, with a damaged checkpoint (or one refused as
    unsafe): Demo says so and answers with the bundled model instead of stopping."""
    config = json.loads((run_in_checkpoints / "config.json").read_text())
    config["data"] = "/data/fer2013.zip"
    (run_in_checkpoints / "config.json").write_text(json.dumps(config))
    metrics = (run_in_checkpoints / "metrics.csv").read_text().splitlines()
    header = metrics[0].split(",")
    row = metrics[-1].split(",")
    row[header.index("val_acc")] = "0.999"
    (run_in_checkpoints / "metrics.csv").write_text("\n".join(metrics + [",".join(row)]) + "\n")
    (run_in_checkpoints / "best.pt").write_bytes(b"not a checkpoint")
    at = demo_page().run()
    assert not at.exception
    assert at.warning and "could not be loaded" in at.warning[0].value and "bundled model answers" in at.warning[0].value
    assert any("the built-in model" in c.value for c in at.caption)


def test_a_photo_with_no_face_says_so_and_can_still_be_read_whole(bundled_model):
    at = demo_page().run()
    ok, buf = cv2.imencode(".png", np.tile(np.linspace(30, 220, 320, dtype=np.float32), (240, 1)).astype(np.uint8))
    at.file_uploader(key="demo_upload").set_value(("wall.png", buf.tobytes(), "image/png"))
    at.run()
    assert not at.exception
    assert any("couldn't find a face" in m.value for m in at.markdown)
    assert not at.get("progress")  # no emotion for a face that is not there
    at.button(key="demo_whole_button_upload").click().run()
    assert not at.exception
    assert any("whole picture as one face" in c.value for c in at.caption)
    assert "sure" in at.get("progress")[0].proto.text
