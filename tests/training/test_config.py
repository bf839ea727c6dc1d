"""Training configuration: validation, recipes, overrides."""
from __future__ import annotations

import pytest

from fer_core import runs
from fer_core.jobs import worker
from fer_core.training.config import RECIPES, TrainConfig, make_config


def test_recipe_options_apply_and_flags_override_them():
    cfg = make_config("fer2013-best")
    assert cfg.recipe == "fer2013-best" and cfg.arch == "vgg_fer" and cfg.optimizer == "sgd"
    assert cfg.augment_options == {"crop_size": 40} and cfg.tta == "ten_crop"
    short = make_config("fer2013-best", epochs=2, batch_size=32)
    assert short.epochs == 2 and short.batch_size == 32 and short.arch == "vgg_fer"


def test_cpu_quick_is_the_earlier_name_of_fer2013_cpu():
    assert RECIPES["cpu-quick"]["options"] == RECIPES["fer2013-cpu"]["options"]
    assert make_config("cpu-quick").recipe == "cpu-quick" and make_config("cpu-quick").arch == "fast_cnn"


def test_unknown_recipe_and_unknown_options_are_refused():
    with pytest.raises(ValueError, match="unknown recipe .fastest.; valid: fer2013-best, fer2013-cpu, fer2013-gpu, ferplus-cpu, cpu-quick"):
        make_config("fastest")
    with pytest.raises(ValueError, match="unknown config option.*epoch_count"):
        TrainConfig.from_dict({"epoch_count": 3})


def test_transfer_modes_need_weights():
    with pytest.raises(ValueError, match="needs pretrained weights"):
        make_config(arch="resnet18", transfer="frozen")


def test_the_recipe_runs_end_to_end_on_a_shortened_schedule(tmp_path):
    """The GPU recipe's whole pipeline (vgg_fer, 40 px crops, SGD, ten-crop TTA) on a CPU in seconds."""
    config = make_config("fer2013-best", synthetic_size=300, epochs=1, batch_size=32, device="cpu")
    run_dir = runs.create_run(config, tmp_path)
    assert worker.execute(run_dir) == "completed", runs.read_status(run_dir).get("traceback")
    evaluation = runs.load_run(run_dir).evaluation
    assert evaluation["tta"] == "ten_crop" and "without_tta" in evaluation
    assert set(RECIPES["fer2013-best"]) == {"description", "options"}


def test_the_fer2013_gpu_recipe_trains_one_epoch_on_a_cpu(tmp_path):
    """fer2013-gpu's whole pipeline (fast_cnn_wide at 48 px, strong augmentation, EMA, flip TTA), 1 epoch."""
    config = make_config("fer2013-gpu", synthetic_size=300, epochs=1, batch_size=32, device="cpu")
    assert config.arch == "fast_cnn_wide" and config.ema_decay and config.time_limit_minutes == 10.0
    run_dir = runs.create_run(config, tmp_path)
    assert worker.execute(run_dir) == "completed", runs.read_status(run_dir).get("traceback")
    record = runs.load_run(run_dir)
    assert record.evaluation["tta"] == "flip" and "without_tta" in record.evaluation
    assert record.config["recipe"] == "fer2013-gpu" and len(record.metrics) == 1


def test_configs_of_earlier_runs_with_the_retired_sharpness_cap():
    assert TrainConfig.from_dict({"epochs": 2, "match_sharpness": False}).epochs == 2
    with pytest.raises(ValueError, match="match_sharpness .* was removed"):
        TrainConfig.from_dict({"match_sharpness": True})


def test_label_modes_are_checked_and_fer_plus_modes_need_votes():
    with pytest.raises(ValueError, match="unknown label mode 'soft'; valid: fer2013, majority, distribution"):
        make_config(label_mode="soft")
    with pytest.raises(ValueError, match="label mode 'distribution' needs a FER\\+ votes file"):
        make_config(label_mode="distribution")
    assert make_config("ferplus-cpu", votes="ferplus.csv").label_mode == "majority"
