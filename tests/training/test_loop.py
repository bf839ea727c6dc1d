"""The training engine on synthetic data: accuracy, checkpoints, selection on val, bad input."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from fer_core import runs
from fer_core.jobs import worker
from fer_core.training.config import make_config
from fer_core.inference.evaluation import evaluate_run
from fer_core.runs.checkpoint import load_checkpoint
from fer_core.models.runtime import predict_probabilities

ROOT = Path(__file__).resolve().parents[2]
TINY = dict(arch="simple_cnn", synthetic_size=600, epochs=1, batch_size=32, device="cpu")


def _execute(tmp_path, **options) -> Path:
    run_dir = runs.create_run(make_config(**{**TINY, **options}), tmp_path)
    worker.execute(run_dir)
    return run_dir


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """One real run on the synthetic faces, shared by the tests that inspect its record."""
    root = tmp_path_factory.mktemp("runs")
    run_dir = runs.create_run(make_config(arch="simple_cnn", synthetic_size=2000, epochs=6, batch_size=32,
                                          lr=2e-3, scheduler="cosine", augment="light", device="cpu", seed=1), root)
    assert worker.execute(run_dir) == "completed", runs.read_status(run_dir)
    return run_dir


def test_train_then_evaluate_reaches_90_percent_on_synthetic(trained_run):
    record = runs.load_run(trained_run)
    assert record.state == "completed"
    assert record.evaluation["accuracy"] >= 0.90, record.evaluation["accuracy"]
    assert len(record.metrics) == 6
    assert all(m["epoch_seconds"] > 0 and m["lr"] > 0 for m in record.metrics)


def test_best_epoch_is_selected_on_val_never_test(trained_run):
    record = runs.load_run(trained_run)
    val = [m["val_acc"] for m in record.metrics]
    assert record.evaluation["selected_on"] == "val_acc"
    assert record.evaluation["best_epoch"] == int(np.argmax(val)) + 1
    assert record.evaluation["best_val_score"] == pytest.approx(max(val))


def test_checkpoint_is_self_contained_and_reproduces_the_stored_predictions(trained_run):
    model, card, info = load_checkpoint(trained_run / runs.CHECKPOINT)
    assert card.arch == "simple_cnn" and card.class_names[3] == "happy" and card.preprocess["input_size"] == 48
    assert info["epoch"] == runs.load_run(trained_run).evaluation["best_epoch"]
    raw = torch.load(trained_run / runs.CHECKPOINT, weights_only=True)  # safe loading works
    assert set(raw) == {"format", "card", "state_dict", "info"}

    from fer_core.data import load_dataset
    test = load_dataset(None, synthetic_size=2000, seed=1).split("test")
    probs = predict_probabilities(model, torch.from_numpy(test.images).unsqueeze(1), card.augment_config).numpy()
    stored = runs.read_predictions(trained_run)
    assert stored["id"].tolist() == test.ids.tolist()
    np.testing.assert_allclose(probs, stored[[f"prob_{c}" for c in card.class_names]].to_numpy(), atol=1e-4)


def test_evaluate_run_matches_the_final_evaluation_and_tta_runs(trained_run):
    report = evaluate_run(trained_run, None, split="test", device="cpu")
    stored = runs.load_run(trained_run).evaluation
    assert report["accuracy"] == pytest.approx(stored["accuracy"])
    assert report["confusion_matrix"] == stored["confusion_matrix"]
    flipped = evaluate_run(trained_run, None, split="test", tta="flip", device="cpu")
    assert flipped["n"] == report["n"] and 0.5 < flipped["accuracy"] <= 1.0


def test_evaluate_on_a_dataset_with_fewer_classes(trained_run):
    report = evaluate_run(trained_run, None, split="test", class_set="no_disgust", device="cpu")
    assert report["per_class"]["disgust"]["support"] == 0
    assert sum(sum(r) for r in report["confusion_matrix"]) == report["n"]


@pytest.mark.parametrize("options", [
    dict(optimizer="sgd", scheduler="plateau"),
    dict(optimizer="adam", scheduler="onecycle", grad_clip=1.0),
    dict(optimizer="adamw", scheduler="none", warmup_epochs=1, label_smoothing=0.1),
    dict(imbalance="focal", imbalance_options={"gamma": 2.0}),
    dict(imbalance="mirror_balance", augment="light"),
    dict(augment_options={"crop_size": 40}, tta="ten_crop"),
    dict(mixup_alpha=0.4, imbalance="focal", label_smoothing=0.1),
    dict(cutmix_alpha=1.0, imbalance="class_weights", augment_options={"crop_size": 40}),
    dict(mixup_alpha=0.4, cutmix_alpha=1.0, mix_prob=0.5, imbalance="oversample", epochs=2, mix_stop_epoch=2),
])
def test_option_combinations_complete(tmp_path, options):
    run_dir = _execute(tmp_path, **options)
    record = runs.load_run(run_dir)
    assert record.state == "completed", record.status.get("traceback")
    assert record.evaluation["n"] > 0


def test_early_stopping_and_time_limit_stop_early(tmp_path):
    run_dir = _execute(tmp_path, epochs=30, early_stopping=1, lr=1e-6, optimizer="sgd", scheduler="none")
    assert len(runs.load_run(run_dir).metrics) < 30
    run_dir = _execute(tmp_path, epochs=30, time_limit_minutes=1e-4)
    assert len(runs.load_run(run_dir).metrics) == 1


@pytest.mark.parametrize("options, message", [
    (dict(lr=0), "learning rate must be positive"),
    (dict(epochs=0), "epochs must be at least 1"),
    (dict(optimizer="lbfgs"), "unknown optimizer"),
])
def test_invalid_hyperparameters_are_refused_up_front(options, message):
    with pytest.raises(ValueError, match=message):
        make_config(**{**TINY, **options})


def test_batch_larger_than_the_dataset_fails_the_run_clearly(tmp_path):
    run_dir = _execute(tmp_path, batch_size=100_000)
    status = runs.read_status(run_dir)
    assert status["status"] == "failed" and "larger than the training set" in status["error"]


def test_unknown_architecture_fails_the_run_with_the_valid_names(tmp_path):
    run_dir = _execute(tmp_path, arch="resnet_9000")
    status = runs.read_status(run_dir)
    assert status["status"] == "failed" and "simple_cnn" in status["error"]


def test_dataset_lacking_a_class_is_a_clear_failure(tmp_path):
    """Angry exists in test/ but not in train/: nothing could learn it, so the run must say so."""
    from tests.conftest import face_pixels
    import cv2
    root = tmp_path / "faces"
    for split, classes in (("train", ("happy", "sad")), ("test", ("happy", "sad", "angry"))):
        for cls in classes:
            (root / split / cls).mkdir(parents=True)
            for i in range(20):
                cv2.imwrite(str(root / split / cls / f"{i}.png"), face_pixels(hash((split, cls, i)) % 10_000))
    run_dir = _execute(tmp_path, data=str(root), batch_size=8)
    status = runs.read_status(run_dir)
    assert status["status"] == "failed" and "angry" in status["error"] and "no training images" in status["error"]


def test_out_of_memory_is_recorded_as_a_failure_with_the_reason(tmp_path, monkeypatch):
    import fer_core.training.loop as train_module

    def exhausted(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
    monkeypatch.setattr(train_module, "train_one_epoch", exhausted)
    run_dir = _execute(tmp_path)
    status = runs.read_status(run_dir)
    assert status["status"] == "failed" and "ran out of memory" in status["error"]


def test_pretrained_weights_offline_fail_at_once_and_never_train_from_scratch(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    run_dir = _execute(tmp_path, arch="resnet18", pretrained=True, transfer="frozen", input_size=64)
    record = runs.load_run(run_dir)
    assert record.state == "failed"
    assert "weights" in record.status["error"].lower()
    assert record.metrics == [] and not record.has_checkpoint


def test_transfer_finetune_from_a_local_weights_file(tmp_path):
    import timm
    weights = tmp_path / "resnet10t_imagenet.pth"
    torch.save(timm.create_model("resnet10t", pretrained=False).state_dict(), weights)
    run_dir = _execute(tmp_path, arch="resnet10t", pretrained=str(weights), transfer="finetune", unfreeze_epoch=2,
                       epochs=2, input_size=64)
    assert runs.load_run(run_dir).state == "completed", runs.read_status(run_dir).get("traceback")


@pytest.mark.skipif(sys.platform != "linux", reason="torchrun with gloo on CPU is exercised on Linux CI")
def test_distributed_data_parallel_under_torchrun(tmp_path):
    """Two CPU processes (gloo backend) train one run; rank 0 writes the record."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "fer_core",
         "train", "--arch", "simple_cnn", "--synthetic-size", "600", "--epochs", "1", "--batch-size", "16",
         "--mixup", "0.4", "--cutmix", "1.0", "--device", "cpu", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    run_dirs = [d for d in tmp_path.iterdir() if d.is_dir()]
    assert len(run_dirs) == 1, run_dirs  # one run folder, not one per rank
    record = runs.load_run(run_dirs[0])
    assert record.state == "completed" and record.evaluation["n"] > 0
    assert record.config["arch"] == "simple_cnn" and record.config["cutmix_alpha"] == 1.0


