"""The Train page through streamlit.testing.v1.AppTest (the live fragment's body is tested in test_job_status)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.app_pages.app import open_app
from tests.conftest import stop_background_jobs

from fer_core import runs
from fer_core.runs.guard import describe_error
from fer_core.jobs import queue as jobs
from fer_core.app import train_form as tf
from fer_core.training.config import TrainConfig



def open_page() -> AppTest:
    at = open_app().run()
    return at.switch_page("app_pages/train.py").run()


def run_folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.exists() else []


@pytest.fixture
def checkpoints(isolated_project_dirs):
    """The app's checkpoints folder; whatever the page started there is stopped at teardown."""
    root = isolated_project_dirs / "checkpoints"
    yield root
    stop_background_jobs(root)


@pytest.fixture
def no_scheduler(monkeypatch):
    """Queued runs stay queued: nothing is started."""
    monkeypatch.setattr(jobs, "ensure_scheduler", lambda root=None: False)


def test_page_renders_its_widgets_with_the_quick_defaults(checkpoints):
    at = open_page()
    assert not at.exception
    assert at.multiselect(key="train_archs").value == ["simple_cnn"]
    assert at.multiselect(key="train_strategies").value == ["none"]
    assert at.selectbox(key="train_recipe").value is None and at.selectbox(key="train_device").value == "auto"
    defaults = tf.arch_defaults("simple_cnn", tf.gpu_available())
    for name in ("epochs", "batch_size", "input_size"):
        assert at.number_input(key=f"train_{name}").value == defaults[name]
    assert at.number_input(key="train_synthetic_size").value == tf.default_synthetic_size(tf.gpu_available())
    assert at.button(key="train_launch")
    assert any("SYNTHETIC" in c.value for c in at.caption)
    assert any("No run is queued or running" in c.value for c in at.caption)
    assert run_folders(checkpoints) == []


def test_launch_with_tiny_settings_queues_a_background_run(checkpoints):
    at = open_page()
    at.number_input(key="train_epochs").set_value(1)
    at.number_input(key="train_synthetic_size").set_value(100)
    at.button(key="train_launch").click().run()
    assert not at.exception and not at.error
    [run_dir] = run_folders(checkpoints)
    assert any(run_dir.name in s.value for s in at.success)
    assert runs.read_json(run_dir / runs.STATUS)["status"] in ("queued", "running", "completed")
    config = runs.read_json(run_dir / runs.CONFIG)
    assert (config["arch"], config["epochs"], config["synthetic_size"], config["data"]) == ("simple_cnn", 1, 100, None)
    assert at.button(key=f"train_cancel_{run_dir.name}") and at.get("progress")  # the live panel shows it


def test_bad_values_show_an_error_and_queue_nothing(checkpoints):
    at = open_page()
    at.number_input(key="train_lr").set_value(0.0)
    at.button(key="train_launch").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == ["learning rate must be positive, got 0.0"]
    at.number_input(key="train_lr").set_value(0.003)
    at.multiselect(key="train_archs").set_value([])
    at.button(key="train_launch").click().run()
    assert not at.exception and "Choose at least one architecture" in at.error[0].value
    assert run_folders(checkpoints) == []


def test_recent_runs_and_failed_runs_in_plain_words_and_cancel(checkpoints, no_scheduler):
    done = runs.create_run(TrainConfig(epochs=1), checkpoints)
    runs.write_status(done, "completed")
    broken = runs.create_run(TrainConfig(epochs=1), checkpoints)
    runs.write_status(broken, "failed", error=describe_error(RuntimeError("CUDA out of memory")),
                      traceback="Traceback (most recent call last): ...")
    waiting = runs.create_run(TrainConfig(epochs=1), checkpoints)

    at = open_page()
    assert not at.exception
    assert len(at.dataframe) >= 1
    assert any(broken.name in e.value and "ran out of memory" in e.value for e in at.error)
    assert any(broken.name in x.label for x in at.expander)
    assert any(waiting.name in m.value for m in at.markdown)  # the active panel lists the queued run
    at.button(key=f"train_cancel_{waiting.name}").click().run()
    assert not at.exception
    assert runs.read_status(waiting)["status"] == "cancelled"
    assert f"Cancelled {waiting.name}." in [i.value for i in at.info]
    assert all(b.key != f"train_cancel_{waiting.name}" for b in at.button)  # no longer in the active panel


