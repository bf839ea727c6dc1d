"""Live camera frames: faces found, a label per face smoothed over the last second, boxes drawn.

    live = LiveAnalyser(predictor)                    # saliency="gradcam" for Explain's overlay
    annotated = live.process(rgb_frame)               # (H, W, 3) RGB uint8 in and out

The pages run this on streamlit-webrtc's worker thread (app_pages/live_camera.py), never on the
Streamlit script thread, and hand it only the newest frame: when the CPU cannot keep up, frames are
dropped (and counted) rather than queued, so what the camera shows never lags further behind.
Faces are followed with the video module's IoU tracker; each face's label is the mean of its
probabilities over the last `smoothing_s` seconds, so it does not flicker from frame to frame.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

import cv2
import numpy as np

from fer_core.common.emotions import DISPLAY_NAMES
from fer_core.inference.faces import FaceBox, crop_face, detect_faces, draw_boxes, face_region
from fer_core.inference.video import IouTracker

SMOOTHING_S = 1.0
# Score-CAM runs the model once per channel: seconds per frame on a CPU. Live video shows Grad-CAM instead.
TOO_SLOW_FOR_LIVE = {"scorecam": "gradcam"}
MAX_SIDE = 640  # frames larger than this are analysed on a copy of this size (boxes mapped back)


@dataclass
class LiveFace:
    """One face in the newest frame: its track, box, and smoothed label and probabilities."""

    track_id: int
    box: FaceBox
    label: str
    confidence: float
    probabilities: np.ndarray  # smoothed over the last `smoothing_s` seconds
    heatmap: np.ndarray | None = None  # (48, 48) in [0, 1] when saliency is on

    @property
    def caption(self) -> str:
        return f"{self.track_id}: {self.label} {self.confidence:.0%}"


@dataclass
class LiveStats:
    """What the analyser has done so far: for the page's status line and the benchmark."""

    processed: int = 0
    dropped: int = 0
    seconds: float = 0.0  # time spent processing
    recent_ms: deque = field(default_factory=lambda: deque(maxlen=30))

    @property
    def mean_ms(self) -> float:
        return float(np.mean(self.recent_ms)) if self.recent_ms else 0.0

    @property
    def frames_per_second(self) -> float:
        """Frames the analyser can process per second at its recent speed."""
        return 1000.0 / self.mean_ms if self.mean_ms else 0.0

    def describe(self) -> str:
        return (f"{self.processed} frames analysed ({self.mean_ms:.0f} ms each, up to {self.frames_per_second:.0f} "
                f"frames/s here), {self.dropped} dropped to keep up with the camera")


