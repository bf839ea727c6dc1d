"""The one atomic writer (fer_core.common.files): a file is replaced only by a complete new version."""
from __future__ import annotations

import json

import numpy as np
import pytest

from fer_core.common.files import atomic_write_bytes, atomic_write_json, atomic_writer


def test_a_write_replaces_the_file_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "x.json"
    atomic_write_json(target, {"a": np.float32(0.5), "b": np.arange(3), "p": tmp_path})
    assert json.loads(target.read_text()) == {"a": 0.5, "b": [0, 1, 2], "p": str(tmp_path)}
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_a_write_that_fails_half_way_keeps_the_previous_version(tmp_path):
    target = tmp_path / "cache.npz"
    target.write_bytes(b"old and complete")
    with pytest.raises(RuntimeError):
        with atomic_writer(target) as f:
            f.write(b"half of the new")
            raise RuntimeError("killed")
    assert target.read_bytes() == b"old and complete" and [p.name for p in tmp_path.iterdir()] == ["cache.npz"]
    with pytest.raises(TypeError, match="not JSON serialisable"):
        atomic_write_json(target, {"x": object()})
    assert target.read_bytes() == b"old and complete"


def test_stale_temporaries_of_killed_writers_are_removed_and_live_ones_kept(tmp_path):
    import os
    import time

    from fer_core.common.files import remove_stale_temporaries
    stale, live, other = tmp_path / ".cache.npz.abc.tmp", tmp_path / ".cache.npz.def.tmp", tmp_path / "cache.npz"
    for path in (stale, live, other):
        path.write_bytes(b"partial")
    hours_ago = time.time() - 2 * 3600
    os.utime(stale, (hours_ago, hours_ago))
    os.utime(other, (hours_ago, hours_ago))
    assert remove_stale_temporaries(tmp_path) == 1
    assert not stale.exists() and live.exists() and other.exists()


def test_the_data_cache_sweeps_its_folder_once_per_process(tmp_path):
    import os
    import time

    from fer_core.data import cache
    stale = tmp_path / ".synthetic-x-v1.npz.k1.tmp"
    stale.write_bytes(b"partial")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    cache.cache_path(tmp_path, "folder", "abc")
    assert not stale.exists()
