"""The run folder format: atomic records, dead-process detection, listing, deletion, the run guard."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from fer_core import runs
from fer_core.runs.guard import RunCancelled, RunGuard
from fer_core.training.config import make_config


def _make_run(root, **options):
    return runs.create_run(make_config(**options), root)


def test_create_run_writes_config_and_queued_status(tmp_path):
    run_dir = _make_run(tmp_path, arch="simple_cnn", imbalance="focal", epochs=3)
    assert run_dir.parent == tmp_path and "simple_cnn-focal" in run_dir.name
    assert json.loads((run_dir / runs.CONFIG).read_text())["imbalance"] == "focal"
    assert runs.read_status(run_dir)["status"] == "queued"
    assert _make_run(tmp_path, arch="simple_cnn", imbalance="focal") != run_dir  # never reuses a folder


def test_metrics_rows_append_and_read_back(tmp_path):
    run_dir = _make_run(tmp_path)
    for epoch in (1, 2):
        runs.append_metrics(run_dir, {"epoch": epoch, "train_loss": 1.0 / epoch, "val_acc": 0.5 + epoch / 10})
    rows = runs.read_metrics(run_dir)
    assert [r["epoch"] for r in rows] == [1, 2]
    assert rows[1]["train_loss"] == 0.5 and rows[1]["val_acc"] == pytest.approx(0.7)
    assert rows[0]["lr"] is None
    assert not list(run_dir.glob(".*.tmp"))  # temporary files are renamed away


def test_a_running_run_whose_process_died_reads_as_failed_and_only_reconcile_records_it(tmp_path):
    run_dir = _make_run(tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    runs.write_status(run_dir, "running", pid=dead.pid, pid_start=None)
    status = runs.read_status(run_dir)
    assert status["status"] == "failed"
    assert "stopped without finishing" in status["error"]
    before = (run_dir / runs.STATUS).read_bytes()
    runs.load_run(run_dir), runs.list_runs(tmp_path)
    assert (run_dir / runs.STATUS).read_bytes() == before  # reading never writes
    assert runs.reconcile_run(run_dir) is True  # the explicit repair records it
    assert runs.read_json(run_dir / runs.STATUS)["status"] == "failed"
    assert runs.reconcile_run(run_dir) is False


def test_a_live_process_keeps_its_running_status(tmp_path):
    run_dir = _make_run(tmp_path)
    runs.write_status(run_dir, "running")  # this test process
    assert runs.read_status(run_dir)["status"] == "running"


def test_run_guard_records_failure_with_traceback_and_cancel(tmp_path):
    run_dir = _make_run(tmp_path)
    with RunGuard(run_dir) as guard:
        raise ValueError("learning rate must be positive")
    assert guard.status == "failed"
    status = runs.read_status(run_dir)
    assert status["error"] == "learning rate must be positive" and "Traceback" in status["traceback"]

    other = _make_run(tmp_path)
    with RunGuard(other):
        raise RunCancelled()
    assert runs.read_status(other)["status"] == "cancelled"


def test_out_of_memory_is_explained(tmp_path):
    run_dir = _make_run(tmp_path)
    with RunGuard(run_dir):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
    assert "smaller batch size" in runs.read_status(run_dir)["error"]


def test_list_shows_unreadable_folders_and_delete_refuses_active_runs(tmp_path):
    good = _make_run(tmp_path)
    broken = _make_run(tmp_path)
    (broken / runs.STATUS).write_text("{not json")
    (tmp_path / "stray-folder").mkdir()  # neither config nor status: not a run, not listed
    listed = {r.run_dir: r for r in runs.list_runs(tmp_path)}
    assert set(listed) == {good, broken}
    assert listed[broken].state == runs.UNREADABLE and "status.json is unreadable" in listed[broken].status["error"]
    assert not listed[broken].has_model and listed[good].readable
    runs.write_status(good, "running")
    with pytest.raises(runs.RunError, match="cancel it before deleting"):
        runs.delete_run(good, root=tmp_path)
    runs.write_status(good, "completed")
    runs.delete_run(good, root=tmp_path)
    assert not good.exists()
    with pytest.raises(runs.RunError, match="not a run folder"):
        runs.delete_run(tmp_path / "stray-folder", root=tmp_path)


@pytest.mark.parametrize("file, content", [
    (runs.METRICS, "epoch,train_loss\n1,not-a-number\n"),
    (runs.CONFIG, "[1, 2]"),
    (runs.STATUS, "[]"),
    (runs.EVALUATION, "\"text\""),
])
def test_one_tampered_run_folder_never_hides_the_others(tmp_path, file, content):
    good = _make_run(tmp_path)
    broken = _make_run(tmp_path)
    (broken / file).write_text(content)
    with pytest.raises(runs.RunError, match="is unreadable"):
        runs.load_run(broken)
    listed = runs.list_runs(tmp_path)
    assert sorted(r.run_dir for r in listed) == sorted([good, broken])
    assert [r.state for r in listed if r.run_dir == broken] == [runs.UNREADABLE]


def test_the_app_deletes_only_inside_its_checkpoints_folder(tmp_path):
    outside = _make_run(tmp_path / "elsewhere")
    runs.write_status(outside, "completed")
    with pytest.raises(runs.RunError, match="not a run folder inside the checkpoints folder"):
        runs.delete_run(outside, root=tmp_path / "checkpoints")
    with pytest.raises(runs.RunError, match="not a run folder inside the checkpoints folder"):
        runs.delete_run(outside)  # without a root: the checkpoints folder
    with pytest.raises(runs.RunError, match="not a run folder inside the checkpoints folder"):
        runs.delete_run(tmp_path / "checkpoints" / ".." / "elsewhere" / outside.name, root=tmp_path / "checkpoints")
    assert outside.exists()
    inside = _make_run(tmp_path / "checkpoints")
    runs.write_status(inside, "completed")
    runs.delete_run(inside, root=tmp_path / "checkpoints")
    assert not inside.exists()


def test_write_evaluation_and_predictions(tmp_path):
    run_dir = _make_run(tmp_path)
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.5, 0.4, 0.1]])
    report = runs.write_evaluation(run_dir, ["a", "b", "c", "d"], np.array([0, 1, 2, 1]), probs, ("x", "y", "z"))
    assert report["accuracy"] == 0.75 and report["confusion_matrix"] == [[1, 0, 0], [1, 1, 0], [0, 0, 1]]
    assert report["per_class"]["y"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    frame = runs.read_predictions(run_dir)
    assert frame["id"].tolist() == ["a", "b", "c", "d"]
    assert frame.loc[3, "label"] == "y" and frame.loc[3, "prediction"] == "x"
    assert runs.load_run(run_dir).evaluation["accuracy"] == 0.75


def test_a_deep_run_folder_written_in_the_old_format_still_loads(trained_run, tmp_path):
    """best.pt written before model cards had a kind, and config.json's num_workers_threads (now
    torch_threads): the run still predicts the same, as a deep model."""
    import json
    import shutil

    import numpy as np
    import torch

    from fer_core.inference.predictor import Predictor
    run_dir = tmp_path / "old"
    shutil.copytree(trained_run, run_dir)
    blob = torch.load(run_dir / runs.CHECKPOINT, weights_only=True)
    del blob["card"]["kind"]
    torch.save(blob, run_dir / runs.CHECKPOINT)
    config = json.loads((run_dir / runs.CONFIG).read_text())
    config["num_workers_threads"] = config.pop("torch_threads")
    (run_dir / runs.CONFIG).write_text(json.dumps(config))

    old = Predictor.from_run(run_dir, engine="torch")
    assert old.card.kind == "deep" and old.is_deep
    faces = np.random.default_rng(0).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    np.testing.assert_allclose(old.predict_faces(faces), Predictor.from_run(trained_run, engine="torch").predict_faces(faces),
                               atol=1e-6)
    assert runs.load_run(run_dir).summary()["status"] == "completed"


def test_the_test_accuracy_is_the_one_measured_for_the_inference_mode_asked_for(tmp_path):
    record = runs.RunRecord(tmp_path, {}, {"status": "completed"},
                            evaluation={"accuracy": 0.66, "tta": "flip", "without_tta": {"accuracy": 0.65}})
    assert record.test_accuracy("flip") == 0.66 and record.test_accuracy("none") == 0.65
    plain = runs.RunRecord(tmp_path, {}, {"status": "completed"}, evaluation={"accuracy": 0.6})
    assert plain.test_accuracy() == 0.6 and plain.test_accuracy("flip") is None  # flip was never measured
    odd = runs.RunRecord(tmp_path, {}, {"status": "completed"}, evaluation={"tta": "flip", "without_tta": "0.6"})
    assert odd.test_accuracy() is None and runs.RunRecord(tmp_path, {}, {}).test_accuracy() is None
