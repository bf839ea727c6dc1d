"""Face detection and cropping for photos: any size, colour or gray -> 48x48 FER-style faces.

`find_faces` is the one call most code needs: it decodes a photo (EXIF orientation applied),
detects faces with one of OpenCV's bundled Haar cascades (offline, no downloads), and crops each
face the way the training data is framed, resized to 48x48 grayscale uint8. When nothing is
detected, or the image is itself a face crop (FER2013's 48x48 images are), the whole image is
offered as one face.

Detection runs on a copy downscaled so its longer side is at most DETECT_MAX_SIDE pixels (speed);
boxes are mapped back to the original photo's pixel coordinates. The default detector and crop
margin were chosen by measurement: see benchmarks/bench_face_detection.py.
"""
from __future__ import annotations

import math
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import cv2
import numpy as np

from fer_core.data.decode import decode_gray, decode_rgb, to_gray_48
from fer_core.common.registry import Registry

DETECT_MAX_SIDE = 640  # longer side of the copy faces are detected on
# Extra room around a detected box, per side, as a fraction of the box side. On FER2013 faces pasted
# into scenes, the FER crop is about 1.04x the Haar box (bench_face_detection.py), so a small margin
# reproduces the training framing; larger margins shrink the face inside the 48x48 crop.
DEFAULT_MARGIN = 0.02
# A nearly square image (sides within this ratio) whose largest face box spans at least FACE_FILLS
# of its shorter side is already a face crop (FER2013 images and other datasets' crops): it is used
# whole, as in training, rather than re-cropped. On FER2013's 48x48 test faces the default detector
# finds a face in about half, and 99% of those boxes span >= 0.6 of the image.
FACE_FILLS = 0.6
_SQUARE_ENOUGH = 1.25
_OVERLAP_IOU = 0.3  # detections overlapping a better one this much are the same face
_INSIDE = 0.6  # ... as are those lying mostly (this share of their area) inside a better one


class DetectorUnavailableError(RuntimeError):
    """A detector cannot run in this installation (e.g. its cascade file is missing)."""


@dataclass(frozen=True)
class FaceBox:
    """A face's box in the original photo's pixel coordinates: top-left (x, y), width, height."""

    x: int
    y: int
    w: int
    h: int

    def __post_init__(self) -> None:
        if self.w <= 0 or self.h <= 0:
            raise ValueError(f"a face box needs a positive width and height, got w={self.w} h={self.h}")

    @property
    def area(self) -> int:
        return self.w * self.h

    def intersection(self, other: "FaceBox") -> int:
        iw = min(self.x + self.w, other.x + other.w) - max(self.x, other.x)
        ih = min(self.y + self.h, other.y + other.h) - max(self.y, other.y)
        return max(0, iw) * max(0, ih)

    def iou(self, other: "FaceBox") -> float:
        """Intersection over union with another box (0 = disjoint, 1 = identical)."""
        inter = self.intersection(other)
        return inter / (self.area + other.area - inter)

    def to_dict(self) -> dict[str, int]:
        return {"x": self.x, "y": self.y, "w": self.w, "h": self.h}


@dataclass(frozen=True)
class HaarDetector:
    """One Haar-cascade setting: a cascade file bundled with OpenCV and detectMultiScale options."""

    cascade: str  # file name in cv2.data.haarcascades
    scale_factor: float = 1.1
    min_neighbors: int = 4

    def window(self) -> int:
        """The smallest face side (pixels, at detection scale) the cascade can find."""
        with _borrow(self.cascade) as classifier:
            return max(classifier.getOriginalWindowSize())

    def detect(self, gray: np.ndarray, min_size: int) -> list[tuple[FaceBox, int]]:
        """(box, number of merged raw detections) for each face in `gray`, at its own scale."""
        with _borrow(self.cascade) as classifier:
            rects, neighbours = classifier.detectMultiScale2(
                gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=(min_size, min_size))
        return [(FaceBox(*map(int, r)), int(n)) for r, n in zip(rects, neighbours)]


DETECTORS: Registry[HaarDetector] = Registry("face detector")
DETECTORS.register("haar_default", HaarDetector("haarcascade_frontalface_default.xml", 1.1, 4))
DETECTORS.register("haar_alt", HaarDetector("haarcascade_frontalface_alt.xml", 1.1, 3))
DETECTORS.register("haar_alt2", HaarDetector("haarcascade_frontalface_alt2.xml", 1.1, 3))
# Chosen on FER2013 test faces pasted into cluttered scenes (bench_face_detection.py, 261 faces):
# alt2 (sf 1.1, mn 3) found 76% at 95% precision; alt found 71% (97%), default 64% (88%).
DEFAULT_DETECTOR = "haar_alt2"

