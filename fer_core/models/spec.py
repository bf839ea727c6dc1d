"""What an architecture is to the rest of the tool (ArchSpec) and the registry they are kept in.

The registrations themselves live with the nets: scratch.py and timm_archs.py.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

from torch import nn

from fer_core.common.registry import Registry

FAMILIES = ("scratch", "timm")


@dataclasses.dataclass(frozen=True)
class ArchSpec:
    """What the trainer and the app need to know about one architecture."""

    name: str
    description: str  # one line, for listings
    builder: Callable[..., nn.Module]  # (num_classes, in_chans=1, pretrained=False, **kw) -> nn.Module
    native_input_size: int  # faces are resized to this square size before the net
    supports_pretrained: bool
    cam_target_layer: Callable[[nn.Module], nn.Module]
    family: str  # "scratch" or "timm"
    timm_name: str | None = None  # the name passed to timm.create_model, for the timm family

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}, got {self.family!r}")


ARCHITECTURES: Registry[ArchSpec] = Registry("architecture")
