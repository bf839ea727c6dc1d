"""The Train page's logic without Streamlit: defaults, form -> configs, launching, progress, errors."""
from __future__ import annotations

import inspect
import itertools
import signal
import subprocess
import sys

import pytest

from fer_core import jobs, paths, runs
from fer_core import train_form as tf
from fer_core.config import RECIPES, TrainConfig, make_config
from fer_core.data import DataError, load_dataset
from fer_core.imbalance import STRATEGIES
from fer_core.models import get_arch


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
        assert defaults["input_size"] == (32 if arch == "simple_cnn" else 40 if arch == "vgg_fer"
                                          else get_arch(arch).native_input_size)


def test_the_quick_cpu_default_is_small_and_the_gpu_default_is_native_size():
    cpu, gpu = tf.arch_defaults("simple_cnn", gpu=False), tf.arch_defaults("simple_cnn", gpu=True)
    assert cpu["input_size"] == 32 and cpu["epochs"] <= 8 and cpu["num_workers_threads"] == 1
    assert gpu["input_size"] == 48 and gpu["epochs"] > cpu["epochs"]
    assert tf.default_synthetic_size(gpu=False) < tf.default_synthetic_size(gpu=True)


def test_form_values_override_the_recipe_which_overrides_the_arch_defaults():
    form = tf.TrainForm(archs=["simple_cnn"], recipe="cpu-quick", epochs=3, seed=7, device="cpu",
                        data="synthetic", synthetic_size=500)
    [config] = tf.build_configs(form)
    assert config.recipe == "cpu-quick"
    assert config.epochs == 3 and config.seed == 7  # the form's own values
    assert config.input_size == 24 and config.time_limit_minutes == 10.0  # the recipe's
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
    assert tf.defaults_table(["simple_cnn"], recipe="cpu-quick")[0]["input_size"] == 24


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


# ---------------------------------------------------------------- live progress

def make_run(root, epochs=4, **config) -> "runs.Path":
    return runs.create_run(TrainConfig(epochs=epochs, **config).validate(), root)


def add_epochs(run_dir, n: int) -> None:
    for e in range(1, n + 1):
        runs.append_metrics(run_dir, {"epoch": e, "train_loss": 1.0 / e, "train_acc": 0.5 + 0.1 * e,
                                      "val_loss": 1.2 / e, "val_acc": 0.4 + 0.1 * e, "val_macro_f1": 0.3 + 0.1 * e,
                                      "lr": 1e-3, "epoch_seconds": 1.0})


def test_progress_of_a_run_mid_epoch_gives_the_epoch_fraction_and_latest_metrics(tmp_path):
    run_dir = make_run(tmp_path)
    add_epochs(run_dir, 2)
    runs.write_status(run_dir, "running", phase="training", epoch=2, batch=5, batches=10, best_epoch=2)
    p = tf.read_progress(run_dir)
    assert (p.state, p.epoch, p.epochs) == ("running", 2, 4)
    assert p.fraction == pytest.approx((2 + 5 / 10) / 4)
    assert p.latest["epoch"] == 2 and p.latest["val_acc"] == pytest.approx(0.6)
    assert p.label == "epoch 3/4, batch 5/10" and p.best_epoch == 2 and p.can_cancel


def test_progress_between_epochs_before_training_and_when_done(tmp_path):
    run_dir = make_run(tmp_path)
    queued = tf.read_progress(run_dir)
    assert (queued.fraction, queued.queue_position, queued.latest) == (0.0, 1, {})
    assert queued.label == "queued, 1st in line"
    runs.write_status(run_dir, "running", phase="loading data", epoch=0)
    assert tf.read_progress(run_dir).label == "loading data" and tf.read_progress(run_dir).fraction == 0.0
    add_epochs(run_dir, 3)
    runs.write_status(run_dir, "running", phase="training", epoch=3, batch=0, batches=10)
    assert tf.read_progress(run_dir).fraction == pytest.approx(0.75)
    assert tf.read_progress(run_dir).label == "epoch 3/4 done"
    runs.write_status(run_dir, "completed", phase="done")  # early stopping: done before the planned epochs
    done = tf.read_progress(run_dir)
    assert done.fraction == 1.0 and not done.can_cancel


