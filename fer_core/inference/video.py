"""Video files: faces found in sampled frames, followed as tracks, an emotion per face per frame.

    analysis = analyse_video(predictor, "clip.mp4", fps=5, out_dir="clip_emotions")

Frames are read one at a time and sampled at `fps` (every k-th source frame); no frame is kept, so a
long video costs only its rows (one small dict per face per sampled frame). In each sampled frame the faces are found (inference/faces.py) and
classified in one batch; an IoU tracker joins each face to the track whose last box overlaps it most,
so "face 2" stays face 2 across frames; a cut (a new shot, the next photo of a slideshow: the frame changes
as a whole) ends every track, so different people in the same place are not merged. With `out_dir`, every
face row goes to `emotions.csv`, the per-track summary to `summary.json`, and the sampled frames with their
boxes and labels to `annotated.mp4`, all as the video is read.
"""
from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from fer_core.common.emotions import display
from fer_core.inference.faces import DEFAULT_DETECTOR, FaceBox, crop_face, detect_faces, draw_boxes

# FFmpeg's own log lines ("moov atom not found") would come before our one-line error: OpenCV reads this
# when its FFmpeg backend first opens a file, so it is set before any capture is made (quiet = -8).
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

DEFAULT_FPS = 5.0
TRACK_IOU = 0.3          # a face overlapping a track's last box this much continues that track
TRACK_MAX_GAP_S = 1.0    # a track not seen for this long ends; a face there later starts a new one
MAX_VIDEO_PIXELS = 4096 * 2304  # per frame: 4K passes; an 8000x8000 frame cost 2.2 GB before this check
CUT_DIFFERENCE = 30.0    # mean grey-level change (0-255) between sampled frames, on thumbnails: a new shot
CUT_THUMBNAIL = (32, 32)
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")

ProgressFn = Callable[[int, int], None]  # (sampled frames done, sampled frames expected or 0 if unknown)


class VideoError(ValueError):
    """A video cannot be read: the message says which file and what to try."""


@dataclass
class VideoFrame:
    index: int      # the frame's position in the source video
    time_s: float
    bgr: np.ndarray


@dataclass
class Track:
    """One face followed over time."""

    track_id: int
    last_box: FaceBox
    last_time_s: float
    label_seconds: dict[str, float] = field(default_factory=dict)
    probability_sums: np.ndarray | None = None
    frames: int = 0

    def add(self, box: FaceBox, time_s: float, label: str, probabilities: np.ndarray, step_s: float) -> None:
        self.last_box, self.last_time_s = box, time_s
        self.label_seconds[label] = self.label_seconds.get(label, 0.0) + step_s
        self.probability_sums = probabilities.copy() if self.probability_sums is None \
            else self.probability_sums + probabilities
        self.frames += 1

    def summary(self, classes: list[str]) -> dict:
        seen = sum(self.label_seconds.values())
        mean = self.probability_sums / max(self.frames, 1)
        return {"track": self.track_id, "frames": self.frames, "seconds": round(seen, 3),
                "dominant": max(self.label_seconds, key=self.label_seconds.get),
                "share_of_time": {c: round(self.label_seconds.get(c, 0.0) / seen, 4) if seen else 0.0 for c in classes},
                "mean_probabilities": {c: round(float(p), 5) for c, p in zip(classes, mean)}}


def thumbnail(gray: np.ndarray) -> np.ndarray:
    return cv2.resize(gray, CUT_THUMBNAIL, interpolation=cv2.INTER_AREA).astype(np.float32)


def is_cut(previous: np.ndarray | None, current: np.ndarray, threshold: float = CUT_DIFFERENCE) -> bool:
    """Whether two sampled frames' thumbnails (`thumbnail`) belong to different shots: a scene change, the
    next photo of a slideshow. Movement within one shot changes a 32x32 thumbnail far less."""
    return previous is not None and float(np.mean(np.abs(current - previous))) > threshold


