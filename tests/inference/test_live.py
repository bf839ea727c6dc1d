"""Live camera frames (fer_core.inference.live): faces boxed and labelled, labels smoothed over the last
second, saliency laid over each face, dropped frames counted."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from fer_core.inference.live import LIVE_COLOUR, TOO_SLOW_FOR_LIVE, LiveAnalyser
from fer_core.inference.predictor import Predictor

from tests.inference.test_faces import detectable_synthetic_faces


def frame_with_faces(n: int = 2, seed: int = 3) -> np.ndarray:
    """A 640x480 RGB camera frame with `n` detectable faces on a plain background."""
    gray = np.full((480, 640), 110, np.uint8)
    for face, x in zip(detectable_synthetic_faces(n, seed=seed), (60, 380)):
        gray[150:310, x:x + 160] = cv2.resize(face, (160, 160), interpolation=cv2.INTER_CUBIC)
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)


class FlickeringPredictor:
    """Answers happy 0.6 / sad 0.4, then happy 0.45 / sad 0.55, alternately: what a noisy model does."""

    classes = ["happy", "sad"]

    def __init__(self):
        self.calls = 0

    def predict_faces(self, faces):
        self.calls += 1
        row = [0.6, 0.4] if self.calls % 2 else [0.45, 0.55]
        return np.array([row] * len(faces), np.float32)


def test_each_face_is_boxed_and_labelled_in_the_live_colour():
    analyser = LiveAnalyser(FlickeringPredictor())
    frame = frame_with_faces(2)
    out = analyser.process(frame, now=0.0)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert len(analyser.latest) == 2 and {f.track_id for f in analyser.latest} == {1, 2}
    assert all(f.caption.startswith(f"{f.track_id}: Happy") for f in analyser.latest)
    green = np.all(out == LIVE_COLOUR, axis=-1)
    assert green.sum() > 500 and not np.all(frame == LIVE_COLOUR, axis=-1).any()
    assert analyser.stats.processed == 1 and analyser.stats.mean_ms > 0


def test_the_label_is_smoothed_over_the_last_second_instead_of_flickering():
    analyser = LiveAnalyser(FlickeringPredictor(), smoothing_s=1.0)
    frame = frame_with_faces(1)
    labels = []
    for i in range(10):  # 10 frames a second: the raw answer flips every frame
        analyser.process(frame, now=i / 10)
        labels.append(analyser.latest[0].label)
    assert labels == ["Happy"] * 10  # the mean of the last second stays happy (0.525 or more)
    assert {f.track_id for f in analyser.latest} == {1}  # one face, one track throughout
    later = LiveAnalyser(FlickeringPredictor(), smoothing_s=0.05)
    later.process(frame, now=0.0)
    later.process(frame, now=1.0)  # older answers have left the window: only this frame's (sad) counts
    assert later.latest[0].label == "Sad"


def test_a_frame_without_faces_shows_no_box_and_a_face_coming_back_is_a_new_track():
    analyser = LiveAnalyser(FlickeringPredictor(), smoothing_s=0.5)
    face, empty = frame_with_faces(1), np.full((480, 640, 3), 110, np.uint8)
    analyser.process(face, now=0.0)
    assert np.array_equal(analyser.process(empty, now=0.1), empty) and analyser.latest == []
    analyser.process(face, now=2.0)
    assert analyser.latest[0].track_id == 2


def test_a_large_frame_is_analysed_small_and_boxed_in_its_own_pixels():
    analyser = LiveAnalyser(FlickeringPredictor())
    big = cv2.resize(frame_with_faces(1), (1280, 960), interpolation=cv2.INTER_CUBIC)
    analyser.process(big, now=0.0)
    (face,) = analyser.latest  # pasted at x 120-440, y 300-620 of the 1280x960 frame
    centre = (face.box.x + face.box.w / 2, face.box.y + face.box.h / 2)
    assert 220 <= centre[0] <= 340 and 400 <= centre[1] <= 520 and face.box.w >= 250


def test_dropped_frames_are_counted():
    analyser = LiveAnalyser(FlickeringPredictor())
    analyser.note_dropped(3)
    analyser.note_dropped(0)
    assert analyser.stats.dropped == 3 and "3 dropped" in analyser.stats.describe()


def test_saliency_is_laid_over_each_face_and_too_slow_methods_are_replaced(trained_run):
    predictor = Predictor.from_run(trained_run)
    frame = frame_with_faces(1)
    plain = LiveAnalyser(predictor).process(frame, now=0.0)
    analyser = LiveAnalyser(predictor, saliency="gradcam")
    shown = analyser.process(frame, now=0.0)
    (face,) = analyser.latest
    assert face.heatmap is not None and face.heatmap.shape == (48, 48)
    inside = (slice(face.box.y + 10, face.box.y + face.box.h - 10), slice(face.box.x + 10, face.box.x + face.box.w - 10))
    assert np.abs(shown[inside].astype(int) - plain[inside].astype(int)).mean() > 5  # coloured by the map
    assert np.array_equal(shown[:40, :40], plain[:40, :40])  # and nothing outside the face changed
    analyser.saliency = "scorecam"
    assert analyser.saliency == TOO_SLOW_FOR_LIVE["scorecam"]


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="smoothing_s"):
        LiveAnalyser(FlickeringPredictor(), smoothing_s=0)
