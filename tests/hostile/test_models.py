"""Crafted classical models: trees whose indices point outside their arrays segfaulted the process
(Demo's server with it) when they were used. Each is now refused with a clear message when loaded.
The probe runs in a subprocess, so a crash fails these tests instead of killing pytest."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hostile.crafted_models import SVM_EDITS, TREE_EDITS
from tests.hostile.messages import assert_clear

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> dict[str, dict]:
    folder = tmp_path_factory.mktemp("crafted")
    proc = subprocess.run([sys.executable, "-m", "tests.hostile.crafted_models", str(folder)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    results = {r["name"]: r for r in lines}  # a case's "started" line is replaced by its outcome
    crashed = [r["name"] for r in lines if r["outcome"] == "started" and results[r["name"]] is r]
    assert proc.returncode == 0, f"the probe died (exit {proc.returncode}) on {crashed}: {proc.stderr[-1500:]}"
    return results


@pytest.mark.parametrize("name", [n for n in [*TREE_EDITS, *SVM_EDITS] if "untouched" not in n])
def test_a_crafted_classical_model_is_refused_before_it_can_crash_the_process(outcomes, name):
    result = outcomes[name]
    if name == "node-count-beyond-the-stored-nodes":  # scikit-learn 1.9 clamps it to the nodes stored itself
        assert result["outcome"] in ("refused", "ok"), result
        return
    assert result["outcome"] == "refused", result
    assert "was not used" in result["message"] or "unreadable" in result["message"], result
    assert_clear(result["message"])


@pytest.mark.parametrize("name", ["untouched", "svm-untouched"])
def test_an_untouched_classical_model_still_loads_and_scores(outcomes, name):
    assert outcomes[name]["outcome"] == "ok", outcomes[name]
