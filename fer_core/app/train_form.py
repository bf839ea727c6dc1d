"""The Train page's logic, without Streamlit.

* starting values per architecture and hardware (`arch_defaults`), or from a recipe
  (`starting_values`, `recipe_values`);
* the page's inputs (`TrainForm`) -> validated TrainConfigs, one per (architecture, strategy)
  pair (`build_configs`), refused as a whole with readable messages (`FormError`) before anything
  is queued; `launch` queues them as background jobs (jobs.submit / jobs.sweep).

What the queued runs then do is read by job_status.py.

Torch-backed registries (architectures, strategies, augmentation) are imported inside the
functions that need them, so reading progress and describing errors stay light.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fer_core import jobs
from fer_core.app.settings import read_settings, update_settings
from fer_core.jobs.cluster import check_backend, describe
from fer_core.training.config import RECIPES, TrainConfig, make_config
from fer_core.common.synthetic import is_synthetic_source

DEVICES = ("auto", "cpu", "cuda")
# The settings that depend on the architecture (and on CPU vs GPU); None in a TrainForm = "its default".
ARCH_FIELDS = ("epochs", "batch_size", "lr", "optimizer", "scheduler", "augment", "input_size", "torch_threads")
# Settings shared by every run of a launch; None = the recipe's value, else TrainConfig's default.
SHARED_FIELDS = ("label_smoothing", "early_stopping", "seed", "device")

# Starting values by architecture kind and hardware. "simple_cnn on cpu" is the out-of-the-box
# setting: with QUICK_SYNTHETIC_SIZE synthetic faces it went from submit to completed in 40-65 s
# on 2 CPU cores busy with other jobs (load 10), at 95 % test accuracy; input 32 px keeps the
# Grad-CAM map 4x4. It uses one CPU thread: a net this small gains little from more, and on cores
# shared with other processes torch's default (a thread per core) made the same run 5-7 times
# slower, its threads spinning while they wait for each other.
_DEFAULTS: dict[tuple[str, str], dict[str, Any]] = {
    ("simple_cnn", "cpu"): dict(epochs=6, batch_size=64, lr=3e-3, optimizer="adamw", scheduler="onecycle",
                                augment="light", input_size=32, torch_threads=1),
    ("simple_cnn", "gpu"): dict(epochs=30, batch_size=128, lr=3e-3, optimizer="adamw", scheduler="onecycle",
                                augment="standard", input_size=48),
    ("fast_cnn", "cpu"): dict(epochs=6, batch_size=64, lr=3e-3, optimizer="adamw", scheduler="onecycle",
                              augment="light", input_size=32, torch_threads=1),
    ("fast_cnn", "gpu"): dict(epochs=30, batch_size=128, lr=3e-3, optimizer="adamw", scheduler="onecycle",
                              augment="standard", input_size=48),
    ("vgg_fer", "cpu"): dict(epochs=5, batch_size=64, lr=1e-3, optimizer="adamw", scheduler="onecycle",
                             augment="light", input_size=40),
    ("vgg_fer", "gpu"): dict(epochs=60, batch_size=128, lr=1e-3, optimizer="adamw", scheduler="cosine",
                             augment="standard", input_size=48),
    # timm backbones: input_size is filled in with the architecture's native size
    ("timm", "cpu"): dict(epochs=3, batch_size=32, lr=1e-3, optimizer="adamw", scheduler="cosine", augment="light"),
    ("timm", "gpu"): dict(epochs=20, batch_size=128, lr=1e-3, optimizer="adamw", scheduler="cosine",
                          augment="standard"),
}
QUICK_SYNTHETIC_SIZE = 2000  # synthetic faces generated for a CPU run (the generator's default on a GPU)


class FormError(ValueError):
    """The form's values cannot make runs; `messages` says each problem and what to do."""

    def __init__(self, messages: list[str]):
        self.messages = list(dict.fromkeys(messages))  # the same problem for every run is said once
        super().__init__("; ".join(self.messages))


# ---------------------------------------------------------------- what can be chosen

def gpu_available() -> bool:
    """Whether a CUDA device is visible (without importing torch just to ask)."""
    return bool(jobs.gpu_ids())


def uses_gpu(device: str | None) -> bool:
    """Whether runs on `device` (auto | cpu | cuda[:N]) will train on a GPU on this machine."""
    device = device or "auto"
    return device.startswith("cuda") or (device == "auto" and gpu_available())


