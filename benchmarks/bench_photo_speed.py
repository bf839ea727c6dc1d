"""Speed of the photo path (issue: real photos), each detector measured in the same run.

1. One 1280x720 photo with one face (a FER2013 test face at 220 px in a cluttered scene): median ms
   of detect + turn upright + crop + predict from the decoded photo, and of the same from its JPEG
   bytes (decode included), with each stage apart. Goal: <= 30 ms on 2 cores.
2. A folder of --photos 350x350 face photos (FER2013 test faces at 250 px on a plain background)
   through `python -m fer_core predict --run builtin FOLDER --out CSV` in a fresh process: photos/s
   over the whole command, and over its photos alone (the command's time minus that of the same
   command on one photo: start-up and model loading). Goal: >= 100 photos/s on 2 cores.

    python benchmarks/bench_photo_speed.py [--zip ../shared/data/fer2013.zip] [--repeats 50] [--photos 600]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_face_detection import Placed, background, paste  # noqa: E402
from fer_core.data.decode import decode_gray  # noqa: E402
from fer_core.inference.faces import crop_face, detect_faces, find_faces  # noqa: E402
from fer_core.inference.predictor import Predictor  # noqa: E402


def one_face_photo(face: np.ndarray, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scene = background(rng, 1280, 720)
    paste(scene, face, Placed(0, "plain", 640, 360, 220, 0.0), rng)
    return scene


def median_ms(call, repeats: int) -> float:
    call()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def photo_latency(predictor: Predictor, rgb: np.ndarray, repeats: int) -> None:
    jpeg = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    print(f"\n== 1280x720 photo, one face: median of {repeats} (ms)")
    print(f"{'detector':<12}{'decode':>8}{'detect':>8}{'crop':>7}{'predict':>9}{'photo->answer':>15}{'JPEG->answer':>14}")
    for name in ("yunet", "haar_alt2"):
        boxes = detect_faces(gray, name)
        faces = np.stack([crop_face(gray, b) for b in boxes]) if boxes else np.zeros((1, 48, 48), np.uint8)
        decode = median_ms(lambda: decode_gray(jpeg), repeats)
        detect = median_ms(lambda: detect_faces(gray, name), repeats)
        crop = median_ms(lambda: [crop_face(gray, b) for b in boxes], repeats)
        predict = median_ms(lambda: predictor.predict_faces(faces), repeats)

        def from_array():
            search = find_faces(rgb, detector=name)
            predictor.predict_faces(np.stack([f.face for f in search.faces]))

        whole = median_ms(from_array, repeats)
        from_jpeg = median_ms(lambda: predictor.predict_photo(jpeg, detector=name), repeats)
        print(f"{name:<12}{decode:>8.1f}{detect:>8.1f}{crop:>7.2f}{predict:>9.2f}{whole:>15.1f}{from_jpeg:>14.1f}"
              f"   ({len(boxes)} face found)", flush=True)


def folder_throughput(faces: np.ndarray, n: int) -> None:
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory(prefix="bench_photos_") as tmp:
        folder, single = Path(tmp) / "photos", Path(tmp) / "one"
        folder.mkdir()
        single.mkdir()
        for i in range(n):
            canvas = np.full((350, 350, 3), int(rng.integers(60, 200)), np.uint8)
            paste(canvas, faces[i % len(faces)], Placed(0, "plain", 175, 175, 250, 0.0), rng)
            cv2.imwrite(str(folder / f"{i:05d}.jpg"), cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR),
                        [cv2.IMWRITE_JPEG_QUALITY, 90])
        (single / "0.jpg").write_bytes((folder / "00000.jpg").read_bytes())
        print(f"\n== `predict --run builtin FOLDER --out CSV` on {n} 350x350 JPEG face photos (fresh process)")
        for label, options in (("yunet", []), ("haar_alt2", ["--detector", "haar_alt2"])):
            seconds = {}
            for what, path in (("one photo", single), ("folder", folder)):
                t0 = time.perf_counter()
                done = subprocess.run([sys.executable, "-m", "fer_core", "predict", "--run", "builtin", str(path),
                                       "--out", str(Path(tmp) / "out.csv"), *options], cwd=ROOT,
                                      capture_output=True, text=True)
                seconds[what] = time.perf_counter() - t0
                if done.returncode != 0:
                    print(f"{label}: predict failed: {done.stderr.strip()}")
                    return
            photos_only = seconds["folder"] - seconds["one photo"]
            print(f"{label:<12} whole command {seconds['folder']:6.1f} s = {n / seconds['folder']:6.1f} photos/s; "
                  f"start-up (one photo) {seconds['one photo']:4.1f} s; the photos alone {photos_only:5.1f} s = "
                  f"{(n - 1) / photos_only:6.1f} photos/s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zip", default=str(ROOT.parent / "shared" / "data" / "fer2013.zip"))
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--photos", type=int, default=600)
    args = parser.parse_args()
    from fer_core.data import read_source
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, python "
          f"{platform.python_version()}, opencv {cv2.__version__} ({cv2.getNumThreads()} threads), "
          f"load average {os.getloadavg()[0]:.1f}")
    faces = read_source(args.zip).split("test").images
    predictor = Predictor.from_run("builtin")
    print(f"model: {predictor.describe()}, engine {predictor.engine}")
    photo_latency(predictor, one_face_photo(faces[0]), args.repeats)
    folder_throughput(faces, args.photos)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
