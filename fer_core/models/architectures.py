"""Architecture registry: name -> builder, native input size, Grad-CAM target layer.

Two families live here. "scratch" nets are small CNNs written for 48x48 grayscale faces and trained
from random weights. "timm" nets wrap `timm.create_model(..., in_chans=1)`; any model name that timm
knows is accepted as well, with a generic spec.

Every model built here answers the same interface as a timm model, so callers need no special
cases: `forward_features(x)` gives the last feature map, `forward_head(x, pre_logits=True)` the
penultimate vector and `get_classifier()` the final linear layer.
"""
from __future__ import annotations

import difflib
import os

import torch
from torch import nn

from fer_core.common.registry import UnknownNameError
from fer_core.models import scratch  # noqa: F401  (registers the scratch nets)
from fer_core.models.spec import ARCHITECTURES, ArchSpec
from fer_core.models.timm_archs import generic_timm_spec, is_timm_name

def arch_names() -> list[str]:
    """Registered architecture names (any timm model name is accepted as well)."""
    return ARCHITECTURES.names()


def get_arch(name: str) -> ArchSpec:
    """The spec for a registered name, or a generic spec for any other timm model name."""
    if name in ARCHITECTURES:
        return ARCHITECTURES.get(name)
    if isinstance(name, str) and is_timm_name(name):
        return generic_timm_spec(name)
    import timm  # only here and in timm_archs' functions: a scratch net trains without timm and torchvision
    candidates = list(dict.fromkeys(arch_names() + timm.list_models()))
    close = difflib.get_close_matches(str(name), candidates, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise UnknownNameError(
        f"unknown architecture {name!r}; registered: {', '.join(arch_names())}; "
        f"any timm model name (timm.list_models()) is accepted too{hint}"
    )


def build_model(name: str, num_classes: int, *, in_chans: int = 1, pretrained: bool | str = False,
                drop_rate: float | None = None) -> nn.Module:
    """Build architecture `name` with `num_classes` outputs for `in_chans`-channel input.

    pretrained: False (random init), True (timm's hub weights; PretrainedWeightsUnavailable when they
    cannot be had, never a silent random init) or the path of a local weights file.
    drop_rate: dropout before the classifier; None keeps the architecture's default.
    """
    spec = get_arch(name)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    if isinstance(in_chans, bool) or not isinstance(in_chans, int) or in_chans < 1:
        raise ValueError(f"in_chans must be a positive int, got {in_chans!r}")
    if drop_rate is not None and not 0.0 <= drop_rate < 1.0:
        raise ValueError(f"drop_rate must be in [0, 1), got {drop_rate!r}")
    if not isinstance(pretrained, (bool, str, os.PathLike)) or pretrained == "":
        raise ValueError(f"pretrained must be True, False or a weights file path, got {pretrained!r}")
    return spec.builder(num_classes, in_chans=in_chans, pretrained=pretrained, drop_rate=drop_rate)


def cam_target_layer(name: str, model: nn.Module) -> nn.Module:
    """The layer of `model` (built as architecture `name`) that Grad-CAM should hook."""
    return get_arch(name).cam_target_layer(model)


def features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Penultimate features (B, D): what the classifier sees, for embeddings and probes."""
    if not (hasattr(model, "forward_features") and hasattr(model, "forward_head")):
        raise ValueError(f"{type(model).__name__} has no forward_features/forward_head; build it with build_model")
    return model.forward_head(model.forward_features(x), pre_logits=True).flatten(1)