def is_classical(arch: str) -> bool:
    from fer_core.models.classical import is_classical as _is_classical
    return _is_classical(arch)


def architecture_names() -> list[str]:
    """Every choosable architecture: the deep ones, then the classical baselines."""
    from fer_core.models.classical import classical_names
    from fer_core.models.architectures import arch_names
    return arch_names() + classical_names()


def describe_architecture(name: str) -> str:
    """One line about an architecture or classical baseline (for option labels)."""
    from fer_core.models.classical import CLASSICAL
    from fer_core.models.architectures import get_arch
    return CLASSICAL.get(name).description if is_classical(name) else get_arch(name).description


def strategy_names() -> list[str]:
    """The imbalance strategies (classical baselines support only some: see build_configs)."""
    from fer_core.training.imbalance import strategy_names as names
    return names()


MAX_REMEMBERED = 64  # names in a remembered selection (more is not a selection this page made)


def remember_launch(archs: list[str], strategies: list[str]) -> None:
    """Remember what was launched, so the page starts from it after a reload or in a new tab."""
    update_settings(train_archs=list(archs), train_strategies=list(strategies))


def remembered_launch() -> tuple[list[str], list[str]] | None:
    """(architectures, strategies) of the last launch, or None when nothing well-formed is remembered (the
    file is untrusted: only names this installation offers are taken)."""
    record = read_settings()
    archs, strategies = record.get("train_archs"), record.get("train_strategies")
    if not (_names_among(archs, architecture_names()) and _names_among(strategies, strategy_names())):
        return None
    return list(archs), list(strategies)


def _names_among(names, offered: list[str]) -> bool:
    return (isinstance(names, list) and 0 < len(names) <= MAX_REMEMBERED
            and all(isinstance(n, str) and n in offered for n in names) and len(set(names)) == len(names))


def augment_presets() -> list[str]:
    """The augmentation preset names (augment.AUGMENT_PRESETS)."""
    from fer_core.transforms.config import AUGMENT_PRESETS
    return list(AUGMENT_PRESETS)


def describe_strategy(name: str) -> str:
    from fer_core.training.imbalance import get_strategy
    return get_strategy(name).description


def supports_pretrained(arch: str) -> bool:
    """Whether ImageNet weights exist for a deep architecture (never for a classical baseline)."""
    if is_classical(arch):
        return False
    from fer_core.models.architectures import get_arch
    return get_arch(arch).supports_pretrained


@dataclass(frozen=True)
class OptionField:
    """One option of an imbalance strategy, as the page shows it."""

    name: str
    kind: str  # "float", "int" or "choice"
    default: Any
    help: str
    choices: tuple = ()
    zero_means_none: bool = False  # an int field where 0 stands for the strategy's None


STRATEGY_OPTIONS: dict[str, tuple[OptionField, ...]] = {
    "effective_number": (OptionField("beta", "float", 0.999, "closer to 1 weights rare classes more (0 <= beta < 1)"),),
    "focal": (
        OptionField("gamma", "float", 2.0, "focusing: 0 is plain cross-entropy; larger down-weights easy images"),
        OptionField("alpha", "choice", None, "per-class weights on top of the focusing",
                    choices=(None, "class_weights", "effective_number")),
        OptionField("beta", "float", 0.999, "beta of the effective-number weights (alpha effective_number)"),
    ),
    "undersample": (OptionField("min_per_class", "int", 0,
                                "keep at least this many images per class (0: the minority count)"),),
    "mirror_balance": (OptionField("cap", "int", 0,
                                   "top classes up to at most this many images (0: the majority count)",
                                   zero_means_none=True),),
}


def strategy_options(name: str, values: dict[str, Any]) -> dict[str, Any]:
    """The page's option values -> the strategy's options, leaving out those at their defaults."""
    fields = {f.name: f for f in STRATEGY_OPTIONS.get(name, ())}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"strategy {name!r} has no option(s) {', '.join(unknown)}; "
                         f"it takes: {', '.join(fields) or 'no options'}")
    out = {}
    for key, value in values.items():
        f = fields[key]
        if f.zero_means_none and value == 0:
            value = None
        if value != (None if f.zero_means_none else f.default):
            out[key] = value
    return out


# ---------------------------------------------------------------- starting values

