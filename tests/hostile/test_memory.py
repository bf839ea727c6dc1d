"""The bombs and the heaviest legal inputs, each run in a subprocess whose address space is capped at
its baseline plus 1 GiB (tests/hostile/memory_probe.py): every bomb is refused by our own size checks
(not by running out of memory), and nothing costs more than 1 GB."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hostile.messages import assert_clear

ROOT = Path(__file__).resolve().parents[2]
SIZE_REFUSALS = ("pixel limit", "not a readable image", "inflates past its declared size", "entries overlap",
                 "none of the image files could be read", "over the 8 GB limit", "-pixel limit")


GROUPS = {"image-bombs": "refused", "zip-bombs": "refused", "heavy-images": "ok", "heavy-photos-predicted": "ok",
          "video-bombs": "refused"}


@pytest.fixture(scope="module")
def probes() -> dict[str, subprocess.Popen]:
    """Every group's probe, started at once (each is mostly waiting on imports and encoders)."""
    from fer_core.common.paths import PACKAGED_BUILTIN
    env = dict(os.environ, OPENCV_LOG_LEVEL="OFF", FER_BUILTIN_DIR=str(PACKAGED_BUILTIN))
    started = {group: subprocess.Popen([sys.executable, "-m", "tests.hostile.memory_probe", group], cwd=ROOT,
                                       env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for group in GROUPS}
    yield started
    for proc in started.values():
        proc.kill()


def _results(proc: subprocess.Popen) -> list[dict]:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("group", list(GROUPS))
def test_bombs_are_refused_and_nothing_costs_a_gigabyte(probes, group):
    expect = GROUPS[group]
    results = _results(probes[group])
    assert results
    for r in results:
        assert r["outcome"] == expect, r
        if expect == "refused":
            assert any(reason in r["message"] for reason in SIZE_REFUSALS), r
            assert_clear(r["message"])
        if r["peak_mb"] is not None:
            assert r["peak_mb"] < 1024, r
