"""Face detection and cropping for photos: any size, colour or gray -> 48x48 FER-style faces.

`find_faces` is the one call most code needs: it decodes a photo (EXIF orientation applied),
detects faces with YuNet (a small CNN face detector bundled under fer_core/assets/yunet/, run by
OpenCV's cv2.FaceDetectorYN; offline, no downloads), turns each face upright (its eye line level,
from YuNet's five landmarks) and crops it the way the training data is framed, resized to 48x48
grayscale uint8. OpenCV's Haar cascades remain as alternative detectors where the installed
OpenCV has them (OpenCV 5 does not). When nothing is detected, or the image is itself a face crop
(FER2013's 48x48 images are), the whole image is offered as one face.

Detection runs on a copy downscaled so its longer side is at most DETECT_MAX_SIDE pixels (speed);
boxes are mapped back to the original photo's pixel coordinates. The default detector and crop
margin were chosen by measurement: see benchmarks/bench_face_detection.py.
"""
from __future__ import annotations

import math
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import cv2
import numpy as np

from fer_core.common.paths import YUNET_MODEL
from fer_core.common.registry import Registry
from fer_core.data.decode import decode_gray, decode_rgb, to_gray_48

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
# YuNet faces: the crop's centre lies ALIGN_CENTRE of the way from the eyes' midpoint to the mouth's,
# and its side is ALIGN_SIDE times that distance: medians over FER2013 *train* faces pasted into scenes,
# then checked on val faces, where a grid of +-0.06 and +-10% around them did not agree more often
# with the model's answer on the raw faces (benchmarks/bench_face_detection.py --fit).
ALIGN_CENTRE = 0.327
ALIGN_SIDE = 2.646
ALIGN_WORK_SIDE = 192  # the upright face is cut at most this large, then area-resized to 48
_SQUARE_ENOUGH = 1.25
SMALL_CROP_SIDE = 96  # a nearly square image no larger than this is a face crop (FER2013's are 48x48)
_OVERLAP_IOU = 0.3  # detections overlapping a better one this much are the same face
_INSIDE = 0.6  # ... as are those lying mostly (this share of their area) inside a better one


class DetectorUnavailableError(ValueError):
    """A detector cannot run in this installation (e.g. its cascade file is missing). A ValueError so
    that every caller that shows bad input as one clear line shows this too."""


Point = tuple[float, float]


@dataclass(frozen=True)
class FaceBox:
    """A face's box in the original photo's pixel coordinates: top-left (x, y), width, height.

    Detectors with landmarks (YuNet) add five points, in the photo's pixels: the eye on the image's
    left, the eye on its right, the nose tip, the mouth corner on the left, the one on the right;
    crops of such boxes are turned upright and framed from them. `score` is the detector's confidence."""

    x: int
    y: int
    w: int
    h: int
    landmarks: tuple[Point, ...] | None = field(default=None, compare=False)
    score: float | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.w <= 0 or self.h <= 0:
            raise ValueError(f"a face box needs a positive width and height, got w={self.w} h={self.h}")
        if self.landmarks is not None and len(self.landmarks) != 5:
            raise ValueError(f"a face box's landmarks are 5 (x, y) points, got {len(self.landmarks)}")

    def scaled(self, factor: float) -> "FaceBox":
        """The same face in an image `factor` times as large (landmarks included)."""
        if factor == 1.0:
            return self
        points = None if self.landmarks is None else tuple((x * factor, y * factor) for x, y in self.landmarks)
        return FaceBox(round(self.x * factor), round(self.y * factor), max(1, round(self.w * factor)),
                       max(1, round(self.h * factor)), points, self.score)

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
    source: str = "OpenCV's bundled Haar cascades (BSD licence; not in OpenCV 5)"

    def window(self) -> int:
        """The smallest face side (pixels, at detection scale) the cascade can find."""
        with _borrow(self._path(), self._load) as classifier:
            return max(classifier.getOriginalWindowSize())

    def detect(self, gray: np.ndarray, min_size: int) -> list[tuple[FaceBox, float]]:
        """(box, support: the number of merged raw detections) for each face in `gray`, at its own scale."""
        with _borrow(self._path(), self._load) as classifier:
            rects, neighbours = classifier.detectMultiScale2(
                gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=(min_size, min_size))
        return [(FaceBox(*map(int, r)), float(n)) for r, n in zip(rects, neighbours)]

    def _path(self) -> str:
        folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
        return str(Path(folder or "") / self.cascade)

    def _load(self) -> cv2.CascadeClassifier:
        folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
        path = self._path()
        if folder is None or not Path(path).is_file() or not hasattr(cv2, "CascadeClassifier"):
            raise DetectorUnavailableError(
                f"OpenCV {cv2.__version__} has no bundled Haar cascade {self.cascade!r} "
                f"(looked in {folder or 'cv2.data.haarcascades, which this build lacks'}; OpenCV 5 removed them); "
                "use the default detector, yunet, or an OpenCV 4 wheel such as opencv-python-headless<5")
        classifier = cv2.CascadeClassifier(path)
        if classifier.empty():
            raise DetectorUnavailableError(f"OpenCV could not load the Haar cascade {path}")
        return classifier


