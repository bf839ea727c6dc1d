"""A built-in synthetic FER dataset: procedurally drawn 48x48 grayscale faces, no download needed.

Each emotion has its own facial geometry (brow height/slant/arch, eye openness and tilt, mouth
curvature/opening/width, plus class marks such as frown lines, nose wrinkles, smile lines or
forehead lines). Identity (face shape, skin tone, hair, feature spacing), pose (rotation, shift,
scale), lighting, noise and occluders vary at random, so the task is learnable but not trivial.

Every face comes with a mask of the pixels its expression features occupy (after the pose
transform, minus any occluded pixels), so explanations such as Grad-CAM can be checked against it.
"""
from __future__ import annotations

import cv2
import numpy as np

from fer_core.data.dataset import SPLITS, FaceDataset, LoadReport
from fer_core.common.faces_array import IMAGE_SIZE
from fer_core.common.emotions import CANONICAL_CLASSES

DEFAULT_SIZE = 4000
# FER2013 training-set class counts, in CANONICAL_CLASSES order.
FER2013_TRAIN_COUNTS = np.array([3995, 436, 4097, 7215, 4965, 4830, 3171])
MIN_PER_CLASS = 3  # one image per class in each of train/val/test

_SHIFT = 4  # cv2 drawing with 4 fractional bits: coordinates are in 1/16 pixel
_ONE = 1 << _SHIFT
_MOUTH_POINTS = 13
_BROW_POINTS = 5

# Per-class ranges (low, high) of the expression parameters; a face draws each uniformly.
# Units are pixels of the 48x48 face before identity scaling, angles in degrees.
#   brow_raise: brow height above the eye centre    brow_slant: inner end lower (+) or higher (-)
#   brow_arch:  middle of the brow raised by        eye_open:   eye half-height
#   eye_tilt:   outer eye corner down (+) / up (-)   mouth_curve: corners raised (+) or dropped (-)
#   mouth_open: opening at the centre               mouth_width: times the face's mouth width
#   mouth_upper: share of the opening above the lip line (0.8 = upper lip raised, a sneer)
#   mouth_round: opening profile, 0.5 = oval ("O"), 1.0 = lens (stretched)
_NEUTRAL = dict(brow_raise=(5.0, 6.2), brow_slant=(-0.4, 0.4), brow_arch=(0.3, 1.0), eye_open=(1.8, 2.3),
                eye_tilt=(-3, 3), mouth_curve=(-0.4, 0.4), mouth_open=(0.0, 0.3), mouth_width=(0.9, 1.05),
                mouth_upper=(0.5, 0.5), mouth_round=(0.8, 0.8), mouth_skew=(0.0, 0.0))
_EXPRESSIONS: dict[str, dict[str, tuple[float, float]]] = {
    "angry": dict(_NEUTRAL, brow_raise=(3.4, 4.4), brow_slant=(1.6, 2.8), brow_arch=(-0.5, 0.2),
                  eye_open=(1.2, 1.6), eye_tilt=(-12, -5), mouth_curve=(-0.8, 0.2), mouth_open=(0.0, 0.5),
                  mouth_width=(0.7, 0.9)),
    "disgust": dict(_NEUTRAL, brow_raise=(3.8, 4.8), brow_slant=(0.4, 1.3), brow_arch=(0.0, 0.5),
                    eye_open=(1.0, 1.5), mouth_curve=(-2.6, -1.2), mouth_open=(1.2, 2.4), mouth_width=(0.85, 1.05),
                    mouth_upper=(0.75, 0.9), mouth_round=(1.2, 1.6), mouth_skew=(1.0, 2.0)),
    "fear": dict(_NEUTRAL, brow_raise=(6.5, 7.8), brow_slant=(-2.2, -1.3), brow_arch=(-0.2, 0.4),
                 eye_open=(2.7, 3.3), mouth_curve=(-1.4, -0.4), mouth_open=(1.6, 3.0), mouth_width=(1.05, 1.25),
                 mouth_round=(1.0, 1.3)),
    "happy": dict(_NEUTRAL, brow_raise=(5.0, 6.2), brow_slant=(-0.3, 0.3), brow_arch=(0.5, 1.2),
                  eye_open=(1.1, 1.6), mouth_curve=(3.0, 4.8), mouth_open=(0.0, 4.5), mouth_width=(1.15, 1.35),
                  mouth_upper=(0.2, 0.35), mouth_round=(0.6, 0.9)),
    "neutral": dict(_NEUTRAL),
    "sad": dict(_NEUTRAL, brow_raise=(5.5, 6.8), brow_slant=(-2.8, -1.8), brow_arch=(-0.3, 0.3),
                eye_open=(1.3, 1.8), eye_tilt=(8, 15), mouth_curve=(-4.0, -2.4), mouth_open=(0.0, 0.4),
                mouth_width=(0.8, 0.95)),
    "surprise": dict(_NEUTRAL, brow_raise=(7.2, 8.6), brow_slant=(-0.4, 0.4), brow_arch=(1.4, 2.2),
                     eye_open=(2.8, 3.4), mouth_curve=(-0.3, 0.4), mouth_open=(5.0, 7.5), mouth_width=(0.45, 0.62),
                     mouth_round=(0.5, 0.55)),
}
# Class-specific marks and how often a face of that class shows them.
_MARKS: dict[str, dict[str, float]] = {
    "angry": {"frown_lines": 0.85},
    "disgust": {"nose_wrinkles": 0.9},
    "fear": {"forehead_short": 0.6},
    "happy": {"smile_lines": 0.8},
    "surprise": {"forehead_long": 0.7},
}
_MARK_NAMES = ("frown_lines", "nose_wrinkles", "forehead_short", "forehead_long", "smile_lines")


