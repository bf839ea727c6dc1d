"""Run hostile cases under a memory limit and report what each cost: `python -m tests.hostile.memory_probe
GROUP` prints one JSON line per case (name, outcome, message, peak MB above the baseline).

The address space is capped at the baseline plus 1 GiB, so a case that tries to allocate what its file
claims fails loudly (MemoryError or a decoder's own error) instead of taking the machine down; the
peak resident memory of each case is measured on its own (the high-water mark is reset between cases).
"""
from __future__ import annotations

import json
import resource
import sys
import tempfile
from pathlib import Path

LIMIT_BYTES = 1 << 30


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM (Linux 4.0+)
        return True
    except OSError:
        return False


def _heavy_legal_images():
    """Legal images near the 50-megapixel cap, the costliest a user may give: (name, bytes)."""
    import cv2
    import numpy as np
    yield "png-8bit-rgb-7000x7000", cv2.imencode(".png", np.full((7000, 7000, 3), 90, np.uint8))[1].tobytes()
    yield "png-16bit-gray-7000x7000", cv2.imencode(".png", np.full((7000, 7000), 1000, np.uint16))[1].tobytes()
    yield "tiff-float-gray-5000x5000", cv2.imencode(".tiff", np.full((5000, 5000), 0.5, np.float32))[1].tobytes()


def _huge_frame_videos():
    """Small MJPEG AVIs whose frames are tens of megapixels (a blank frame compresses to almost nothing)."""
    import cv2
    import numpy as np
    for width, height in ((8000, 8000), (12000, 4000)):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "huge.avi"
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5, (width, height))
            frame = np.zeros((height, width, 3), np.uint8)
            for _ in range(3):
                writer.write(frame)
            writer.release()
            del frame
            yield f"mjpeg-avi-{width}x{height}", path.read_bytes()


_PREDICTOR: list = []


def _small_photo() -> bytes:
    import cv2
    import numpy as np
    return cv2.imencode(".png", np.full((480, 640, 3), 90, np.uint8))[1].tobytes()


def _cases(group: str):
    from tests.hostile.corpus import image_cases, zip_cases
    if group == "image-bombs":
        for case in image_cases():
            if case.bomb:
                yield case.name, case.make()
    elif group == "heavy-images":
        yield from _heavy_legal_images()
    elif group == "heavy-photos-predicted":
        yield next(_heavy_legal_images())  # the 50-megapixel photo: Demo also draws and detects on it
    elif group == "video-bombs":
        yield from _huge_frame_videos()
    elif group == "zip-bombs":
        for case in zip_cases():
            if case.bomb:
                yield case.name, case.make()
    else:
        raise SystemExit(f"unknown group {group!r}")


def _run(group: str, name: str, data: bytes, folder: Path) -> tuple[str, str]:
    from fer_core.app.uploads import UploadError, validate_dataset_zip
    from fer_core.data import read_source
    from fer_core.data.dataset import DataError
    from fer_core.data.decode import ImageDecodeError, decode_gray, decode_rgb
    try:
        if group == "video-bombs":
            from fer_core.inference.video import VideoError, analyse_video
            path = folder / f"{name}.avi"
            path.write_bytes(data)
            try:
                analyse_video(_PREDICTOR[0], path, out_dir=folder / f"{name}-out")
            except VideoError as exc:
                return "refused", str(exc)
            return "ok", ""
        if group == "zip-bombs":
            path = folder / f"{name}.zip"
            path.write_bytes(data)
            try:
                validate_dataset_zip(data, path.name)
            except UploadError:
                pass  # refused as an upload; the same file given by path must be bounded too
            read_source(path, use_cache=False)
        elif group == "heavy-photos-predicted":  # Demo's path: decode, find faces, classify
            _PREDICTOR[0].predict_photo(data)
        else:
            decode_gray(data)
            decode_rgb(data)
        return "ok", ""
    except (ImageDecodeError, DataError, UploadError) as exc:
        return "refused", str(exc)
    except MemoryError:
        return "out-of-memory", "MemoryError"
    except Exception as exc:  # a decoder that failed to allocate raises its own error types
        return "crashed", f"{type(exc).__name__}: {exc}"


def main(group: str) -> None:
    import cv2
    cv2.setNumThreads(1)  # OpenCV's thread pool reserves address space per thread, not memory
    import fer_core.app.uploads  # noqa: F401  (everything imported before the baseline is taken)
    import fer_core.data  # noqa: F401
    if group in ("heavy-photos-predicted", "video-bombs"):
        from fer_core.inference.predictor import Predictor
        _PREDICTOR.append(Predictor.from_run("builtin", engine="torch"))  # the engine does not change the decode
        _PREDICTOR[0].predict_photo(_small_photo())  # warm up: first-call allocations are not the photo's
    cases = list(_cases(group))
    baseline_vm = _status("VmSize")
    resource.setrlimit(resource.RLIMIT_AS, (baseline_vm + LIMIT_BYTES, resource.RLIM_INFINITY))
    with tempfile.TemporaryDirectory() as folder:
        for name, data in cases:
            can_reset = _reset_peak()
            before = _status("VmRSS")
            outcome, message = _run(group, name, data, Path(folder))
            peak = _status("VmHWM") if can_reset else None
            print(json.dumps({"name": name, "outcome": outcome, "message": message[:300],
                              "peak_mb": None if peak is None else max(0, peak - before) / 2**20}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
