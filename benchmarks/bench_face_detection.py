"""Faces in photos: which detector finds them, how the crops are framed, and what that does to accuracy.

Scenes (seeded): FER2013 faces from the shared zip (read in memory; nothing is written to the
repository), scaled, tinted, and pasted with feathered edges into 640x480 and 1280x720 scenes with
cluttered backgrounds (gradients, shapes, lines, text, noise, blur). Scenes hold 0-3 faces at random
non-overlapping places; every face's square (centre, side, turn) and label are known. Each face is
one of: plain (60-300 px), rotated (turned up to +-30 degrees), small (24-40 px), dark (half of it in
shadow) or narrow (squeezed to 65-85% of its width, a turned-away head's foreshortening).

Matching: per scene, the squares the photo path would cut (faces.face_region of each detection: the
Haar box's square, or YuNet's landmark framing, taken axis-aligned) and the true squares (axis-aligned,
at the face's centre, of its side) are paired greedily by IoU, highest first, each used at most once;
a pair counts at IoU >= 0.4. Matching the crops rather than the raw boxes compares detectors whose
boxes are drawn differently (YuNet's are tall and tight, Haar's square and loose) by what they give
the model. Recall = matched faces / faces; precision = matched detections / detections; CPU ms per
scene (process time).

What it prints:
1. --fit (on scenes of FER2013 *train* faces, never test): YuNet's score threshold, and the framing
   constants (faces.ALIGN_CENTRE, ALIGN_SIDE) as medians over the matched faces; then, on scenes of
   the val faces carved from train (seed 0, as the bundled model's run), a grid around those medians
   scored by how often the model answers on the photo's crop as it does on the raw face (agreement)
   and by accuracy.
2. Recall table on scenes of *test* faces: every registered detector, overall and per kind of face.
3. Accuracy of a run's model (the bundled one by default) on the test faces of those scenes: on the
   raw 48x48 faces, and through the whole photo path (JPEG bytes -> find_faces -> model) for the old
   path (haar_alt2, no turning) and the new one (yunet, turned upright), plus yunet without turning.

    python benchmarks/bench_face_detection.py [--zip ../shared/data/fer2013.zip] [--scenes 300] [--fit]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fer_core.inference import faces as faces_mod  # noqa: E402
from fer_core.inference.faces import DETECTORS, FaceBox, YuNetDetector, detect_faces, find_faces  # noqa: E402

MATCH_IOU = 0.4
SCENE_SIZES = ((640, 480), (1280, 720))
FACES_PER_SCENE = (0, 1, 1, 1, 2, 3)  # drawn uniformly: 1/6 of scenes have no face (false positives only)
SKIN_TINTS = ((1.0, 0.86, 0.74), (1.0, 0.9, 0.82), (0.95, 0.8, 0.66), (1.0, 1.0, 1.0))
KINDS = ("plain", "rotated", "small", "dark", "narrow")


def background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A cluttered RGB scene: a colour gradient, random shapes, lines and text, noise and blur."""
    c0, c1, c2 = rng.uniform(0, 255, (3, 3)).astype(np.float32)
    gx = np.linspace(0, 1, width, dtype=np.float32)[None, :, None]
    gy = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    img = np.ascontiguousarray((c0 + (c1 - c0) * gx + (c2 - c0) * gy).astype(np.uint8))
    for _ in range(int(rng.integers(20, 60))):
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        size = int(rng.integers(8, min(width, height) // 4))
        fill = int(rng.choice([-1, -1, 1, 3]))
        kind = rng.integers(0, 5)
        if kind == 0:
            cv2.rectangle(img, (x, y), (x + size, y + int(rng.integers(4, size + 5))), colour, fill)
        elif kind == 1:
            cv2.ellipse(img, (x, y), (size // 2, int(rng.integers(2, size // 2 + 3))), float(rng.uniform(0, 180)),
                        0, 360, colour, fill)
        elif kind == 2:
            cv2.line(img, (x, y), (int(rng.integers(0, width)), int(rng.integers(0, height))), colour,
                     int(rng.integers(1, 6)))
        elif kind == 3:
            cv2.fillPoly(img, [rng.integers(-size, size, (int(rng.integers(3, 7)), 2)).astype(np.int32) + (x, y)],
                         colour)
        else:
            cv2.putText(img, "".join(rng.choice(list("abcdefghijkmnopqrstuvwxyz0123456789"), int(rng.integers(3, 9)))),
                        (x, y), cv2.FONT_HERSHEY_SIMPLEX, float(rng.uniform(0.5, 2.5)), colour, int(rng.integers(1, 4)))
    noisy = img + rng.normal(0, rng.uniform(2, 10), img.shape).astype(np.float32)
    return cv2.GaussianBlur(np.clip(noisy, 0, 255).astype(np.uint8), (0, 0), float(rng.uniform(0.5, 1.2)))


@dataclass
class Placed:
    """A pasted face: its index in the face set, kind, centre, side (the 48x48 image's side in the
    scene) and turn (degrees, counter-clockwise as OpenCV counts)."""

    index: int
    kind: str
    cx: float
    cy: float
    side: int
    angle: float

    @property
    def box(self) -> FaceBox:
        """The axis-aligned square of the face's side at its centre (what detections are matched to)."""
        return FaceBox(round(self.cx - self.side / 2), round(self.cy - self.side / 2), self.side, self.side)


def paste(scene: np.ndarray, face: np.ndarray, place: Placed, rng: np.random.Generator, squeeze: float = 1.0) -> None:
    """Paste a gray face, scaled, tinted, turned and feathered into the scene (in place)."""
    side = place.side
    big = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    if place.kind == "dark":  # light from one side: the far half fades to a third
        big *= np.linspace(1.0, 0.33, side, dtype=np.float32)[None, :] if rng.random() < 0.5 else \
            np.linspace(0.33, 1.0, side, dtype=np.float32)[None, :]
    tinted = big[:, :, None] * np.array(SKIN_TINTS[rng.integers(len(SKIN_TINTS))], np.float32)
    ramp = max(2, side // 12)
    edge = np.minimum(np.arange(side), np.arange(side)[::-1])
    alpha = np.clip(np.minimum.outer(edge, edge) / ramp, 0, 1).astype(np.float32)
    matrix = cv2.getRotationMatrix2D((side / 2, side / 2), place.angle, 1.0)
    matrix[0, :] *= squeeze  # narrow faces: x shrinks about the centre
    matrix[0, 2] += side / 2 * (1 - squeeze)
    reach = int(np.ceil(side * (abs(np.cos(np.radians(place.angle))) + abs(np.sin(np.radians(place.angle)))))) + 2
    matrix[:, 2] += (reach - side) / 2
    patch = cv2.warpAffine(tinted, matrix, (reach, reach), flags=cv2.INTER_LINEAR)
    mask = cv2.warpAffine(alpha, matrix, (reach, reach), flags=cv2.INTER_LINEAR)[:, :, None]
    x0, y0 = round(place.cx - reach / 2), round(place.cy - reach / 2)
    h, w = scene.shape[:2]
    sx0, sy0, sx1, sy1 = max(0, x0), max(0, y0), min(w, x0 + reach), min(h, y0 + reach)
    region = scene[sy0:sy1, sx0:sx1].astype(np.float32)
    p, m = patch[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0], mask[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0]
    scene[sy0:sy1, sx0:sx1] = np.clip(m * p + (1 - m) * region, 0, 255).astype(np.uint8)


def make_scene(rng: np.random.Generator, n_images: int, width: int, height: int,
               n_faces: int, faces: np.ndarray) -> tuple[np.ndarray, list[Placed]]:
    """An RGB scene with `n_faces` faces of assorted kinds at non-overlapping places."""
    scene = background(rng, width, height)
    placed: list[Placed] = []
    for _ in range(50 * n_faces):
        if len(placed) == n_faces:
            break
        kind = KINDS[int(rng.integers(len(KINDS)))]
        low, high = (24, 40) if kind == "small" else (60, min(300, height // 2))
        side = int(round(np.exp(rng.uniform(np.log(low), np.log(high)))))
        angle = float(rng.uniform(-30, 30)) if kind == "rotated" else 0.0
        reach = side * 1.42
        cx, cy = rng.uniform(reach / 2, width - reach / 2), rng.uniform(reach / 2, height - reach / 2)
        place = Placed(int(rng.integers(n_images)), kind, float(cx), float(cy), side, angle)
        grown = FaceBox(round(cx - reach / 2), round(cy - reach / 2), round(reach), round(reach))
        if all(grown.intersection(FaceBox(round(p.cx - p.side * 0.71), round(p.cy - p.side * 0.71),
                                          round(p.side * 1.42), round(p.side * 1.42))) == 0 for p in placed):
            paste(scene, faces[place.index], place, rng, float(rng.uniform(0.65, 0.85)) if kind == "narrow" else 1.0)
            placed.append(place)
    return scene, placed


def build_scenes(faces: np.ndarray, n: int, seed: int) -> list[tuple[np.ndarray, list[Placed]]]:
    rng = np.random.default_rng(seed)
    return [make_scene(rng, len(faces), *SCENE_SIZES[i % len(SCENE_SIZES)], int(rng.choice(FACES_PER_SCENE)), faces)
            for i in range(n)]


def match(truth: list[FaceBox], found: list[FaceBox]) -> list[tuple[int, int, float]]:
    """Greedy one-to-one pairs (true index, found index, IoU of the found face's crop square with the
    true square) with IoU >= MATCH_IOU, best first."""
    found = [faces_mod.face_region(d).square() for d in found]
    pairs = sorted(((t.iou(d), i, j) for i, t in enumerate(truth) for j, d in enumerate(found)), reverse=True)
    used_t, used_d, out = set(), set(), []
    for iou, i, j in pairs:
        if iou >= MATCH_IOU and i not in used_t and j not in used_d:
            used_t.add(i)
            used_d.add(j)
            out.append((i, j, iou))
    return out


@dataclass
class Score:
    recall: float
    precision: float
    mean_iou: float
    ms_per_scene: float
    recall_by_kind: dict[str, float]


def score(detect: Callable[[np.ndarray], list[FaceBox]], scenes) -> Score:
    n_true = n_found = 0
    ious, seconds = [], 0.0
    hits = {k: [0, 0] for k in KINDS}
    for rgb, placed in scenes:
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        t0 = time.process_time()
        found = detect(gray)
        seconds += time.process_time() - t0
        pairs = match([p.box for p in placed], found)
        ious += [iou for _, _, iou in pairs]
        n_true += len(placed)
        n_found += len(found)
        matched = {i for i, _, _ in pairs}
        for i, p in enumerate(placed):
            hits[p.kind][0] += i in matched
            hits[p.kind][1] += 1
    return Score(len(ious) / max(1, n_true), len(ious) / max(1, n_found), float(np.mean(ious)) if ious else 0.0,
                 1000 * seconds / len(scenes), {k: h / max(1, n) for k, (h, n) in hits.items()})


def fit(faces: np.ndarray, n_scenes: int, seed: int) -> None:
    """YuNet's score threshold and the framing constants, from scenes of FER2013 train faces."""
    scenes = build_scenes(faces, n_scenes, seed + 1000)
    print(f"\n== fit on {len(scenes)} scenes of FER2013 *train* faces (seed {seed + 1000})")
    print(f"{'YuNet score threshold':<24}{'recall':>8}{'prec.':>8}{'F1':>8}")
    for threshold in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        s = score(lambda g, t=threshold: detect_faces(g, YuNetDetector(score_threshold=t)), scenes)
        print(f"{threshold:<24}{s.recall:>8.3f}{s.precision:>8.3f}{2 * s.recall * s.precision / (s.recall + s.precision):>8.3f}")
    centre, side_mouth, side_eyes, turn_error = [], [], [], []
    for rgb, placed in scenes:
        found = detect_faces(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), "yunet")
        for i, j, _ in match([p.box for p in placed], found):
            p, box = placed[i], found[j]
            if p.kind not in ("plain", "rotated", "dark"):  # framing from faces with true proportions
                continue
            (lx, ly), (rx, ry), _, (mlx, mly), (mrx, mry) = box.landmarks
            eyes, mouth = np.array([(lx + rx) / 2, (ly + ry) / 2]), np.array([(mlx + mrx) / 2, (mly + mry) / 2])
            axis = mouth - eyes
            centre.append(float(np.dot(np.array([p.cx, p.cy]) - eyes, axis) / np.dot(axis, axis)))
            side_mouth.append(p.side / np.hypot(*axis))
            side_eyes.append(p.side / np.hypot(rx - lx, ry - ly))
            turn_error.append((np.degrees(np.arctan2(ry - ly, rx - lx)) - p.angle + 180) % 360 - 180)
    cv = lambda v: np.std(v) / np.mean(v)  # noqa: E731
    print(f"framing over {len(centre)} matched faces: centre at {np.median(centre):.3f} of eyes->mouth "
          f"(IQR {np.percentile(centre, 25):.3f}-{np.percentile(centre, 75):.3f}); side / eyes-mouth distance "
          f"{np.median(side_mouth):.3f} (cv {cv(side_mouth):.3f}); side / eye distance {np.median(side_eyes):.3f} "
          f"(cv {cv(side_eyes):.3f}); eye-line angle minus the true turn: median {np.median(turn_error):+.1f} deg, "
          f"median |error| {np.median(np.abs(turn_error)):.1f} deg")


def framing_grid(predictor, faces: np.ndarray, labels: np.ndarray, classes, n_scenes: int, seed: int) -> None:
    """Agreement with the raw-face answer, and accuracy, for framings around the fitted constants."""
    scenes = build_scenes(faces, n_scenes, seed + 2000)
    found = []  # (gray scene, detection, placed face) for every matched face of normal proportions
    for rgb, placed in scenes:
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        boxes = detect_faces(gray)
        found += [(gray, boxes[j], placed[i]) for i, j, _ in match([p.box for p in placed], boxes)
                  if placed[i].kind in ("plain", "rotated", "dark")]
    truth = predictor.check_dataset_classes(classes)[labels[[p.index for _, _, p in found]]]
    raw = predictor.predict_faces(faces[[p.index for _, _, p in found]]).argmax(1)
    centre0, side0 = faces_mod.ALIGN_CENTRE, faces_mod.ALIGN_SIDE
    print(f"\n== framing around the fitted constants, {len(found)} val faces found in {len(scenes)} scenes "
          f"(raw-face accuracy {(raw == truth).mean():.3f})")
    print(f"{'centre':>8}{'side':>8}{'agreement':>11}{'accuracy':>10}")
    try:
        for centre in (centre0 - 0.06, centre0, centre0 + 0.06):
            for side in (side0 * 0.9, side0, side0 * 1.1):
                faces_mod.ALIGN_CENTRE, faces_mod.ALIGN_SIDE = centre, side
                crops = np.stack([faces_mod.crop_face(gray, box) for gray, box, _ in found])
                answer = predictor.predict_faces(crops).argmax(1)
                print(f"{centre:>8.3f}{side:>8.3f}{(answer == raw).mean():>11.3f}{(answer == truth).mean():>10.3f}",
                      flush=True)
    finally:
        faces_mod.ALIGN_CENTRE, faces_mod.ALIGN_SIDE = centre0, side0


def photo_accuracy(predictor, faces: np.ndarray, labels: np.ndarray, classes, scenes, paths: dict[str, dict]) -> None:
    """The model on the raw faces of the scenes, and through each photo path from JPEG bytes."""
    placed = [(k, p) for k, (_, ps) in enumerate(scenes) for p in ps]
    to_model = predictor.check_dataset_classes(classes)
    truth = to_model[labels[[p.index for _, p in placed]]]
    raw = predictor.predict_faces(faces[[p.index for _, p in placed]]).argmax(1)
    kinds = np.array([p.kind for _, p in placed])
    print(f"\n== accuracy of {predictor.describe()} on the {len(placed)} faces of the test scenes")
    header = "".join(f"{k:>9}" for k in KINDS)
    print(f"{'path':<40}{'found':>7}{'acc. found':>11}{'raw, same':>10}{'end-to-end':>11}   end-to-end by kind:{header}")
    print(f"{'raw 48x48 faces (no photo)':<40}{'':>7}{'':>11}{'':>10}{(raw == truth).mean():>11.3f}   "
          f"{'':>19}" + "".join(f"{(raw[kinds == k] == truth[kinds == k]).mean():>9.3f}" for k in KINDS))
    for label, options in paths.items():
        predicted = np.full(len(placed), -1)
        at = 0
        for rgb, ps in scenes:
            jpeg = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()
            search = find_faces(jpeg, **options)
            boxes = [f.box for f in search.faces if f.box is not None]
            if boxes:
                probs = predictor.predict_faces(np.stack([f.face for f in search.faces if f.box is not None]))
                for i, j, _ in match([p.box for p in ps], boxes):
                    predicted[at + i] = int(probs[j].argmax())
            at += len(ps)
        found = predicted >= 0
        right = predicted == truth
        print(f"{label:<40}{found.mean():>7.3f}{right[found].mean():>11.3f}{(raw == truth)[found].mean():>10.3f}"
              f"{right.mean():>11.3f}   {'':>19}" + "".join(f"{right[kinds == k].mean():>9.3f}" for k in KINDS),
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zip", default=str(ROOT.parent / "shared" / "data" / "fer2013.zip"))
    parser.add_argument("--scenes", type=int, default=300, help="scenes in the test set (half 640x480, half 1280x720)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fit", action="store_true", help="also fit the threshold and framing on train-face scenes")
    parser.add_argument("--run", default="builtin", help="the model for the accuracy table (default: builtin)")
    args = parser.parse_args()

    from fer_core.data import read_source
    from fer_core.inference.predictor import Predictor
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, python "
          f"{platform.python_version()}, opencv {cv2.__version__}, load average {os.getloadavg()[0]:.1f}")
    ds = read_source(args.zip)
    if args.fit:
        from fer_core.data import load_dataset
        fit(ds.split("train").images, args.scenes, args.seed)
        val = load_dataset(args.zip, seed=0, val_fraction=0.1).split("val")
        framing_grid(Predictor.from_run(args.run), val.images, val.labels, val.classes, args.scenes, args.seed)
    test = ds.split("test")
    t0 = time.perf_counter()
    scenes = build_scenes(test.images, args.scenes, args.seed)
    n_faces = sum(len(p) for _, p in scenes)
    print(f"\n== {len(scenes)} scenes of FER2013 *test* faces (seed {args.seed}, built in "
          f"{time.perf_counter() - t0:.1f} s), {n_faces} faces; match at IoU >= {MATCH_IOU}; detection copy <= "
          f"{faces_mod.DETECT_MAX_SIDE} px")
    header = "".join(f"{k:>9}" for k in KINDS)
    print(f"{'detector':<16}{'recall':>7}{'prec.':>7}{'IoU':>7}{'CPU ms':>8}   recall by kind:{header}")
    for name in DETECTORS.names():
        try:
            s = score(lambda g, n=name: detect_faces(g, n), scenes)
        except faces_mod.DetectorUnavailableError as exc:
            print(f"{name:<16}unavailable: {exc}")
            continue
        print(f"{name:<16}{s.recall:>7.3f}{s.precision:>7.3f}{s.mean_iou:>7.3f}{s.ms_per_scene:>8.1f}   "
              f"{'':>15}" + "".join(f"{s.recall_by_kind[k]:>9.3f}" for k in KINDS), flush=True)
    predictor = Predictor.from_run(args.run)
    photo_accuracy(predictor, test.images, test.labels, test.classes, scenes, {
        "before: haar_alt2, square crop": {"detector": "haar_alt2"},
        "yunet, landmark framing, not turned": {"align": False},
        "after: yunet, turned upright (default)": {},
    })


if __name__ == "__main__":
    main()
