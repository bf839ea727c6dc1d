"""The training loop: config -> model, strategy, on-device batches -> run folder.

Shape follows torchvision's classification reference: `train_one_epoch`, `evaluate`, and
`run_training(config, run_dir)` as the main entry; argument parsing lives in cli.py only.

The whole dataset is held as one uint8 tensor on the training device; each epoch the imbalance
strategy gives an index order, batches are sliced from that tensor and augmented batch-wise on the
device (augment.py). Under `torchrun` (any WORLD_SIZE, one rank too) the model is wrapped in
DistributedDataParallel and every rank trains on its own shard of the epoch's order; rank 0 alone
writes the run folder.
"""
from __future__ import annotations

import io
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.utils import ModelEmaV3
from torch.profiler import record_function

from . import runs
from .augment import AugmentConfig, BatchAugmenter, augment_config, prepare_eval, tta_views
from .config import TrainConfig
from .data import FaceDataset
from .data.prepare import prepare_data
from .imbalance import class_counts, get_strategy
from .metrics import classification_report, macro_f1
from .models import build_model, get_arch, param_groups, set_backbone_trainable

CHECKPOINT_FORMAT = 1
STATUS_EVERY_S = 2.0  # how often a running epoch refreshes status.json for live progress

ProgressFn = Callable[[dict], None]


# ---------------------------------------------------------------- what a checkpoint must carry

@dataclass
class ModelCard:
    """The facts needed to use a checkpoint alone (saved inside every best.pt)."""

    arch: str
    class_names: list[str]
    preprocess: dict  # AugmentConfig.to_dict(): input size, crop, normalisation
    in_chans: int = 1
    drop_rate: float | None = None
    trained_on: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def augment_config(self) -> AugmentConfig:
        return AugmentConfig.from_dict(self.preprocess)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelCard":
        return cls(**d)


def save_checkpoint(path: Path, model: nn.Module, card: ModelCard, **info) -> None:
    """Atomically write {format, card, state_dict, info} (loadable with weights_only=True)."""
    buffer = io.BytesIO()
    state = {k: v.detach().cpu() for k, v in unwrap(model).state_dict().items()}
    torch.save({"format": CHECKPOINT_FORMAT, "card": card.to_dict(), "state_dict": state, "info": info}, buffer)
    runs.atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[nn.Module, ModelCard, dict]:
    """Rebuild the model from a checkpoint safely (weights_only: a file cannot run code)."""
    path = Path(path)
    if not path.exists():
        raise runs.RunError(f"{path} is missing: the run has no checkpoint (it may have failed before its first epoch)")
    try:
        blob = torch.load(path, map_location=device, weights_only=True)
        card = ModelCard.from_dict(blob["card"])
        state = blob["state_dict"]
    except Exception as exc:
        raise runs.RunError(f"{path} is not a readable checkpoint ({type(exc).__name__}: {exc})") from None
    try:
        card.augment_config  # noqa: B018 (refuses preprocessing this version no longer has)
        _check_card_bounds(card)
    except ValueError as exc:
        raise runs.RunError(f"{path} cannot be used: {exc}") from None
    try:
        model = build_model(card.arch, card.num_classes, in_chans=card.in_chans, drop_rate=card.drop_rate)
        model.load_state_dict(state)
    except Exception as exc:  # an unknown arch, or weights of another shape than the card describes
        raise runs.RunError(f"{path} does not match its own model card ({card.arch}, {card.num_classes} classes): "
                            f"{type(exc).__name__}: {str(exc)[:300]}") from None
    return model.to(device).eval(), card, blob.get("info", {})


MAX_CLASSES, MAX_INPUT_SIZE, MAX_IN_CHANS = 1000, 1024, 4


def _check_card_bounds(card: ModelCard) -> None:
    """Refuse a card whose sizes would make building the model allocate absurd amounts (a tampered file)."""
    if not isinstance(card.class_names, list) or not 1 <= len(card.class_names) <= MAX_CLASSES:
        raise ValueError(f"its card lists {len(card.class_names) if isinstance(card.class_names, list) else '?'} "
                         f"classes; between 1 and {MAX_CLASSES} are allowed")
    if not isinstance(card.in_chans, int) or not 1 <= card.in_chans <= MAX_IN_CHANS:
        raise ValueError(f"its card says {card.in_chans!r} input channels; 1 to {MAX_IN_CHANS} are allowed")
    if card.augment_config.input_size > MAX_INPUT_SIZE:
        raise ValueError(f"its card says input size {card.augment_config.input_size}; at most {MAX_INPUT_SIZE}")


