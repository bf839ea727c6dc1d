"""`python -m fer_core` commands and their JSON output."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import KAGGLE_COUNTS

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


TINY_TRAIN = ["--arch", "simple_cnn", "--synthetic-size", "600", "--epochs", "1", "--batch-size", "32", "--device", "cpu"]


def test_train_prints_the_run_folder_last_and_evaluate_prints_json(tmp_path):
    result = run_cli("train", *TINY_TRAIN, "--imbalance", "focal", "--focal-gamma", "1.5", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    run_dir = Path(result.stdout.strip().splitlines()[-1])
    assert run_dir.parent == tmp_path and (run_dir / "best.pt").exists()
    assert "epoch 1/1" in result.stderr and "test accuracy" in result.stderr
    assert "\r" not in result.stderr  # piped: whole lines, no carriage returns for a terminal's bar
    config = json.loads((run_dir / "config.json").read_text())
    assert config["imbalance"] == "focal" and config["imbalance_options"] == {"gamma": 1.5}

    ev = run_cli("evaluate", "--run", str(run_dir), "--split", "val", "--json")
    assert ev.returncode == 0, ev.stderr
    out = json.loads(ev.stdout)
    assert set(out) == {"accuracy", "macro_f1", "per_class", "confusion_matrix", "n", "labels"}
    assert out["labels"] == "source labels"
    assert set(out["per_class"]["happy"]) == {"precision", "recall", "f1", "support"}
    assert len(out["confusion_matrix"]) == 7

    listing = run_cli("runs", "--out", str(tmp_path), "--json")
    rows = json.loads(listing.stdout)
    assert [r["run_id"] for r in rows] == [run_dir.name] and rows[0]["status"] == "completed"


def test_votes_relabel_the_data_and_train_reports_the_labels_it_scored_on(tmp_path):
    from tests.conftest import synthetic_votes
    summary = run_cli("data", "summary", "--votes", str(synthetic_votes(tmp_path / "all.csv", 4000)))
    assert summary.returncode == 0, summary.stderr
    assert "contempt" in summary.stdout and "labels: FER+ majority: 3,200 of 4,000 faces kept" in summary.stdout
    votes = str(synthetic_votes(tmp_path / "votes.csv", 600))
    result = run_cli("train", *TINY_TRAIN, "--votes", votes, "--label-mode", "distribution", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "on FER+ majority" in result.stderr and "480 of 600 faces kept" in result.stderr
    run_dir = Path(result.stdout.strip().splitlines()[-1])
    config = json.loads((run_dir / "config.json").read_text())
    assert config["label_mode"] == "distribution" and config["votes"] == str(Path(votes).resolve())
    ev = run_cli("evaluate", "--run", str(run_dir), "--label-mode", "fer2013", "--json")
    out = json.loads(ev.stdout)
    assert out["labels"] == "source labels" and out["n"] == 90 and len(out["scored_classes"]) == 7


@pytest.mark.parametrize("args, message", [
    (["--label-mode", "majority"], "label mode 'majority' needs a FER+ votes file"),
    (["--votes", "/no/such/votes.csv"], "no such votes file"),
    (["--votes", "pyproject.toml"], "line 1: the columns are"),
])
def test_train_refuses_a_bad_votes_choice_before_any_work(tmp_path, args, message):
    result = run_cli("train", *TINY_TRAIN, *args, "--out", str(tmp_path))
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert not any(tmp_path.iterdir())


def test_data_quality_reports_the_label_agreement_with_votes(tmp_path):
    from tests.conftest import synthetic_votes
    votes = str(synthetic_votes(tmp_path / "votes.csv", 4000))
    out = json.loads(run_cli("data", "quality", "--votes", votes, "--json").stdout)
    assert out["labels"]["n_compared"] == 3200 and out["labels"]["agreement"] == 0.75
    assert out["labels"]["matrix"]["columns"][-1] == "contempt"
    text = run_cli("data", "quality", "--votes", votes)
    assert "they agree on 75.0%" in text.stdout and "median: 80%" in text.stdout
    assert "labels" not in json.loads(run_cli("data", "quality", "--json").stdout)


def test_train_lists_registries():
    archs = run_cli("train", "--list-archs")
    assert archs.returncode == 0 and "simple_cnn" in archs.stdout and "hog_svm" in archs.stdout
    strategies = run_cli("train", "--list-strategies")
    assert "focal" in strategies.stdout and "undersample" in strategies.stdout


@pytest.mark.parametrize("args, message", [
    (["--arch", "resnet_9000"], "unknown architecture 'resnet_9000'"),
    (["--imbalance", "magic"], "unknown imbalance strategy 'magic'"),
    (["--lr", "-1"], "learning rate must be positive"),
    (["--mixup", "-0.2"], "mixup_alpha must be a number >= 0"),
    (["--mix-stop-epoch", "0"], "mix_stop_epoch must be at least 1"),
])
def test_train_refuses_bad_options_before_any_work(tmp_path, args, message):
    result = run_cli("train", *TINY_TRAIN, *args, "--out", str(tmp_path))
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert not any(tmp_path.iterdir())  # no run folder was created


def _stopped_run(tmp_path, epochs: int = 2) -> Path:
    """A tiny run stopped by an error after its first epoch (it keeps last.pt)."""
    from fer_core import runs
    from fer_core.jobs import worker
    from fer_core.training.config import make_config

    def stop(event):
        if event.get("done"):
            raise RuntimeError("stopped on purpose")
    run_dir = runs.create_run(make_config(arch="simple_cnn", synthetic_size=300, epochs=epochs, batch_size=32,
                                          device="cpu", torch_threads=1), tmp_path)
    assert worker.execute(run_dir, progress=stop) == "failed"
    return run_dir


def test_train_resume_continues_a_stopped_run_in_its_folder(tmp_path):
    run_dir = _stopped_run(tmp_path)
    result = run_cli("train", "--resume", str(run_dir))
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip().splitlines()[-1]) == run_dir
    assert "resuming after epoch 1" in result.stderr and "epoch 2/2" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == [run_dir.name]  # no new run folder
    status = json.loads((run_dir / "status.json").read_text())
    assert status["status"] == "completed" and not (run_dir / "last.pt").exists()
    assert len((run_dir / "metrics.csv").read_text().strip().splitlines()) == 3  # header + 2 epochs

    again = run_cli("train", "--resume", str(run_dir))
    assert again.returncode == 2 and "has completed: there is nothing to resume" in again.stderr


def test_train_resume_refuses_options_that_would_change_the_run_and_torchrun(tmp_path, capsys, monkeypatch):
    from fer_core.cli import main
    run_dir = _stopped_run(tmp_path)
    assert main(["train", "--resume", str(run_dir), "--epochs", "5", "--no-mixed-precision"]) == 2
    err = capsys.readouterr().err
    assert "--epochs, --no-mixed-precision cannot be given with it" in err and "Traceback" not in err
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["train", "--resume", str(run_dir)]) == 2
    assert "under torchrun is not supported" in capsys.readouterr().err
    monkeypatch.delenv("WORLD_SIZE")
    assert main(["train", "--resume", str(tmp_path / "nothing")]) == 2
    assert "no such run folder" in capsys.readouterr().err
    assert json.loads((run_dir / "status.json").read_text())["status"] == "failed"  # untouched


def test_sweep_queues_a_grid_and_waits(tmp_path):
    result = run_cli("sweep", "--arch", "pca_rf", "hog_rf", "--imbalance", "none", "class_weights",
                     "--synthetic-size", "400", "--out", str(tmp_path), "--wait", timeout=300)
    assert result.returncode == 0, result.stderr + result.stdout
    folders = [d for d in tmp_path.iterdir() if d.is_dir()]
    assert len(folders) == 4
    assert result.stdout.count("completed") == 4


def test_evaluate_on_a_missing_run_is_a_clear_error(tmp_path):
    result = run_cli("evaluate", "--run", str(tmp_path / "nope"), "--json")
    assert result.returncode == 2 and "no such run folder" in result.stderr


def test_a_recipe_flag_wins_over_the_recipe_in_a_config_file(tmp_path):
    from fer_core.cli import _config_from_args, build_parser
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps({"recipe": "fer2013-best", "epochs": 5, "arch": "vgg_fer"}))
    args = build_parser().parse_args(["train", "--config", str(config_file), "--recipe", "cpu-quick", "--epochs", "2"])
    config = _config_from_args(args, args.arch, args.imbalance)
    assert config.recipe == "cpu-quick" and config.epochs == 2
    assert config.arch == "vgg_fer"  # the file's own options still apply over the recipe's
    args = build_parser().parse_args(["train", "--config", str(config_file)])
    assert _config_from_args(args, args.arch, args.imbalance).recipe == "fer2013-best"


def face_file(tmp_path, name: str = "face.png") -> Path:
    from fer_core.data.synthetic import generate_synthetic
    path = tmp_path / name
    import cv2
    cv2.imwrite(str(path), generate_synthetic(40, seed=5).images[0])
    return path


def test_predict_json_gives_faces_and_probabilities_per_image(trained_run, tmp_path):
    face = face_file(tmp_path)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    result = run_cli("predict", "--run", str(trained_run), str(face), str(bad), "--json")
    assert result.returncode == 1, result.stderr  # one image failed, the other was still predicted
    out = json.loads(result.stdout)
    good, broken = out
    assert good["image"] == str(face) and good["whole_image"] is True and len(good["faces"]) == 1
    probs = good["faces"][0]["probabilities"]
    assert list(probs) == ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
    assert sum(probs.values()) == pytest.approx(1, abs=1e-3)
    assert good["faces"][0]["label"] == max(probs, key=probs.get)
    assert broken["image"] == str(bad) and "error" in broken


def test_predict_text_output_and_a_run_without_checkpoint(trained_run, tmp_path):
    face = face_file(tmp_path)
    result = run_cli("predict", "--run", str(trained_run), str(face))
    assert result.returncode == 0, result.stderr
    assert "1 face(s) (a face crop: used whole)" in result.stdout
    empty_run = tmp_path / "empty_run"
    import shutil
    shutil.copytree(trained_run, empty_run)
    (empty_run / "best.pt").unlink()
    result = run_cli("predict", "--run", str(empty_run), str(face))
    assert result.returncode == 2
    assert "cannot predict" in result.stderr and "Traceback" not in result.stderr


def test_explain_writes_an_overlay_png(trained_run, tmp_path):
    import cv2
    face = face_file(tmp_path)
    out = tmp_path / "out" / "cam.png"
    result = run_cli("explain", "--run", str(trained_run), str(face), "--method", "gradcam", "--target", "happy",
                     "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(out)
    assert "gradcam for happy" in result.stdout
    image = cv2.imread(str(out))
    assert image is not None and image.shape == (192, 192, 3)


def test_explain_refuses_an_unknown_method_and_class(trained_run, tmp_path):
    face = face_file(tmp_path)
    out = tmp_path / "cam.png"
    result = run_cli("explain", "--run", str(trained_run), str(face), "--method", "magic", "--out", str(out))
    assert result.returncode == 2 and "gradcam" in result.stderr and not out.exists()
    result = run_cli("explain", "--run", str(trained_run), str(face), "--target", "bored", "--out", str(out))
    assert result.returncode == 2 and "unknown class 'bored'" in result.stderr


def test_predict_says_which_model_answered(bundled_model, tmp_path):
    result = run_cli("predict", "--json", str(face_file(tmp_path)))  # --run defaults to builtin
    assert result.returncode == 0, result.stderr
    model = json.loads(result.stdout)["model"]
    assert model["model"] == "builtin" and model["arch"] == "fast_cnn"
    assert model["dataset"] == "fer2013.zip" and model["synthetic"] is False


def test_predict_reads_folders_and_zips_into_a_csv_reporting_bad_files(bundled_model, tmp_path):
    import csv
    import zipfile
    folder = tmp_path / "faces"
    folder.mkdir()
    face_file(folder, "a.png")
    (folder / "sub").mkdir()
    face_file(folder / "sub", "b.png")
    (folder / "broken.png").write_bytes(b"not a png at all")
    (folder / "notes.txt").write_text("not an image: skipped")
    archive = tmp_path / "more.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(folder / "a.png", "inner/c.png")
        zf.writestr("inner/bad.jpg", b"\xff\xd8\xff broken")
    out = tmp_path / "predictions.csv"
    result = run_cli("predict", str(folder), str(archive), "--out", str(out))
    assert result.returncode == 1, result.stderr  # some images failed; the rest were predicted
    assert "5 image(s), 5 row(s)" in result.stdout and "2 image(s) could not be read" in result.stdout
    assert "built-in model" in result.stdout and "Traceback" not in result.stderr
    rows = list(csv.DictReader(out.open()))
    names = [Path(r["image"].split(":")[-1]).name for r in rows]
    assert names == ["a.png", "broken.png", "b.png", "bad.jpg", "c.png"]
    good = [r for r in rows if not r["error"]]
    assert len(good) == 3 and all(r["label"] in ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
                                  for r in good)
    assert all(abs(sum(float(r[c]) for c in ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")) - 1)
               < 1e-3 for r in good)
    assert all(r["error"] and not r["label"] for r in rows if r not in good)
    assert {(r["model"], r["arch"]) for r in rows} == {("builtin", "fast_cnn")}  # provenance on every row


@pytest.mark.parametrize("blocked, args", [
    ("cv2", ["data", "summary"]),  # imported as the CLI starts
    ("sklearn", ["train", "--arch", "hog_svm", "--synthetic-size", "70", "--epochs", "1"]),  # in a command
])
def test_a_missing_package_is_one_line_naming_it_and_the_install_command(blocked, args, tmp_path):
    """As with the system Python instead of the project's venv: no traceback, what to install and how."""
    start = (f"import sys, runpy; sys.modules[{blocked!r}] = None; sys.argv = ['fer_core', *sys.argv[1:]]; "
             "runpy.run_module('fer_core', run_name='__main__')")
    out = ["--out", str(tmp_path)] if args[0] == "train" else []
    result = subprocess.run([sys.executable, "-c", start, *args, *out], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, env=os.environ.copy())
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("error: the Python package ")
    assert {"cv2": "'opencv-python-headless'", "sklearn": "'scikit-learn'"}[blocked] in lines[0]
    assert "pip install -r requirements.txt" in lines[0] and ".venv/bin/python -m fer_core" in lines[0]
