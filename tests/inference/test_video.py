"""Video files (fer_core.inference.video): sampled frames, IoU tracks, CSV, summary and annotated MP4."""
from __future__ import annotations

import csv
import json
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest

from fer_core.common.paths import PROJECT_ROOT
from fer_core.inference.faces import FaceBox
from fer_core.inference.predictor import Predictor
from fer_core.inference import video as vid
from fer_core.inference.video import IouTracker, VideoError, analyse_video, track_timeline
from tests.inference.test_faces import detectable_synthetic_faces

SOURCE_FPS, SECONDS, SIDE = 10, 2, 120


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_clip(tmp_path_factory.mktemp("video") / "clip.avi")


def write_clip(path):
    """A 2 s, 10 fps, 640x480 MJPEG clip: one face moving right 4 px a frame, one standing still."""
    faces = detectable_synthetic_faces(2, seed=1)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), SOURCE_FPS, (640, 480))
    for i in range(SOURCE_FPS * SECONDS):
        frame = np.full((480, 640), 128, np.uint8)
        for face, (x, y) in zip(faces, [(60 + 4 * i, 80), (420, 260)]):
            frame[y:y + SIDE, x:x + SIDE] = cv2.resize(face, (SIDE, SIDE))
        writer.write(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
    writer.release()
    return path


@pytest.fixture(scope="module")
def predictor(trained_run):
    return Predictor.from_run(trained_run)


def test_two_faces_become_two_tracks_with_a_row_per_sampled_frame(predictor, clip, tmp_path):
    seen = []
    analysis = analyse_video(predictor, clip, fps=5, out_dir=tmp_path, progress=lambda done, total: seen.append(done))
    assert analysis.frames_read == 10 and seen == list(range(1, 11))
    assert [t["frames"] for t in analysis.tracks] == [10, 10]  # both faces followed through every sampled frame
    assert len(analysis.rows) == 20 and {r["frame"] for r in analysis.rows} == set(range(0, 20, 2))
    xs = {t["track"]: [r["x"] for r in analysis.rows if r["track"] == t["track"]] for t in analysis.tracks}
    spans = sorted(max(x) - min(x) for x in xs.values())
    assert spans[0] < 10 and spans[1] > 50  # the moving face kept its track as it moved
    for track in analysis.tracks:
        assert track["dominant"] in predictor.classes
        assert abs(sum(track["share_of_time"].values()) - 1) < 1e-3 and track["seconds"] == pytest.approx(2.0)
    timeline = track_timeline(analysis.rows, analysis.tracks[0]["track"], predictor.classes)
    assert len(timeline["time_s"]) == 10 and timeline["time_s"] == sorted(timeline["time_s"])

    rows = list(csv.DictReader((tmp_path / "emotions.csv").open()))
    assert len(rows) == 20 and set(rows[0]) >= {"frame", "time_s", "track", "label", "confidence", "happy"}
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["model"]["run_id"] == predictor.run_id and len(summary["tracks"]) == 2
    video = cv2.VideoCapture(str(tmp_path / "annotated.mp4"))
    assert video.isOpened() and int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 10
    ok, frame = video.read()
    assert ok and frame.shape == (480, 640, 3)


def test_stopping_early_keeps_what_was_read(predictor, clip):
    frames = []
    analysis = analyse_video(predictor, clip, fps=5, progress=lambda done, total: frames.append(done),
                             should_stop=lambda: len(frames) >= 3)
    assert analysis.frames_read == 3 and len(analysis.rows) == 6


def test_the_tracker_keeps_ids_and_ends_tracks_after_a_gap():
    tracker = IouTracker(max_gap_s=1.0)
    a, b = tracker.assign([FaceBox(0, 0, 100, 100), FaceBox(300, 0, 100, 100)], 0.0)
    again = tracker.assign([FaceBox(310, 5, 100, 100), FaceBox(10, 0, 100, 100)], 0.2)
    assert [t.track_id for t in again] == [b.track_id, a.track_id]
    later = tracker.assign([FaceBox(10, 0, 100, 100)], 5.0)  # after the gap: a new face
    assert later[0].track_id == 3


def test_a_cut_ends_every_track_and_movement_within_a_shot_is_no_cut():
    rng = np.random.default_rng(0)
    shot = rng.integers(60, 200, (480, 640)).astype(np.uint8)
    moved = np.roll(shot, 12, axis=1)  # the camera pans a little
    other = rng.integers(0, 256, (480, 640)).astype(np.uint8) // 2  # another scene, darker
    assert not vid.is_cut(None, vid.thumbnail(shot))
    assert not vid.is_cut(vid.thumbnail(shot), vid.thumbnail(moved))
    assert vid.is_cut(vid.thumbnail(shot), vid.thumbnail(other))
    tracker = IouTracker()
    (first,) = tracker.assign([FaceBox(100, 100, 120, 120)], 0.0)
    tracker.cut()
    (after,) = tracker.assign([FaceBox(100, 100, 120, 120)], 0.2)  # the same place, the next photo
    assert after.track_id != first.track_id


def test_a_slideshow_of_three_people_in_one_place_gives_three_tracks(predictor, tmp_path):
    """Three photos, a face in the same place in each (the issue's four people came out as two tracks)."""
    faces = detectable_synthetic_faces(3, seed=4)
    path = tmp_path / "slideshow.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), SOURCE_FPS, (640, 480))
    for face, background in zip(faces, (128, 70, 190)):
        frame = np.full((480, 640), background, np.uint8)
        frame[150:150 + SIDE, 240:240 + SIDE] = cv2.resize(face, (SIDE, SIDE))
        for _ in range(SOURCE_FPS):  # one second each
            writer.write(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
    writer.release()
    analysis = analyse_video(predictor, path, fps=5)
    assert sorted({row["time_s"] // 1 for row in analysis.rows}) == [0, 1, 2]  # a face found in every photo
    assert len(analysis.tracks) == 3


def test_mostly_means_a_majority_and_most_often_says_less():
    def summary(share):
        return {"track": 2, "dominant": "neutral", "share_of_time": {"neutral": share, "sad": 1 - share},
                "seconds": 4.4}
    assert vid.describe_track(summary(0.62)) == "face 2: mostly 😐 Neutral (62% of 4.4 s)"
    assert vid.describe_track(summary(0.36)) == "face 2: most often 😐 Neutral (36% of 4.4 s)"


def test_what_is_not_a_video_gets_a_clear_message(predictor, tmp_path):
    fake = tmp_path / "holiday.mp4"
    fake.write_bytes(b"not a video at all")
    with pytest.raises(VideoError, match="not a video this tool can read"):
        analyse_video(predictor, fake)
    with pytest.raises(VideoError, match="no such video file"):
        analyse_video(predictor, tmp_path / "missing.mp4")
    with pytest.raises(VideoError, match="--fps must be between 0 and 60"):
        analyse_video(predictor, fake, fps=0)


def test_the_cli_writes_the_outputs_and_prints_a_summary(trained_run, clip, tmp_path):
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "fer_core", "video", "--run", str(trained_run), str(clip),
                           "--fps", "5", "--out", str(out)], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert re.search(r"face 1: (mostly|most often) ", done.stdout) and re.search(r"face 2: (mostly|most often) ",
                                                                                done.stdout)
    assert "frames/s" in done.stdout
    assert {p.name for p in out.iterdir()} == {"emotions.csv", "summary.json", "annotated.mp4"}
    bad = subprocess.run([sys.executable, "-m", "fer_core", "video", "--run", str(trained_run), str(tmp_path / "x.mp4")],
                         cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "no such video file" in bad.stderr and "Traceback" not in bad.stderr
    # piped, the progress is whole lines (a tenth of the video each), not "frame 1/10frame 2/10..."
    progress = done.stderr.splitlines()
    assert progress and all(re.fullmatch(r"frame \d+/\d+", line) for line in progress), done.stderr
    assert progress[-1] == "frame 10/10" and len(progress) <= 11 and "\r" not in done.stderr
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all" * 100)  # FFmpeg says "moov atom not found" on its own
    bad = subprocess.run([sys.executable, "-m", "fer_core", "video", "--run", str(trained_run), str(broken)],
                         cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and bad.stderr.splitlines() == [bad.stderr.strip()]  # the one error line only
    assert bad.stderr.startswith(f"error: {broken} is not a video this tool can read")