# ---------------------------------------------------------------- devices and distribution

def resolve_device(name: str = "auto") -> torch.device:
    """'auto' picks cuda, then mps, then cpu; otherwise the named device (checked to exist)."""
    if name == "auto":
        if torch.cuda.is_available():
            local_rank = int(os.environ.get("LOCAL_RANK", 0))
            return torch.device(f"cuda:{local_rank}")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but no CUDA GPU is available; use --device cpu or auto")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device {name!r} requested but MPS is not available; use --device cpu or auto")
    return device


@dataclass
class Distributed:
    """This process's place under torchrun (world of 1 when not distributed)."""

    rank: int = 0
    world: int = 1
    launched: bool = False  # started by torchrun (even with one rank: the process group and DDP are used)

    @property
    def enabled(self) -> bool:
        return self.launched

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> Distributed:
    """Join the process group that torchrun describes in the environment (no-op without it)."""
    if "WORLD_SIZE" not in os.environ:
        return Distributed()
    import torch.distributed as dist
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Distributed(rank=dist.get_rank(), world=dist.get_world_size(), launched=True)


def share_from_main(dist: Distributed, value):
    """Rank 0's `value` on every rank (e.g. the run folder it created)."""
    if not dist.enabled:
        return value
    import torch.distributed as torch_dist
    box = [value]
    torch_dist.broadcast_object_list(box, src=0)
    return box[0]


def unwrap(model: nn.Module) -> nn.Module:
    """The plain model inside DistributedDataParallel and/or torch.compile wrappers."""
    while True:
        if hasattr(model, "_orig_mod"):  # torch.compile
            model = model._orig_mod
        elif isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


# ---------------------------------------------------------------- data

