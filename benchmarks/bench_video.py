"""Video analysis speed: processed frames per second on a 640x480 clip, with the bundled model.

Makes a clip (default 10 s at 25 fps, 640x480, MJPEG) with two faces on a background, one moving
and one still: FER2013 test faces from --data when given, else synthetic faces. Then analyses it
with `analyse_video` at several sampling rates, with and without writing the outputs (CSV, summary,
annotated H.264 MP4), and prints processed frames per second of wall time (each frame: decode,
face detection on the full 640x480 frame, crop, classify, track, and optionally draw + encode).
The live-webcam target in the beyond-the-peers issue is >= 15 processed 640x480 frames/s.

    python benchmarks/bench_video.py [--data ../shared/data/fer2013.zip] [--seconds 10]
"""
from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fer_core.data import load_dataset  # noqa: E402
from fer_core.inference.predictor import Predictor  # noqa: E402
from fer_core.inference.video import analyse_video  # noqa: E402


def make_clip(path: Path, faces: np.ndarray, seconds: int, fps: int = 25, side: int = 140) -> Path:
    rng = np.random.default_rng(0)
    background = cv2.GaussianBlur(rng.integers(40, 220, (480, 640), dtype=np.uint8), (0, 0), 8)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (640, 480))
    for i in range(seconds * fps):
        frame = background.copy()
        for face, (x, y) in zip(faces, [(40 + (i * 3) % 300, 100), (440, 240)]):
            frame[y:y + side, x:x + side] = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC)
        writer.write(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
    writer.release()
    return path


def model_and_faces_parser(description: str) -> argparse.ArgumentParser:
    """The options this benchmark and bench_live.py share: which model, and where the clip's faces come from."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--run", default="builtin")
    parser.add_argument("--data", help="take the faces from this dataset's test split (default: synthetic faces)")
    return parser


def load_model_and_faces(args: argparse.Namespace) -> tuple[Predictor, np.ndarray]:
    """The model and two test faces for the clip; prints the machine and what was loaded."""
    ds = load_dataset(args.data)
    predictor = Predictor.from_run(args.run)
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads; "
          f"model: {predictor.describe()}, engine {predictor.engine}; faces from {ds.source}")
    return predictor, ds.split("test").images[:2]


def main() -> None:
    parser = model_and_faces_parser(__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rates", type=float, nargs="+", default=[5, 15, 25])
    args = parser.parse_args()
    predictor, faces = load_model_and_faces(args)
    with tempfile.TemporaryDirectory() as folder:
        clip = make_clip(Path(folder) / "clip.avi", faces, args.seconds)
        analyse_video(predictor, clip, fps=5)  # warm-up: detector and model loaded, caches filled
        print("| sampled fps | frames | faces found | frames/s, analysis only | frames/s, writing CSV + MP4 |")
        print("|---|---|---|---|---|")
        for rate in args.rates:
            started = time.perf_counter()
            plain = analyse_video(predictor, clip, fps=rate)
            plain_s = time.perf_counter() - started
            started = time.perf_counter()
            written = analyse_video(predictor, clip, fps=rate, out_dir=Path(folder) / f"out{rate:g}")
            written_s = time.perf_counter() - started
            print(f"| {rate:g} | {plain.frames_read} | {len(plain.rows)} | {plain.frames_read / plain_s:.1f} | "
                  f"{written.frames_read / written_s:.1f} |")


if __name__ == "__main__":
    main()