def test_weight_averaging_saves_and_scores_the_averaged_model(tmp_path):
    """With ema_decay, val scores the moving average and best.pt holds it (not the raw weights)."""
    plain = _execute(tmp_path / "plain", arch="fast_cnn", epochs=2, seed=3)
    averaged = _execute(tmp_path / "ema", arch="fast_cnn", epochs=2, seed=3, ema_decay=0.9)
    assert runs.load_run(plain).state == runs.load_run(averaged).state == "completed"
    a = load_checkpoint(plain / runs.CHECKPOINT)[0].state_dict()
    b = load_checkpoint(averaged / runs.CHECKPOINT)[0].state_dict()
    assert a.keys() == b.keys() and any(not torch.equal(a[k], b[k]) for k in a)
    record = runs.load_run(averaged)
    best = record.metrics[record.evaluation["best_epoch"] - 1]
    assert evaluate_run(averaged, split="val")["accuracy"] == pytest.approx(best["val_acc"], abs=1e-6)
    assert all(m["elapsed_seconds"] >= m["epoch_seconds"] > 0 for m in record.metrics)


def test_an_ema_decay_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match="ema_decay must be in \\(0, 1\\), got 1.5"):
        make_config(ema_decay=1.5)


def test_mixing_changes_training_and_stops_at_mix_stop_epoch(tmp_path):
    """Same seed: mixup trains other weights than no mixing; mixing stopped from epoch 1 is no mixing."""
    def weights(name: str, **options) -> dict:
        run_dir = _execute(tmp_path / name, arch="fast_cnn", epochs=1, seed=4, synthetic_size=300, **options)
        assert runs.load_run(run_dir).state == "completed", runs.read_status(run_dir).get("traceback")
        return load_checkpoint(run_dir / runs.CHECKPOINT)[0].state_dict()

    plain, mixed, stopped = weights("plain"), weights("mixed", mixup_alpha=1.0), \
        weights("stopped", mixup_alpha=1.0, mix_stop_epoch=1)
    assert any(not torch.allclose(plain[k].float(), mixed[k].float()) for k in plain)
    assert all(torch.allclose(plain[k].float(), stopped[k].float()) for k in plain)