# cv2.CascadeClassifier is not safe to share across threads, and the app runs every script run in a
# new thread: loaded classifiers wait in a pool per cascade file, and each call borrows one that no
# other thread is using (loading another only when all are busy), so each is loaded once.
_pool: dict[str, list[cv2.CascadeClassifier]] = {}
_pool_lock = threading.Lock()


@contextmanager
def _borrow(filename: str) -> Iterator[cv2.CascadeClassifier]:
    """A classifier for a bundled cascade file, used by this thread alone until the block ends."""
    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    path = str(Path(folder or "") / filename)
    with _pool_lock:
        free = _pool.setdefault(path, [])
        classifier = free.pop() if free else None
    if classifier is None:
        if folder is None or not Path(path).is_file():
            raise DetectorUnavailableError(
                f"OpenCV {cv2.__version__} has no bundled Haar cascade {filename!r} "
                f"(looked in {folder or 'cv2.data.haarcascades, which this build lacks'}); "
                "face detection needs an OpenCV 4 wheel such as opencv-python-headless<5")
        classifier = cv2.CascadeClassifier(path)
        if classifier.empty():
            raise DetectorUnavailableError(f"OpenCV could not load the Haar cascade {path}")
    try:
        yield classifier
    finally:
        with _pool_lock:
            free.append(classifier)


def detector_names() -> list[str]:
    """The registered detector names, the default first."""
    return [DEFAULT_DETECTOR] + [n for n in DETECTORS.names() if n != DEFAULT_DETECTOR]


def _as_gray(gray: np.ndarray, what: str = "gray") -> np.ndarray:
    if not isinstance(gray, np.ndarray) or gray.dtype != np.uint8 or gray.ndim != 2 or gray.size == 0:
        got = f"{gray.dtype} {gray.shape}" if isinstance(gray, np.ndarray) else type(gray).__name__
        raise ValueError(f"{what} must be a non-empty 2-D uint8 array (H, W), got {got}")
    return gray


