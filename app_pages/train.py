"""Train: choose architectures, imbalance strategies and settings, launch background runs, watch them."""
import os

import pandas as pd
import streamlit as st

from fer_core import jobs
from fer_core.app import job_status
from fer_core.app import train_form as tf
from fer_core.common import paths
from fer_core.common.wording import percent, score
from fer_core.data.votes import label_description
from fer_core.data.synthetic import DEFAULT_SIZE as SYNTHETIC_DEFAULT_SIZE
from fer_core.jobs.cluster import parse_sbatch
from fer_core.training.config import OPTIMIZERS, RECIPES, SCHEDULERS, TRANSFER_MODES
from fer_core.runs.store import ACTIVE, UNREADABLE, RunError, load_listed
from app_pages.common import (PERCENT_POINTS, active_choice, active_dataset, chart, dataset_label, in_percent,
                              show_table)


# widget key of each per-architecture setting (tf.ARCH_FIELDS)
ARCH_KEYS = {name: f"train_{name}" for name in tf.ARCH_FIELDS}
ARCH_KEYS["torch_threads"] = "train_threads"
KEEP = "session"  # widgets keep their values while hidden and when the user comes back to the page


def _backend() -> dict:
    """The cluster backend the "Where to run" inputs describe ({}: this machine), unchecked."""
    ss = st.session_state
    if ss.get("train_where", "local") == "ray":
        return {"name": "ray", "address": ss.train_ray_address.strip(), "gpus": ss.train_cluster_gpus,
                "cpus": ss.train_ray_cpus}
    if ss.get("train_where") == "slurm":
        return {"name": "slurm", "partition": ss.train_slurm_partition.strip() or None, "gpus": ss.train_cluster_gpus,
                "time_limit_minutes": ss.train_slurm_minutes, "executor": ss.train_slurm_executor,
                "sbatch": ss.train_slurm_sbatch}
    return {}


def _gpu() -> bool:
    """Whether the runs will train on a GPU (this machine's, or the cluster's)."""
    try:
        return tf.runs_on_gpu(st.session_state.train_device, _backend())
    except ValueError:
        return False


def _first_deep(archs: list[str]) -> str | None:
    return next((a for a in archs if not tf.is_classical(a)), None)


def _apply_defaults() -> None:
    """Fill the settings with the first chosen deep architecture's defaults, or the recipe's values."""
    ss = st.session_state
    arch, gpu = _first_deep(ss.train_archs), _gpu()
    ss.train_defaults_for = (arch, gpu)
    values = tf.starting_values(arch, gpu, ss.train_recipe) if arch else {}
    if "torch_threads" in values:
        values["torch_threads"] = values["torch_threads"] or 0  # the input's 0: torch's default
    ss.update({ARCH_KEYS.get(k, f"train_{k}"): v for k, v in values.items()})
    ss.train_synthetic_size = tf.default_synthetic_size(gpu)


def _on_archs_or_device_change() -> None:
    ss = st.session_state
    if (_first_deep(ss.train_archs), _gpu()) != ss.train_defaults_for:
        _apply_defaults()


def _on_recipe_change() -> None:
    """A recipe is a starting point: its architecture and settings go into the inputs."""
    ss = st.session_state
    ss.train_label_smoothing, ss.train_early_stopping = 0.0, 0  # TrainConfig's, unless the recipe sets them
    if ss.train_recipe:
        ss.train_archs = tf.recipe_values(ss.train_recipe).get("archs", ss.train_archs)
    _apply_defaults()


def _init_state() -> None:
    ss = st.session_state
    for key, value in (("train_where", "local"), ("train_ray_address", "auto"), ("train_cluster_gpus", 1),
                       ("train_ray_cpus", 1), ("train_slurm_partition", ""), ("train_slurm_minutes", 120),
                       ("train_slurm_executor", "slurm"), ("train_slurm_sbatch_text", ""), ("train_at_once", 0)):
        ss.setdefault(key, value)
    ss.setdefault("train_slurm_sbatch", {})
    if "train_archs" in ss:
        return
    ss.train_archs, ss.train_strategies = tf.remembered_launch() or (["simple_cnn"], ["none"])  # the last launch
    ss.train_recipe = None
    ss.train_device = "auto"
    ss.train_label_smoothing, ss.train_early_stopping, ss.train_seed = 0.0, 0, 0
    ss.train_pretrained, ss.train_transfer = False, "scratch"
    _apply_defaults()


