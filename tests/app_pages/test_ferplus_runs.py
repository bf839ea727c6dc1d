"""A run trained on FER+ labels (8 classes, contempt added) on every page that shows a model: Runs, Demo,
Explain."""
from __future__ import annotations

import shutil

import cv2
import pytest

from fer_core import runs
from fer_core.data.synthetic import generate_synthetic
from fer_core.jobs import worker
from fer_core.training.config import make_config
from tests.app_pages.app import open_app
from tests.conftest import synthetic_votes


@pytest.fixture(scope="module")
def ferplus_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("ferplus")
    votes = synthetic_votes(root / "votes.csv", 400)
    run_dir = runs.create_run(make_config(arch="simple_cnn", synthetic_size=400, epochs=1, batch_size=32,
                                          device="cpu", votes=str(votes), label_mode="distribution",
                                          torch_threads=1), root / "runs")
    assert worker.execute(run_dir) == "completed", runs.read_status(run_dir)
    return run_dir


@pytest.fixture
def in_checkpoints(ferplus_run, isolated_project_dirs):
    target = isolated_project_dirs / "checkpoints" / ferplus_run.name
    shutil.copytree(ferplus_run, target)
    return target


def face_png() -> bytes:
    ok, buf = cv2.imencode(".png", generate_synthetic(40, seed=3).images[0])
    assert ok
    return buf.tobytes()


def test_the_runs_table_says_the_figures_are_on_fer_plus_majority_labels(in_checkpoints):
    at = open_app("runs")
    at.session_state["runs_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    assert not at.exception and not at.error
    table = at.dataframe(key="runs_table").value
    assert table["test_labels"].iloc[0] == "FER+ majority" and "f1_contempt" in table.columns
    assert table["data"].iloc[0].endswith("· FER+ majority")
    strategy = next(d.value for d in at.dataframe if "val_metric" in d.value.columns)
    assert strategy["strategy"].iloc[0] == "none · vote distribution"


def test_demo_and_explain_answer_with_eight_classes(in_checkpoints):
    demo = open_app("demo").run()
    demo.file_uploader(key="demo_upload").set_value(("me.png", face_png(), "image/png"))
    demo.run()
    assert not demo.exception and not demo.error
    from fer_core.common.emotions import DISPLAY_NAMES
    shown = " ".join(m.value for m in demo.markdown)
    assert any(name in shown for name in DISPLAY_NAMES.values()) and "sure" in demo.get("progress")[0].proto.text
    explain = open_app("explain").run()
    explain.file_uploader(key="explain_upload").set_value([("face.png", face_png(), "image/png")])
    explain.run()
    assert not explain.exception and not explain.error
    assert "Contempt" in explain.get("plotly_chart")[0].proto.spec