def arch_defaults(arch: str, gpu: bool = False) -> dict[str, Any]:
    """The starting values of ARCH_FIELDS for one architecture on CPU (gpu=False) or GPU.

    Classical baselines have none of these settings: {}. Unknown names raise UnknownNameError.
    """
    if is_classical(arch):
        return {}
    from fer_core.models.architectures import get_arch
    spec = get_arch(arch)
    kind = arch if (arch, "cpu") in _DEFAULTS else "timm"
    values = dict(_DEFAULTS[(kind, "gpu" if gpu else "cpu")])
    values.setdefault("input_size", spec.native_input_size)
    values.setdefault("torch_threads", None)  # torch's default: one thread per core
    return values


def starting_values(arch: str, gpu: bool = False, recipe: str | None = None) -> dict[str, Any]:
    """The values a run of `arch` starts from, before the form's own: without a recipe the arch's
    defaults (arch_defaults); with one, the recipe's values over TrainConfig's defaults (a recipe is
    a whole preset, so the arch's quick defaults do not mix into it), its SHARED_FIELDS included."""
    if recipe is None or is_classical(arch):
        return arch_defaults(arch, gpu)
    from fer_core.models.architectures import get_arch
    base = TrainConfig()
    values = {k: getattr(base, k) for k in ARCH_FIELDS}
    values["input_size"] = get_arch(arch).native_input_size  # what None means, as a number for the input
    values.update({k: v for k, v in recipe_values(recipe).items() if k != "archs"})
    return values


def default_synthetic_size(gpu: bool = False) -> int:
    """How many synthetic faces a run generates by default: fewer on a CPU, to stay quick."""
    from fer_core.data.synthetic import DEFAULT_SIZE
    return DEFAULT_SIZE if gpu else QUICK_SYNTHETIC_SIZE


def defaults_table(archs: list[str], gpu: bool = False, recipe: str | None = None) -> list[dict]:
    """One row per deep architecture of the ARCH_FIELDS it starts from (see starting_values)."""
    rows = []
    for arch in (a for a in archs if not is_classical(a)):
        values = starting_values(arch, gpu, recipe)
        rows.append({"architecture": arch, **{k: values[k] for k in ARCH_FIELDS}})
    return rows


def recipe_values(name: str) -> dict[str, Any]:
    """A recipe as form values: its architecture (as `archs`) and its ARCH_FIELDS / SHARED_FIELDS.

    Options the form has no input for (tta, warm-up, crop size, ...) still apply at launch
    through TrainForm.recipe.
    """
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; valid: {', '.join(RECIPES) or '(none)'}")
    options = RECIPES[name]["options"]
    values = {k: options[k] for k in ARCH_FIELDS + SHARED_FIELDS if k in options}
    if "arch" in options:
        values["archs"] = [options["arch"]]
    return values


def describe_recipe(name: str) -> str:
    return RECIPES[name]["description"]


# ---------------------------------------------------------------- form -> configs

@dataclass
class TrainForm:
    """What the Train page collects. Fields left None take the starting values (starting_values):
    each architecture's defaults, or with a recipe the recipe's values, else TrainConfig's defaults."""

    archs: list[str]
    strategies: list[str] = field(default_factory=lambda: ["none"])
    data: str | None = None  # a dataset path; None or "synthetic" for the built-in faces
    class_set: str = "all"
    votes: str | None = None  # a FER+ votes file beside the images
    label_mode: str = "fer2013"  # data/votes.py LABEL_MODES
    synthetic_size: int | None = None  # synthetic faces only; None = the generator's default
    n_train: int | None = None  # training images of the chosen data, if known: checks the batch size
    recipe: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    optimizer: str | None = None
    scheduler: str | None = None
    augment: str | None = None
    input_size: int | None = None
    torch_threads: int | None = None  # CPU threads for torch; None = torch's default (every core)
    label_smoothing: float | None = None
    early_stopping: int | None = None
    seed: int | None = None
    device: str | None = None
    pretrained: bool = False  # ImageNet weights, for the archs that have them
    transfer: str = "scratch"  # with pretrained: scratch | frozen | finetune
    strategy_options: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> page option values
    backend: dict[str, Any] = field(default_factory=dict)  # where the runs execute ({}: this machine; jobs.cluster)
    at_once: int | None = None  # cluster backends: at most this many of the launch's runs at a time (None: all)

    @property
    def is_synthetic(self) -> bool:
        return is_synthetic_source(self.data)