def class_counts(n: int) -> np.ndarray:
    """Images per class for `n` images in FER2013's training proportions (largest-remainder
    rounding, so the counts sum to n); every class gets at least 3, taken from the largest."""
    _check_size(n)
    quota = FER2013_TRAIN_COUNTS * n / FER2013_TRAIN_COUNTS.sum()
    counts = np.floor(quota).astype(np.int64)
    remainder_order = np.argsort(-(quota - counts), kind="stable")
    counts[remainder_order[: n - counts.sum()]] += 1
    for c in np.flatnonzero(counts < MIN_PER_CLASS):
        need = MIN_PER_CLASS - counts[c]
        counts[c] += need
        for _ in range(need):
            counts[np.argmax(counts)] -= 1
    return counts


def generate_synthetic(n: int = DEFAULT_SIZE, seed: int = 0, *, test_fraction: float = 0.15,
                       val_fraction: float = 0.1) -> FaceDataset:
    """`n` synthetic faces in FER2013 class proportions, split train/val/test per class.

    Deterministic: the same (n, seed, fractions) gives byte-identical arrays. The dataset's
    `masks` mark the expression-bearing pixels of each face.
    """
    _check_size(n)
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    for name, value in (("test_fraction", test_fraction), ("val_fraction", val_fraction)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    if test_fraction + val_fraction >= 1.0:
        raise ValueError(f"test_fraction + val_fraction must be below 1 to leave training images, "
                         f"got {test_fraction} + {val_fraction}")

    label_rng, draw_rng, split_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))
    labels = np.repeat(np.arange(len(CANONICAL_CLASSES), dtype=np.int64), class_counts(n))
    labels = label_rng.permutation(labels)
    images, masks = draw_faces(labels, draw_rng)
    splits = _stratified_splits(labels, split_rng, test_fraction, val_fraction)
    return FaceDataset(
        images=images, labels=labels, splits=splits,
        ids=np.array([f"synthetic_{i:06d}" for i in range(n)]),
        classes=CANONICAL_CLASSES, source=f"synthetic (n={n}, seed={seed})", kind="synthetic",
        report=LoadReport(n_read=n), masks=masks,
    )


