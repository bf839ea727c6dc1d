"""The Train page's logic without Streamlit: defaults, form -> configs, launching."""
from __future__ import annotations

import inspect
import itertools

import pytest

from fer_core import runs
from fer_core.jobs import queue as jobs
from fer_core.common import paths
from fer_core.app import train_form as tf
from fer_core.training.config import RECIPES, make_config
from fer_core.training.imbalance import STRATEGIES
from fer_core.models.architectures import get_arch


@pytest.fixture
def no_scheduler(monkeypatch):
    """Queue runs without starting any process: the folders are what these tests look at."""
    monkeypatch.setattr(jobs, "ensure_scheduler", lambda root=None: False)


def run_folders() -> list:
    root = paths.checkpoints_dir()
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.exists() else []


# ---------------------------------------------------------------- defaults and form -> configs

@pytest.mark.parametrize("arch", tf.architecture_names())
def test_every_architecture_gets_a_valid_config_from_its_defaults(arch):
    [config] = tf.build_configs(tf.TrainForm(archs=[arch], device="cpu"))
    assert config.arch == arch and config.imbalance == "none" and config.data is None
    defaults = tf.arch_defaults(arch, gpu=False)
    if tf.is_classical(arch):
        assert defaults == {}
    else:
        assert {k: getattr(config, k) for k in defaults} == defaults
        assert defaults["input_size"] == (32 if arch in ("simple_cnn", "fast_cnn") else 40 if arch == "vgg_fer"
                                          else get_arch(arch).native_input_size)


def test_the_quick_cpu_default_is_small_and_the_gpu_default_is_native_size():
    cpu, gpu = tf.arch_defaults("simple_cnn", gpu=False), tf.arch_defaults("simple_cnn", gpu=True)
    assert cpu["input_size"] == 32 and cpu["epochs"] <= 8 and cpu["torch_threads"] == 1
    assert gpu["input_size"] == 48 and gpu["epochs"] > cpu["epochs"]
    assert tf.default_synthetic_size(gpu=False) < tf.default_synthetic_size(gpu=True)


def test_form_values_override_the_recipe_which_overrides_the_arch_defaults():
    form = tf.TrainForm(archs=["simple_cnn"], recipe="fer2013-cpu", epochs=3, seed=7, device="cpu",
                        data="synthetic", synthetic_size=500)
    [config] = tf.build_configs(form)
    assert config.recipe == "fer2013-cpu"
    assert config.epochs == 3 and config.seed == 7  # the form's own values
    assert config.batch_size == 128 and config.ema_decay == 0.99 and config.time_limit_minutes == 10.0  # the recipe's
    assert config.synthetic_size == 500 and config.data is None


def test_a_recipe_launched_as_shown_is_the_recipe_itself():
    shown = tf.starting_values("vgg_fer", gpu=False, recipe="fer2013-best")
    assert shown["input_size"] == 48 and shown["epochs"] == 120  # not vgg_fer's quick CPU defaults
    [config] = tf.build_configs(tf.TrainForm(archs=["vgg_fer"], recipe="fer2013-best", device="auto", **shown))
    expected = make_config("fer2013-best", input_size=48)
    assert config == expected


def test_per_architecture_rows_show_what_each_run_starts_from():
    rows = tf.defaults_table(["simple_cnn", "pca_rf", "resnet18"], gpu=False)
    assert [r["architecture"] for r in rows] == ["simple_cnn", "resnet18"]
    assert [r["input_size"] for r in rows] == [32, 112]
    assert tf.defaults_table(["simple_cnn"], recipe="fer2013-cpu")[0]["batch_size"] == 128


def test_a_real_dataset_path_goes_into_the_config_and_synthetic_size_does_not(kaggle_zip):
    [config] = tf.build_configs(tf.TrainForm(archs=["simple_cnn"], data=str(kaggle_zip), class_set="no_disgust",
                                             synthetic_size=500, device="cpu"))
    assert config.data == str(kaggle_zip) and config.class_set == "no_disgust" and config.synthetic_size is None


def test_recipe_values_give_the_recipe_arch_and_settings():
    values = tf.recipe_values("fer2013-best")
    assert values["archs"] == ["vgg_fer"] and values["epochs"] == RECIPES["fer2013-best"]["options"]["epochs"]
    assert values["label_smoothing"] == 0.1
    with pytest.raises(ValueError, match="unknown recipe 'nope'; valid: fer2013-best"):
        tf.recipe_values("nope")


def test_the_grid_is_archs_times_strategies_in_order():
    archs, strategies = ["simple_cnn", "resnet18", "pca_rf"], ["none", "class_weights", "oversample"]
    configs = tf.build_configs(tf.TrainForm(archs=archs, strategies=strategies, device="cpu"))
    assert len(configs) == 9
    assert [(c.arch, c.imbalance) for c in configs] == list(itertools.product(archs, strategies))
    assert {c.input_size for c in configs if c.arch == "resnet18"} == {112}  # each arch keeps its own default


def test_strategy_options_reach_their_own_strategy_only():
    form = tf.TrainForm(archs=["simple_cnn"], strategies=["none", "focal", "mirror_balance"], device="cpu",
                        strategy_options={"focal": {"gamma": 1.0, "alpha": "class_weights", "beta": 0.999},
                                          "mirror_balance": {"cap": 0}})
    options = {c.imbalance: c.imbalance_options for c in tf.build_configs(form)}
    assert options == {"none": {}, "focal": {"gamma": 1.0, "alpha": "class_weights"}, "mirror_balance": {}}