@dataclass(frozen=True)
class YuNetDetector:
    """YuNet (ONNX, run by cv2.FaceDetectorYN): boxes, five landmarks and a confidence per face."""

    model: str = str(YUNET_MODEL)
    score_threshold: float = 0.4
    nms_threshold: float = 0.3
    smallest_face: int = 10  # pixels at detection scale: YuNet's smallest anchors
    source: str = ("YuNet-s (ShiqiYu/libfacedetection.train, also OpenCV Zoo's face_detection_yunet_2023mar.onnx), "
                   "Apache-2.0, bundled in fer_core/assets/yunet/ with its LICENSE")

    def window(self) -> int:
        return self.smallest_face

    def detect(self, gray: np.ndarray, min_size: int) -> list[tuple[FaceBox, float]]:
        """(box with landmarks, confidence) for each face in `gray`, at its own scale."""
        h, w = gray.shape
        with _borrow(self.model, self._load) as detector:
            detector.setInputSize((w, h))
            detector.setScoreThreshold(self.score_threshold)
            detector.setNMSThreshold(self.nms_threshold)
            _, rows = detector.detect(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR))
        found = []
        for row in [] if rows is None else rows:
            x0, y0 = max(0.0, float(row[0])), max(0.0, float(row[1]))
            x1, y1 = min(float(w), float(row[0] + row[2])), min(float(h), float(row[1] + row[3]))
            if min(x1 - x0, y1 - y0) < 1 or max(row[2], row[3]) < min_size:
                continue
            points = tuple((float(row[4 + 2 * i]), float(row[5 + 2 * i])) for i in range(5))
            box = FaceBox(round(x0), round(y0), max(1, round(x1 - x0)), max(1, round(y1 - y0)), points, float(row[14]))
            found.append((box, float(row[14])))
        return found

    def _load(self):
        if not hasattr(cv2, "FaceDetectorYN"):
            raise DetectorUnavailableError(f"OpenCV {cv2.__version__} has no cv2.FaceDetectorYN (YuNet needs OpenCV "
                                           "4.8 or newer); upgrade opencv-python-headless")
        if not Path(self.model).is_file():
            raise DetectorUnavailableError(f"the YuNet model file {self.model} is missing; reinstall the package "
                                           "(it ships in fer_core/assets/yunet/)")
        try:
            return cv2.FaceDetectorYN.create(self.model, "", (320, 320), self.score_threshold, self.nms_threshold, 5000)
        except cv2.error as exc:
            raise DetectorUnavailableError(f"OpenCV could not load the YuNet model {self.model}: {exc}") from None


Detector = HaarDetector | YuNetDetector
DETECTORS: Registry[Detector] = Registry("face detector")
# Score threshold 0.4: the highest recall with precision >= 0.98 on FER2013 *train* faces pasted into 300
# scenes (bench_face_detection.py --fit: recall 0.663, precision 0.982; 0.3 finds 1.4 points more faces
# with twice the false detections, 0.5 two points fewer).
DETECTORS.register("yunet", YuNetDetector())
DETECTORS.register("haar_default", HaarDetector("haarcascade_frontalface_default.xml", 1.1, 4))
DETECTORS.register("haar_alt", HaarDetector("haarcascade_frontalface_alt.xml", 1.1, 3))
DETECTORS.register("haar_alt2", HaarDetector("haarcascade_frontalface_alt2.xml", 1.1, 3))
# YuNet: on FER2013 test faces pasted into scenes (bench_face_detection.py) it finds as many faces as the
# best cascade at higher precision and a fifth of the CPU time, far more tilted ones but fewer tiny ones,
# gives the landmarks that turn faces upright, and runs on OpenCV 5, which has no cascades.
DEFAULT_DETECTOR = "yunet"