def test_a_stopped_run_has_a_resume_button_that_queues_it_again(checkpoints, no_scheduler):
    from fer_core.jobs import worker
    from fer_core.training.config import make_config

    def stop(event):
        if event.get("done"):
            raise RuntimeError("stopped on purpose")
    stopped = runs.create_run(make_config(arch="simple_cnn", synthetic_size=300, epochs=2, batch_size=32,
                                          device="cpu", torch_threads=1), checkpoints)
    assert worker.execute(stopped, progress=stop) == "failed"
    early = runs.create_run(TrainConfig(epochs=1), checkpoints)  # failed before its first epoch: no last.pt
    runs.write_status(early, "failed", error="boom")

    at = open_page()
    assert not at.exception
    keys = {b.key for b in at.button}
    assert f"train_resume_{stopped.name}" in keys and f"train_resume_{early.name}" not in keys
    at.button(key=f"train_resume_{stopped.name}").click().run()
    assert not at.exception
    status = runs.read_status(stopped)
    assert status["status"] == "queued" and status["resume_from"] == 1 and "traceback" not in status
    assert f"Resuming {stopped.name} after epoch 1: it is queued and continues in the same run folder." in \
        [i.value for i in at.info]
    assert at.button(key=f"train_cancel_{stopped.name}")  # now in the active panel
    assert at.session_state.train_polling  # the page polls its progress


def test_an_unreadable_run_folder_is_a_row_saying_why_and_the_others_still_show(checkpoints, no_scheduler):
    done = runs.create_run(TrainConfig(epochs=1), checkpoints)
    runs.write_status(done, "completed")
    broken = runs.create_run(TrainConfig(epochs=1), checkpoints)
    (broken / runs.STATUS).write_text('{"status": "completed", "started_at": "yesterday"}')
    at = open_page()
    assert not at.exception
    table = at.dataframe[0].value
    assert set(table["run"]) == {done.name, broken.name}
    assert any(broken.name in e.value and "cannot be read" in e.value and "'started_at' is 'yesterday'" in e.value
               for e in at.error)


def test_the_live_panel_restarts_a_queue_whose_scheduler_died(checkpoints, monkeypatch):
    """The page's poll is a repair step too: queued runs never strand while someone watches Train."""
    started = []
    waiting = runs.create_run(TrainConfig(epochs=1), checkpoints)
    at = open_page()  # the page run's own repair: recorded, then forget it
    monkeypatch.setattr(jobs, "ensure_scheduler", lambda root=None: started.append(root) or True)
    at.run()  # as the 2-second poll reruns the panel
    assert not at.exception
    assert started and runs.read_status(waiting)["status"] == "queued"


def test_the_job_table_says_what_the_live_panel_says(checkpoints, no_scheduler):
    """One source of truth: the table's words and fraction are the panel's; no 'None' cells; a queued run
    has no start time; test accuracy is a fraction shown as a percentage."""
    import subprocess

    from fer_core.common.processes import process_start_time
    import sys
    # stands in for the run's worker: alive, not this process, and its command line names our worker
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "fer_core.jobs.worker"])
    running = runs.create_run(TrainConfig(epochs=6), checkpoints)
    runs.write_status(running, "running", phase="training", epoch=1, batch=10, batches=20, pid=worker.pid,
                      pid_start=process_start_time(worker.pid))
    queued = runs.create_run(TrainConfig(epochs=6), checkpoints)
    at = open_page()
    assert not at.exception
    table = at.dataframe[0].value.set_index("run")
    panel = [p.proto.text for p in at.get("progress")]
    assert table.loc[running.name, "status"] == "🏃 epoch 2/6, batch 10/20" and "epoch 2/6, batch 10/20" in str(panel)
    assert table.loc[running.name, "progress"] == pytest.approx(1.5 / 6)
    assert table.loc[queued.name, "started"] == "" and table.loc[queued.name, "took"] == ""
    assert "None" not in table.astype(str).to_string()
    assert table.loc[queued.name, "test accuracy"] is None or pd.isna(table.loc[queued.name, "test accuracy"])
    assert at.dataframe[0].proto.placeholder == ""  # ... drawn as an empty cell, not Streamlit's grey "None"
    worker.kill()
    worker.wait()


def test_after_its_runs_end_the_launch_banner_links_to_their_results(checkpoints, no_scheduler):
    at = open_page()
    done = runs.create_run(TrainConfig(epochs=1), checkpoints)
    runs.write_status(done, "completed")
    at.session_state["train_launched"] = [str(done)]
    at.run()
    assert not at.exception
    assert any(f"Finished: {done.name}" in s.value for s in at.success)
    at.button(key="train_view_results").click().run()
    assert not at.exception
    assert at.title[0].value == "📊 Runs" and "train_launched" not in at.session_state  # the banner is done
    assert at.session_state["runs_table"]["selection"]["rows"] == [0]  # Runs opens with that run selected