@pytest.mark.parametrize("options, message", [
    (dict(mixup_alpha=-1.0), "mixup_alpha must be a number >= 0"),
    (dict(mix_prob=2.0), "mix_prob"),
    (dict(mix_stop_epoch=0), "mix_stop_epoch must be at least 1"),
])
def test_invalid_mixing_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        make_config(**{**TINY, **options})


def test_label_modes_train_on_votes_and_score_on_the_majority_label(tmp_path):
    from tests.conftest import synthetic_votes
    votes = str(synthetic_votes(tmp_path / "votes.csv", 400))
    losses = {}
    for mode in ("majority", "distribution"):
        run_dir = _execute(tmp_path, synthetic_size=400, votes=votes, label_mode=mode, mixup_alpha=0.2)
        record = runs.load_run(run_dir)
        assert record.status["status"] == "completed", record.status
        assert record.evaluation["labels"] == "FER+ majority"
        assert record.evaluation["classes"][-1] == "contempt" and "faces kept" in record.evaluation["vote_report"]
        _, card, _ = load_checkpoint(run_dir / runs.CHECKPOINT, "cpu")
        assert card.extra["labels"] == ("FER+ majority" if mode == "majority" else "FER+ distribution")
        losses[mode] = runs.read_metrics(run_dir)[0]["train_loss"]
        # scored again on the source's own labels: 7 classes, the model's contempt answers count as errors
        report = evaluate_run(run_dir, label_mode="fer2013")
        assert report["labels"] == "source labels" and report["scored_classes"][-1] == "surprise"
        assert report["unscored_outputs"] == ["contempt"] and report["n"] > record.evaluation["n"]
    assert losses["majority"] != losses["distribution"]  # the soft targets are what the loss saw


def test_a_seven_class_run_is_scored_on_fer_plus_labels_without_contempt(trained_run, tmp_path):
    from tests.conftest import synthetic_votes
    votes = str(synthetic_votes(tmp_path / "votes.csv", 2000, seed=1))
    with pytest.raises(ValueError, match="no_contempt"):
        evaluate_run(trained_run, votes=votes, label_mode="majority")
    report = evaluate_run(trained_run, votes=votes, label_mode="majority", class_set="no_contempt")
    assert report["labels"] == "FER+ majority" and "scored_classes" not in report