class IouTracker:
    """Greedy IoU matching of each frame's boxes to live tracks (best overlaps first)."""

    def __init__(self, iou_threshold: float = TRACK_IOU, max_gap_s: float = TRACK_MAX_GAP_S):
        self.iou_threshold, self.max_gap_s = iou_threshold, max_gap_s
        self.tracks: list[Track] = []

    def cut(self) -> None:
        """A new shot starts: no face after it continues a track from before it (faces of different people
        in the same place of consecutive shots would otherwise be merged into one track)."""
        for track in self.tracks:
            track.last_time_s = float("-inf")

    def assign(self, boxes: list[FaceBox], time_s: float) -> list[Track]:
        """The track of each box (new ones for boxes that continue none), in `boxes` order."""
        live = [t for t in self.tracks if time_s - t.last_time_s <= self.max_gap_s]
        pairs = sorted(((box.iou(t.last_box), i, j) for i, box in enumerate(boxes) for j, t in enumerate(live)),
                       reverse=True)
        chosen: dict[int, Track] = {}
        taken: set[int] = set()
        for overlap, i, j in pairs:
            if overlap < self.iou_threshold:
                break
            if i not in chosen and j not in taken:
                chosen[i] = live[j]
                taken.add(j)
        for i, box in enumerate(boxes):
            if i not in chosen:
                chosen[i] = Track(len(self.tracks) + 1, box, time_s)
                self.tracks.append(chosen[i])
        return [chosen[i] for i in range(len(boxes))]


@dataclass
class VideoAnalysis:
    source: str
    fps: float              # sampled frames per second
    duration_s: float
    frames_read: int        # sampled frames analysed
    seconds: float          # wall time of the analysis
    classes: list[str]
    tracks: list[dict]      # Track.summary() per track, longest first
    rows: list[dict]        # one per face per sampled frame
    outputs: dict[str, str] = field(default_factory=dict)  # what was written: csv, summary, video

    @property
    def frames_per_second(self) -> float:
        """Sampled frames analysed per second of wall time."""
        return self.frames_read / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict:
        return {"source": self.source, "fps": self.fps, "duration_s": round(self.duration_s, 3),
                "frames_analysed": self.frames_read, "analysis_seconds": round(self.seconds, 3),
                "frames_per_second": round(self.frames_per_second, 2), "classes": self.classes,
                "tracks": self.tracks, "outputs": self.outputs}


def open_video(path: str | os.PathLike) -> cv2.VideoCapture:
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: no such video file")
    capture = cv2.VideoCapture(str(path))
    width, height = (int(capture.get(p) or 0) for p in (cv2.CAP_PROP_FRAME_WIDTH, cv2.CAP_PROP_FRAME_HEIGHT))
    if capture.isOpened() and width * height > MAX_VIDEO_PIXELS:  # the stream's declared size: nothing decoded yet
        capture.release()
        raise VideoError(_too_large(path, width, height))
    ok, first = capture.read() if capture.isOpened() else (False, None)
    if not ok:
        capture.release()
        raise VideoError(f"{path} is not a video this tool can read (tried with OpenCV's FFmpeg): use an MP4, "
                         f"AVI, MOV, MKV or WebM file ({', '.join(VIDEO_EXTENSIONS)}), H.264 or MJPEG inside")
    if first.shape[0] * first.shape[1] > MAX_VIDEO_PIXELS:
        capture.release()
        raise VideoError(_too_large(path, first.shape[1], first.shape[0]))
    capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
    return capture


def _too_large(path, width: int, height: int) -> str:
    return (f"{path}: its frames are {width}x{height} pixels, over the {MAX_VIDEO_PIXELS:,}-pixel limit "
            f"(4096x2304); scale the video down first (e.g. to 1920x1080)")


def source_fps(capture: cv2.VideoCapture) -> float:
    """The video's own frame rate (25 where the container does not say, or says nonsense)."""
    rate = capture.get(cv2.CAP_PROP_FPS) or 0.0
    return rate if 0 < rate < 1000 else 25.0