def _check_names(form: TrainForm) -> list[str]:
    """Messages for empty selections and unknown names (nothing else can be checked without them)."""
    from fer_core.training.imbalance import STRATEGIES
    from fer_core.models.architectures import get_arch

    errors = []
    if not form.archs:
        errors.append("Choose at least one architecture.")
    if not form.strategies:
        errors.append("Choose at least one imbalance strategy ('none' trains with plain cross-entropy).")
    for arch in form.archs:
        if not is_classical(arch):
            try:
                get_arch(arch)
            except ValueError as exc:
                errors.append(str(exc))
    for name in form.strategies:
        if name not in STRATEGIES:
            errors.append(f"unknown imbalance strategy {name!r}; valid: {', '.join(STRATEGIES.names())}")
    if form.recipe is not None and form.recipe not in RECIPES:
        errors.append(f"unknown recipe {form.recipe!r}; valid: {', '.join(RECIPES) or '(none)'}")
    return errors


def _check_settings(form: TrainForm) -> list[str]:
    """Messages for settings that would fail in the worker, said here instead."""
    from fer_core.training.classical import SUPPORTED_IMBALANCE
    from fer_core.data.synthetic import MIN_PER_CLASS
    from fer_core.common.emotions import CANONICAL_CLASSES
    from fer_core.training.imbalance import get_strategy

    errors = []
    device = form.device or "auto"
    try:
        backend = check_backend(form.backend)
    except ValueError as exc:
        errors.append(str(exc))
        backend = {}
    if form.at_once is not None and (not backend or form.at_once < 1):
        errors.append("a number of runs at once applies to a cluster backend, and must be at least 1.")
    if device not in DEVICES and not device.startswith("cuda:"):
        errors.append(f"unknown device {device!r}; valid: {', '.join(DEVICES)}")
    elif backend and device.startswith("cuda") and not backend.get("gpus"):
        errors.append(f"device 'cuda' was chosen but the runs ask {describe(backend)} for no GPU; ask for at least one.")
    elif not backend and device.startswith("cuda") and not gpu_available():
        errors.append("device 'cuda' was chosen but this machine has no CUDA GPU; choose 'auto' or 'cpu'.")
    smallest = MIN_PER_CLASS * len(CANONICAL_CLASSES)
    if form.is_synthetic and form.synthetic_size is not None and form.synthetic_size < smallest:
        errors.append(f"the synthetic dataset needs at least {smallest} faces ({MIN_PER_CLASS} per class); "
                      f"got {form.synthetic_size}.")
    for name in form.strategies:
        try:
            get_strategy(name, **strategy_options(name, form.strategy_options.get(name, {})))
        except ValueError as exc:
            errors.append(f"{name}: {exc}")
    classical = [a for a in form.archs if is_classical(a)]
    unsupported = [s for s in form.strategies if s not in SUPPORTED_IMBALANCE]
    if classical and unsupported:
        errors.append(f"the classical baselines ({', '.join(classical)}) cannot use {', '.join(unsupported)}; "
                      f"they support {', '.join(SUPPORTED_IMBALANCE)}. Remove one or the other, or launch them "
                      "separately.")
    deep = [a for a in form.archs if not is_classical(a)]
    if form.pretrained and deep and not any(supports_pretrained(a) for a in deep):
        errors.append(f"{', '.join(deep)} {'has' if len(deep) == 1 else 'have'} no pretrained weights; "
                      "untick 'pretrained' or choose a timm architecture (e.g. resnet18).")
    return errors


def _n_train(form: TrainForm) -> int | None:
    """Training images the runs will see, if known: the form's count, or the synthetic split's."""
    if form.n_train is not None or not form.is_synthetic:
        return form.n_train
    from fer_core.data.synthetic import DEFAULT_SIZE, train_size
    return train_size(form.synthetic_size or DEFAULT_SIZE)


def runs_on_gpu(device: str | None, backend: dict | None = None) -> bool:
    """Whether runs on `device` will train on a GPU: here, when this machine has one; on a cluster
    (`backend`), when they ask it for one (and not for the CPU)."""
    if not backend:
        return uses_gpu(device)
    return (device or "auto") != "cpu" and bool(check_backend(backend).get("gpus"))


