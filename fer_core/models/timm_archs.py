"""The "timm" family: curated timm backbones with their input sizes and Grad-CAM layers, plus a
generic spec for any other model name timm knows."""
from __future__ import annotations

import functools
from typing import Callable

from torch import nn

from fer_core.models.pretrained import create_timm
from fer_core.models.spec import ARCHITECTURES, ArchSpec

GENERIC_TIMM_INPUT_SIZE = 112


def _timm_builder(timm_name: str) -> Callable[..., nn.Module]:
    def build(num_classes: int, in_chans: int = 1, pretrained: bool | str = False, **kw) -> nn.Module:
        return create_timm(timm_name, num_classes, in_chans, pretrained, **kw)

    build.__doc__ = f"Build timm {timm_name!r}; pretrained: False, True (hub) or a local weights file."
    return build


def _register_timm(name: str, timm_name: str, description: str, native_input_size: int,
                   cam_layer: Callable[[nn.Module], nn.Module]) -> None:
    ARCHITECTURES.register(name, ArchSpec(
        name=name,
        description=description,
        builder=_timm_builder(timm_name),
        native_input_size=native_input_size,
        supports_pretrained=True,
        cam_target_layer=cam_layer,
        family="timm",
        timm_name=timm_name,
    ))


# Input sizes: ImageNet CNNs downsample by 32, so a 48 px face would leave a 1x1 or 2x2 final map
# (too coarse for Grad-CAM, and far from what pretrained filters saw). 112 px leaves 4x4 for the
# ResNets, MobileNetV2 and EfficientNet (their stride-2 convs round up). DenseNet's average-pool
# transitions and ConvNeXt's 2x2 patch downsampling round down (7 -> 3), so they get 128 px for 4x4.
for _depth in (18, 50, 101):
    _register_timm(f"resnet{_depth}", f"resnet{_depth}",
                   f"ResNet-{_depth} (timm), ImageNet weights available",
                   112, lambda m: m.layer4)


# vgg16_bn rather than plain vgg16: batch norm makes it trainable from scratch and less touchy when
# fine-tuned; timm has ImageNet weights for both. The CAM target is the last ReLU before the final
# max pool (7x7 at 112 px rather than 3x3 after it).
_register_timm("vgg16", "vgg16_bn", "VGG-16 with batch norm (timm vgg16_bn), ImageNet weights available",
               112, lambda m: m.features[-2])


_register_timm("mobilenetv2", "mobilenetv2_100", "MobileNetV2 1.0 (timm), light; ImageNet weights available",
               112, lambda m: m.bn2)


_register_timm("densenet169", "densenet169", "DenseNet-169 (timm), ImageNet weights available",
               128, lambda m: m.features.norm5)


_register_timm("efficientnet_b0", "efficientnet_b0", "EfficientNet-B0 (timm), ImageNet weights available",
               112, lambda m: m.bn2)


_register_timm("convnext_tiny", "convnext_tiny", "ConvNeXt-Tiny (timm), ImageNet weights available",
               128, lambda m: m.stages[-1])


def timm_arch_names() -> list[str]:
    return [name for name, spec in ARCHITECTURES.items() if spec.family == "timm"]


def _generic_cam_layer(model: nn.Module) -> nn.Module:
    """The module producing timm's deepest feature map (`feature_info[-1]`), else the last Conv2d.

    For CNNs that is the stride-32 stage before global pooling. For transformers it is the last
    block, whose output is tokens, not a map: Grad-CAM then needs a reshape transform.
    """
    info = getattr(model, "feature_info", None)
    if info:
        try:
            return model.get_submodule(info[-1]["module"])
        except (AttributeError, KeyError, TypeError):
            pass
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError(f"no Grad-CAM target layer found in {type(model).__name__}: it has no Conv2d")
    return convs[-1]


def is_timm_name(name: str) -> bool:
    # A tag after the dot ("resnet18.a1_in1k") names pretrained weights, so it must be a known one.
    import timm  # here, not at import: training a scratch net needs neither timm nor torchvision
    return timm.is_model(name) and ("." not in name or timm.models.is_model_pretrained(name))


@functools.lru_cache(maxsize=None)
def generic_timm_spec(timm_name: str) -> ArchSpec:
    import timm
    return ArchSpec(
        name=timm_name,
        description=f"timm {timm_name} (not curated: generic input size and Grad-CAM layer)",
        builder=_timm_builder(timm_name),
        native_input_size=GENERIC_TIMM_INPUT_SIZE,
        supports_pretrained=timm.models.is_model_pretrained(timm_name),
        cam_target_layer=_generic_cam_layer,
        family="timm",
        timm_name=timm_name,
    )
