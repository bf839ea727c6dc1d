"""Training configuration: one flat, JSON-serialisable dataclass, plus named recipes (presets)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from fer_core.data.votes import LABEL_MODES
from fer_core.transforms.config import TTA_MODES

OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULERS = ("none", "plateau", "cosine", "onecycle")
TRANSFER_MODES = ("scratch", "frozen", "finetune")
SELECT_METRICS = ("auto", "val_acc", "val_macro_f1")


@dataclass
class TrainConfig:
    """Everything a run needs; saved as the run's config.json. None means 'the default for this arch'."""

    # data
    data: str | None = None                 # path, or None for the built-in synthetic faces
    class_set: str = "all"
    votes: str | None = None                # a FER+ votes file beside the images (data/votes.py)
    label_mode: str = "fer2013"             # fer2013 | majority | distribution (data/votes.LABEL_MODES)
    val_fraction: float = 0.1
    drop_leaked: bool = True                # drop train images pixel-identical to val/test images
    synthetic_size: int | None = None
    # model
    arch: str = "simple_cnn"
    input_size: int | None = None           # None: the architecture's native size
    pretrained: bool | str = False          # False, True (timm hub) or a local weights file
    transfer: str = "scratch"               # scratch | frozen | finetune
    unfreeze_epoch: int = 3                 # finetune: backbone trains from this epoch on
    backbone_lr_scale: float = 0.1          # finetune: backbone learning rate = lr * this
    drop_rate: float | None = None
    # class imbalance
    imbalance: str = "none"
    imbalance_options: dict[str, Any] = field(default_factory=dict)   # e.g. {"gamma": 2.0}
    label_smoothing: float = 0.0
    # optimisation
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    optimizer: str = "adamw"
    momentum: float = 0.9                   # sgd (Nesterov)
    scheduler: str = "plateau"
    warmup_epochs: int = 0
    early_stopping: int = 0                 # patience in epochs on the selection metric; 0 = off
    select_metric: str = "auto"             # val_acc | val_macro_f1 | auto (macro-F1 with an imbalance strategy)
    grad_clip: float | None = None
    ema_decay: float | None = None          # keep an exponential moving average of the weights (per step); val,
                                            # the checkpoint and test use it. e.g. 0.998; None = off
    mixed_precision: bool = True            # bf16 autocast on CUDA only
    compile: bool = False                   # torch.compile the model (CUDA only; slow to start, faster after)
    time_limit_minutes: float | None = None  # no epoch starts that would end past this budget
    # augmentation and evaluation
    augment: str = "standard"               # preset name in augment.AUGMENT_PRESETS
    augment_options: dict[str, Any] = field(default_factory=dict)   # overrides, e.g. {"crop_size": 40}
    mixup_alpha: float = 0.0                # mixup: blend pairs of training images, lam ~ Beta(a, a); 0 = off
    cutmix_alpha: float = 0.0               # CutMix: paste a box from the partner image; 0 = off (both: 50/50)
    mix_prob: float = 1.0                   # share of batches mixed when mixup/CutMix is on
    mix_stop_epoch: int | None = None       # no mixing from this epoch on (fine-tune on clean images); None = never
    tta: str = "none"                       # test-time augmentation for the final evaluation
    per_image_norm: bool = True             # standardise each face by its own mean/std (lighting)
    # run control
    seed: int = 0
    device: str = "auto"                    # auto | cpu | cuda | cuda:N | mps
    torch_threads: int | None = None  # torch.set_num_threads on CPU; None = torch's default
    recipe: str | None = None               # the named preset this config came from, if any
    backend: dict[str, Any] = field(default_factory=dict)  # where it runs: {} this machine's queue, else a
                                            # cluster and its options (jobs/cluster: {"name": "ray", ...})
    # classical baselines (arch 'hog_svm', 'pca_rf', ...)
    classical_options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """Build from a dict, refusing unknown keys (a typo should not silently do nothing)."""
        d = dict(d)
        if "num_workers_threads" in d:  # its name before 2026-11-26: old config.json files keep loading
            d.setdefault("torch_threads", d.pop("num_workers_threads"))
        if d.pop("match_sharpness", False):  # retired: configs that had it off still load
            raise ValueError("match_sharpness (the sharpness cap) was removed on 2026-11-26: it only helped on a "
                             "blurred copy of FER2013; remove it from the config")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown config option(s): {', '.join(unknown)}")
        return cls(**d)

    def validate(self) -> "TrainConfig":
        """Raise ValueError naming the first invalid value."""
        checks = [
            (self.epochs >= 1, f"epochs must be at least 1, got {self.epochs}"),
            (self.batch_size >= 1, f"batch_size must be at least 1, got {self.batch_size}"),
            (self.lr > 0, f"learning rate must be positive, got {self.lr}"),
            (self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}"),
            (0 <= self.label_smoothing < 1, f"label_smoothing must be in [0, 1), got {self.label_smoothing}"),
            (self.optimizer in OPTIMIZERS, f"unknown optimizer {self.optimizer!r}; valid: {', '.join(OPTIMIZERS)}"),
            (self.scheduler in SCHEDULERS, f"unknown scheduler {self.scheduler!r}; valid: {', '.join(SCHEDULERS)}"),
            (self.transfer in TRANSFER_MODES, f"unknown transfer mode {self.transfer!r}; valid: {', '.join(TRANSFER_MODES)}"),
            (self.transfer == "scratch" or self.pretrained, f"transfer mode {self.transfer!r} needs pretrained weights "
             "(pretrained=True or a weights file)"),
            (self.select_metric in SELECT_METRICS,
             f"unknown select_metric {self.select_metric!r}; valid: {', '.join(SELECT_METRICS)}"),
            (self.early_stopping >= 0, f"early_stopping patience must be >= 0, got {self.early_stopping}"),
            (self.grad_clip is None or self.grad_clip > 0, f"grad_clip must be positive, got {self.grad_clip}"),
            (self.tta in TTA_MODES, f"unknown test-time augmentation {self.tta!r}; valid: {', '.join(TTA_MODES)}"),
            (self.ema_decay is None or 0 < self.ema_decay < 1, f"ema_decay must be in (0, 1), got {self.ema_decay}"),
            (self.time_limit_minutes is None or self.time_limit_minutes > 0,
             f"time_limit_minutes must be positive, got {self.time_limit_minutes}"),
            (self.mix_stop_epoch is None or self.mix_stop_epoch >= 1,
             f"mix_stop_epoch must be at least 1 (or None for never), got {self.mix_stop_epoch}"),
            (0 < self.val_fraction < 0.5, f"val_fraction must be between 0 and 0.5, got {self.val_fraction}"),
            (self.label_mode in LABEL_MODES,
             f"unknown label mode {self.label_mode!r}; valid: {', '.join(LABEL_MODES)}"),
            (self.label_mode == "fer2013" or bool(self.votes),
             f"label mode {self.label_mode!r} needs a FER+ votes file (votes=PATH, --votes PATH)"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        from fer_core.transforms.mix import check_mix_options  # imports torch: the CLI's parser reads this module
        check_mix_options(self.mixup_alpha, self.cutmix_alpha, self.mix_prob)
        from fer_core.jobs.cluster import check_backend  # here: jobs imports this module
        self.backend = check_backend(self.backend)
        return self


# Named recipes: a preset of the options above, applied before the user's own options.
RECIPES: dict[str, dict[str, Any]] = {}


def register_recipe(name: str, description: str, **options: Any) -> None:
    if name in RECIPES:
        raise ValueError(f"recipe {name!r} is already registered")
    TrainConfig.from_dict({k: v for k, v in options.items()})  # refuses unknown options early
    RECIPES[name] = {"description": description, "options": options}


def make_config(recipe: str | None = None, **options: Any) -> TrainConfig:
    """A validated config: the recipe's options (if any), then `options` on top (None values ignored)."""
    merged: dict[str, Any] = {}
    if recipe is not None:
        if recipe not in RECIPES:
            raise ValueError(f"unknown recipe {recipe!r}; valid: {', '.join(RECIPES) or '(none)'}")
        merged.update(RECIPES[recipe]["options"])
        merged["recipe"] = recipe
    merged.update({k: v for k, v in options.items() if v is not None})
    return TrainConfig.from_dict(merged).validate()


register_recipe(
    "fer2013-best",
    "from-scratch VGG-style net (Khaireddin & Chen 2021) on 40 px crops: SGD-Nesterov, cosine with warm-up, "
    "label smoothing, strong augmentation, ten-crop TTA; sized for about 15 minutes on one large GPU",
    arch="vgg_fer", epochs=120, batch_size=256, lr=0.04, optimizer="sgd", momentum=0.9, weight_decay=1e-4,
    scheduler="cosine", warmup_epochs=3, label_smoothing=0.1, augment="strong", augment_options={"crop_size": 40},
    tta="ten_crop", select_metric="val_acc", time_limit_minutes=14.0, compile=True,
)

FER2013_CPU = dict(
    arch="fast_cnn", input_size=32, epochs=11, batch_size=128, lr=3e-3, optimizer="adamw", scheduler="onecycle",
    label_smoothing=0.1, ema_decay=0.99, augment="light", tta="flip", select_metric="val_acc",
    time_limit_minutes=10.0,
)
register_recipe(
    "fer2013-cpu",
    "fast_cnn (airbench-style, 7 convs) at 32 px: one-cycle AdamW, label smoothing 0.1, weight EMA, light "
    "augmentation, flip TTA; 11 epochs, about 10 minutes (9.8-10.0 measured) on 2 CPU cores for FER2013",
    **FER2013_CPU,
)
# 194 epochs: what fitted the time left in the measured H200 session (benchmarks/gpu_session.sh,
# about 0.85 s an epoch); it beat 80 and 120 epochs on val. The guard stops earlier on a slower GPU.
FER2013_GPU = dict(
    arch="fast_cnn_wide", epochs=194, batch_size=256, lr=2e-3, weight_decay=0.05, optimizer="adamw",
    scheduler="onecycle", label_smoothing=0.1, ema_decay=0.999, augment="strong", tta="flip",
    select_metric="val_acc", time_limit_minutes=10.0,
)
register_recipe(
    "fer2013-gpu",
    "fast_cnn_wide (128/256/512 channels) at 48 px: one-cycle AdamW, weight decay 0.05, label smoothing 0.1, "
    "weight EMA, strong augmentation on the GPU, bf16, flip TTA, 194 epochs; about 3 minutes on one H200 "
    "(71.1% PublicTest measured), 10-minute guard",
    **FER2013_GPU,
)
register_recipe(
    "ferplus-cpu",
    "fer2013-cpu's options on FER+ labels (give --votes ferplus.csv): majority by default; --label-mode "
    "distribution trains on the vote shares, fer2013 on the original labels for comparison",
    **FER2013_CPU, label_mode="majority",
)
register_recipe("cpu-quick", "the earlier name of fer2013-cpu (same options)", **FER2013_CPU)
