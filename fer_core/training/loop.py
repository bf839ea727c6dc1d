"""The training loop: config -> model, strategy, on-device batches -> run folder.

Shape follows torchvision's classification reference: `train_one_epoch`, `evaluate`, and
`run_training(config, run_dir)` as the main entry, in three phases: `set_up` (device, data, model,
loss, optimiser), `train_epochs` (train, score on val, keep the best checkpoint) and
`final_evaluation` (the best checkpoint, once, on test). Argument parsing lives in cli.py only.

The whole dataset is held as one uint8 tensor on the training device; each epoch the imbalance
strategy gives an index order, batches are sliced from that tensor and augmented batch-wise on the
device (transforms/), then mixed when mixup / CutMix is on (transforms/mix.py). Under `torchrun`
(any WORLD_SIZE, one rank too) the model is wrapped in DistributedDataParallel and every rank trains
on its own shard of the epoch's order; rank 0 alone writes the run folder.
"""
from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.profiler import record_function

from fer_core import runs
from fer_core.common.metrics import classification_report, macro_f1
from fer_core.data import FaceDataset
from fer_core.data.votes import label_description, scored_description, vote_distribution
from fer_core.models import build_model, get_arch
from fer_core.models.runtime import autocast_for, predict_probabilities, resolve_device, unwrap
from fer_core.runs.card import ModelCard
from fer_core.runs.checkpoint import load_checkpoint, save_checkpoint
from fer_core.training.config import TrainConfig
from fer_core.training.distributed import Distributed, init_distributed
from fer_core.training.finetune import set_backbone_trainable
from fer_core.training.imbalance import class_counts, get_strategy
from fer_core.training.optim import Schedule, build_optimizer
from fer_core.training.prepare import PreparedData, prepare_data
from fer_core.training.resume import cpu_weights, discard_training_state, restore_training, save_training_state
from fer_core.transforms.augment import BatchAugmenter
from fer_core.transforms.config import AugmentConfig, augment_config
from fer_core.transforms.mix import BatchMixer, MixedBatch

if TYPE_CHECKING:  # timm (and torchvision under it) is imported only for a run with EMA or a timm net
    from timm.utils import ModelEmaV3

STATUS_EVERY_S = 2.0  # how often a running epoch refreshes status.json for live progress
# last.pt is written after an epoch when this long has passed since the last write (and after the final
# epoch): rewriting it every epoch would add ~40% to fast GPU runs (74 MB, 0.36 s a write for
# fast_cnn_wide, against 0.85 s epochs). A resumed run continues from the epoch last.pt holds.
RESUME_STATE_EVERY_S = 30.0


ProgressFn = Callable[[dict], None]


