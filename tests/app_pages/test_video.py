"""The Video page through AppTest: a clip in, a timeline per face, the summary and downloads out."""
from __future__ import annotations

from tests.app_pages.app import open_app
from tests.inference.test_video import write_clip


def test_a_clip_gives_a_timeline_per_face_and_its_downloads(run_in_checkpoints, tmp_path):
    at = open_app("video").run()
    assert not at.exception
    clip = write_clip(tmp_path / "party.avi").read_bytes()
    at.file_uploader(key="video_upload").set_value(("party.avi", clip, "video/x-msvideo"))
    at.run()
    at.button(key="video_analyse").click().run()
    assert not at.exception and not at.error
    assert any("10 frames analysed" in m.value for m in at.markdown)
    assert [s.value.split(":")[0] for s in at.subheader] == ["face 1", "face 2"]
    assert {c.proto.id.split("video_timeline_")[-1][:1] for c in at.get("plotly_chart")} == {"1", "2"}
    labels = {b.label for b in at.get("download_button")}
    assert labels == {"⬇️ Every face in every frame (CSV)", "⬇️ Annotated video (MP4)"}


def test_a_file_that_is_not_a_video_gets_a_plain_message(run_in_checkpoints):
    at = open_app("video").run()
    at.file_uploader(key="video_upload").set_value(("holiday.mp4", b"not a video", "video/mp4"))
    at.run()
    at.button(key="video_analyse").click().run()
    assert not at.exception
    assert "could not be read as a video" in at.error[0].value
