"""A cancel is never lost: not to a broad `except` in a reader (a cancelled load used to go on, and
cache a dataset missing one image for good), nor to a progress write racing the cancel request."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer_core import runs
from fer_core.data import loader, sources
from fer_core.runs.guard import RunCancelled
from fer_core.training.config import TrainConfig

ROOT = Path(__file__).resolve().parents[2]


def _image_folder(root: Path, n: int = 6) -> Path:
    for i in range(n):
        folder = root / "data" / ("happy" if i % 2 else "sad")
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"{i}.png"), np.full((48, 48), 20 * i, np.uint8))
    return root / "data"


def test_a_cancel_while_images_load_stops_the_load_and_caches_nothing(tmp_path, monkeypatch):
    data, cache_dir = _image_folder(tmp_path), tmp_path / "cache"
    real, calls = sources.decode_face, []

    def cancelled_on_the_third(raw):
        calls.append(1)
        if len(calls) == 3:
            raise RunCancelled("cancelled by request")  # what the worker's SIGTERM handler raises
        return real(raw)

    monkeypatch.setattr(sources, "decode_face", cancelled_on_the_third)
    with pytest.raises(RunCancelled):
        loader.read_source(data, cache_dir=cache_dir)
    assert len(calls) == 3, "the load went on after the cancel"
    assert not cache_dir.exists() or not any(cache_dir.iterdir()), "a partial dataset was cached"
    monkeypatch.setattr(sources, "decode_face", real)
    assert len(loader.read_source(data, cache_dir=cache_dir)) == 6


def test_no_broad_except_catches_a_cancel():
    assert not issubclass(RunCancelled, Exception)


_WRITER = """
import sys, pathlib
from fer_core.runs.store import write_status
run_dir, stop = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
i = 0
while not stop.exists():
    i += 1
    write_status(run_dir, "running", phase="training", batch=i)  # a training loop's progress, flat out
"""


def test_a_cancel_request_survives_progress_written_flat_out_200_times(tmp_path):
    run_dir = runs.create_run(TrainConfig(epochs=1), tmp_path)
    runs.write_status(run_dir, "running")
    stop = tmp_path / "stop"
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(run_dir), str(stop)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while "batch" not in runs.read_json(run_dir / runs.STATUS) and time.monotonic() < deadline:
            time.sleep(0.01)
        lost = 0
        for k in range(1, 201):
            lost += runs.read_json(run_dir / runs.STATUS).get("cancel_requested_at", 0) != k - 1
            runs.write_status(run_dir, "running", cancel_requested_at=k)  # what jobs.cancel records
            time.sleep(0.002)
    finally:
        stop.touch()
        writer.wait(timeout=30)
    final = runs.read_json(run_dir / runs.STATUS)
    assert final["batch"] > 10, "the writer did not race the requests"
    assert lost == 0 and final["cancel_requested_at"] == 200, f"{lost} of 200 cancel requests were overwritten"