def to_device_tensors(part: FaceDataset, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(N,1,48,48) uint8 images and (N,) int64 labels, resident on the device."""
    images = torch.from_numpy(np.ascontiguousarray(part.images)).unsqueeze(1).to(device)
    return images, torch.from_numpy(part.labels).to(device)


@dataclass
class EpochContext:
    """What train_one_epoch needs besides the model (kept together to keep signatures short)."""

    images: torch.Tensor
    labels: torch.Tensor  # (N,) class indices, or (N, C) soft targets (label mode 'distribution')
    augmenter: BatchAugmenter
    criterion: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: Schedule
    config: TrainConfig
    device: torch.device
    dist: Distributed = field(default_factory=Distributed)
    ema: ModelEmaV3 | None = None  # moving average of the weights and BN statistics, updated every step
    mixer: BatchMixer | None = None  # mixup / CutMix of the augmented batches; None = off


def train_one_epoch(model: nn.Module, ctx: EpochContext, order: torch.Tensor, flips: torch.Tensor | None,
                    on_batch: Callable[[int, int], None] | None = None, mix: bool = True) -> tuple[float, float]:
    """One pass over `order` (this rank's shard); returns (mean loss, accuracy) over all ranks.

    With a mixer and `mix`, batches are mixed (mixup / CutMix) and the accuracy counts each of a
    mixed image's two labels by its share."""
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
    correct = torch.zeros((), device=ctx.device)
    mixer = ctx.mixer if mix and ctx.mixer is not None and ctx.mixer.enabled else None
    for b in range(n_batches):
        idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
        if len(idx) < 2 and n_batches > 1:
            continue  # a batch of one breaks batch norm; skip the remainder
        # The named scopes label a torch.profiler trace (benchmarks/bench_gpu_epoch.py); near free otherwise.
        with record_function("augment"):
            x = ctx.augmenter(ctx.images[idx], force_flip=flips[b * cfg.batch_size:(b + 1) * cfg.batch_size]
                              if flips is not None else None)
            y = ctx.labels[idx]
            batch = mixer(x, y) if mixer is not None else MixedBatch(x, y, y, 1.0)
            x = batch.x.contiguous(memory_format=torch.channels_last)
        with record_function("forward"), autocast_for(ctx.device, cfg.mixed_precision):
            logits = model(x)
            loss = batch.loss(ctx.criterion, logits.float())
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
        correct += batch.correct(logits)
        if on_batch is not None:
            on_batch(b + 1, n_batches)
    totals = torch.stack([loss_sum, correct, torch.tensor(float(len(order)), device=ctx.device)])
    if ctx.dist.enabled:
        import torch.distributed as dist
        dist.all_reduce(totals)
    loss_total, correct_total, n = totals.tolist()
    return loss_total / max(n, 1), correct_total / max(n, 1)


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


@dataclass
class Training:
    """One run's training, set up once (`set_up`), then driven by `train_epochs` and `final_evaluation`."""

    config: TrainConfig
    run_dir: Path
    device: torch.device
    dist: Distributed
    data: PreparedData
    aug: AugmentConfig
    card: ModelCard
    model: nn.Module       # what trains (possibly compiled and/or DDP-wrapped)
    eval_model: nn.Module  # what is scored and saved: the EMA weights when on, else the plain model
    ctx: EpochContext
    strategy: object       # training.imbalance.Strategy
    val_images: torch.Tensor
    val_labels: torch.Tensor
    select: str            # the val metric that picks the best epoch
    started: float = field(default_factory=time.perf_counter)
    epoch: int = 0         # epochs completed
    best_epoch: int = 0
    best_score: float = -math.inf
    since_best: int = 0    # epochs since the best one (early stopping)
    stopped: bool = False  # stopped early (early stopping or the time limit): no more epochs, even if resumed
    state_saved_at: float = -math.inf  # when last.pt was last written (perf_counter)
    best_weights: dict | None = None   # a CPU copy of best.pt's weights, kept in last.pt too

    def elapsed(self) -> float:
        """Seconds since the run started (a resumed run counts its earlier attempts' time too)."""
        return time.perf_counter() - self.started

    def status(self, **fields) -> None:
        """Refresh status.json for live progress (rank 0 only)."""
        if self.dist.is_main:
            runs.write_status(self.run_dir, "running", **fields)


def set_up(config: TrainConfig, run_dir: Path) -> Training:
    """Device, data, model, loss, optimiser and schedule for a run (its config already validated)."""
    device = resolve_device(config.device)
    dist = init_distributed(device)
    if config.torch_threads and device.type == "cpu":
        torch.set_num_threads(config.torch_threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # batch shapes are fixed: let cuDNN pick its fastest kernels
    torch.manual_seed(config.seed + dist.rank)
    started = time.perf_counter()
    if dist.is_main:
        runs.write_status(run_dir, "running", phase="loading data", epoch=0, epochs=config.epochs)
    data = prepare_data(config)
    if config.batch_size > len(data.train):
        raise ValueError(f"batch_size {config.batch_size} is larger than the training set ({len(data.train)} images)")
    classes = data.dataset.classes
    aug = _augment_for(config)
    card = ModelCard(arch=config.arch, class_names=list(classes), preprocess=aug.to_dict(),
                     drop_rate=config.drop_rate, trained_on=data.dataset.source,
                     extra={"recipe": config.recipe, "labels": label_description(config.label_mode, config.votes)})

    if dist.is_main:
        runs.write_status(run_dir, "running", phase="building model")
    model = build_model(config.arch, len(classes), pretrained=config.pretrained, drop_rate=config.drop_rate).to(device)
    model = model.to(memory_format=torch.channels_last)  # faster convolutions on CUDA and on CPU (oneDNN)
    if config.compile and device.type == "cuda":
        model = torch.compile(model)
    if dist.enabled:
        from torch.nn.parallel import DistributedDataParallel
        model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    train_images, train_labels = to_device_tensors(data.train, device)
    if config.label_mode == "distribution":  # soft targets: each face's FER+ vote shares over the classes
        soft = vote_distribution(data.train.votes, classes, data.train.labels)
        train_labels = torch.from_numpy(soft).to(device)
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
    ema = None
    if config.ema_decay:
        from timm.utils import ModelEmaV3
        ema = ModelEmaV3(unwrap(model), decay=config.ema_decay, use_warmup=True, warmup_power=3 / 4)
    mixer = BatchMixer(config.mixup_alpha, config.cutmix_alpha, config.mix_prob, seed=config.seed + dist.rank)
    ctx = EpochContext(train_images, train_labels, BatchAugmenter(aug, seed=config.seed + dist.rank), criterion,
                       optimizer, schedule, config, device, dist, ema, mixer if mixer.enabled else None)
    return Training(config, run_dir, device, dist, data, aug, card, model,
                    ema.module if ema is not None else unwrap(model), ctx, strategy, val_images, val_labels,
                    selection_metric(config), started)


def train_epochs(run: Training, progress: ProgressFn | None = None) -> None:
    """The epoch loop: train, score on val, keep the best checkpoint, stop early or on the time limit.

    Starts after `run.epoch` (0, or where a resumed run left off); the whole training state is kept in
    last.pt (training/resume.py) after the first and final epochs and every RESUME_STATE_EVERY_S, except
    under torchrun."""
    config, dist, schedule = run.config, run.dist, run.ctx.schedule
    first = run.epoch + 1 if not run.stopped else config.epochs + 1
    for epoch in range(first, config.epochs + 1):
        epoch_start = time.perf_counter()
        _set_trainable_for_epoch(run.model, config, epoch)
        order, flips = run.strategy.epoch_indices(run.data.train.labels, epoch, config.seed)
        if dist.enabled:  # same seeded order on every rank; each takes an equal shard
            usable = len(order) // dist.world * dist.world
            order = order[:usable][dist.rank::dist.world]
            flips = flips[:usable][dist.rank::dist.world] if flips is not None else None

        last_write = [time.perf_counter()]

        def on_batch(b: int, n: int) -> None:
            if progress is not None:
                progress({"epoch": epoch, "epochs": config.epochs, "batch": b, "batches": n})
            if time.perf_counter() - last_write[0] > STATUS_EVERY_S:
                run.status(phase="training", epoch=epoch - 1, batch=b, batches=n)
                last_write[0] = time.perf_counter()

        lr_at_start = schedule.lr  # per-batch schedules move it during the epoch; record where it began
        mix = config.mix_stop_epoch is None or epoch < config.mix_stop_epoch
        train_loss, train_acc = train_one_epoch(run.model, run.ctx, order, flips, on_batch, mix=mix)
        if not math.isfinite(train_loss):
            raise RuntimeError(f"training diverged at epoch {epoch} (loss {train_loss}); lower the learning rate")
        row = {"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc, "lr": lr_at_start}
        score, stop = 0.0, False
        if dist.is_main:
            val = evaluate(run.eval_model, run.val_images, run.val_labels, run.aug)
            row.update(val_loss=val["loss"], val_acc=val["acc"], val_macro_f1=val["macro_f1"],
                       epoch_seconds=time.perf_counter() - epoch_start, elapsed_seconds=run.elapsed())
            runs.append_metrics(run.run_dir, row)
            score = row[run.select]
            if score > run.best_score:
                run.best_score, run.best_epoch, run.since_best = score, epoch, 0
                save_checkpoint(run.run_dir / runs.CHECKPOINT, run.eval_model, run.card, epoch=epoch,
                                select=run.select, score=score)
                run.best_weights = cpu_weights(run.eval_model)  # for last.pt (training/resume.py)
            else:
                run.since_best += 1
            elapsed = run.elapsed()
            epoch_mean = elapsed / epoch
            # stop before an epoch that would overrun the time budget, so the limit is never exceeded
            stop = bool(config.early_stopping and run.since_best >= config.early_stopping) or \
                bool(config.time_limit_minutes and elapsed + epoch_mean > 60 * config.time_limit_minutes)
        if dist.enabled:  # every rank must step its schedule with rank 0's score, and stop together
            import torch.distributed as torch_dist
            shared = torch.tensor([score, float(stop)], device=run.device)
            torch_dist.broadcast(shared, src=0)
            score, stop = float(shared[0]), bool(shared[1])
        schedule.step_epoch(score)
        run.epoch, run.stopped = epoch, stop
        if dist.is_main:
            # under torchrun each rank has its own RNG streams: not resumable yet
            if not dist.enabled and (stop or epoch == config.epochs or time.perf_counter() - run.state_saved_at
                                     >= RESUME_STATE_EVERY_S):
                save_training_state(run)
                run.state_saved_at = time.perf_counter()
            run.status(phase="training", epoch=epoch, best_epoch=run.best_epoch, batch=0)
            if progress is not None:
                progress({"epoch": epoch, "epochs": config.epochs, "row": row, "done": True})
        if stop:
            break


def final_evaluation(run: Training) -> dict:
    """The best checkpoint (chosen on val) scored once on the test split: evaluation.json, predictions.csv."""
    run.status(phase="evaluating on test")
    config, data = run.config, run.data
    best_model, _, _ = load_checkpoint(run.run_dir / runs.CHECKPOINT, run.device)
    test_images, test_labels = to_device_tensors(data.test, run.device)
    classes = data.dataset.classes
    probs = predict_probabilities(best_model, test_images, run.aug, tta=config.tta).cpu().numpy()
    extra = {"tta": config.tta, "best_epoch": run.best_epoch, "selected_on": run.select,
             "best_val_score": run.best_score, "dropped_leaked_train_images": data.dropped_leaked,
             "device": str(run.device), "train_seconds": run.elapsed(),
             "labels": scored_description(config.label_mode, config.votes)}
    if data.dataset.vote_report is not None:
        extra["vote_report"] = data.dataset.vote_report.summary()
    if config.tta != "none":
        plain = predict_probabilities(best_model, test_images, run.aug).cpu().numpy()
        report = classification_report(data.test.labels, plain.argmax(1), classes)
        extra["without_tta"] = {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"]}
    return runs.write_evaluation(run.run_dir, data.test.ids, data.test.labels, probs, classes, extra=extra)


def run_training(config: TrainConfig, run_dir: str | os.PathLike, progress: ProgressFn | None = None,
                 resume: bool = False) -> dict:
    """Train per `config`, writing everything to `run_dir`; returns the final test evaluation.

    `resume`: continue from the run folder's last.pt, after its last completed epoch (training/resume.py).
    Call inside `RunGuard(run_dir)` (runs/guard.py; jobs.worker.execute does) so failures and cancels
    are recorded.
    """
    config.validate()
    if resume and "WORLD_SIZE" in os.environ:
        raise ValueError("resuming a run under torchrun is not supported yet: resume it in one process "
                         "(python -m fer_core train --resume RUN_DIR)")
    run = set_up(config, Path(run_dir))
    if resume:
        restore_training(run)
    train_epochs(run, progress)
    if not run.dist.is_main:
        return {}
    evaluation = final_evaluation(run)
    write_model_onnx(run)
    discard_training_state(run.run_dir)
    return evaluation


def write_model_onnx(run: Training) -> None:
    """model.onnx beside best.pt (parity-checked on the run's own faces, test first), so that predictions
    need no PyTorch. A model the exporter cannot take still answers, through PyTorch: that is logged, not
    a failed run."""
    from fer_core.inference.export import PARITY_FACES, write_run_onnx
    run.status(phase="writing model.onnx")
    data = run.data
    faces = np.concatenate([data.test.images, data.val.images, data.train.images[:PARITY_FACES]])[:PARITY_FACES]
    try:
        write_run_onnx(run.run_dir, faces=(np.ascontiguousarray(faces), data.dataset.source))
    except Exception as exc:  # an architecture the exporter cannot handle, or a parity failure
        print(f"model.onnx not written ({type(exc).__name__}: {' '.join(str(exc).split())[:300]}); "
              "predictions will use the PyTorch model", file=sys.stderr)