st.title("🏋️ Train")
st.markdown("Launch one run or a grid (architectures × imbalance strategies) as **background jobs**: "
            "they keep running if you leave this page. Progress below refreshes every 2 seconds while runs "
            "are active.")

ds, error = active_dataset()
if error:
    st.error(f"The active dataset cannot be read: {error} Choose another one on Home.")
    st.stop()
choice = active_choice()
st.caption(f"Dataset: {dataset_label(ds)} · classes: {choice.class_set} · labels: "
           f"{label_description(choice.effective_label_mode, choice.votes_path)} (change on Home)")
_init_state()
ss = st.session_state

# ---------------------------------------------------------------- what to train
all_archs = tf.architecture_names()
c1, c2 = st.columns(2)
archs = c1.multiselect("Architectures", all_archs, key="train_archs", persist_state=KEEP,
                       on_change=_on_archs_or_device_change,
                       format_func=lambda a: f"{a} (classical)" if tf.is_classical(a) else a,
                       help="\n".join(f"- **{a}**: {tf.describe_architecture(a)}" for a in all_archs))
strategies = c2.multiselect("Imbalance strategies", tf.strategy_names(), key="train_strategies", persist_state=KEEP,
                            help="\n".join(f"- **{s}**: {tf.describe_strategy(s)}" for s in tf.strategy_names()))
c1.selectbox("Start from a recipe", [None, *RECIPES], key="train_recipe", persist_state=KEEP, placeholder="(none)",
             on_change=_on_recipe_change, format_func=lambda r: "(none)" if r is None else r,
             help="\n".join(f"- **{r}**: {tf.describe_recipe(r)}" for r in RECIPES))
if ss.train_recipe:
    c1.caption(tf.describe_recipe(ss.train_recipe))
c2.selectbox("Device", tf.DEVICES, key="train_device", persist_state=KEEP, on_change=_on_archs_or_device_change,
             help="auto: the GPU if there is one, else the CPU")

deep = [a for a in archs if not tf.is_classical(a)]
classical = [a for a in archs if tf.is_classical(a)]
option_fields = {s: tf.STRATEGY_OPTIONS[s] for s in strategies if s in tf.STRATEGY_OPTIONS}
if option_fields:
    with st.expander("Strategy options"):
        for name, fields in option_fields.items():
            cols = st.columns(len(fields))
            for col, f in zip(cols, fields):
                key = f"train_opt_{name}_{f.name}"
                label = f"{name}: {f.name}"
                if f.kind == "choice":
                    col.selectbox(label, f.choices, key=key, help=f.help, persist_state=KEEP,
                                  format_func=lambda v: "none" if v is None else str(v))
                elif f.kind == "int":
                    col.number_input(label, min_value=0, value=f.default, step=1, key=key, help=f.help,
                                     persist_state=KEEP)
                else:
                    col.number_input(label, min_value=0.0, value=f.default, format="%.4g", key=key, help=f.help,
                                     persist_state=KEEP)

# ---------------------------------------------------------------- settings
st.subheader("Settings")
per_arch = False
if len(deep) > 1:
    per_arch = st.toggle("Each architecture uses its own defaults", value=True, key="train_per_arch",
                         persist_state=KEEP, help="Off: the values below apply to every architecture")
if per_arch:
    table = tf.defaults_table(deep, _gpu(), ss.train_recipe)
    show_table(st, pd.DataFrame(table), hide_index=True, width="stretch")
