"""The live camera's frame handling (app_pages/live_camera.py): of the frames that queued up while one
was processed, only the newest is analysed, the rest are dropped and counted."""
from __future__ import annotations

import asyncio
from fractions import Fraction

import av
import numpy as np

from app_pages.live_camera import _NewestFrameProcessor
from fer_core.inference.live import LiveAnalyser

from tests.inference.test_live import FlickeringPredictor, frame_with_faces


def test_only_the_newest_queued_frame_is_processed_and_the_others_are_dropped():
    analyser = LiveAnalyser(FlickeringPredictor())
    frames = []
    for i, rgb in enumerate([np.zeros((480, 640, 3), np.uint8)] * 2 + [frame_with_faces(1)]):
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts, frame.time_base = i, Fraction(1, 10)
        frames.append(frame)
    out = asyncio.run(_NewestFrameProcessor(analyser).recv_queued(frames))
    assert len(out) == 1 and out[0].pts == 2 and out[0].time_base == Fraction(1, 10)
    assert analyser.stats.processed == 1 and analyser.stats.dropped == 2
    assert len(analyser.latest) == 1  # the newest frame, the one with the face
    assert out[0].to_ndarray(format="rgb24").shape == (480, 640, 3)
