"""Hostile videos: frames over the pixel cap are refused from the stream's declared size before any is
decoded (tests/hostile/memory_probe.py measures that under a memory cap), a stream growing mid-way is
caught on its first big frame, and an encoder failure (PyAV's av.error.*) is a VideoError the Video page
shows, not a traceback."""
from __future__ import annotations

import numpy as np
import pytest

from fer_core.inference import video
from fer_core.inference.video import MAX_VIDEO_PIXELS, VideoError, _Mp4Writer, sampled_frames

from tests.hostile.messages import assert_clear


class _GrowingCapture:
    """A capture whose second frame is far over the cap, as a stream that changes size mid-way."""

    def __init__(self):
        self.frames = [np.zeros((48, 64, 3), np.uint8), np.zeros((4000, 4000, 3), np.uint8)]

    def get(self, prop):
        return 5.0

    def grab(self):
        return bool(self.frames)

    def retrieve(self):
        return True, self.frames.pop(0)


def test_a_frame_over_the_cap_mid_stream_is_refused():
    frames = sampled_frames(_GrowingCapture(), fps=5)
    assert next(frames).bgr.shape == (48, 64, 3)
    with pytest.raises(VideoError, match="pixel limit") as caught:
        next(frames)
    assert_clear(caught.value)
    assert 4000 * 4000 > MAX_VIDEO_PIXELS


@pytest.mark.parametrize("where", ["write", "release"])
def test_an_encoder_error_is_a_video_error(tmp_path, where):
    av = pytest.importorskip("av")
    writer = _Mp4Writer(tmp_path / "out.mp4", 5, 64, 48)

    class FailingStream:
        width, height = writer.stream.width, writer.stream.height

        def encode(self, frame=None):
            raise av.error.ExternalError(-542398533, "Generic error in an external library")

    writer.stream = FailingStream()
    with pytest.raises(VideoError, match="ExternalError") as caught:
        if where == "write":
            writer.write(np.zeros((48, 64, 3), np.uint8))
        else:
            writer.release()
    assert_clear(caught.value)
    writer.release()  # after the error: nothing left to close, no second error