elif deep:
    defaults_arch = _first_deep(archs)
    st.caption(f"Defaults for {defaults_arch} on {'GPU' if _gpu() else 'CPU'}"
               + (f"; the same values apply to {', '.join(deep[1:])}" if len(deep) > 1 else ""))
    cols = st.columns(4)
    cols[0].number_input("Epochs", min_value=1, step=1, key="train_epochs", persist_state=KEEP)
    cols[1].number_input("Batch size", min_value=1, step=1, key="train_batch_size", persist_state=KEEP)
    cols[2].number_input("Learning rate", min_value=0.0, step=1e-4, format="%.5f", key="train_lr",
                         persist_state=KEEP)
    cols[3].number_input("Input size (px)", min_value=1, step=4, key="train_input_size", persist_state=KEEP,
                         help="faces are resized to this square size before the network")
    cols = st.columns(4)
    cols[0].selectbox("Optimizer", OPTIMIZERS, key="train_optimizer", persist_state=KEEP)
    cols[1].selectbox("Scheduler", SCHEDULERS, key="train_scheduler", persist_state=KEEP)
    cols[2].selectbox("Augmentation", tf.augment_presets(), key="train_augment", persist_state=KEEP)
    cols[3].number_input("CPU threads", min_value=0, step=1, key="train_threads", persist_state=KEEP,
                         help="0: torch's default (one per core). Small nets on a shared machine are "
                              "faster with 1.")
    st.button("Reset to the defaults", key="train_reset", on_click=_apply_defaults)
if classical:
    st.caption(f"Classical baselines ({', '.join(classical)}) fit once: epochs, learning rate and the other "
               "deep-learning settings do not apply to them.")

cols = st.columns(4)
cols[0].number_input("Label smoothing", min_value=0.0, max_value=0.99, step=0.05, key="train_label_smoothing",
                     persist_state=KEEP)
cols[1].number_input("Early stopping patience", min_value=0, step=1, key="train_early_stopping", persist_state=KEEP,
                     help="stop after this many epochs without a better validation score; 0: off")
cols[2].number_input("Seed", min_value=0, step=1, key="train_seed", persist_state=KEEP)
if choice.is_synthetic:
    cols[3].number_input("Synthetic faces", min_value=1, step=500, key="train_synthetic_size", persist_state=KEEP,
                         help=f"how many synthetic faces the run generates (Home previews the generator's "
                              f"default, {SYNTHETIC_DEFAULT_SIZE:,}); fewer train faster")
can_pretrain = any(tf.supports_pretrained(a) for a in deep)
if can_pretrain:
    cols = st.columns(2)
    cols[0].checkbox("Pretrained (ImageNet weights)", key="train_pretrained", persist_state=KEEP,
                     help="downloaded once and cached; architectures without weights train from scratch")
    cols[1].selectbox("Transfer", TRANSFER_MODES, key="train_transfer", persist_state=KEEP,
                      disabled=not ss.train_pretrained,
                      help="scratch: train everything; frozen: only the new head; finetune: head first, "
                           "then the backbone at a lower learning rate")

# ---------------------------------------------------------------- where
st.subheader("Where to run")
WHERE = {"local": "this machine", "ray": "a Ray cluster", "slurm": "Slurm (through submitit)"}
where = st.radio("Run on", list(WHERE), key="train_where", persist_state=KEEP, horizontal=True,
                 format_func=WHERE.get, on_change=_on_archs_or_device_change)
if where != "local":
    cols = st.columns(4)
    if where == "ray":
        cols[0].text_input("Ray address", key="train_ray_address", persist_state=KEEP,
                           help="auto (the cluster this machine belongs to), ray://HOST:10001, or http://HOST:8265")
    else:
        cols[0].text_input("Partition", key="train_slurm_partition", persist_state=KEEP,
                           help="empty: the cluster's default partition")
    cols[1].number_input("GPUs per run", min_value=0, step=1, key="train_cluster_gpus", persist_state=KEEP,
                         on_change=_on_archs_or_device_change)
    if where == "ray":
        cols[2].number_input("CPUs per run", min_value=0, step=1, key="train_ray_cpus", persist_state=KEEP)
    else:
        cols[2].number_input("Time limit (min)", min_value=1, step=10, key="train_slurm_minutes", persist_state=KEEP,
                             help="each job's Slurm time limit (--time)")
    cols[3].number_input("Runs at once", min_value=0, step=1, key="train_at_once", persist_state=KEEP,
                         help="at most this many of this launch's runs on the cluster at a time; 0: all (the "
                              "cluster queues them)")
    if where == "slurm":
        cols = st.columns([3, 1])
        cols[0].text_input("Extra sbatch options", key="train_slurm_sbatch_text", persist_state=KEEP,
                           placeholder="account=lab qos=normal", help="KEY=VALUE pairs separated by spaces")
        cols[1].selectbox("Executor", ("slurm", "local"), key="train_slurm_executor", persist_state=KEEP,
                          help="local: submitit's local executor runs each job as a process on this machine "
                               "(tries the Slurm path without a cluster)")
    st.caption("Each run is its own cluster job. The nodes must see the checkpoints folder "
               f"(`{paths.checkpoints_dir()}`), the dataset and this project with its virtual environment at the "
               "same paths (NFS, a shared home): the runs write their folders there, and this page follows them.")

