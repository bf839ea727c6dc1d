"""Cluster backend options: what a config's `backend` may hold, the CLI flags and the Train form that make it
(no cluster needed)."""
from __future__ import annotations

import pytest

from fer_core import cli
from fer_core.app import train_form as tf
from fer_core.jobs import cluster
from fer_core.jobs import queue as jobs
from fer_core.runs.store import read_status
from fer_core.training.config import TrainConfig, make_config


def test_backend_options_fill_in_the_defaults_and_refuse_bad_values():
    assert cluster.backend_options(None) == {} and cluster.backend_options("local") == {}
    assert cluster.backend_options("ray") == {"name": "ray", "address": "auto", "gpus": 1, "cpus": 1}
    slurm = cluster.backend_options("slurm", partition="gpu", sbatch={"account": "lab"})
    assert slurm == {"name": "slurm", "partition": "gpu", "gpus": 1, "time_limit_minutes": 120,
                     "sbatch": {"account": "lab"}, "executor": "slurm"}
    for name, options, message in (("kube", {}, "unknown backend 'kube'"),
                                   ("ray", {"gpus": -1}, "gpus must be a number >= 0"),
                                   ("ray", {"address": " "}, "ray address must be text"),
                                   ("slurm", {"gpus": 0.5}, "whole number"),
                                   ("slurm", {"time_limit_minutes": 0}, "positive"),
                                   ("slurm", {"executor": "pbs"}, "unknown slurm executor"),
                                   ("local", {"gpus": 1}, "gpus apply to a cluster backend")):
        with pytest.raises(ValueError, match=message):
            cluster.backend_options(name, **options)
    with pytest.raises(ValueError, match="has no option"):
        cluster.check_backend({"name": "ray", "partition": "gpu"})


def test_the_config_records_where_it_runs_and_old_configs_run_here():
    config = make_config(backend={"name": "ray", "address": "ray://head:10001"})
    assert TrainConfig.from_dict(config.to_dict()).validate().backend["address"] == "ray://head:10001"
    assert TrainConfig.from_dict({}).validate().backend == {}  # config.json from before: this machine
    with pytest.raises(ValueError, match="unknown backend"):
        make_config(backend={"name": "kube"})


def test_sbatch_options_are_key_value_pairs():
    assert cluster.parse_sbatch(["account=lab", "--qos=normal"]) == {"account": "lab", "qos": "normal"}
    with pytest.raises(ValueError, match="not KEY=VALUE"):
        cluster.parse_sbatch(["account"])


def parse(*argv: str):
    return cli.build_parser().parse_args(["sweep", *argv])


def test_cli_flags_make_the_backend_and_refuse_options_of_another_backend():
    assert cli._backend_from_args(parse()) is None  # no flag: a --config file's backend stays
    assert cli._backend_from_args(parse("--backend", "ray", "--address", "auto", "--gpus", "0"))["gpus"] == 0
    slurm = cli._backend_from_args(parse("--backend", "slurm", "--partition", "gpu", "--sbatch", "account=lab",
                                         "--job-time-limit", "30", "--slurm-executor", "local"))
    assert slurm["partition"] == "gpu" and slurm["sbatch"] == {"account": "lab"} and slurm["time_limit_minutes"] == 30
    with pytest.raises(ValueError, match="--partition does not apply to --backend ray"):
        cli._backend_from_args(parse("--backend", "ray", "--partition", "gpu"))
    with pytest.raises(ValueError, match="--address does not apply to --backend local \\(the default\\)"):
        cli._backend_from_args(parse("--address", "auto"))


def test_at_once_needs_a_cluster_backend_and_cluster_runs_stay_out_of_the_local_queue(tmp_path):
    with pytest.raises(ValueError, match="--at-once"):
        jobs.sweep(make_config(arch="pca_rf"), ["pca_rf"], ["none"], tmp_path, at_once=2)
    backend = cluster.backend_options("slurm", executor="local", gpus=0)
    run_dir = jobs._enqueue(make_config(arch="pca_rf", backend=backend), tmp_path, at_once=1)
    status = read_status(run_dir)
    assert status["backend"] == "slurm" and status["at_once"] == 1
    assert jobs._queued(tmp_path) == [] and jobs.queue_position(run_dir) is None
    assert jobs._cluster_work(tmp_path) == ([run_dir], [])
    assert jobs.cancel(run_dir) == "cancelled"  # not sent yet: nothing to ask the engine


def test_the_train_form_sends_its_runs_to_the_cluster_it_names():
    backend = cluster.backend_options("ray", gpus=1)
    form = tf.TrainForm(archs=["simple_cnn"], strategies=["none", "focal"], device="cuda", backend=backend,
                        at_once=1)
    configs = tf.build_configs(form)  # 'cuda' on a machine without a GPU is fine: the cluster has them
    assert [c.backend for c in configs] == [backend, backend]
    assert configs[0].epochs == tf.arch_defaults("simple_cnn", gpu=True)["epochs"]  # the GPU defaults
    with pytest.raises(tf.FormError, match="ask Ray at auto for no GPU"):
        tf.build_configs(tf.TrainForm(archs=["simple_cnn"], device="cuda", backend={**backend, "gpus": 0}))
    with pytest.raises(tf.FormError, match="applies to a cluster backend"):
        tf.build_configs(tf.TrainForm(archs=["simple_cnn"], at_once=2))
    answer = tf.check_cluster({"name": "slurm", "partition": "gpu"})  # None on a Slurm login node
    assert answer is None or answer.startswith("no Slurm here") or "pip install -r requirements-cluster.txt" in answer


def test_a_sweep_has_at_most_at_once_runs_on_the_cluster(tmp_path, monkeypatch):
    from fer_core.runs.store import write_status
    sent = []
    monkeypatch.setattr(jobs, "ensure_scheduler", lambda root=None: False)  # this test is the scheduler
    monkeypatch.setattr(cluster, "submit", lambda run_dir: sent.append(run_dir.name) or f"job-{len(sent)}")
    backend = cluster.backend_options("ray", gpus=0)
    runs = jobs.sweep(make_config(arch="pca_rf", backend=backend), ["pca_rf"], ["none", "class_weights", "undersample"],
                      tmp_path, at_once=2)
    lone = jobs.submit(make_config(arch="pca_rf", backend=backend), tmp_path)  # another launch: its own limit
    jobs._send_cluster_runs(jobs._statuses(tmp_path))
    assert sent == [runs[0].name, runs[1].name, lone.name]  # queue order; the sweep's third waits
    jobs._send_cluster_runs(jobs._statuses(tmp_path))
    assert len(sent) == 3
    write_status(runs[0], "completed")
    jobs._send_cluster_runs(jobs._statuses(tmp_path))
    assert sent[3:] == [runs[2].name] and read_status(runs[2])["cluster_job"] == "job-4"