def to_device_tensors(part: FaceDataset, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(N,1,48,48) uint8 images and (N,) int64 labels, resident on the device."""
    images = torch.from_numpy(np.ascontiguousarray(part.images)).unsqueeze(1).to(device)
    return images, torch.from_numpy(part.labels).to(device)


# ---------------------------------------------------------------- optimisation

def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    groups = param_groups(unwrap(model), config.lr, config.backbone_lr_scale if config.transfer == "finetune" else 1.0)
    fused = {"fused": True} if next(model.parameters()).is_cuda else {}
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=True,
                               weight_decay=config.weight_decay, **fused)
    cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    return cls(groups, lr=config.lr, weight_decay=config.weight_decay, **fused)


class Schedule:
    """Learning-rate schedule with optional linear warm-up; `step_batch` / `step_epoch` as each needs."""

    def __init__(self, optimizer: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int):
        self.optimizer, self.config = optimizer, config
        self.base_lrs = [g["lr"] for g in optimizer.param_groups]
        self.warmup_steps = config.warmup_epochs * steps_per_epoch
        self.step = 0
        total = config.epochs * steps_per_epoch
        if config.scheduler == "cosine":
            self.inner = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, total - self.warmup_steps))
        elif config.scheduler == "onecycle":
            self.inner = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=self.base_lrs, total_steps=max(1, total))
        elif config.scheduler == "plateau":
            self.inner = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=0.5, patience=2)
        else:
            self.inner = None
        if self.warmup_steps and config.scheduler != "onecycle":
            self._set_scale(1 / (self.warmup_steps + 1))

    def _set_scale(self, scale: float) -> None:
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base * scale

    def step_batch(self) -> None:
        self.step += 1
        if self.config.scheduler != "onecycle" and self.step <= self.warmup_steps:
            self._set_scale((self.step + 1) / (self.warmup_steps + 1))
        elif self.config.scheduler in ("cosine", "onecycle"):
            self.inner.step()

    def step_epoch(self, val_score: float) -> None:
        if self.config.scheduler == "plateau" and self.step > self.warmup_steps:
            self.inner.step(val_score)

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]


def autocast_for(device: torch.device, enabled: bool):
    """bf16 autocast on CUDA when asked (no loss scaling needed); a no-op elsewhere."""
    use = enabled and device.type == "cuda"
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=use)


# ---------------------------------------------------------------- one epoch, evaluation

@dataclass
class EpochContext:
    """What train_one_epoch needs besides the model (kept together to keep signatures short)."""

    images: torch.Tensor
    labels: torch.Tensor
    augmenter: BatchAugmenter
    criterion: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: Schedule
    config: TrainConfig
    device: torch.device
    dist: Distributed = field(default_factory=Distributed)
    ema: ModelEmaV3 | None = None  # moving average of the weights and BN statistics, updated every step


def train_one_epoch(model: nn.Module, ctx: EpochContext, order: torch.Tensor, flips: torch.Tensor | None,
                    on_batch: Callable[[int, int], None] | None = None) -> tuple[float, float]:
    """One pass over `order` (this rank's shard); returns (mean loss, accuracy) over all ranks."""
    model.train()
    for module in model.modules():  # a frozen backbone keeps its batch-norm statistics too
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.affine \
                and not module.weight.requires_grad:
            module.eval()
    cfg = ctx.config
    order = order.to(ctx.device)
    flips = flips.to(ctx.device) if flips is not None else None
    n_batches = math.ceil(len(order) / cfg.batch_size)
    loss_sum = torch.zeros((), device=ctx.device)
    correct = torch.zeros((), device=ctx.device, dtype=torch.long)
    for b in range(n_batches):
        idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
        if len(idx) < 2 and n_batches > 1:
            continue  # a batch of one breaks batch norm; skip the remainder
        # The named scopes label a torch.profiler trace (benchmarks/bench_gpu_epoch.py); near free otherwise.
        with record_function("augment"):
            x = ctx.augmenter(ctx.images[idx], force_flip=flips[b * cfg.batch_size:(b + 1) * cfg.batch_size]
                              if flips is not None else None)
            x = x.contiguous(memory_format=torch.channels_last)
            y = ctx.labels[idx]
        with record_function("forward"), autocast_for(ctx.device, cfg.mixed_precision):
            logits = model(x)
            loss = ctx.criterion(logits.float(), y)
        with record_function("backward"):
            ctx.optimizer.zero_grad(set_to_none=True)
            loss.backward()
        with record_function("optimizer"):
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            ctx.optimizer.step()
            ctx.schedule.step_batch()
        if ctx.ema is not None:
            with record_function("ema"):
                ctx.ema.update(unwrap(model), step=ctx.schedule.step)
        loss_sum += loss.detach() * len(idx)
        correct += (logits.argmax(1) == y).sum()
        if on_batch is not None:
            on_batch(b + 1, n_batches)
    totals = torch.stack([loss_sum, correct.to(loss_sum.dtype), torch.tensor(float(len(order)), device=ctx.device)])
    if ctx.dist.enabled:
        import torch.distributed as dist
        dist.all_reduce(totals)
    loss_total, correct_total, n = totals.tolist()
    return loss_total / max(n, 1), correct_total / max(n, 1)


@torch.no_grad()
def predict_probabilities(model: nn.Module, images: torch.Tensor, aug: AugmentConfig, batch_size: int = 512,
                          tta: str = "none", mixed_precision: bool = True) -> torch.Tensor:
    """Softmax probabilities (N, C) for uint8 images (N,1,48,48), averaged over test-time views."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size].to(device)
        views = tta_views(batch, aug, tta) if tta != "none" else prepare_eval(batch, aug).unsqueeze(0)
        v, b = views.shape[:2]
        flat = views.reshape(v * b, *views.shape[2:]).contiguous(memory_format=torch.channels_last)
        with autocast_for(device, mixed_precision):
            logits = model(flat).float()
        out.append(F.softmax(logits, dim=1).reshape(v, b, -1).mean(0))
    return torch.cat(out) if out else torch.empty(0)


def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, aug: AugmentConfig,
             batch_size: int = 512, tta: str = "none") -> dict:
    """Plain (unweighted) cross-entropy loss, accuracy and macro-F1 on one split."""
    probs = predict_probabilities(model, images, aug, batch_size, tta)
    predictions = probs.argmax(1)
    result = {"acc": float((predictions == labels.to(probs.device)).float().mean()),
              "macro_f1": macro_f1(labels.cpu().numpy(), predictions.cpu().numpy(), probs.shape[1]),
              "probabilities": probs,
              "loss": float(F.nll_loss(torch.log(probs.clamp_min(1e-12)), labels.to(probs.device)))}
    return result


# ---------------------------------------------------------------- the whole run

def selection_metric(config: TrainConfig) -> str:
    """The val metric that picks the best epoch: 'auto' is macro-F1 when an imbalance strategy is
    in use (that is what such strategies aim at) and accuracy otherwise. Never a test metric."""
    if config.select_metric != "auto":
        return config.select_metric
    return "val_macro_f1" if config.imbalance != "none" else "val_acc"


def _augment_for(config: TrainConfig) -> AugmentConfig:
    """Augmentation and preprocessing for this run."""
    size = config.input_size or get_arch(config.arch).native_input_size
    options = {"input_size": size, "per_image_norm": config.per_image_norm}
    return augment_config(config.augment, **{**options, **config.augment_options})


def _set_trainable_for_epoch(model: nn.Module, config: TrainConfig, epoch: int) -> None:
    if config.transfer == "frozen":
        set_backbone_trainable(unwrap(model), False)
    elif config.transfer == "finetune":
        set_backbone_trainable(unwrap(model), epoch >= config.unfreeze_epoch)


def run_training(config: TrainConfig, run_dir: str | os.PathLike, progress: ProgressFn | None = None) -> dict:
    """Train per `config`, writing everything to `run_dir`; returns the final test evaluation.

    Call inside `runs.run_guard(run_dir)` (worker.execute does) so failures and cancels are recorded.
    """
    config.validate()
    run_dir = Path(run_dir)
    device = resolve_device(config.device)
    dist = init_distributed(device)
    if config.num_workers_threads and device.type == "cpu":
        torch.set_num_threads(config.num_workers_threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # batch shapes are fixed: let cuDNN pick its fastest kernels
    torch.manual_seed(config.seed + dist.rank)
    started = time.perf_counter()

    def status(**fields) -> None:
        if dist.is_main:
            runs.write_status(run_dir, "running", **fields)

    status(phase="loading data", epoch=0, epochs=config.epochs)
    data = prepare_data(config)
    if config.batch_size > len(data.train):
        raise ValueError(f"batch_size {config.batch_size} is larger than the training set ({len(data.train)} images)")
    classes = data.dataset.classes
    aug = _augment_for(config)
    card = ModelCard(arch=config.arch, class_names=list(classes), preprocess=aug.to_dict(),
                     drop_rate=config.drop_rate, trained_on=data.dataset.source, extra={"recipe": config.recipe})

    status(phase="building model")
    model = build_model(config.arch, len(classes), pretrained=config.pretrained, drop_rate=config.drop_rate).to(device)
    model = model.to(memory_format=torch.channels_last)  # faster convolutions on CUDA and on CPU (oneDNN)
    if config.compile and device.type == "cuda":
        model = torch.compile(model)
    if dist.enabled:
        from torch.nn.parallel import DistributedDataParallel
        model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    train_images, train_labels = to_device_tensors(data.train, device)
    val_images, val_labels = to_device_tensors(data.val, device)
    counts = class_counts(data.train.labels, len(classes))
    strategy = get_strategy(config.imbalance, **config.imbalance_options)
    criterion = strategy.loss(counts, label_smoothing=config.label_smoothing, device=device)
    steps_per_epoch = math.ceil(len(strategy.epoch_indices(data.train.labels, 0, config.seed)[0]) / dist.world
                                / config.batch_size)
    optimizer = build_optimizer(model, config)
    schedule = Schedule(optimizer, config, steps_per_epoch)
    # The decay warms up (about 0.97 after 100 steps, 0.995 after 1,000), so early epochs are not
    # dominated by the random initial weights; power 3/4 suits runs of thousands of steps, not millions.
    ema = ModelEmaV3(unwrap(model), decay=config.ema_decay, use_warmup=True, warmup_power=3 / 4) \
        if config.ema_decay else None
    eval_model = ema.module if ema is not None else unwrap(model)
    ctx = EpochContext(train_images, train_labels, BatchAugmenter(aug, seed=config.seed + dist.rank), criterion,
                       optimizer, schedule, config, device, dist, ema)

    best_score, best_epoch, since_best = -math.inf, 0, 0
    select = selection_metric(config)
    for epoch in range(1, config.epochs + 1):
        epoch_start = time.perf_counter()
        _set_trainable_for_epoch(model, config, epoch)
        order, flips = strategy.epoch_indices(data.train.labels, epoch, config.seed)
        if dist.enabled:  # same seeded order on every rank; each takes an equal shard
            usable = len(order) // dist.world * dist.world
            order = order[:usable][dist.rank::dist.world]
            flips = flips[:usable][dist.rank::dist.world] if flips is not None else None

        last_write = [time.perf_counter()]

        def on_batch(b: int, n: int) -> None:
            if progress is not None:
                progress({"epoch": epoch, "epochs": config.epochs, "batch": b, "batches": n})
            if time.perf_counter() - last_write[0] > STATUS_EVERY_S:
                status(phase="training", epoch=epoch - 1, batch=b, batches=n)
                last_write[0] = time.perf_counter()

        lr_at_start = schedule.lr  # per-batch schedules move it during the epoch; record where it began
        train_loss, train_acc = train_one_epoch(model, ctx, order, flips, on_batch)
        if not math.isfinite(train_loss):
            raise RuntimeError(f"training diverged at epoch {epoch} (loss {train_loss}); lower the learning rate")
        row = {"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc, "lr": lr_at_start}
        score, stop = 0.0, False
        if dist.is_main:
            val = evaluate(eval_model, val_images, val_labels, aug)
            row.update(val_loss=val["loss"], val_acc=val["acc"], val_macro_f1=val["macro_f1"],
                       epoch_seconds=time.perf_counter() - epoch_start, elapsed_seconds=time.perf_counter() - started)
            runs.append_metrics(run_dir, row)
            score = row[select]
            if score > best_score:
                best_score, best_epoch, since_best = score, epoch, 0
                save_checkpoint(run_dir / runs.CHECKPOINT, eval_model, card, epoch=epoch, select=select, score=score)
            else:
                since_best += 1
            status(phase="training", epoch=epoch, best_epoch=best_epoch, batch=0)
            if progress is not None:
                progress({"epoch": epoch, "epochs": config.epochs, "row": row, "done": True})
            elapsed = time.perf_counter() - started
            epoch_mean = elapsed / epoch
            # stop before an epoch that would overrun the time budget, so the limit is never exceeded
            stop = bool(config.early_stopping and since_best >= config.early_stopping) or \
                bool(config.time_limit_minutes and elapsed + epoch_mean > 60 * config.time_limit_minutes)
        if dist.enabled:  # every rank must step its schedule with rank 0's score, and stop together
            import torch.distributed as torch_dist
            shared = torch.tensor([score, float(stop)], device=device)
            torch_dist.broadcast(shared, src=0)
            score, stop = float(shared[0]), bool(shared[1])
        schedule.step_epoch(score)
        if stop:
            break

    if not dist.is_main:
        return {}
    status(phase="evaluating on test")
    best_model, _, _ = load_checkpoint(run_dir / runs.CHECKPOINT, device)
    test_images, test_labels = to_device_tensors(data.test, device)
    probs = predict_probabilities(best_model, test_images, aug, tta=config.tta).cpu().numpy()
    extra = {"tta": config.tta, "best_epoch": best_epoch, "selected_on": select, "best_val_score": best_score,
             "dropped_leaked_train_images": data.dropped_leaked, "device": str(device),
             "train_seconds": time.perf_counter() - started}
    if config.tta != "none":
        plain = predict_probabilities(best_model, test_images, aug).cpu().numpy()
        report = classification_report(data.test.labels, plain.argmax(1), classes)
        extra["without_tta"] = {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"]}
    return runs.write_evaluation(run_dir, data.test.ids, data.test.labels, probs, classes, extra=extra)