def sample_step(capture: cv2.VideoCapture, fps: float) -> int:
    """Every how many source frames one is analysed to sample `fps` frames per second of video."""
    return max(1, round(source_fps(capture) / fps))


def sampled_frames(capture: cv2.VideoCapture, fps: float) -> Iterator[VideoFrame]:
    """Every k-th frame (k = sample_step), read one at a time."""
    rate, step = source_fps(capture), sample_step(capture, fps)
    index = 0
    while True:
        ok = capture.grab()
        if not ok:
            return
        if index % step == 0:
            ok, frame = capture.retrieve()
            if not ok:
                return
            if frame.shape[0] * frame.shape[1] > MAX_VIDEO_PIXELS:  # a stream whose size changes mid-way
                raise VideoError(f"frame {index} is {frame.shape[1]}x{frame.shape[0]} pixels, over the "
                                 f"{MAX_VIDEO_PIXELS:,}-pixel limit; scale the video down first")
            yield VideoFrame(index, index / rate, frame)
        index += 1


def analyse_video(predictor, path: str | os.PathLike, fps: float = DEFAULT_FPS, out_dir: str | os.PathLike | None = None,
                  progress: ProgressFn | None = None, should_stop: Callable[[], bool] | None = None,
                  detector: str | None = None) -> VideoAnalysis:
    """Emotions per face per sampled frame of a video file; see the module docstring. `should_stop`,
    polled every frame, ends the analysis early (what was read so far is kept and written). detector:
    a face detector's name (None: the default)."""
    import time

    if not 0 < fps <= 60:
        raise VideoError(f"--fps must be between 0 and 60 frames per second, got {fps:g}")
    capture = open_video(path)
    started = time.perf_counter()
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    expected = -(-total // sample_step(capture, fps)) if total > 0 else 0  # ceil: frames 0, k, 2k, ...
    classes = list(predictor.classes)
    tracker, rows, writer, done, last_time, previous = IouTracker(), [], None, 0, 0.0, None
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        csv_file = (out / "emotions.csv").open("w", newline="")
        table = csv.writer(csv_file)
        table.writerow(["frame", "time_s", "track", "x", "y", "w", "h", "label", "confidence", *classes])
    try:
        for frame in sampled_frames(capture, fps):
            if should_stop is not None and should_stop():
                break
            gray = cv2.cvtColor(frame.bgr, cv2.COLOR_BGR2GRAY)
            current = thumbnail(gray)
            if is_cut(previous, current):
                tracker.cut()
            previous = current
            boxes = detect_faces(gray, detector or DEFAULT_DETECTOR)
            probabilities = predictor.predict_faces(np.stack([crop_face(gray, b) for b in boxes])) if boxes else []
            tracks = tracker.assign(boxes, frame.time_s)
            labels = []
            for box, track, probs in zip(boxes, tracks, probabilities):
                label = classes[int(np.argmax(probs))]
                track.add(box, frame.time_s, label, probs, 1.0 / fps)
                row = {"frame": frame.index, "time_s": round(frame.time_s, 3), "track": track.track_id,
                       **box.to_dict(), "label": label, "confidence": round(float(np.max(probs)), 5),
                       **{c: round(float(p), 5) for c, p in zip(classes, probs)}}
                rows.append(row)
                labels.append(f"{track.track_id}: {label}")
                if out is not None:
                    table.writerow(list(row.values()))
            if out is not None:
                annotated = cv2.cvtColor(draw_boxes(frame.bgr[:, :, ::-1].copy(), boxes, labels), cv2.COLOR_RGB2BGR)
                writer = writer or _Mp4Writer(out / "annotated.mp4", fps, annotated.shape[1], annotated.shape[0])
                writer.write(annotated)
            done, last_time = done + 1, frame.time_s
            if progress is not None:
                progress(done, expected)
    finally:
        capture.release()
        if writer is not None:
            writer.release()
        if out is not None:
            csv_file.close()
    if done == 0:
        raise VideoError(f"{path}: no frame could be read")
    summaries = sorted((t.summary(classes) for t in tracker.tracks), key=lambda s: -s["frames"])
    analysis = VideoAnalysis(str(path), fps, last_time + 1.0 / fps, done, time.perf_counter() - started, classes,
                             summaries, rows)
    if out is not None:
        analysis.outputs = {"csv": str(out / "emotions.csv"), "summary": str(out / "summary.json")}
        if writer is not None:
            analysis.outputs["video"] = str(out / "annotated.mp4")
        (out / "summary.json").write_text(json.dumps({**analysis.to_dict(), "model": predictor.provenance}, indent=2))
    return analysis


class _Mp4Writer:
    """Frames (BGR uint8) -> an H.264 MP4 that browsers play, through PyAV's FFmpeg (libx264); where PyAV
    is missing, OpenCV's MPEG-4 Part 2 writer (players open it, browsers often do not)."""

    def __init__(self, path: Path, fps: float, width: int, height: int):
        self.path, self.container, self.stream, self.cv_writer = path, None, None, None
        try:
            import av
            from fractions import Fraction
            self.container = av.open(str(path), mode="w")
            self.stream = self.container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
            self.stream.width, self.stream.height = width - width % 2, height - height % 2  # yuv420p: even sides
            self.stream.pix_fmt = "yuv420p"
        except ImportError:
            self.cv_writer = None
        except (av.error.FFmpegError, ValueError) as exc:  # no libx264 in this FFmpeg, or a size it refuses
            raise VideoError(f"could not start writing {path.name} ({type(exc).__name__}: {str(exc)[:200]})") from None
        if self.container is None:
            self.cv_writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
            if not self.cv_writer.isOpened():
                raise VideoError(f"could not write {path}: this OpenCV build has no MP4 encoder") from None

    def write(self, bgr: np.ndarray) -> None:
        if self.cv_writer is not None:
            self.cv_writer.write(bgr)
            return
        import av
        try:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(bgr[:self.stream.height, :self.stream.width]),
                                               format="bgr24")
            for packet in self.stream.encode(frame):
                self.container.mux(packet)
        except (av.error.FFmpegError, ValueError) as exc:  # the encoder refuses the frame (size, memory)
            self._close_quietly()
            raise VideoError(f"the annotated video could not be written ({type(exc).__name__}: "
                             f"{str(exc)[:200]}); try a smaller video") from None

    def release(self) -> None:
        if self.cv_writer is not None:
            self.cv_writer.release()
            return
        if self.container is None:  # closed after an encoder error
            return
        import av
        try:
            for packet in self.stream.encode():
                self.container.mux(packet)
            self.container.close()
        except (av.error.FFmpegError, ValueError) as exc:
            self._close_quietly()
            raise VideoError(f"the annotated video could not be finished ({type(exc).__name__}: "
                             f"{str(exc)[:200]})") from None

    def _close_quietly(self) -> None:
        try:
            self.container.close()
        except Exception:  # already broken: the error being reported is the encoder's, not this one
            pass
        self.container = None


def track_timeline(rows: list[dict], track: int, classes: list[str]) -> dict[str, list]:
    """One track's probabilities over time: {"time_s": [...], class: [...] for each class}."""
    mine = [r for r in rows if r["track"] == track]
    return {"time_s": [r["time_s"] for r in mine], **{c: [r[c] for r in mine] for c in classes}}


def describe_track(summary: dict) -> str:
    """One line, e.g. 'face 1: mostly 😄 Happy (62% of 8.4 s)'; 'most often' when the commonest emotion
    holds no majority (36% is not "mostly")."""
    share = summary["share_of_time"][summary["dominant"]]
    how = "mostly" if share > 0.5 else "most often"
    return f"face {summary['track']}: {how} {display(summary['dominant'])} ({share:.0%} of {summary['seconds']:.1f} s)"
