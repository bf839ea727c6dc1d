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
