"""The Explain page through AppTest: run choice, uploads, overlays, faithfulness, bad input."""
from __future__ import annotations


import cv2
from streamlit.testing.v1 import AppTest

from tests.app_pages.app import gallery_tiles, gallery_tooltips, open_app

from fer_core.data.synthetic import generate_synthetic



def explain_page() -> AppTest:
    at = open_app("explain")
    return at


def face_png(index: int = 0) -> bytes:
    ok, buf = cv2.imencode(".png", generate_synthetic(40, seed=3).images[index])
    assert ok
    return buf.tobytes()


def test_without_runs_the_page_says_how_to_get_one():
    at = explain_page().run()
    assert not at.exception
    assert "No trained model yet" in at.info[0].value


def test_an_uploaded_face_gets_an_overlay_probabilities_and_a_faithfulness_score(run_in_checkpoints):
    at = explain_page().run()
    assert not at.exception
    assert at.selectbox(key="explain_run").value == str(run_in_checkpoints)
    at.file_uploader(key="explain_upload").set_value([("face.png", face_png(), "image/png")])
    at.run()
    assert not at.exception
    assert any("used whole, as a face crop" in c.value for c in at.caption)  # a 48x48 crop is used whole
    assert len(at.get("plotly_chart")) == 1  # the probability bars
    (tiles,) = gallery_tiles(at)  # the face and its overlay, one gallery
    assert tiles == ["face (48×48)", f"{at.selectbox(key='explain_method').value} for {tiles[1].split(' for ')[1]}"]
    assert any("ROAD faithfulness" in c.value for c in at.caption)


def test_method_and_target_class_can_be_chosen(run_in_checkpoints):
    at = explain_page().run()
    at.selectbox(key="explain_method").set_value("hirescam")
    at.selectbox(key="explain_target").set_value("sad")
    at.file_uploader(key="explain_upload").set_value([("face.png", face_png(), "image/png")])
    at.run()
    assert not at.exception
    (tiles,) = gallery_tiles(at)
    assert tiles[1] == "hirescam for 😢 Sad"


def test_a_dataset_sample_can_be_explained_and_methods_scored(run_in_checkpoints):
    at = explain_page().run()
    at.radio(key="explain_source").set_value("Dataset sample").run()
    assert not at.exception
    assert any("(true:" in s.value for s in at.subheader)
    assert any(c.value.startswith("A face from the dataset, 48×48") for c in at.caption)
    assert not any("No face detected" in c.value for c in at.caption)
    at.button(key="explain_score_methods").click().run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 2  # probability bars + one bar per method
    assert any("equals the mean of its per-face ROAD scores" in c.value for c in at.caption)
    at.run()  # any other widget change reruns the page: the scores stay, without scoring again
    assert len(at.get("plotly_chart")) == 2
    at.radio(key="explain_metric").set_value("drop").run()  # another metric: those scores no longer apply
    assert len(at.get("plotly_chart")) == 1
    assert not any(b.key == "explain_stop_scoring" for b in at.button)  # the Stop button goes with the bar


def test_a_stopped_scoring_says_so_once_and_keeps_no_score(run_in_checkpoints):
    """Stop's click reruns the page, which ends the scoring at its next step; its callback leaves
    this flag for the rerun (AppTest cannot click mid-run: the flag is set as the callback does)."""
    at = explain_page().run()
    at.radio(key="explain_source").set_value("Dataset sample").run()
    at.session_state["explain_scoring_stopped"] = True
    at.run()
    assert any(i.value.startswith("Scoring stopped; no score was kept") for i in at.info)
    assert len(at.get("plotly_chart")) == 1  # probability bars only: no method scores
    at.run()
    assert not any(i.value.startswith("Scoring stopped") for i in at.info)  # said once


def test_a_file_that_is_not_an_image_gives_a_message(run_in_checkpoints):
    at = explain_page().run()
    at.file_uploader(key="explain_upload").set_value([("notes.png", b"%PDF-1.4 not an image", "image/png")])
    at.run()
    assert not at.exception
    assert "notes.png" in at.error[0].value


def test_the_same_face_is_explained_by_another_run_side_by_side(run_in_checkpoints):
    import shutil
    second = run_in_checkpoints.parent / (run_in_checkpoints.name + "-copy")
    shutil.copytree(run_in_checkpoints, second)
    at = explain_page().run()
    at.selectbox(key="explain_run").set_value(str(run_in_checkpoints)).run()
    at.multiselect(key="explain_compare").select(str(second))
    at.file_uploader(key="explain_upload").set_value([("face.png", face_png(), "image/png")])
    at.run()
    assert not at.exception, "\n".join(at.exception[0].stack_trace)
    (tiles,), (tips,) = gallery_tiles(at), gallery_tooltips(at)
    # numbered maps short enough for a tile (about 29 characters), the runs named in a legend below
    assert len(tiles) == 3 and tiles[1].startswith("(1) ") and tiles[2].startswith("(2) predicts ")
    assert max(len(t) for t in tiles) <= 29
    assert tips[2].startswith(f"{second.name} ·") and ": predicts" in tips[2]
    legend = next(c.value for c in at.caption if c.value.startswith("Maps by: "))
    assert f"(1) {run_in_checkpoints.name} ·" in legend and f"; (2) {second.name} ·" in legend


def test_the_bundled_model_is_offered_first_and_named(bundled_model, run_in_checkpoints):
    at = explain_page().run()
    assert not at.exception
    assert at.selectbox(key="explain_run").value == str(bundled_model)
    assert any("the built-in model (fast_cnn" in c.value for c in at.caption)
    assert not at.warning
    at.selectbox(key="explain_run").set_value(str(run_in_checkpoints)).run()
    assert "synthetic" in at.warning[0].value
