"""Write a labelled photo folder for `evaluate --photos`: FER2013 *test* faces pasted into generated scenes.

One 640x480 (or 1280x720) JPEG per face, in a class subfolder named by the face's label; each face is one
of bench_face_detection.py's kinds (plain, rotated up to 30 degrees, half in shadow, narrowed; no tiny
ones: --small adds them) at 80-300 px. Write it outside the repository (the faces are FER2013's), then:

    python benchmarks/make_photo_folder.py /tmp/fer_photos [--n 700] [--seed 0]
    python -m fer_core evaluate --run builtin --photos /tmp/fer_photos
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_face_detection import KINDS, Placed, SCENE_SIZES, background, paste  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", help="the folder to write (created; must not exist inside the repository)")
    parser.add_argument("--zip", default=str(ROOT.parent / "shared" / "data" / "fer2013.zip"))
    parser.add_argument("--n", type=int, default=700)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--small", action="store_true", help="also faces of 24-40 px")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    if out == ROOT or ROOT in out.parents:
        sys.exit("error: write the folder outside the repository (it holds FER2013 faces)")
    from fer_core.data import read_source
    test = read_source(args.zip).split("test")
    rng = np.random.default_rng(args.seed)
    kinds = [k for k in KINDS if args.small or k != "small"]
    for i in range(args.n):
        index = int(rng.integers(len(test.images)))
        width, height = SCENE_SIZES[i % len(SCENE_SIZES)]
        kind = kinds[int(rng.integers(len(kinds)))]
        low, high = (24, 40) if kind == "small" else (80, 300)
        side = int(round(np.exp(rng.uniform(np.log(low), np.log(min(high, height - 40))))))
        reach = side * 1.42
        place = Placed(index, kind, float(rng.uniform(reach / 2, width - reach / 2)),
                       float(rng.uniform(reach / 2, height - reach / 2)), side,
                       float(rng.uniform(-30, 30)) if kind == "rotated" else 0.0)
        scene = background(rng, width, height)
        paste(scene, test.images[index], place, rng, float(rng.uniform(0.65, 0.85)) if kind == "narrow" else 1.0)
        folder = out / test.classes[test.labels[index]]
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"{i:05d}_{kind}.jpg"), cv2.cvtColor(scene, cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 90])
    print(f"{args.n} photos in {out}")


if __name__ == "__main__":
    main()
