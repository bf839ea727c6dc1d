"""Face detection on photos: which detector setting finds real faces in cluttered scenes, and how fast.

Scenes (seeded): FER2013 *test* faces from the shared zip (read in memory; nothing is written to the
repository), scaled to 60-300 px, tinted, and pasted with feathered edges into 640x480 and 1280x720
scenes with cluttered backgrounds (gradients, filled and outlined shapes, lines, text, noise, blur).
Scenes hold 0-3 faces (1 most often) at random non-overlapping positions; every pasted box is known.

Matching: per scene, detections and true boxes are paired greedily by IoU, highest first, each used
at most once; a pair counts when IoU >= 0.4 (FER faces are tight crops whose framing differs a
little from a detector's box). Recall = matched true faces / true faces; precision = matched
detections / detections; mean IoU over the matched pairs. Also printed for the default detector:
how the FER crop relates to its box (size ratio, centre offset), which sets crop_face's margin.

Time per scene in the table is process CPU time (the machine may be shared with other work, which
inflates wall time). Timing: detect + crop (fer_core.inference.faces.detect_faces + crop_face) on one 1280x720
photo with one face, median of --repeats, wall and CPU; and find_faces from JPEG bytes (decode
included). About 3 minutes on 2 idle CPU cores with the defaults.

    python benchmarks/bench_face_detection.py [--zip ../shared/data/fer2013.zip] [--scenes 200]
    # also score detectors from packages this project does not depend on, when importable
    python benchmarks/bench_face_detection.py --extra dlib mtcnn
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fer_core.inference.faces import (DEFAULT_DETECTOR, DEFAULT_MARGIN, DETECT_MAX_SIDE, DETECTORS, FACE_FILLS,  # noqa: E402
                            FaceBox, HaarDetector, crop_face, detect_faces, find_faces, is_face_crop)

MATCH_IOU = 0.4
SCENE_SIZES = ((640, 480), (1280, 720))
FACE_SIDES = (60, 300)
FACES_PER_SCENE = (0, 1, 1, 1, 2, 3)  # drawn uniformly: 1/6 of scenes have no face (false positives only)
SKIN_TINTS = ((1.0, 0.86, 0.74), (1.0, 0.9, 0.82), (0.95, 0.8, 0.66), (1.0, 1.0, 1.0))


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


def paste(scene: np.ndarray, face: np.ndarray, box: FaceBox, rng: np.random.Generator) -> None:
    """Paste a gray face, scaled to the box, tinted, with edges feathered into the scene."""
    big = cv2.resize(face, (box.w, box.h), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    tinted = big[:, :, None] * np.array(SKIN_TINTS[rng.integers(len(SKIN_TINTS))], np.float32)
    ramp = max(2, box.w // 12)  # feather width: the face's own background fades into the scene
    edge = np.minimum(np.arange(box.w), np.arange(box.w)[::-1])
    alpha = np.clip(np.minimum.outer(edge, edge) / ramp, 0, 1).astype(np.float32)[:, :, None]
    region = scene[box.y:box.y + box.h, box.x:box.x + box.w].astype(np.float32)
    scene[box.y:box.y + box.h, box.x:box.x + box.w] = np.clip(alpha * tinted + (1 - alpha) * region, 0, 255)


def make_scene(rng: np.random.Generator, faces: np.ndarray, width: int, height: int,
               n_faces: int) -> tuple[np.ndarray, list[FaceBox]]:
    """An RGB scene with `n_faces` FER faces at random non-overlapping places, and their boxes."""
    scene = background(rng, width, height)
    boxes: list[FaceBox] = []
    for _ in range(50 * n_faces):
        if len(boxes) == n_faces:
            break
        side = int(round(np.exp(rng.uniform(np.log(FACE_SIDES[0]), np.log(min(FACE_SIDES[1], height - 20))))))
        box = FaceBox(int(rng.integers(0, width - side)), int(rng.integers(0, height - side)), side, side)
        if all(box.intersection(b) == 0 for b in boxes):
            paste(scene, faces[rng.integers(len(faces))], box, rng)
            boxes.append(box)
    return scene, boxes


def build_scenes(faces: np.ndarray, n: int, seed: int) -> list[tuple[np.ndarray, list[FaceBox]]]:
    rng = np.random.default_rng(seed)
    return [make_scene(rng, faces, *SCENE_SIZES[i % len(SCENE_SIZES)], int(rng.choice(FACES_PER_SCENE)))
            for i in range(n)]


def match(truth: list[FaceBox], found: list[FaceBox]) -> list[tuple[FaceBox, FaceBox, float]]:
    """Greedy one-to-one pairs (true box, detected box, IoU) with IoU >= MATCH_IOU, best first."""
    pairs = sorted(((t.iou(d), i, j) for i, t in enumerate(truth) for j, d in enumerate(found)), reverse=True)
    used_t, used_d, out = set(), set(), []
    for iou, i, j in pairs:
        if iou >= MATCH_IOU and i not in used_t and j not in used_d:
            used_t.add(i)
            used_d.add(j)
            out.append((truth[i], found[j], iou))
    return out


@dataclass
class Score:
    recall: float
    precision: float
    mean_iou: float
    ms_per_scene: float  # process CPU time per scene
    recall_by_size: dict[str, float]
    pairs: list[tuple[FaceBox, FaceBox, float]]


SIZE_BINS = (("60-99", 60, 100), ("100-179", 100, 180), ("180-300", 180, 10_000))


def score(detect: Callable[[np.ndarray, np.ndarray], list[FaceBox]], scenes) -> Score:
    n_true = n_found = 0
    pairs: list[tuple[FaceBox, FaceBox, float]] = []
    seconds = 0.0
    hits = {name: [0, 0] for name, _, _ in SIZE_BINS}
    for rgb, truth in scenes:
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        t0 = time.process_time()
        found = detect(gray, rgb)
        seconds += time.process_time() - t0
        matched = match(truth, found)
        pairs += matched
        n_true += len(truth)
        n_found += len(found)
        matched_truth = {id(t) for t, _, _ in matched}
        for t in truth:
            name = next(name for name, lo, hi in SIZE_BINS if lo <= t.w < hi)
            hits[name][0] += id(t) in matched_truth
            hits[name][1] += 1
    return Score(len(pairs) / max(1, n_true), len(pairs) / max(1, n_found),
                 float(np.mean([p[2] for p in pairs])) if pairs else 0.0, 1000 * seconds / len(scenes),
                 {k: h / max(1, n) for k, (h, n) in hits.items()}, pairs)


def haar_setting(detector: HaarDetector | str, max_side: int = DETECT_MAX_SIDE):
    return lambda gray, rgb: detect_faces(gray, detector, max_side=max_side)


def haar_settings() -> dict[str, Callable]:
    """The registered detectors, then scaleFactor / minNeighbors / detection-size variants of the default."""
    settings = {}
    for name in DETECTORS.names():
        d = DETECTORS.get(name)
        settings[f"{name} (sf {d.scale_factor}, mn {d.min_neighbors})"] = haar_setting(name)
    default = DETECTORS.get(DEFAULT_DETECTOR)
    for sf, mn in ((1.1, 4), (1.1, 5), (1.05, 3), (1.2, 3)):
        settings[f"{DEFAULT_DETECTOR} sf {sf}, mn {mn}"] = haar_setting(HaarDetector(default.cascade, sf, mn))
    for side in (480, 960):
        settings[f"{DEFAULT_DETECTOR}, detect at <= {side} px"] = haar_setting(DEFAULT_DETECTOR, side)
    return settings


def extra_settings(names: list[str]) -> dict[str, Callable]:
    """Detectors from packages outside this project's dependencies, when they import."""
    settings = {}
    for name in names:
        try:
            if name == "dlib":  # dlib's HOG + linear SVM frontal detector, built into the binary
                import dlib
                hog = dlib.get_frontal_face_detector()

                def run_dlib(gray, rgb, hog=hog):
                    s = min(1.0, DETECT_MAX_SIDE / max(gray.shape))
                    small = cv2.resize(gray, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1 else gray
                    return [FaceBox(int(r.left() / s), int(r.top() / s), max(1, int(r.width() / s)),
                                    max(1, int(r.height() / s))) for r in hog(small, 1)]
                settings["dlib HOG (upsample 1)"] = run_dlib
            elif name == "mtcnn":  # facenet-pytorch's MTCNN; its weights ship inside the wheel
                from facenet_pytorch import MTCNN
                mtcnn = MTCNN(keep_all=True, device="cpu", min_face_size=20)

                def run_mtcnn(gray, rgb, mtcnn=mtcnn):
                    s = min(1.0, DETECT_MAX_SIDE / max(gray.shape))
                    small = cv2.resize(rgb, None, fx=s, fy=s, interpolation=cv2.INTER_AREA) if s < 1 else rgb
                    boxes, probs = mtcnn.detect(small)
                    if boxes is None:
                        return []
                    return [FaceBox(int(x0 / s), int(y0 / s), max(1, int((x1 - x0) / s)), max(1, int((y1 - y0) / s)))
                            for (x0, y0, x1, y1), p in zip(boxes, probs) if p >= 0.9]
                settings["mtcnn (facenet-pytorch, p >= 0.9)"] = run_mtcnn
            else:
                print(f"--extra {name}: unknown; known: dlib, mtcnn")
        except ImportError as exc:
            print(f"--extra {name}: skipped, not importable ({exc})")
    return settings


def framing(pairs: list[tuple[FaceBox, FaceBox, float]]) -> str:
    """How FER's crop relates to the detector's box: size ratio, centre offset, implied margin."""
    ratio = np.median([t.w / d.w for t, d, _ in pairs])
    dx = np.median([((t.x + t.w / 2) - (d.x + d.w / 2)) / d.w for t, d, _ in pairs])
    dy = np.median([((t.y + t.h / 2) - (d.y + d.h / 2)) / d.h for t, d, _ in pairs])
    crops = [FaceBox(*_crop_square(d, DEFAULT_MARGIN)).iou(t) for t, d, _ in pairs]
    return (f"FER crop side / detected box side: median {ratio:.3f} (implied margin per side "
            f"{(ratio - 1) / 2:+.3f}); centre offset x {dx:+.3f}, y {dy:+.3f} box sides; "
            f"IoU of crop_face's square (margin {DEFAULT_MARGIN}) with the FER crop: mean {np.mean(crops):.3f}")


def _crop_square(box: FaceBox, margin: float) -> tuple[int, int, int, int]:
    side = round(max(box.w, box.h) * (1 + 2 * margin))
    return round(box.x + box.w / 2 - side / 2), round(box.y + box.h / 2 - side / 2), side, side


def face_crops_used_whole(faces: np.ndarray) -> str:
    """On the 48x48 FER2013 images themselves: how often a face is detected, and how often find_faces
    uses the image whole (no detection, or the face fills it) as in training."""
    boxes = [detect_faces(f) for f in faces]
    found = [b[0] for b in boxes if b]
    fills = sum(is_face_crop((48, 48), b) for b in found)
    return (f"48x48 FER2013 test images: a face detected in {len(found) / len(faces):.1%}; of those, "
            f"{fills / max(1, len(found)):.1%} span >= {FACE_FILLS} of the image (used whole); "
            f"find_faces uses {(len(faces) - len(found) + fills) / len(faces):.1%} of the images whole")


def time_detect_and_crop(faces: np.ndarray, repeats: int, seed: int) -> dict[str, float]:
    """Median ms (wall and process CPU) of detect + crop on the gray photo and of find_faces on its
    JPEG bytes, and the number of faces found."""
    rng = np.random.default_rng(seed + 1)
    index = int(rng.integers(len(faces)))
    for _ in range(200):  # a photo whose face the default detector finds, so the crop is timed too
        rgb, truth = make_scene(rng, faces[index:index + 1], 1280, 720, 1)
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        if match(truth, detect_faces(gray)):
            break
        index = int(rng.integers(len(faces)))
    jpeg = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    runs: dict[str, list[float]] = {"detect_wall": [], "detect_cpu": [], "find_wall": [], "find_cpu": []}
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        crops = [crop_face(gray, b) for b in detect_faces(gray)]
        t1, c1 = time.perf_counter(), time.process_time()
        find_faces(jpeg)
        t2, c2 = time.perf_counter(), time.process_time()
        for key, value in (("detect_wall", t1 - t0), ("detect_cpu", c1 - c0), ("find_wall", t2 - t1),
                           ("find_cpu", c2 - c1)):
            runs[key].append(1000 * value)
    return {**{k: statistics.median(v) for k, v in runs.items()}, "faces": len(crops)}


def load_test_faces(zip_path: str) -> np.ndarray:
    from fer_core.data import read_source
    ds = read_source(zip_path)
    return ds.split("test").images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zip", default=str(ROOT.parent / "shared" / "data" / "fer2013.zip"))
    parser.add_argument("--scenes", type=int, default=200, help="scenes in the set (half 640x480, half 1280x720)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=30, help="timing repeats (median reported)")
    parser.add_argument("--extra", nargs="*", default=[], metavar="NAME",
                        help="also score detectors from other packages when importable: dlib, mtcnn")
    args = parser.parse_args()

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"python {platform.python_version()}, opencv {cv2.__version__}, cv2 threads {cv2.getNumThreads()}")
    faces = load_test_faces(args.zip)
    t0 = time.perf_counter()
    scenes = build_scenes(faces, args.scenes, args.seed)
    n_faces = sum(len(b) for _, b in scenes)
    print(f"scenes: {len(scenes)} (seed {args.seed}, built in {time.perf_counter() - t0:.1f} s), {n_faces} faces "
          f"from {len(faces)} FER2013 test images; match at IoU >= {MATCH_IOU}; detection copy <= "
          f"{DETECT_MAX_SIDE} px unless stated")
    settings = {**haar_settings(), **extra_settings(args.extra)}
    bins = "  ".join(f"{name:>8}" for name, _, _ in SIZE_BINS)
    print(f"\n{'detector setting':<44}{'recall':>7}{'prec.':>7}{'IoU':>7}{'CPU ms':>8}  recall by face side: {bins}")
    scores = {}
    for label, detect in settings.items():
        s = scores[label] = score(detect, scenes)
        by_size = "  ".join(f"{v:>8.3f}" for v in s.recall_by_size.values())
        print(f"{label:<44}{s.recall:>7.3f}{s.precision:>7.3f}{s.mean_iou:>7.3f}{s.ms_per_scene:>8.1f}"
              f"  {'':>21}{by_size}", flush=True)
    default_label = next(k for k in scores if k.startswith(DEFAULT_DETECTOR + " ("))
    print(f"\ndefault {DEFAULT_DETECTOR}: {framing(scores[default_label].pairs)}")
    print(face_crops_used_whole(faces[:1000]))
    t = time_detect_and_crop(faces, args.repeats, args.seed)
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    print(f"1280x720 photo, one face ({t['faces']} found), median of {args.repeats}{load}:\n"
          f"  detect + crop              {t['detect_wall']:6.1f} ms wall, {t['detect_cpu']:6.1f} ms CPU "
          f"(target: well under 100 ms)\n"
          f"  find_faces from JPEG bytes {t['find_wall']:6.1f} ms wall, {t['find_cpu']:6.1f} ms CPU (decode included)")


if __name__ == "__main__":
    main()