# Neither cv2.CascadeClassifier nor cv2.FaceDetectorYN is safe to share across threads, and the app runs
# every script run in a new thread: loaded detectors wait in a pool per model file, and each call
# borrows one that no other thread is using (loading another only when all are busy), so each is
# loaded once.
_pool: dict[str, list] = {}
_pool_lock = threading.Lock()


@contextmanager
def _borrow(path: str, load: Callable[[], object]) -> Iterator:
    """A detector for a model file, used by this thread alone until the block ends."""
    with _pool_lock:
        free = _pool.setdefault(path, [])
        detector = free.pop() if free else None
    if detector is None:
        detector = load()
    try:
        yield detector
    finally:
        with _pool_lock:
            free.append(detector)


def about_detector(name: str = DEFAULT_DETECTOR) -> str:
    """One line for people: which detector finds the faces and where it comes from."""
    detector = DETECTORS.get(name)
    turned = " and each face is turned upright from its landmarks" if isinstance(detector, YuNetDetector) else ""
    return f"Faces are found by {name}{turned}: {detector.source}."


def detector_names() -> list[str]:
    """The registered detector names, the default first."""
    return [DEFAULT_DETECTOR] + [n for n in DETECTORS.names() if n != DEFAULT_DETECTOR]


def _as_gray(gray: np.ndarray, what: str = "gray") -> np.ndarray:
    if not isinstance(gray, np.ndarray) or gray.dtype != np.uint8 or gray.ndim != 2 or gray.size == 0:
        got = f"{gray.dtype} {gray.shape}" if isinstance(gray, np.ndarray) else type(gray).__name__
        raise ValueError(f"{what} must be a non-empty 2-D uint8 array (H, W), got {got}")
    return gray


def get_detector(detector: str | Detector) -> Detector:
    """A registered detector by name (UnknownNameError listing the names otherwise), or the one given."""
    found = DETECTORS.get(detector) if isinstance(detector, str) else detector
    if not isinstance(found, (HaarDetector, YuNetDetector)):
        raise ValueError(f"detector must be a name ({', '.join(detector_names())}) or a HaarDetector or "
                         f"YuNetDetector, got {type(detector).__name__}")
    return found