def test_option_fields_match_the_strategies_own_defaults():
    for name, fields in tf.STRATEGY_OPTIONS.items():
        params = inspect.signature(STRATEGIES.get(name)).parameters
        for f in fields:
            assert f.name in params, (name, f.name)
            assert params[f.name].default == (None if f.zero_means_none else f.default), (name, f.name)
    with pytest.raises(ValueError, match="strategy 'focal' has no option"):
        tf.strategy_options("focal", {"cap": 3})


def test_pretrained_applies_only_to_archs_with_weights():
    configs = tf.build_configs(tf.TrainForm(archs=["simple_cnn", "resnet18"], pretrained=True,
                                            transfer="finetune", device="cpu"))
    by_arch = {c.arch: c for c in configs}
    assert by_arch["resnet18"].pretrained is True and by_arch["resnet18"].transfer == "finetune"
    assert by_arch["simple_cnn"].pretrained is False and by_arch["simple_cnn"].transfer == "scratch"


@pytest.mark.parametrize("changes, message", [
    (dict(epochs=0), "epochs must be at least 1, got 0"),
    (dict(lr=0.0), "learning rate must be positive"),
    (dict(label_smoothing=1.0), r"label_smoothing must be in \[0, 1\)"),
    (dict(input_size=4), "input_size must be an integer >= 8"),
    (dict(archs=[]), "Choose at least one architecture"),
    (dict(strategies=[]), "Choose at least one imbalance strategy"),
    (dict(archs=["simple_cnm"]), "unknown architecture 'simple_cnm'.*did you mean simple_cnn"),
    (dict(strategies=["smote"]), "unknown imbalance strategy 'smote'; valid: none, class_weights"),
    (dict(archs=["pca_rf"], strategies=["focal"]), "classical baselines \\(pca_rf\\) cannot use focal"),
    (dict(synthetic_size=10), "synthetic dataset needs at least 21 faces"),
    (dict(synthetic_size=200, batch_size=500), "batch size 500 is larger than the training set"),
    (dict(synthetic_size=21, batch_size=8), r"batch size 8 is larger than the training set \(about 7 images\)"),
    (dict(strategies=["focal"], strategy_options={"focal": {"gamma": -1.0}}), "focal: .*gamma"),
    (dict(pretrained=True), "simple_cnn has no pretrained weights; untick 'pretrained'"),
    (dict(recipe="nope"), "unknown recipe 'nope'"),
])
def test_invalid_values_give_a_clear_message_and_no_run_folder(no_scheduler, changes, message):
    form = tf.TrainForm(**{"archs": ["simple_cnn"], "device": "cpu", **changes})
    with pytest.raises(tf.FormError, match=message) as caught:
        tf.launch(tf.build_configs(form))
    assert caught.value.messages and all(isinstance(m, str) and m for m in caught.value.messages)
    assert run_folders() == []


def test_every_problem_is_reported_at_once_and_repeated_ones_once():
    form = tf.TrainForm(archs=["simple_cnn", "vgg_fer"], strategies=["none", "class_weights"], epochs=0, lr=0.0,
                        device="cpu")
    with pytest.raises(tf.FormError) as caught:
        tf.build_configs(form)
    assert caught.value.messages == ["simple_cnn: epochs must be at least 1, got 0",
                                     "vgg_fer: epochs must be at least 1, got 0"]


def test_cuda_without_a_gpu_is_refused(monkeypatch):
    monkeypatch.setattr(jobs, "gpu_ids", lambda: [])
    with pytest.raises(tf.FormError, match="device 'cuda' was chosen but this machine has no CUDA GPU"):
        tf.build_configs(tf.TrainForm(archs=["simple_cnn"], device="cuda"))


# ---------------------------------------------------------------- launching

def test_launch_queues_a_plain_grid_as_one_sweep(no_scheduler):
    form = tf.TrainForm(archs=["pca_rf", "hog_rf"], strategies=["none", "class_weights"], device="cpu")
    run_dirs = tf.launch(tf.build_configs(form), paths.checkpoints_dir())
    assert len(run_dirs) == 4 and run_folders() == sorted(run_dirs)
    statuses = [runs.read_json(d / runs.STATUS) for d in run_dirs]
    assert {s["status"] for s in statuses} == {"queued"}
    assert len({s["sweep"] for s in statuses}) == 1


def test_launch_queues_runs_with_their_own_defaults_one_by_one(no_scheduler):
    configs = tf.build_configs(tf.TrainForm(archs=["simple_cnn", "resnet18"], device="cpu"))
    run_dirs = tf.launch(configs)
    saved = [runs.read_json(d / runs.CONFIG) for d in run_dirs]
    assert [(c["arch"], c["input_size"]) for c in saved] == [("simple_cnn", 32), ("resnet18", 112)]
    assert all(runs.read_json(d / runs.STATUS)["status"] == "queued" for d in run_dirs)


def test_launch_refuses_an_empty_list():
    with pytest.raises(ValueError, match="nothing to launch"):
        tf.launch([])