def _config_for(form: TrainForm, arch: str, strategy: str, gpu: bool) -> TrainConfig:
    """One run's validated config: the starting values (arch defaults, or the recipe) < the form's own."""
    options: dict[str, Any] = dict(starting_values(arch, gpu, form.recipe))
    options.update({k: getattr(form, k) for k in ARCH_FIELDS + SHARED_FIELDS if getattr(form, k) is not None})
    options.update(arch=arch, imbalance=strategy, class_set=form.class_set, votes=form.votes or None,
                   label_mode=form.label_mode if form.votes else "fer2013",
                   imbalance_options=strategy_options(strategy, form.strategy_options.get(strategy, {})),
                   data=None if form.is_synthetic else form.data.strip(), backend=form.backend,
                   synthetic_size=form.synthetic_size if form.is_synthetic else None)
    if form.pretrained and supports_pretrained(arch):
        options.update(pretrained=True, transfer=form.transfer)
    elif form.pretrained:
        options.update(pretrained=False, transfer="scratch")  # this arch has no weights: it trains from scratch
    return make_config(form.recipe, **options)


def _check_config(config: TrainConfig, n_train: int | None) -> None:
    """What TrainConfig.validate cannot know: the augmentation settings and the training set size."""
    if is_classical(config.arch):
        return
    from fer_core.transforms.config import augment_config
    augment_config(config.augment, input_size=config.input_size or 48, **config.augment_options)
    if n_train is not None and config.batch_size > n_train:
        raise ValueError(f"batch size {config.batch_size} is larger than the training set (about {n_train} "
                         "images); choose a smaller batch size or a larger dataset.")


def build_configs(form: TrainForm) -> list[TrainConfig]:
    """One validated TrainConfig per (architecture, strategy) pair, architectures outermost.

    Raises FormError listing every problem (unknown names, invalid values, impossible combinations)
    so the page can show them all before anything is queued.
    """
    form = dataclasses.replace(form, archs=list(dict.fromkeys(form.archs)),
                               strategies=list(dict.fromkeys(form.strategies)))
    errors = _check_names(form)
    if errors:
        raise FormError(errors)
    errors = _check_settings(form)
    if errors:
        raise FormError(errors)
    gpu, n_train = runs_on_gpu(form.device, form.backend), _n_train(form)
    configs = []
    for arch in form.archs:
        for strategy in form.strategies:
            try:
                config = _config_for(form, arch, strategy, gpu)
                _check_config(config, n_train)
                configs.append(config)
            except ValueError as exc:
                errors.append(f"{arch}: {exc}" if len(form.archs) > 1 else str(exc))
    if errors:
        raise FormError(errors)
    return configs


def _as_sweep(configs: list[TrainConfig]) -> tuple[list[str], list[str]] | None:
    """(archs, strategies) if jobs.sweep(configs[0], archs, strategies) queues exactly `configs`."""
    base = configs[0]
    archs = list(dict.fromkeys(c.arch for c in configs))
    strategies = list(dict.fromkeys(c.imbalance for c in configs))
    expected = [dataclasses.replace(base, arch=a, imbalance=s,
                                    imbalance_options=dict(base.imbalance_options) if s == base.imbalance else {})
                for a in archs for s in strategies]
    return (archs, strategies) if expected == configs else None


def launch(configs: list[TrainConfig], root: str | Path | None = None, at_once: int | None = None) -> list[Path]:
    """Queue the runs as background jobs (on the cluster their config names, if any); returns their
    folders in queue order.

    A plain grid goes through jobs.sweep (one sweep id for all); a grid whose runs differ in more
    than architecture and strategy (per-architecture defaults, options for several strategies) is
    queued run by run with jobs.submit, under one sweep id when `at_once` limits them together.
    """
    if not configs:
        raise ValueError("nothing to launch: build_configs gave no runs")
    if len(configs) == 1:
        return [jobs.submit(configs[0], root, at_once=at_once)]
    grid = _as_sweep(configs)
    if grid is not None:
        return jobs.sweep(configs[0], *grid, root=root, at_once=at_once)
    sweep = jobs.new_sweep_id(len({c.arch for c in configs}), len({c.imbalance for c in configs}))
    return [jobs.submit(c, root, at_once=at_once, sweep=sweep) for c in configs]


def check_cluster(backend: dict) -> str | None:
    """Before a launch: None when the backend can take runs, else one line saying why not (the package
    to install, or the cluster that does not answer)."""
    from fer_core.jobs.cluster import ClusterError, check_reachable
    try:
        check_reachable(backend)
    except (ClusterError, ValueError) as exc:
        return str(exc)
    return None
