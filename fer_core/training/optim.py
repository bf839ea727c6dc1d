"""Optimisers (head and backbone groups) and learning-rate schedules with warm-up."""
from __future__ import annotations

import torch
import torch.nn as nn

from fer_core.models.runtime import unwrap
from fer_core.training.config import TrainConfig
from fer_core.training.finetune import param_groups

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

    def state_dict(self) -> dict:
        """Where the schedule stands (the learning rates themselves are in the optimiser's state)."""
        return {"step": self.step, "inner": self.inner.state_dict() if self.inner is not None else None}

    def load_state_dict(self, state: dict) -> None:
        self.step = int(state["step"])
        if self.inner is not None:
            self.inner.load_state_dict(state["inner"])

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]
