"""Dataset folders holding special files: a FIFO named like an image (a read blocks for ever), links to
/dev/zero or /dev/urandom (a read never ends), a sparse multi-gigabyte 'image', links leaving the
folder, dangling links and loops. Each is skipped with its reason before a byte is read; the rest loads."""
from __future__ import annotations

import contextlib
import io
import os
import threading

import cv2
import numpy as np
import pytest

from fer_core.cli import main
from fer_core.data.dataset import DataError
from fer_core.data.loader import read_source

from tests.hostile.messages import assert_clear


def _within(seconds: float, work):
    """work()'s result, or a failed test if it takes longer (a blocked read must not hang pytest)."""
    box = {}

    def target():
        try:
            box["result"] = work()
        except BaseException as exc:  # handed to the test thread
            box["error"] = exc
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still reading after {seconds} s: a special file blocked the read"
    if "error" in box:
        raise box["error"]
    return box["result"]


def _sparse(path, size: int) -> None:
    with open(path, "wb") as f:
        f.truncate(size)  # no disk blocks: a huge file in an instant


SPECIAL = {
    "fifo": lambda p, outside: os.mkfifo(p),
    "link-to-dev-zero": lambda p, outside: p.symlink_to("/dev/zero"),
    "link-to-dev-urandom": lambda p, outside: p.symlink_to("/dev/urandom"),
    "sparse-3-gib": lambda p, outside: _sparse(p, 3 * 1024**3),
    "link-outside-the-folder": lambda p, outside: p.symlink_to(outside),
    "dangling-link": lambda p, outside: p.symlink_to(p.parent / "nowhere.png"),
    "link-loop": lambda p, outside: p.symlink_to(p),
}
REASONS = ("not a regular file", "over the", "outside the dataset folder", "could not be read")


@pytest.fixture
def dataset(tmp_path):
    outside = tmp_path / "secret.png"
    cv2.imwrite(str(outside), np.full((48, 48), 7, np.uint8))
    root = tmp_path / "data"
    for i in range(4):
        folder = root / ("happy" if i % 2 else "sad")
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"{i}.png"), np.full((48, 48), 30 * i, np.uint8))
    return root, outside


@pytest.mark.parametrize("kind", list(SPECIAL))
def test_a_special_file_in_a_dataset_folder_is_skipped_unread(dataset, tmp_path, kind):
    root, outside = dataset
    SPECIAL[kind](root / "happy" / "x.png", outside)
    ds = _within(20, lambda: read_source(root, use_cache=False))
    assert len(ds) == 4
    skipped = dict(ds.report.skipped)
    assert "happy/x.png" in skipped and any(r in skipped["happy/x.png"] for r in REASONS), skipped
    assert_clear(skipped["happy/x.png"])


def test_data_summary_on_a_folder_with_a_fifo_ends(dataset):
    root, _ = dataset
    os.mkfifo(root / "sad" / "y.png")
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert _within(60, lambda: main(["data", "summary", "--data", str(root), "--no-cache"])) == 0


@pytest.mark.parametrize("given", ["the-file", "its-folder"])
@pytest.mark.parametrize("kind", ["fifo", "link-to-dev-zero", "sparse-3-gib"])
def test_a_special_fer2013_csv_is_refused_before_it_is_read(tmp_path, kind, given):
    path = tmp_path / "fer2013.csv"
    SPECIAL[kind](path, None)
    with pytest.raises(DataError) as caught:
        _within(20, lambda: read_source(path if given == "the-file" else tmp_path, use_cache=False))
    assert_clear(caught.value)
    assert any(r in str(caught.value) for r in ("not a regular file", "not a file or folder", "limit")), caught.value