# ---------------------------------------------------------------- launch
n_runs = len(archs) * len(strategies)
how = "run one after another (or one per GPU)" if where == "local" else f"each its own job on {WHERE[where]}"
st.caption(f"{len(archs)} architecture(s) × {len(strategies)} strateg{'y' if len(strategies) == 1 else 'ies'} = "
           f"**{n_runs} run(s)**, {how}")
if archs:
    estimate = job_status.estimate_duration(archs[0], choice.path or None, ss.train_epochs, paths.checkpoints_dir())
    st.caption(estimate.sentence(n_runs) if estimate else
               "No similar run has finished here yet, so there is no estimate of how long this takes.")
launch_col, data_col = st.columns([1, 5], vertical_alignment="center")
data_col.markdown(f"Trains on **{dataset_label(ds)}** · classes: {choice.class_set} · labels: "
                  f"{label_description(choice.effective_label_mode, choice.votes_path)} (change them on Home)")
if launch_col.button("🚀 Launch", type="primary", key="train_launch"):
    arch_values = {}  # None: each architecture's own defaults
    if deep and not per_arch:
        arch_values = {k: ss[ARCH_KEYS[k]] for k in tf.ARCH_FIELDS}
        arch_values["torch_threads"] = ss.train_threads or None
    form = tf.TrainForm(
        archs=archs, strategies=strategies, data=choice.path, class_set=choice.class_set,
        votes=choice.votes_path, label_mode=choice.effective_label_mode,
        synthetic_size=ss.train_synthetic_size if choice.is_synthetic else None,
        n_train=None if choice.is_synthetic else len(ds.split("train")),
        recipe=ss.train_recipe, label_smoothing=ss.train_label_smoothing, early_stopping=ss.train_early_stopping,
        seed=ss.train_seed, device=ss.train_device,
        pretrained=can_pretrain and ss.train_pretrained, transfer=ss.train_transfer,
        strategy_options={s: {f.name: ss[f"train_opt_{s}_{f.name}"] for f in fields}
                          for s, fields in option_fields.items()},
        at_once=(ss.train_at_once or None) if where != "local" else None,
        **arch_values,
    )
    configs, unreachable = [], None
    try:
        ss.train_slurm_sbatch = parse_sbatch(ss.train_slurm_sbatch_text.split())
        form.backend = _backend()
        configs = tf.build_configs(form)
    except tf.FormError as exc:
        for message in exc.messages:
            st.error(message)
    except ValueError as exc:
        st.error(str(exc))
    if configs and form.backend:
        with st.spinner(f"Checking that {WHERE[where]} answers..."):
            unreachable = tf.check_cluster(form.backend)  # before anything is queued
        if unreachable:
            st.error(f"Nothing was queued: {unreachable}")
    if configs and not unreachable:
        try:
            run_dirs = tf.launch(configs, paths.checkpoints_dir(), at_once=form.at_once)
        except (OSError, ValueError, RunError) as exc:
            st.error(f"Could not queue the runs: {exc}. Check that the checkpoints folder is writable.")
        else:
            st.session_state.train_launched = [str(d) for d in run_dirs]
            tf.remember_launch(archs, strategies)


# ---------------------------------------------------------------- live progress and the job list
def _cancel(run_dir) -> None:
    """Cancel button callback: runs before the panel redraws, so the panel shows the outcome."""
    st.session_state.train_cancel_message = job_status.cancel_run(run_dir)


def _resume(run_dir) -> None:
    """Resume button callback; the panel then reruns the whole page, so that its polling starts."""
    st.session_state.train_resume_message = job_status.resume_run(run_dir)
    st.session_state.train_rerun_page = True