def detect_faces(gray: np.ndarray, detector: str | Detector = DEFAULT_DETECTOR, min_face: int | None = None,
                 max_side: int = DETECT_MAX_SIDE) -> list[FaceBox]:
    """Boxes of the faces in a 2-D uint8 grayscale image, largest first, in its pixel coordinates
    (with landmarks when the detector gives them).

    detector: a name from `detector_names()` or a detector object. min_face: smallest face side to
    report, in the image's pixels (None: as small as the detector can see on the detection copy).
    max_side: the detection copy's longer side; larger finds smaller faces, slower.
    """
    gray = _as_gray(gray)
    chosen = get_detector(detector)
    if min_face is not None and (not isinstance(min_face, (int, np.integer)) or min_face < 1):
        raise ValueError(f"min_face must be a positive number of pixels or None, got {min_face!r}")
    if not isinstance(max_side, (int, np.integer)) or max_side < 32:
        raise ValueError(f"max_side must be an integer of at least 32 pixels, got {max_side!r}")
    h, w = gray.shape
    scale = min(1.0, max_side / max(h, w))
    small = gray if scale == 1.0 else cv2.resize(
        gray, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    min_size = chosen.window()
    if min_face is not None:
        min_size = max(min_size, math.ceil(min_face * scale))
    if min(small.shape) < min_size:
        return []
    found = [(_to_original(box, scale, w, h), support) for box, support in chosen.detect(small, min_size)]
    return _suppress_overlaps(found)


def _to_original(box: FaceBox, scale: float, width: int, height: int) -> FaceBox:
    x0, y0 = max(0, round(box.x / scale)), max(0, round(box.y / scale))
    x1, y1 = min(width, round((box.x + box.w) / scale)), min(height, round((box.y + box.h) / scale))
    points = None if box.landmarks is None else tuple((x / scale, y / scale) for x, y in box.landmarks)
    return FaceBox(x0, y0, max(1, x1 - x0), max(1, y1 - y0), points, box.score)


def _suppress_overlaps(found: list[tuple[FaceBox, float]]) -> list[FaceBox]:
    """One box per face: the best supported (merged raw detections, or confidence) wins; largest first."""
    kept: list[FaceBox] = []
    for box, _ in sorted(found, key=lambda bn: (-bn[1], -bn[0].area)):
        if all(box.iou(k) <= _OVERLAP_IOU and box.intersection(k) < _INSIDE * min(box.area, k.area) for k in kept):
            kept.append(box)
    return sorted(kept, key=lambda b: (-b.area, b.y, b.x))


@dataclass(frozen=True)
class FaceRegion:
    """The square a face is cut from, in the photo's pixels: its centre, side and the angle (degrees,
    counter-clockwise as OpenCV counts) the photo is turned by so that the face is upright."""

    cx: float
    cy: float
    side: float
    angle: float

    def photo_to_face(self, size: int) -> np.ndarray:
        """The 2x3 affine matrix from photo pixels to a (size x size) upright face."""
        matrix = cv2.getRotationMatrix2D((self.cx, self.cy), self.angle, size / self.side)
        matrix[:, 2] += (size / 2 - self.cx, size / 2 - self.cy)
        return matrix

    def face_to_photo(self, size: int) -> np.ndarray:
        """The inverse: from a (size x size) face, such as a saliency map, to photo pixels."""
        return cv2.invertAffineTransform(self.photo_to_face(size))

    def square(self) -> FaceBox:
        """The region as an axis-aligned box of its side at its centre (its turn left out)."""
        side = max(1, round(self.side))
        return FaceBox(round(self.cx - side / 2), round(self.cy - side / 2), side, side)


def face_region(box: FaceBox, margin: float | None = None, align: bool = True) -> FaceRegion:
    """Where `crop_face` cuts the face of `box`. With landmarks (YuNet): turned so the eye line is
    level, centred at ALIGN_CENTRE of the way from the eyes' midpoint to the mouth's, of side
    ALIGN_SIDE x that distance; without (Haar): the square around the box's centre of side
    max(w, h). The side grows by 2 x margin (None: DEFAULT_MARGIN for Haar boxes, none for landmarks,
    whose framing constants already match the training faces'). align=False keeps the photo's own
    orientation (measurement only: turning upright is what matches the training faces)."""
    if margin is not None and not 0 <= margin <= 2:
        raise ValueError(f"margin must be between 0 and 2 (a fraction of the box side per side), got {margin!r}")
    if box.landmarks is None:
        side = max(1, round(max(box.w, box.h) * (1 + 2 * (DEFAULT_MARGIN if margin is None else margin))))
        return FaceRegion(box.x + box.w / 2, box.y + box.h / 2, side, 0.0)
    (lx, ly), (rx, ry), _, (mlx, mly), (mrx, mry) = box.landmarks
    eyes = np.array([(lx + rx) / 2, (ly + ry) / 2])
    mouth = np.array([(mlx + mrx) / 2, (mly + mry) / 2])
    span = float(np.hypot(*(mouth - eyes)))
    if span < 1:  # degenerate landmarks: fall back to the box's own square
        return face_region(FaceBox(box.x, box.y, box.w, box.h), margin)
    centre = eyes + ALIGN_CENTRE * (mouth - eyes)
    angle = math.degrees(math.atan2(ry - ly, rx - lx)) if align else 0.0
    side = ALIGN_SIDE * span * (1 + 2 * (margin or 0.0))
    return FaceRegion(float(centre[0]), float(centre[1]), side, angle)


def crop_face(gray: np.ndarray, box: FaceBox, margin: float | None = None, align: bool = True) -> np.ndarray:
    """The (48, 48) uint8 face for `box`, cut from `face_region(box, margin)` (upright when the box
    has landmarks), edge pixels repeated where it leaves the image, resized the way the training
    images are (fer_core.data.decode.to_gray_48)."""
    gray = _as_gray(gray)
    if not isinstance(box, FaceBox):
        raise ValueError(f"box must be a FaceBox, got {type(box).__name__}")
    h, w = gray.shape
    if box.intersection(FaceBox(0, 0, w, h)) == 0:
        raise ValueError(f"box {box.to_dict()} lies outside the {w}x{h} image")
    region = face_region(box, margin, align)
    if box.landmarks is None:  # an upright square of whole pixels: cut straight from the photo
        square = region.square()
        x0, y0, x1, y1 = square.x, square.y, square.x + square.w, square.y + square.h
        cut = gray[max(0, y0):min(h, y1), max(0, x0):min(w, x1)]
        pads = (max(0, -y0), max(0, y1 - h), max(0, -x0), max(0, x1 - w))
        if any(pads):
            cut = cv2.copyMakeBorder(cut, *pads, cv2.BORDER_REPLICATE)
        return to_gray_48(np.ascontiguousarray(cut))
    # turned upright at the photo's own resolution (capped: area resizing to 48 does the rest)
    size = max(48, min(round(region.side), ALIGN_WORK_SIDE))
    upright = cv2.warpAffine(gray, region.photo_to_face(size), (size, size), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REPLICATE)
    return to_gray_48(upright)


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
    no_face: bool = False  # detection ran and found no face: the whole image stands in for one


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
               detector: str | Detector = DEFAULT_DETECTOR, min_face: int | None = None,
               margin: float | None = None, max_faces: int | None = None, align: bool = True) -> FaceSearch:
    """Find the faces in a photo and crop each to 48x48 grayscale uint8 (upright when the detector
    gives landmarks), largest first.

    image: encoded bytes (any format decode_gray reads) or a uint8 array, gray or RGB(A). With
    detect=False, when no face is found (`no_face` is then True), or when the image is already a face
    crop (see is_face_crop), the whole image is the one face (box None), resized like the training
    images. Raises ImageDecodeError for unreadable bytes, ValueError for bad arguments and
    DetectorUnavailableError when the detector cannot run in this installation.
    """
    if max_faces is not None and (not isinstance(max_faces, (int, np.integer)) or max_faces < 1):
        raise ValueError(f"max_faces must be a positive integer or None, got {max_faces!r}")
    gray = to_gray(image)
    size = (gray.shape[1], gray.shape[0])
    if not detect:
        return _whole(gray, None, "face detection off: the whole image is used as one face")
    name = detector if isinstance(detector, str) else type(detector).__name__
    if is_small_face_crop(size):
        return _whole(gray, name, "a small square image: used whole, as a face crop")
    boxes = detect_faces(gray, detector, min_face=min_face)
    if not boxes:
        return _whole(gray, name, "no face found: the whole image is used as one face", no_face=True)
    if is_face_crop(size, boxes[0]):
        return _whole(gray, name, "the face fills the image: it is used whole, as a face crop")
    faces = [DetectedFace(b, crop_face(gray, b, margin, align)) for b in boxes[:max_faces]]
    return FaceSearch(faces, False, size, name, f"{len(faces)} face{'s' if len(faces) > 1 else ''} found")


def is_small_face_crop(image_size: tuple[int, int]) -> bool:
    """Whether an image (width, height) is so small and square that it can only be a face crop
    (FER2013's are 48x48): it is used whole, without detection."""
    short, long = sorted(image_size)
    return long <= SMALL_CROP_SIDE and long <= _SQUARE_ENOUGH * short


def is_face_crop(image_size: tuple[int, int], largest: FaceBox) -> bool:
    """Whether an image (width, height) whose largest detected face is `largest` is already a face
    crop: nearly square, the face spanning at least FACE_FILLS of its shorter side."""
    short, long = sorted(image_size)
    return long <= _SQUARE_ENOUGH * short and max(largest.w, largest.h) >= FACE_FILLS * short


def _whole(gray: np.ndarray, detector: str | None, message: str, no_face: bool = False) -> FaceSearch:
    return FaceSearch([DetectedFace(None, to_gray_48(gray))], True, (gray.shape[1], gray.shape[0]), detector, message,
                      no_face)


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