def test_the_live_tiles_give_accuracy_in_percent_as_the_charts_and_tables_do(checkpoints, no_scheduler):
    import subprocess
    import sys

    from fer_core.common.processes import process_start_time
    # stands in for the run's worker: alive, not this process, and its command line names our worker
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "fer_core.jobs.worker"])
    running = runs.create_run(TrainConfig(epochs=6), checkpoints)
    runs.append_metrics(running, {"epoch": 1, "train_loss": 1.2345, "train_acc": 0.3951, "val_loss": 1.3,
                                  "val_acc": 0.5127, "val_macro_f1": 0.4019, "lr": 0.001, "epoch_time_s": 2.0,
                                  "elapsed_s": 2.0})
    runs.write_status(running, "running", phase="training", epoch=2, batch=1, batches=20, pid=worker.pid,
                      pid_start=process_start_time(worker.pid))
    try:
        at = open_page()
        assert not at.exception
        tiles = {m.label: m.value for m in at.metric}
        assert tiles == {"train loss": "1.234", "train accuracy": "39.5%", "val accuracy": "51.3%",
                         "val macro-F1": "0.402"}
    finally:
        worker.kill()
        worker.wait()


def test_after_a_reload_the_page_starts_from_the_last_launch(checkpoints, no_scheduler):
    at = open_page()
    at.multiselect(key="train_archs").set_value(["fast_cnn", "hog_svm"])
    at.multiselect(key="train_strategies").set_value(["class_weights"])
    at.number_input(key="train_epochs").set_value(1)
    at.button(key="train_launch").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    reloaded = open_page()  # a new browser session
    assert reloaded.multiselect(key="train_archs").value == ["fast_cnn", "hog_svm"]
    assert reloaded.multiselect(key="train_strategies").value == ["class_weights"]
    assert reloaded.number_input(key="train_epochs").value == tf.arch_defaults("fast_cnn", tf.gpu_available())["epochs"]


def test_a_remembered_launch_with_unknown_names_is_ignored(isolated_project_dirs):
    from fer_core.app.settings import settings_path, update_settings
    update_settings(train_archs=["simple_cnn", "__import__('os')"], train_strategies=["none"])
    assert tf.remembered_launch() is None
    update_settings(train_archs=["fast_cnn"], train_strategies="none")
    assert tf.remembered_launch() is None
    update_settings(train_archs=["fast_cnn"], train_strategies=["none"])
    assert tf.remembered_launch() == (["fast_cnn"], ["none"])
    assert settings_path().parent == isolated_project_dirs / "data"


def test_a_cluster_that_does_not_answer_is_one_error_and_nothing_is_queued(checkpoints):
    import socket
    pytest.importorskip("ray.job_submission", reason="ray is not installed (requirements-cluster.txt)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # nothing listens there once the socket is closed
    at = open_page()
    at.radio(key="train_where").set_value("ray").run()
    at.text_input(key="train_ray_address").set_value(f"http://127.0.0.1:{closed}")
    at.button(key="train_launch").click().run()
    assert not at.exception
    [error] = [e.value for e in at.error]
    assert error.startswith("Nothing was queued: ") and "cannot be reached" in error
    assert run_folders(checkpoints) == []


def test_a_launch_to_slurm_records_the_backend_and_shows_the_run_queued_there(checkpoints, no_scheduler):
    pytest.importorskip("submitit", reason="submitit is not installed (requirements-cluster.txt)")
    at = open_page()
    at.radio(key="train_where").set_value("slurm").run()
    at.selectbox(key="train_slurm_executor").set_value("local")
    at.number_input(key="train_cluster_gpus").set_value(0)
    at.number_input(key="train_at_once").set_value(1)
    at.text_input(key="train_slurm_sbatch_text").set_value("account=lab")
    at.number_input(key="train_epochs").set_value(1)
    at.button(key="train_launch").click().run()
    assert not at.exception and not at.error
    [run_dir] = run_folders(checkpoints)
    backend = runs.read_json(run_dir / runs.CONFIG)["backend"]
    assert (backend["name"], backend["executor"], backend["gpus"], backend["sbatch"]) == ("slurm", "local", 0,
                                                                                          {"account": "lab"})
    status = runs.read_json(run_dir / runs.STATUS)
    assert status["backend"] == "slurm" and status["at_once"] == 1
    assert any("queued on slurm (not sent yet)" in str(p.proto) for p in at.get("progress"))


def test_a_launch_trains_on_the_labels_chosen_on_home(checkpoints, no_scheduler, tmp_path):
    from fer_core.app.dataset_choice import DatasetChoice
    from tests.conftest import synthetic_votes
    votes = str(synthetic_votes(tmp_path / "votes.csv", 300))
    at = open_app()
    at.session_state["active_dataset"] = DatasetChoice("synthetic", votes=votes, label_mode="distribution")
    at = at.switch_page("app_pages/train.py").run()
    assert any("labels: FER+ distribution" in m.value for m in at.markdown)
    at.number_input(key="train_epochs").set_value(1)
    at.number_input(key="train_synthetic_size").set_value(300)
    at.button(key="train_launch").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    [run_dir] = run_folders(checkpoints)
    config = runs.read_json(run_dir / runs.CONFIG)
    assert (config["votes"], config["label_mode"]) == (votes, "distribution")
