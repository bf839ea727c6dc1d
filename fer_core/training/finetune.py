"""Transfer learning: freezing the backbone and giving it its own learning rate."""
from __future__ import annotations

from torch import nn

from fer_core.models.scratch import ScratchNet

def _head_parameters(model: nn.Module) -> list[nn.Parameter]:
    if isinstance(model, ScratchNet):
        head = model.head
    elif hasattr(model, "get_classifier"):
        head = model.get_classifier()
    else:
        raise ValueError(f"cannot find the classifier head of {type(model).__name__}; build it with build_model")
    heads = head if isinstance(head, (tuple, list)) else (head,)  # distilled timm models have two
    params = [p for h in heads for p in h.parameters()]
    if not params:
        raise ValueError(f"{type(model).__name__} has no classifier head (built with num_classes=0?)")
    return params


def set_backbone_trainable(model: nn.Module, trainable: bool) -> None:
    """Freeze (False) or unfreeze (True) every parameter outside the classifier head.

    The head is left as it is. Batch-norm running statistics still update in train mode; put frozen
    parts in eval mode too if they must stay fixed.
    """
    head = {id(p) for p in _head_parameters(model)}
    for p in model.parameters():
        if id(p) not in head:
            p.requires_grad_(trainable)


def param_groups(model: nn.Module, lr: float, backbone_lr_scale: float) -> list[dict]:
    """Optimizer parameter groups: the head at `lr`, the rest at `lr * backbone_lr_scale`."""
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    if not backbone_lr_scale >= 0:
        raise ValueError(f"backbone_lr_scale must be >= 0, got {backbone_lr_scale!r}")
    head = _head_parameters(model)
    head_ids = {id(p) for p in head}
    backbone = [p for p in model.parameters() if id(p) not in head_ids]
    groups = [
        {"name": "head", "params": head, "lr": lr},
        {"name": "backbone", "params": backbone, "lr": lr * backbone_lr_scale},
    ]
    return [g for g in groups if g["params"]]
