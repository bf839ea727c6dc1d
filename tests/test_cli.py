"""`python -m fer_core` commands and their JSON output."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import KAGGLE_COUNTS

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fer_core", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=os.environ.copy())


def test_data_summary_json_on_kaggle_zip(kaggle_zip):
    result = run_cli("data", "summary", "--data", str(kaggle_zip), "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)  # exactly one JSON object on stdout
    assert set(out) == {"source", "classes", "counts"}
    assert out["classes"] == ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
    assert out["counts"]["test"] == KAGGLE_COUNTS["test"]
    assert set(out["counts"]) == {"train", "val", "test"}
    for cls, n in KAGGLE_COUNTS["train"].items():
        assert out["counts"]["train"][cls] + out["counts"]["val"][cls] == n


def test_data_summary_defaults_to_synthetic():
    result = run_cli("data", "summary", "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["source"].startswith("synthetic")
    assert sum(out["counts"]["train"].values()) > 1000


def test_data_summary_text(fer_csv):
    result = run_cli("data", "summary", "--data", str(fer_csv))
    assert result.returncode == 0, result.stderr
    assert "happy" in result.stdout and "total" in result.stdout


def test_data_quality_json(kaggle_zip):
    result = run_cli("data", "quality", "--data", str(kaggle_zip), "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert isinstance(out["duplicate_groups"], int) and isinstance(out["cross_split_duplicate_groups"], int)
    assert out["duplicate_groups"] == 0


@pytest.mark.parametrize("args, message", [
    (["--data", "/no/such/path"], "no such file or folder"),
    (["--data", "pyproject.toml"], "not a dataset"),
])
def test_data_errors_are_one_clear_line(args, message):
    result = run_cli("data", "summary", *args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