def detect_faces(gray: np.ndarray, detector: str | HaarDetector = DEFAULT_DETECTOR, min_face: int | None = None,
                 max_side: int = DETECT_MAX_SIDE) -> list[FaceBox]:
    """Boxes of the faces in a 2-D uint8 grayscale image, largest first, in its pixel coordinates.

    detector: a name from `detector_names()` or a HaarDetector. min_face: smallest face side to
    report, in the image's pixels (None: as small as the cascade can see on the detection copy,
    e.g. 48 px in a 1280 px photo). max_side: the detection copy's longer side; larger finds
    smaller faces, slower.
    """
    gray = _as_gray(gray)
    haar = DETECTORS.get(detector) if isinstance(detector, str) else detector
    if not isinstance(haar, HaarDetector):
        raise ValueError(f"detector must be a name ({', '.join(detector_names())}) or a HaarDetector, "
                         f"got {type(detector).__name__}")
    if min_face is not None and (not isinstance(min_face, (int, np.integer)) or min_face < 1):
        raise ValueError(f"min_face must be a positive number of pixels or None, got {min_face!r}")
    if not isinstance(max_side, (int, np.integer)) or max_side < 32:
        raise ValueError(f"max_side must be an integer of at least 32 pixels, got {max_side!r}")
    h, w = gray.shape
    scale = min(1.0, max_side / max(h, w))
    small = gray if scale == 1.0 else cv2.resize(
        gray, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    min_size = haar.window()
    if min_face is not None:
        min_size = max(min_size, math.ceil(min_face * scale))
    if min(small.shape) < min_size:
        return []
    found = [(_to_original(box, scale, w, h), n) for box, n in haar.detect(small, min_size)]
    return _suppress_overlaps(found)


def _to_original(box: FaceBox, scale: float, width: int, height: int) -> FaceBox:
    x0, y0 = max(0, round(box.x / scale)), max(0, round(box.y / scale))
    x1, y1 = min(width, round((box.x + box.w) / scale)), min(height, round((box.y + box.h) / scale))
    return FaceBox(x0, y0, max(1, x1 - x0), max(1, y1 - y0))


def _suppress_overlaps(found: list[tuple[FaceBox, int]]) -> list[FaceBox]:
    """One box per face: the best supported (most merged raw detections) wins; largest first."""
    kept: list[FaceBox] = []
    for box, _ in sorted(found, key=lambda bn: (-bn[1], -bn[0].area)):
        if all(box.iou(k) <= _OVERLAP_IOU and box.intersection(k) < _INSIDE * min(box.area, k.area) for k in kept):
            kept.append(box)
    return sorted(kept, key=lambda b: (-b.area, b.y, b.x))


def crop_square(box: FaceBox, margin: float = DEFAULT_MARGIN) -> tuple[int, int, int]:
    """(x, y, side) of the square `crop_face` cuts for `box`, in the photo's pixels (it may leave the
    photo): what a face-coordinate map, such as a saliency map, covers in the photo."""
    side = max(1, round(max(box.w, box.h) * (1 + 2 * margin)))
    return round(box.x + box.w / 2 - side / 2), round(box.y + box.h / 2 - side / 2), side


def crop_face(gray: np.ndarray, box: FaceBox, margin: float = DEFAULT_MARGIN) -> np.ndarray:
    """The (48, 48) uint8 face for `box`: a square around the box's centre, of side
    max(w, h) * (1 + 2 * margin), edge pixels repeated where it leaves the image, resized the way
    the training images are (fer_core.data.decode.to_gray_48)."""
    gray = _as_gray(gray)
    if not isinstance(box, FaceBox):
        raise ValueError(f"box must be a FaceBox, got {type(box).__name__}")
    if not 0 <= margin <= 2:
        raise ValueError(f"margin must be between 0 and 2 (a fraction of the box side per side), got {margin!r}")
    h, w = gray.shape
    if box.intersection(FaceBox(0, 0, w, h)) == 0:
        raise ValueError(f"box {box.to_dict()} lies outside the {w}x{h} image")
    x0, y0, side = crop_square(box, margin)
    x1, y1 = x0 + side, y0 + side
    region = gray[max(0, y0):min(h, y1), max(0, x0):min(w, x1)]
    pads = (max(0, -y0), max(0, y1 - h), max(0, -x0), max(0, x1 - w))
    if any(pads):
        region = cv2.copyMakeBorder(region, *pads, cv2.BORDER_REPLICATE)
    return to_gray_48(np.ascontiguousarray(region))


@dataclass(frozen=True, eq=False)
class DetectedFace:
    """One face: its box in the photo (None when the whole image is the face) and the 48x48 crop."""

    box: FaceBox | None
    face: np.ndarray  # (48, 48) uint8


@dataclass(frozen=True, eq=False)
class FaceSearch:
    """Every face in one photo. `whole_image`: the whole image is offered as the one face (nothing
    was detected, detection was off, or the image is already a face crop; `message` says which).
    `image_size` is (width, height) of the upright photo."""

    faces: list[DetectedFace]
    whole_image: bool
    image_size: tuple[int, int]
    detector: str | None  # the detector's name, None when detection was off
    message: str  # one line for people: what was found
    no_face_found: bool = False  # detection ran and found nothing: the whole image is a guess, not a face


def to_gray(image: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    """A photo as 2-D uint8 grayscale: encoded bytes are decoded (EXIF applied, see decode_gray);
    arrays may be (H, W) gray or (H, W, 1|3|4) RGB/RGBA uint8."""
    if isinstance(image, (bytes, bytearray, memoryview)):
        return decode_gray(image)
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be encoded image bytes or a uint8 array, got {type(image).__name__}")
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or image.size == 0 \
            or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise ValueError(f"an image array must be uint8 (H, W) gray or (H, W, 3) RGB or (H, W, 4) RGBA, "
                         f"got {image.dtype} {image.shape}; pass a file's bytes to have it decoded")
    if image.ndim == 2:
        return image
    if image.shape[2] == 1:
        return np.ascontiguousarray(image[:, :, 0])
    code = cv2.COLOR_RGB2GRAY if image.shape[2] == 3 else cv2.COLOR_RGBA2GRAY
    return cv2.cvtColor(np.ascontiguousarray(image), code)


def find_faces(image: bytes | bytearray | memoryview | np.ndarray, detect: bool = True,
               detector: str | HaarDetector = DEFAULT_DETECTOR, min_face: int | None = None,
               margin: float = DEFAULT_MARGIN, max_faces: int | None = None) -> FaceSearch:
    """Find the faces in a photo and crop each to 48x48 grayscale uint8, largest first.

    image: encoded bytes (any format decode_gray reads) or a uint8 array, gray or RGB(A). With
    detect=False, when no face is found, or when the image is already a face crop (see
    is_face_crop), the whole image is the one face (box None), resized like the training images.
    Raises ImageDecodeError for unreadable bytes and ValueError for bad arguments.
    """
    if max_faces is not None and (not isinstance(max_faces, (int, np.integer)) or max_faces < 1):
        raise ValueError(f"max_faces must be a positive integer or None, got {max_faces!r}")
    gray = to_gray(image)
    size = (gray.shape[1], gray.shape[0])
    if not detect:
        return _whole(gray, None, "face detection off: the whole image is used as one face")
    name = detector if isinstance(detector, str) else repr(detector)
    boxes = detect_faces(gray, detector, min_face=min_face)
    if not boxes:
        return _whole(gray, name, "no face detected: the whole image is used as one face", no_face_found=True)
    if is_face_crop(size, boxes[0]):
        return _whole(gray, name, "the face fills the image: it is used whole, as a face crop")
    faces = [DetectedFace(b, crop_face(gray, b, margin)) for b in boxes[:max_faces]]
    return FaceSearch(faces, False, size, name, f"{len(faces)} face{'s' if len(faces) > 1 else ''} found")


def is_face_crop(image_size: tuple[int, int], largest: FaceBox) -> bool:
    """Whether an image (width, height) whose largest detected face is `largest` is already a face
    crop: nearly square, the face spanning at least FACE_FILLS of its shorter side."""
    short, long = sorted(image_size)
    return long <= _SQUARE_ENOUGH * short and max(largest.w, largest.h) >= FACE_FILLS * short


def _whole(gray: np.ndarray, detector: str | None, message: str, no_face_found: bool = False) -> FaceSearch:
    return FaceSearch([DetectedFace(None, to_gray_48(gray))], True, (gray.shape[1], gray.shape[0]), detector, message,
                      no_face_found)


_PALETTE = ((0, 200, 83), (41, 121, 255), (255, 145, 0), (213, 0, 249), (0, 184, 212), (255, 23, 68))


def _rgb(colour: str | Sequence[int]) -> tuple[int, int, int]:
    if isinstance(colour, str):
        text = colour.lstrip("#")
        if len(text) != 6 or any(c not in "0123456789abcdefABCDEF" for c in text):
            raise ValueError(f"a colour must be '#rrggbb' or an (r, g, b) tuple, got {colour!r}")
        return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)
    if len(colour) != 3 or not all(0 <= int(v) <= 255 for v in colour):
        raise ValueError(f"a colour must be '#rrggbb' or an (r, g, b) tuple of 0-255, got {colour!r}")
    return tuple(int(v) for v in colour)


def draw_boxes(image: bytes | np.ndarray, boxes: Iterable[FaceBox | tuple[int, int, int, int] | None],
               labels: Sequence[str] | None = None,
               colours: Sequence[str | Sequence[int]] | None = None) -> np.ndarray:
    """A copy of the photo as (H, W, 3) RGB uint8 with each box drawn, optionally labelled.

    image: encoded bytes (decoded upright, in colour), a gray (H, W) or RGB(A) uint8 array. boxes:
    FaceBoxes or (x, y, w, h) in the photo's pixels; None entries (whole-image faces) are skipped.
    labels: one short text per box (OpenCV's font draws ASCII only: other characters become '?').
    colours: one per box, '#rrggbb' or (r, g, b); default a fixed palette.
    """
    if isinstance(image, (bytes, bytearray, memoryview)):
        rgb = decode_rgb(image)
    else:
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim not in (2, 3) \
                or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
            got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
            raise ValueError(f"image must be encoded bytes or a uint8 (H, W), (H, W, 3) or (H, W, 4) array, got {got}")
        if image.ndim == 2 or image.shape[2] == 1:
            rgb = cv2.cvtColor(np.ascontiguousarray(image.reshape(image.shape[:2])), cv2.COLOR_GRAY2RGB)
        else:
            rgb = np.array(image[:, :, :3], copy=True, order="C")
    boxes = [None if b is None else b if isinstance(b, FaceBox) else FaceBox(*map(int, b)) for b in boxes]
    if labels is not None and len(labels) != len(boxes):
        raise ValueError(f"got {len(labels)} labels for {len(boxes)} boxes; give one label per box or none")
    if colours is not None and len(colours) != len(boxes):
        raise ValueError(f"got {len(colours)} colours for {len(boxes)} boxes; give one colour per box or none")
    h, w = rgb.shape[:2]
    thickness = max(2, round(max(h, w) / 320))
    font_scale = max(0.5, max(h, w) / 1000)
    for i, box in enumerate(boxes):
        if box is None:
            continue
        colour = _rgb(colours[i]) if colours is not None else _PALETTE[i % len(_PALETTE)]
        cv2.rectangle(rgb, (box.x, box.y), (box.x + box.w - 1, box.y + box.h - 1), colour, thickness)
        if labels is not None and labels[i]:
            text = "".join(c if 32 <= ord(c) < 127 else "?" for c in str(labels[i]))
            (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
            top = box.y - th - base - thickness if box.y - th - base - thickness >= 0 else box.y + box.h
            cv2.rectangle(rgb, (box.x, top), (box.x + tw + 2 * thickness, top + th + base + thickness), colour, -1)
            ink = (0, 0, 0) if sum(colour) > 382 else (255, 255, 255)
            cv2.putText(rgb, text, (box.x + thickness, top + th + thickness // 2), cv2.FONT_HERSHEY_SIMPLEX,
                        font_scale, ink, max(1, thickness // 2), cv2.LINE_AA)
    return rgb