def launched_banner() -> None:
    """What the last Launch queued, until those runs have all ended; then a link to their results."""
    launched = [d for d in st.session_state.get("train_launched", []) if os.path.isdir(d)]
    if not launched:
        return
    records = [load_listed(d) for d in launched]
    names = ", ".join(r.run_id for r in records)
    if any(r.state in ACTIVE for r in records):
        st.success(f"Queued {len(records)} run(s): {names}. Their progress is below.")
        return
    st.success(f"Finished: {names}.")
    if st.button("View results on Runs", key="train_view_results", icon="📊"):
        st.session_state.runs_selected_ids = [r.run_id for r in records]
        del st.session_state.train_launched
        st.switch_page("app_pages/runs.py")


def live_panel() -> None:
    """Re-reads the run folders (every 2 s while runs are active): active runs with progress, curves and
    cancel; recent runs."""
    root = paths.checkpoints_dir()
    if st.session_state.pop("train_rerun_page", False):
        st.rerun()  # a run was just queued from inside this fragment: the page decides on polling again
    launched_banner()
    st.subheader("Active runs")
    for key in ("train_cancel_message", "train_resume_message"):
        if message := st.session_state.pop(key, None):
            st.info(message)
    active = job_status.live_runs(root)
    if active and jobs.reconcile(root):  # the poll repairs too: a queue whose scheduler died starts again
        active = job_status.live_runs(root)
    if st.session_state.get("train_polling") and not active:  # the last active run just ended: stop polling
        st.session_state.train_polling = False
        st.rerun()
    if not active:
        st.caption("No run is queued or running.")
    for live in active:
        p = live.progress
        with st.container(border=True):
            head, button = st.columns([5, 1])
            head.markdown(f"**{p.run_id}** · {p.arch} · {p.imbalance}")
            button.button("Cancel", key=f"train_cancel_{p.run_id}", on_click=_cancel, args=(p.run_dir,))
            st.progress(p.fraction, text=p.label)
            if p.pace():
                st.caption(p.pace())
            if p.latest:
                cols = st.columns(4)
                for col, (label, key, say) in zip(cols, (("train loss", "train_loss", score),
                                                          ("train accuracy", "train_acc", percent),
                                                          ("val accuracy", "val_acc", percent),
                                                          ("val macro-F1", "val_macro_f1", score))):
                    col.metric(label, say(p.latest.get(key)) or "–")
            if live.figure is not None:
                chart(st, live.figure, width="stretch", key=f"train_curves_{p.run_id}")

    st.subheader("Recent runs")
    recent = job_status.recent_jobs(root)
    if not recent:
        st.caption("No runs yet.")
        return
    show_table(st, in_percent(pd.DataFrame([j.table_row() for j in recent]), ["test accuracy"]), hide_index=True,
               width="stretch",
               column_config={"progress": st.column_config.ProgressColumn("progress", min_value=0, max_value=1),
                              "test accuracy": st.column_config.NumberColumn(**PERCENT_POINTS)})
    for job in recent:
        if job.failure:
            what = "cannot be read" if job.progress.state == UNREADABLE else "failed"
            st.error(f"**{job.run_id}** {what}. {job.failure.sentence}")
            with st.expander(f"Original error of {job.run_id}"):
                st.code(job.failure.original + (f"\n\n{job.failure.traceback}" if job.failure.traceback else ""),
                        language=None)
        if job.can_resume:
            st.button(f"Resume {job.run_id}", key=f"train_resume_{job.run_id}", icon="▶️", on_click=_resume,
                      args=(job.progress.run_dir,),
                      help="Continue this run from its last completed epoch, in the same run folder and with the "
                           "same settings")


# The page's deliberate repair step, on every page run and in the poll while runs are active: runs whose
# process died are recorded as failed, and a queue whose scheduler died is served again.
jobs.reconcile(paths.checkpoints_dir())
# Poll only while runs are active (the panel turns polling off once they have all ended).
st.session_state.train_polling = bool(jobs.active_runs(paths.checkpoints_dir()))
st.fragment(live_panel, run_every=2 if st.session_state.train_polling else None)()