class LiveAnalyser:
    """Stateful per-stream analysis (one per camera stream); safe to call from any one thread at a time."""

    def __init__(self, predictor, smoothing_s: float = SMOOTHING_S, saliency: str | None = None,
                 target=None):
        if not 0 < smoothing_s <= 10:
            raise ValueError(f"smoothing_s must be between 0 and 10 seconds, got {smoothing_s!r}")
        self.predictor, self.smoothing_s = predictor, smoothing_s
        self.saliency, self.target = saliency, target
        self.tracker = IouTracker(max_gap_s=smoothing_s)
        self.history: dict[int, deque] = {}  # track id -> (time, probabilities) of the last smoothing_s
        self.stats = LiveStats()
        self.latest: list[LiveFace] = []
        self._lock = threading.Lock()

    @property
    def saliency(self) -> str | None:
        """The saliency method drawn on each face (None: none); a method too slow for live video is
        replaced by one that is not (TOO_SLOW_FOR_LIVE)."""
        return self._saliency

    @saliency.setter
    def saliency(self, method: str | None) -> None:
        self._saliency = TOO_SLOW_FOR_LIVE.get(method, method)

    def analyse(self, rgb: np.ndarray, now: float | None = None) -> list[LiveFace]:
        """The faces of one frame, with labels smoothed over the frames of the last `smoothing_s`."""
        now = time.monotonic() if now is None else now
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        scale = min(1.0, MAX_SIDE / max(gray.shape))
        small = gray if scale == 1.0 else cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        boxes = [b.scaled(1 / scale) for b in detect_faces(small)]
        if not boxes:
            self.tracker.assign([], now)
            return []
        crops = np.stack([crop_face(gray, b) for b in boxes])
        heatmaps = [None] * len(boxes)
        if self.saliency:
            from fer_core.explain import explain_faces
            explanation = explain_faces(self.predictor.model, self.predictor.card, crops, method=self.saliency,
                                        target=self.target)
            probabilities, heatmaps = explanation.probabilities, list(explanation.heatmaps)
        else:
            probabilities = self.predictor.predict_faces(crops)
        classes = [DISPLAY_NAMES.get(c, c.title()) for c in self.predictor.classes]  # drawn: ASCII only
        faces = []
        for box, track, probs, heat in zip(boxes, self.tracker.assign(boxes, now), probabilities, heatmaps):
            recent = self.history.setdefault(track.track_id, deque())
            recent.append((now, np.asarray(probs, np.float32)))
            while recent and now - recent[0][0] > self.smoothing_s:
                recent.popleft()
            track.last_box, track.last_time_s = box, now
            smooth = np.mean([p for _, p in recent], axis=0)
            best = int(np.argmax(smooth))
            faces.append(LiveFace(track.track_id, box, classes[best], float(smooth[best]), smooth, heat))
        live = {t.track_id for t in self.tracker.tracks if now - t.last_time_s <= self.smoothing_s}
        self.history = {k: v for k, v in self.history.items() if k in live}
        return faces

    def draw(self, rgb: np.ndarray, faces: list[LiveFace]) -> np.ndarray:
        """The frame with each face's saliency (when on), box and smoothed label drawn."""
        out = rgb
        if any(f.heatmap is not None for f in faces):
            out = rgb.copy()
            for face in faces:
                if face.heatmap is not None:
                    _blend_heatmap(out, face.box, face.heatmap)
        return draw_boxes(out, [f.box for f in faces], [f.caption for f in faces],
                          colours=[LIVE_COLOUR] * len(faces))

    def process(self, rgb: np.ndarray, now: float | None = None) -> np.ndarray:
        """analyse + draw for one frame, timed; what the camera stream shows."""
        with self._lock:
            started = time.perf_counter()
            self.latest = self.analyse(rgb, now)
            out = self.draw(rgb, self.latest)
            elapsed = time.perf_counter() - started
            self.stats.processed += 1
            self.stats.seconds += elapsed
            self.stats.recent_ms.append(1000 * elapsed)
            return out

    def note_dropped(self, frames: int) -> None:
        """Frames that arrived while one was being processed and were skipped for the newest."""
        with self._lock:
            self.stats.dropped += frames


LIVE_COLOUR = (0, 255, 0)  # one colour for every face: what the browser test looks for in the stream


def _blend_heatmap(rgb: np.ndarray, box: FaceBox, heatmap: np.ndarray, alpha: float = 0.45) -> None:
    """Lay a face-coordinate heatmap (jet colours) over the region the face was cut from (turned as
    the face was, for a tilted head), in place."""
    size = 96
    colour = cv2.applyColorMap((np.clip(cv2.resize(heatmap, (size, size)), 0, 1) * 255).astype(np.uint8),
                               cv2.COLORMAP_JET)[:, :, ::-1]
    to_photo = face_region(box).face_to_photo(size)
    h, w = rgb.shape[:2]
    corners = cv2.transform(np.array([[[0, 0], [size, 0], [0, size], [size, size]]], np.float32), to_photo)[0]
    left, top = (max(0, int(np.floor(v))) for v in corners.min(0))
    right, bottom = min(w, int(np.ceil(corners[:, 0].max()))), min(h, int(np.ceil(corners[:, 1].max())))
    if right <= left or bottom <= top:
        return
    shift = to_photo.copy()
    shift[:, 2] -= (left, top)
    patch = cv2.warpAffine(colour, shift, (right - left, bottom - top), flags=cv2.INTER_LINEAR)
    inside = cv2.warpAffine(np.ones((size, size), np.float32), shift, (right - left, bottom - top))[:, :, None]
    region = rgb[top:bottom, left:right].astype(np.float32)
    rgb[top:bottom, left:right] = (region * (1 - alpha * inside) + patch * (alpha * inside)).astype(np.uint8)