def draw_faces(labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw one face per label (indices into CANONICAL_CLASSES).

    Returns images uint8 (N,48,48) and masks bool (N,48,48), True on the expression features
    (brows, eyes, mouth, class marks) as they land after the pose transform, minus occluded pixels.
    """
    labels = np.asarray(labels)
    if (labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer)
            or (labels.size and (labels.min() < 0 or labels.max() >= len(CANONICAL_CLASSES)))):
        raise ValueError(f"labels must be a 1-D array of class indices 0..{len(CANONICAL_CLASSES) - 1}")
    n = len(labels)
    p = _draw_parameters(labels, rng)
    brows = _brow_points(p)
    mouths = _mouth_points(p)
    images = np.empty((n, IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    masks = np.empty((n, IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    canvas = np.empty((IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    mask_canvas = np.empty((IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    for i in range(n):
        q = {k: v[i] for k, v in p.items()}
        _draw_one(canvas, mask_canvas, q, brows[i], mouths[i])
        warp = cv2.getRotationMatrix2D((float(q["cx"]), float(q["cy"])), float(q["rotation"]), float(q["scale"]))
        warp[:, 2] += (q["shift_x"], q["shift_y"])
        cv2.warpAffine(canvas, warp, (IMAGE_SIZE, IMAGE_SIZE), dst=images[i], flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
        cv2.warpAffine(mask_canvas, warp, (IMAGE_SIZE, IMAGE_SIZE), dst=masks[i], flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        if q["occluder"]:
            _draw_occluder(images[i], masks[i], q)
    return _light_and_noise(images, p, rng), masks >= 128


# --- parameters -------------------------------------------------------------------------------

def _draw_parameters(labels: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Every random choice for the batch, drawn vectorised in a fixed order (so seeds reproduce)."""
    n = len(labels)

    def uniform(lo, hi):
        return rng.uniform(lo, hi, n)

    p: dict[str, np.ndarray] = {}
    # Identity: face shape and placement of features on it.
    p["cx"] = 24 + uniform(-0.5, 0.5)
    p["cy"] = 25 + uniform(-1.0, 1.0)
    p["face_w"] = uniform(15.5, 19.5)
    p["face_h"] = uniform(20.0, 23.5)
    p["feat"] = uniform(0.9, 1.1)  # overall feature scale
    p["eye_dx"] = uniform(7.0, 9.0)
    p["eye_y"] = uniform(-6.5, -4.5)  # relative to cy
    p["nose_y"] = uniform(3.0, 5.0)
    p["mouth_y"] = uniform(10.0, 12.5)
    p["mouth_w"] = uniform(5.5, 7.0)
    p["eye_w"] = uniform(3.2, 4.0)
    p["brow_len"] = uniform(8.0, 10.0)
    p["skin"] = uniform(105, 215)
    # Background kept at least 35 grey levels away from the skin, either side.
    gap = uniform(35, 120)
    darker = rng.random(n) < np.clip((p["skin"] - 45) / 170, 0.1, 0.9)
    p["background"] = np.clip(np.where(darker, p["skin"] - gap, p["skin"] + gap), 5, 250)
    p["hair"] = rng.random(n) < 0.7
    p["hair_tone"] = uniform(15, 90)
    p["brow_tone"] = uniform(0.25, 0.5)  # times skin
    p["iris_tone"] = uniform(20, 70)
    p["flip"] = np.where(rng.random(n) < 0.5, -1.0, 1.0)  # mirror asymmetric details

    # Expression: class ranges, indexed by label.
    names = list(CANONICAL_CLASSES)
    for key in _NEUTRAL:
        lo = np.array([_EXPRESSIONS[c][key][0] for c in names])[labels]
        hi = np.array([_EXPRESSIONS[c][key][1] for c in names])[labels]
        p[key] = lo + (hi - lo) * rng.random(n)
    u = rng.random((len(_MARK_NAMES), n))
    for j, mark in enumerate(_MARK_NAMES):
        prob = np.array([_MARKS.get(c, {}).get(mark, 0.0) for c in names])[labels]
        p[mark] = u[j] < prob
    p["teeth"] = (labels == names.index("happy")) & (p["mouth_open"] > 1.5)

    # Pose, lighting, noise, occlusion.
    p["rotation"] = rng.normal(0, 6, n).clip(-14, 14)
    p["scale"] = uniform(0.9, 1.1)
    p["shift_x"] = uniform(-2.5, 2.5)
    p["shift_y"] = uniform(-2.5, 2.5)
    p["gain"] = uniform(0.75, 1.2)
    p["offset"] = uniform(-20, 20)
    light_angle = uniform(0, 2 * np.pi)
    light_strength = uniform(0.0, 0.35)
    p["light_x"] = light_strength * np.cos(light_angle)
    p["light_y"] = light_strength * np.sin(light_angle)
    p["noise"] = uniform(2.0, 9.0)
    p["occluder"] = rng.random(n) < 0.3
    p["occ_bar"] = rng.random(n) < 0.5
    p["occ_x"] = 24 + uniform(-14, 14)
    p["occ_y"] = 24 + uniform(-16, 16)
    p["occ_size"] = uniform(3.0, 6.0)
    p["occ_angle"] = uniform(0, 180)
    p["occ_tone"] = np.where(rng.random(n) < 0.5, uniform(0, 50), uniform(200, 255))
    return p


def _brow_points(p: dict[str, np.ndarray]) -> np.ndarray:
    """(N, 2 brows, _BROW_POINTS, 2) brow polylines, inner end first, in canvas pixels."""
    s = p["feat"]
    t = np.linspace(0.0, 1.0, _BROW_POINTS)  # 0 inner end, 1 outer end
    inner_x = 1.6 * s + np.maximum(p["eye_dx"] * s - p["eye_w"] * s - 1.0, 1.5)
    length = p["brow_len"] * s
    eye_y = p["cy"] + p["eye_y"] * s
    base_y = eye_y - p["brow_raise"] * s
    # The slant moves the inner end down (angry) or up (sad, fear); the arch lifts the middle.
    y = (base_y[:, None] + p["brow_slant"][:, None] * s[:, None] * (1 - t)
         - p["brow_arch"][:, None] * s[:, None] * 4 * t * (1 - t))
    # Very raised brows on a short face would leave the forehead: push them down onto it.
    top_allowed = p["cy"] - p["face_h"] + 4.0
    y += np.maximum(0.0, top_allowed - y.min(axis=1))[:, None]
    dx = inner_x[:, None] + length[:, None] * t
    out = np.empty((len(s), 2, _BROW_POINTS, 2))
    for side, sign in enumerate((-1.0, 1.0)):
        out[:, side, :, 0] = p["cx"][:, None] + sign * dx
        out[:, side, :, 1] = y
    return out


def _mouth_points(p: dict[str, np.ndarray]) -> np.ndarray:
    """(N, 2*_MOUTH_POINTS, 2) mouth outline: upper lip left to right, then lower lip right to left.
    A closed mouth has both halves on the lip line."""
    s = p["feat"]
    t = np.linspace(-1.0, 1.0, _MOUTH_POINTS)
    half_w = (p["mouth_w"] * p["mouth_width"] * s)[:, None]
    x = p["cx"][:, None] + half_w * t
    line = (p["cy"] + p["mouth_y"] * s)[:, None] - p["mouth_curve"][:, None] * s[:, None] * t ** 2
    line = line - (p["mouth_skew"] * p["flip"])[:, None] * t  # one corner raised (sneer)
    profile = (1 - t ** 2)[None, :] ** p["mouth_round"][:, None]
    opening = (p["mouth_open"] * s)[:, None] * profile
    upper = line - opening * p["mouth_upper"][:, None]
    lower = line + opening * (1 - p["mouth_upper"])[:, None]
    xs = np.concatenate([x, x[:, ::-1]], axis=1)
    ys = np.concatenate([upper, lower[:, ::-1]], axis=1)
    return np.stack([xs, ys], axis=-1)


# --- drawing ----------------------------------------------------------------------------------

def _fixed(points: np.ndarray) -> np.ndarray:
    """Pixel coordinates -> cv2 fixed-point int32 (for drawing calls with shift=_SHIFT)."""
    return np.round(np.asarray(points) * _ONE).astype(np.int32)


def _pt(x: float, y: float) -> tuple[int, int]:
    return int(round(x * _ONE)), int(round(y * _ONE))


def _line(imgs, points, tones, thickness, closed=False):
    pts = [_fixed(points)]
    for img, tone, extra in zip(imgs, tones, (0, 2)):
        cv2.polylines(img, pts, closed, tone, thickness + extra, cv2.LINE_AA, _SHIFT)


def _draw_one(img: np.ndarray, mask: np.ndarray, q: dict, brows: np.ndarray, mouth: np.ndarray) -> None:
    """Draw one face in its upright frame: `img` gets the face, `mask` its expression features.
    Features go on the mask 1 px wider than drawn (a small margin for coarse saliency maps)."""
    skin = float(q["skin"])
    cx, cy, s = float(q["cx"]), float(q["cy"]), float(q["feat"])
    img[:] = int(q["background"])
    mask[:] = 0
    both = (img, mask)
    dark = skin * float(q["brow_tone"])
    crease = skin * 0.72
    face_axes = (int(q["face_w"] * _ONE), int(q["face_h"] * _ONE))
    if q["hair"]:
        cv2.ellipse(img, _pt(cx, cy - 2.5), (face_axes[0] + 2 * _ONE, face_axes[1] + _ONE), 0, 0, 360,
                    int(q["hair_tone"]), -1, cv2.LINE_AA, _SHIFT)
    cv2.ellipse(img, _pt(cx, cy + (1.5 if q["hair"] else 0)), face_axes, 0, 0, 360, int(skin), -1,
                cv2.LINE_AA, _SHIFT)

    # Nose (identity, not an expression feature): bridge shading and nostrils.
    nose_y = cy + q["nose_y"] * s
    cv2.polylines(img, [_fixed([[cx - 1.0, cy - 2.0], [cx - 1.5, nose_y - 1.0]])], False, int(crease), 1,
                  cv2.LINE_AA, _SHIFT)
    for sign in (-1, 1):
        cv2.circle(img, _pt(cx + sign * 1.8 * s, nose_y), int(0.9 * _ONE), int(skin * 0.45), -1,
                   cv2.LINE_AA, _SHIFT)

    # Eyes: white, iris, lid outline; the ellipse tilts so that sad eyes droop and angry ones slant.
    eye_y = cy + q["eye_y"] * s
    eye_w, eye_h = q["eye_w"] * s, max(q["eye_open"] * s, 0.6)
    sclera = int(min(255.0, skin + 45))
    for sign in (-1, 1):
        centre = _pt(cx + sign * q["eye_dx"] * s, eye_y)
        axes = (int(eye_w * _ONE), int(eye_h * _ONE))
        tilt = float(q["eye_tilt"]) * sign
        cv2.ellipse(img, centre, axes, tilt, 0, 360, sclera, -1, cv2.LINE_AA, _SHIFT)
        iris = (int(min(1.7, eye_w) * _ONE), int(min(1.7, eye_h) * _ONE))
        cv2.ellipse(img, centre, iris, 0, 0, 360, int(q["iris_tone"]), -1, cv2.LINE_AA, _SHIFT)
        cv2.ellipse(img, centre, axes, tilt, 0, 360, int(dark), 1, cv2.LINE_AA, _SHIFT)
        cv2.ellipse(mask, centre, (axes[0] + _ONE, axes[1] + _ONE), tilt, 0, 360, 255, -1, cv2.LINE_AA, _SHIFT)

    for side in range(2):
        _line(both, brows[side], (int(dark), 255), 2)

    # Mouth: a lip line when nearly closed, else a dark opening (with teeth for an open smile).
    lip = int(skin * 0.42)
    half = _MOUTH_POINTS
    if q["mouth_open"] * s < 0.8:
        _line(both, mouth[:half], (lip, 255), 2)
    else:
        outline = _fixed(mouth)
        cv2.fillPoly(img, [outline], int(skin * 0.18), cv2.LINE_AA, _SHIFT)
        if q["teeth"]:
            teeth = mouth.copy()
            teeth[half:, 1] = np.minimum(teeth[half:, 1], teeth[:half][::-1, 1] + 0.4 * q["mouth_open"] * s)
            cv2.fillPoly(img, [_fixed(teeth)], int(min(255.0, skin + 40)), cv2.LINE_AA, _SHIFT)
        _line(both, mouth, (lip, 255), 1, closed=True)
        cv2.fillPoly(mask, [outline], 255, cv2.LINE_AA, _SHIFT)

    # Class marks.
    brow_inner_y = brows[0, 0, 1]
    if q["frown_lines"]:  # vertical furrows between lowered brows
        for sign in (-1, 1):
            _line(both, [[cx + sign * 1.2, brow_inner_y - 1.0], [cx + sign * 0.8, brow_inner_y + 3.0]],
                  (int(crease * 0.8), 255), 1)
    if q["nose_wrinkles"]:  # short diagonal wrinkles on both sides of the nose bridge
        for k in range(2):
            y = eye_y + (2.0 + 2.2 * k) * s
            for sign in (-1, 1):
                _line(both, [[cx + sign * 0.6, y], [cx + sign * 3.2 * s, y - 1.2 * s]], (int(crease * 0.75), 255), 1)
    if q["smile_lines"]:  # nasolabial folds from the nostrils to beyond the mouth corners
        for sign, end in ((-1, mouth[0]), (1, mouth[half - 1])):
            _line(both, [[cx + sign * 3.5 * s, nose_y - 1.0], [cx + sign * 5.0 * s, nose_y + 2.0 * s],
                         [end[0] + sign * 1.8, end[1] + 0.8]], (int(crease), 255), 1)
    if q["forehead_long"] or q["forehead_short"]:  # horizontal lines above raised brows
        half_len = (7.0 if q["forehead_long"] else 3.5) * s
        top = min(brows[0, :, 1].min(), brows[1, :, 1].min())
        for k in range(2):
            y = top - (2.2 + 2.2 * k) * s
            if y > cy - q["face_h"] + 2.5:  # still on the forehead
                _line(both, [[cx - half_len, y + 0.6], [cx, y], [cx + half_len, y + 0.6]], (int(crease), 255), 1)


def _draw_occluder(img: np.ndarray, mask: np.ndarray, q: dict) -> None:
    """A dark or bright bar or blob over a small part of the face; occluded pixels leave the mask."""
    centre, size, tone = _pt(q["occ_x"], q["occ_y"]), float(q["occ_size"]), int(q["occ_tone"])
    for target, value in ((img, tone), (mask, 0)):
        if q["occ_bar"]:
            axes = (int(2.2 * size * _ONE), int(0.45 * size * _ONE))
            cv2.ellipse(target, centre, axes, float(q["occ_angle"]), 0, 360, value, -1, cv2.LINE_AA, _SHIFT)
        else:
            cv2.circle(target, centre, int(size * _ONE), value, -1, cv2.LINE_AA, _SHIFT)


def _light_and_noise(images: np.ndarray, p: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Per-image gain/offset, a linear lighting gradient and Gaussian noise, vectorised over the batch."""
    n = len(images)
    coords = (np.arange(IMAGE_SIZE, dtype=np.float32) - IMAGE_SIZE / 2) / (IMAGE_SIZE / 2)

    def col(key):
        return p[key].astype(np.float32)[:, None, None]

    # In-place float32 arithmetic: this runs over N*48*48 values, the largest arrays made here.
    out = col("light_x") * coords[None, None, :] + col("light_y") * coords[None, :, None]
    out += 1
    out *= col("gain")
    out *= images
    out += col("offset") + 0.5  # + 0.5: the uint8 cast below then rounds instead of truncating
    noise = rng.standard_normal((n, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    noise *= col("noise")
    out += noise
    np.clip(out, 0, 255, out=out)
    return out.astype(np.uint8)


# --- splits and checks ------------------------------------------------------------------------

def _held_out_counts(n_c: int, test_fraction: float, val_fraction: float) -> tuple[int, int]:
    """(test, val) images for a class of n_c: a non-zero fraction gives at least one image, and
    train always keeps at least one."""
    n_test = max(1, int(np.floor(test_fraction * n_c + 0.5))) if test_fraction > 0 else 0
    n_val = max(1, int(np.floor(val_fraction * n_c + 0.5))) if val_fraction > 0 else 0
    while n_c - n_test - n_val < 1:  # shrink the larger held-out split, never below one
        if n_test >= n_val and n_test > (1 if test_fraction > 0 else 0):
            n_test -= 1
        elif n_val > (1 if val_fraction > 0 else 0):
            n_val -= 1
        else:
            break
    return n_test, n_val


def train_size(n: int, test_fraction: float = 0.15, val_fraction: float = 0.1) -> int:
    """How many of `n` synthetic faces land in the train split (without drawing them)."""
    _check_size(n)
    return int(sum(n_c - sum(_held_out_counts(int(n_c), test_fraction, val_fraction)) for n_c in class_counts(n)))


def _stratified_splits(labels: np.ndarray, rng: np.random.Generator, test_fraction: float,
                       val_fraction: float) -> np.ndarray:
    """Split codes (indices into SPLITS), stratified per class: each class is shuffled, then its
    first images go to test, the next to val, the rest to train (counts from _held_out_counts)."""
    splits = np.full(len(labels), SPLITS.index("train"), dtype=np.int8)
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test, n_val = _held_out_counts(len(idx), test_fraction, val_fraction)
        splits[idx[:n_test]] = SPLITS.index("test")
        splits[idx[n_test:n_test + n_val]] = SPLITS.index("val")
    return splits


def _check_size(n: int) -> None:
    smallest = MIN_PER_CLASS * len(CANONICAL_CLASSES)
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < smallest:
        raise ValueError(f"n must be an integer of at least {smallest} ({MIN_PER_CLASS} images for each of "
                         f"the {len(CANONICAL_CLASSES)} classes), got {n!r}")