def test_live_runs_lists_running_then_queued_with_curves_once_an_epoch_ended(no_scheduler, tmp_path):
    running, first, second = make_run(tmp_path), make_run(tmp_path), make_run(tmp_path)
    make_run(tmp_path)  # a fourth run, finished: not live
    finished = sorted(p for p in tmp_path.iterdir() if p.is_dir())[-1]
    runs.write_status(finished, "completed")
    add_epochs(running, 1)
    runs.write_status(running, "running", phase="training", epoch=1, batch=3, batches=6)

    live = tf.live_runs(tmp_path)
    assert [r.progress.run_dir for r in live] == [running, first, second]
    assert [r.progress.queue_position for r in live] == [None, 1, 2]
    assert live[0].figure is not None and len(live[0].figure.data) == 5
    assert live[1].figure is None and live[1].progress.fraction == 0.0
    assert live[0].progress.fraction == pytest.approx((1 + 0.5) / 4)


def test_cancel_run_says_what_happened(no_scheduler, tmp_path):
    run_dir = make_run(tmp_path)
    assert tf.cancel_run(run_dir) == f"Cancelled {run_dir.name}."
    assert runs.read_status(run_dir)["status"] == "cancelled"
    assert tf.cancel_run(run_dir) == f"{run_dir.name} is already cancelled: nothing to cancel."
    assert tf.cancel_run(tmp_path / "nope").startswith("Could not cancel nope:")


# ---------------------------------------------------------------- errors in plain words

def failed(error: str, traceback: str | None = None) -> dict:
    return {"status": "failed", "error": error, **({"traceback": traceback} if traceback else {})}


def test_out_of_memory_is_explained():
    error = runs.describe_error(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    f = tf.describe_failure(failed(error))
    assert f.sentence.startswith("The run ran out of memory. Lower the batch size")
    assert f.original == error


def test_a_killed_worker_is_explained(tmp_path):
    # as the scheduler records a SIGKILL-ed worker, and as read_status records a vanished process
    run_dir = make_run(tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    runs.write_status(run_dir, "running", pid=dead.pid, pid_start="0")
    vanished = runs.read_status(run_dir)
    assert vanished["status"] == "failed"
    for status in (failed(jobs._exit_error(-signal.SIGKILL, run_dir)), vanished):
        assert tf.describe_failure(status).sentence.startswith("The training process was stopped from outside")


def test_missing_data_is_explained(tmp_path):
    with pytest.raises(DataError) as caught:
        load_dataset(tmp_path / "gone.zip")
    f = tf.describe_failure(failed(runs.describe_error(caught.value)))
    assert f.sentence.startswith("The dataset could not be found or read") and "gone.zip" in f.original


def test_pretrained_weights_unavailable_offline_is_explained():
    error = ("PretrainedWeightsUnavailable: pretrained weights for 'resnet18' are not in the local cache and cannot "
             "be downloaded (HF_HUB_OFFLINE is set). To use pretrained weights, run once with internet access")
    assert "Untick 'pretrained'" in tf.describe_failure(failed(error)).sentence


def test_other_errors_keep_their_first_line_and_non_failures_have_none():
    f = tf.describe_failure(failed("ValueError: something odd\nsecond line", traceback="Traceback ..."))
    assert f.sentence == "The run failed: ValueError: something odd. The full error is in the details below."
    assert f.traceback == "Traceback ..."
    assert "diverged" in tf.describe_failure(failed("training diverged at epoch 3 (loss nan)")).sentence
    assert tf.describe_failure({"status": "completed"}) is None
    assert tf.describe_failure({"status": "cancelled", "error": "cancelled while running"}) is None


def test_recent_jobs_rows_carry_status_progress_and_the_failure(tmp_path):
    ok, bad = make_run(tmp_path, epochs=2), make_run(tmp_path, epochs=2)
    add_epochs(ok, 2)
    runs.write_status(ok, "completed", epoch=2)
    runs.write_status(bad, "failed", error=runs.describe_error(MemoryError()))
    rows = {r.run_id: r for r in tf.recent_jobs(tmp_path)}
    assert rows[ok.name].table_row()["status"] == "✅ completed" and rows[ok.name].table_row()["progress"] == 1.0
    assert rows[ok.name].failure is None
    assert rows[bad.name].table_row()["problem"].startswith("The run ran out of memory")
    assert len(tf.recent_jobs(tmp_path, limit=1)) == 1
    with pytest.raises(ValueError, match="limit must be at least 1"):
        tf.recent_jobs(tmp_path, limit=0)
