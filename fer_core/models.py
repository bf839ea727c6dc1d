"""Architecture registry: name -> builder, native input size, Grad-CAM target layer.

Two families live here. "scratch" nets are small CNNs written for 48x48 grayscale faces and trained
from random weights. "timm" nets wrap `timm.create_model(..., in_chans=1)`; any model name that timm
knows is accepted as well, with a generic spec.

Every model built here answers the same interface as a timm model, so callers need no special
cases: `forward_features(x)` gives the last feature map, `forward_head(x, pre_logits=True)` the
penultimate vector and `get_classifier()` the final linear layer.
"""
from __future__ import annotations

import dataclasses
import difflib
import functools
import os
import pickle
import socket
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

import timm
import torch
from torch import nn

from fer_core.registry import Registry, UnknownNameError

__all__ = [
    "ARCHITECTURES",
    "ArchSpec",
    "PretrainedWeightsUnavailable",
    "SimpleCNN",
    "VGGFER",
    "FastCNN",
    "arch_names",
    "build_model",
    "cam_target_layer",
    "features",
    "get_arch",
    "param_groups",
    "set_backbone_trainable",
]

FAMILIES = ("scratch", "timm")
GENERIC_TIMM_INPUT_SIZE = 112

_HOW_TO_GET_WEIGHTS = (
    "To use pretrained weights, run once with internet access so the Hugging Face hub cache fills, "
    "or pass a local weights file (pretrained='/path/to/weights.safetensors' or .pth), "
    "or train from scratch with pretrained=False."
)


class PretrainedWeightsUnavailable(RuntimeError):
    """Pretrained weights were asked for but cannot be had (offline and not cached, missing file, none exist)."""


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


# --------------------------------------------------------------------------- scratch nets


class ConvStage(nn.Module):
    """`n_convs` x (3x3 conv, BN, ReLU), then 2x2 max pooling and dropout."""

    def __init__(self, in_chs: int, out_chs: int, n_convs: int, drop_rate: float):
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(n_convs):
            layers += [
                nn.Conv2d(in_chs if i == 0 else out_chs, out_chs, 3, padding=1, bias=False),
                nn.BatchNorm2d(out_chs),
                nn.ReLU(inplace=True),
            ]
        # Kept apart from pooling so Grad-CAM can hook the finer, pre-pool map.
        self.convs = nn.Sequential(*layers)
        self.pool = nn.MaxPool2d(2)
        self.drop = nn.Dropout(drop_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.pool(self.convs(x)))


class DenseHead(nn.Module):
    """Adaptive pooling to `pool_size` x `pool_size`, hidden Linear-ReLU-Dropout layers, classifier."""

    def __init__(self, in_chs: int, pool_size: int, hidden: tuple[int, ...], num_classes: int,
                 drop_rate: float):
        super().__init__()
        # Adaptive pooling makes the head independent of the input size (40..48 and beyond).
        self.pool = nn.AdaptiveAvgPool2d(pool_size)
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_chs * pool_size * pool_size
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(inplace=True), nn.Dropout(drop_rate)]
            width = h
        if not hidden and drop_rate > 0:  # no hidden layer to carry it: drop the pooled features
            layers.append(nn.Dropout(drop_rate))
        self.pre_logits = nn.Sequential(*layers)
        self.num_features = width
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.pre_logits(self.pool(x))
        return x if pre_logits else self.fc(x)


class _ScratchNet(nn.Module):
    """Conv stages + dense head, with timm's forward_features / forward_head / get_classifier."""

    stages: nn.Sequential
    head: DenseHead

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.head(x, pre_logits=pre_logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return self.head.fc


class SimpleCNN(_ScratchNet):
    """The custom CNN of the seed projects, sized to train quickly on a CPU (~0.46 M parameters).

    Four stages of one 3x3 conv-BN-ReLU (32, 64, 128, 256 channels), each followed by max pooling
    and dropout of drop_rate / 2; global average pooling feeds a 256-unit dense layer with dropout
    (it trained faster and as well as a 2x2 pool in our tests). One conv per stage costs about 33 M multiply-adds per 48x48
    face, half of a two-conv design, which is what lets a full FER2013 run fit in minutes on a CPU.
    """

    def __init__(self, num_classes: int, in_chans: int = 1, drop_rate: float = 0.25,
                 widths: tuple[int, ...] = (32, 64, 128, 256), convs: tuple[int, ...] = (1, 1, 1, 1),
                 hidden: int = 256):
        super().__init__()
        chs = (in_chans, *widths)
        self.stages = nn.Sequential(*[
            ConvStage(chs[i], chs[i + 1], convs[i], drop_rate / 2) for i in range(len(widths))
        ])
        self.head = DenseHead(widths[-1], 1, (hidden,), num_classes, drop_rate)


class VGGFER(_ScratchNet):
    """VGG-style net for 40..48 px faces after Khaireddin & Chen 2021 (arXiv 2105.03588).

    Four stages of two 3x3 conv-BN-ReLU (64, 128, 256, 512 channels), each followed by 2x2 max
    pooling; then two fully connected layers of `fc_width` (the paper's 4096) with dropout 0.2 and the
    classifier. The paper flattens the 2x2x512 map of its 40x40 crops; an adaptive 2x2 pool gives
    the same 2048 features for any input from 32 px up (48 px inputs leave a 3x3 map).
    The paper has no dropout between conv stages; neither does this.
    """

    def __init__(self, num_classes: int, in_chans: int = 1, drop_rate: float = 0.2,
                 fc_width: int = 4096):
        super().__init__()
        chs = (in_chans, 64, 128, 256, 512)
        self.stages = nn.Sequential(*[ConvStage(chs[i], chs[i + 1], 2, 0.0) for i in range(4)])
        self.head = DenseHead(512, 2, (fc_width, fc_width), num_classes, drop_rate)


class ConvGroup(nn.Module):
    """conv 3x3, 2x2 max pooling, BN, ReLU, then conv 3x3, BN, ReLU (airbench's block).

    Pooling right after the first conv keeps the second conv at a quarter of the pixels: two convs of
    depth for little more than the cost of one at full resolution.
    """

    def __init__(self, in_chs: int, out_chs: int):
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(in_chs, out_chs, 3, padding=1, bias=False), nn.MaxPool2d(2),
            nn.BatchNorm2d(out_chs), nn.ReLU(inplace=True),
            nn.Conv2d(out_chs, out_chs, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_chs), nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.convs(x)


class FastCNN(_ScratchNet):
    """A CPU-first net for 32-48 px faces in the manner of airbench (Jordan 2024), ~0.3 M parameters.

    A 3x3 stem, then three ConvGroups (32, 64, 128 channels): seven convs deep at about the training
    cost of simple_cnn's four, which is what a 10-minute run on two CPU cores can afford. Global
    average pooling (and dropout, when drop_rate > 0) feeds the classifier.
    """

    def __init__(self, num_classes: int, in_chans: int = 1, drop_rate: float = 0.0,
                 widths: tuple[int, ...] = (32, 64, 128), stem: int = 16):
        super().__init__()
        chs = (stem, *widths)
        self.stages = nn.Sequential(
            nn.Sequential(nn.Conv2d(in_chans, stem, 3, padding=1, bias=False), nn.BatchNorm2d(stem),
                          nn.ReLU(inplace=True)),
            *[ConvGroup(chs[i], chs[i + 1]) for i in range(len(widths))],
        )
        self.head = DenseHead(widths[-1], 1, (), num_classes, drop_rate)


class FastCNNWide(FastCNN):
    """fast_cnn at GPU width (~4.7 M parameters): a 32-channel stem, ConvGroups of 128, 256 and 512
    channels (airbench96's scale), head dropout 0.2. Meant for 48 px faces on a GPU (fer2013-gpu)."""

    def __init__(self, num_classes: int, in_chans: int = 1, drop_rate: float = 0.2):
        super().__init__(num_classes, in_chans=in_chans, drop_rate=drop_rate, widths=(128, 256, 512), stem=32)


def _scratch_builder(name: str, cls: type[_ScratchNet]) -> Callable[..., nn.Module]:
    def build(num_classes: int, in_chans: int = 1, pretrained: bool | str = False, **kw) -> nn.Module:
        if pretrained:
            raise ValueError(
                f"{name} is trained from scratch and has no pretrained weights; use pretrained=False, "
                f"or a timm backbone for pretrained weights ({', '.join(_timm_arch_names())})"
            )
        return cls(num_classes, in_chans=in_chans, **{k: v for k, v in kw.items() if v is not None})

    build.__doc__ = f"Build {cls.__name__} (no pretrained weights)."
    return build


def _last_stage_convs(model: nn.Module) -> nn.Module:
    # Pre-pool output of the last stage: 6x6 for a 48 px input where the pooled map is only 3x3.
    return model.stages[-1].convs


ARCHITECTURES.register("simple_cnn", ArchSpec(
    name="simple_cnn",
    description="Small 4-stage CNN for 48x48 faces (~0.46 M params), quick to train on a CPU",
    builder=_scratch_builder("simple_cnn", SimpleCNN),
    native_input_size=48,
    supports_pretrained=False,
    cam_target_layer=_last_stage_convs,
    family="scratch",
))

ARCHITECTURES.register("vgg_fer", ArchSpec(
    name="vgg_fer",
    description="VGG-style net of Khaireddin & Chen 2021 for 40-48 px faces (~30 M params), from scratch",
    builder=_scratch_builder("vgg_fer", VGGFER),
    native_input_size=48,
    supports_pretrained=False,
    cam_target_layer=_last_stage_convs,
    family="scratch",
))


ARCHITECTURES.register("fast_cnn", ArchSpec(
    name="fast_cnn",
    description="airbench-style 7-conv net (~0.3 M params), the best accuracy per CPU second (fer2013-cpu)",
    builder=_scratch_builder("fast_cnn", FastCNN),
    native_input_size=48,
    supports_pretrained=False,
    cam_target_layer=lambda m: m.stages[-1],
    family="scratch",
))

ARCHITECTURES.register("fast_cnn_wide", ArchSpec(
    name="fast_cnn_wide",
    description="fast_cnn at GPU width (128/256/512 channels, ~4.7 M params), for 48 px on a GPU (fer2013-gpu)",
    builder=_scratch_builder("fast_cnn_wide", FastCNNWide),
    native_input_size=48,
    supports_pretrained=False,
    cam_target_layer=lambda m: m.stages[-1],
    family="scratch",
))


# --------------------------------------------------------------------------- timm backbones


def _timm_builder(timm_name: str) -> Callable[..., nn.Module]:
    def build(num_classes: int, in_chans: int = 1, pretrained: bool | str = False, **kw) -> nn.Module:
        return _create_timm(timm_name, num_classes, in_chans, pretrained, **kw)

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


def _timm_arch_names() -> list[str]:
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


def _is_timm_name(name: str) -> bool:
    # A tag after the dot ("resnet18.a1_in1k") names pretrained weights, so it must be a known one.
    return timm.is_model(name) and ("." not in name or timm.models.is_model_pretrained(name))


@functools.lru_cache(maxsize=None)
def _generic_timm_spec(timm_name: str) -> ArchSpec:
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


# --------------------------------------------------------------------------- pretrained weights


def _create_timm(timm_name: str, num_classes: int, in_chans: int, pretrained: bool | str | os.PathLike,
                 **kw) -> nn.Module:
    kwargs = {k: v for k, v in kw.items() if v is not None}
    create = functools.partial(timm.create_model, timm_name, num_classes=num_classes,
                               in_chans=in_chans, **kwargs)
    if pretrained is False:
        return create(pretrained=False)
    if pretrained is True:
        overlay = _hub_weights_overlay(timm_name)
        try:
            return create(pretrained=True, pretrained_cfg_overlay=overlay)
        except OSError as err:  # hub and URL failures are all OSErrors (LocalEntryNotFoundError, URLError, ...)
            raise PretrainedWeightsUnavailable(
                f"could not download pretrained weights for {timm_name!r}: {str(err).rstrip('.')}. "
                f"{_HOW_TO_GET_WEIGHTS}"
            ) from err
    return _create_from_file(create, timm_name, Path(pretrained))


def _create_from_file(create: Callable[..., nn.Module], timm_name: str, path: Path) -> nn.Module:
    """Load a local weights file the supported timm way (`pretrained_cfg_overlay=dict(file=...)`).

    timm adapts an RGB first conv to `in_chans` (summing the colour weights for one channel) and
    drops an ImageNet classifier; this checks that everything else was in the file, because timm
    loads a replaced head non-strictly and would leave a mismatched backbone random.
    """
    if not path.is_file():
        raise PretrainedWeightsUnavailable(f"pretrained weights file not found: {path}. {_HOW_TO_GET_WEIGHTS}")
    try:
        model = create(pretrained=True, pretrained_cfg_overlay=dict(file=str(path)))
    except (RuntimeError, pickle.UnpicklingError) as err:
        raise ValueError(f"weights file {path} does not fit {timm_name!r}: {err}") from err
    state = timm.models.load_state_dict(str(path))
    classifiers = model.pretrained_cfg.get("classifier") or ()
    if isinstance(classifiers, str):
        classifiers = (classifiers,)
    expected = [
        k for k in model.state_dict()
        if not k.endswith("num_batches_tracked") and not any(k.startswith(c + ".") for c in classifiers)
    ]
    missing = [k for k in expected if k not in state]
    if missing:
        raise ValueError(
            f"weights file {path} does not fit {timm_name!r}: {len(missing)} of {len(expected)} backbone "
            f"tensors are missing from it (e.g. {', '.join(missing[:3])}); use weights saved from {timm_name}"
        )
    return model


def _hub_weights_overlay(timm_name: str) -> dict | None:
    """None to let timm download as usual; a cached file when offline; or PretrainedWeightsUnavailable.

    Without this, an offline machine spends about 45 s in the hub client's retries before failing,
    and HF_HUB_OFFLINE set after huggingface_hub was imported is not seen by it at all.
    """
    cfg = timm.models.get_pretrained_cfg(timm_name)
    if cfg is None or not cfg.has_weights:
        raise PretrainedWeightsUnavailable(
            f"timm has no pretrained weights for {timm_name!r}; pass a local weights file or train from scratch"
        )
    why_offline = _why_offline(cfg)
    if why_offline is None:
        return None
    cached = _cached_weights_file(cfg)
    if cached is None:
        raise PretrainedWeightsUnavailable(
            f"pretrained weights for {timm_name!r} are not in the local cache and cannot be downloaded "
            f"({why_offline}). {_HOW_TO_GET_WEIGHTS}"
        )
    return {"file": cached, "custom_load": bool(cfg.custom_load)}


def _why_offline(cfg) -> str | None:
    """Why the weight source cannot be reached now, or None when a download is worth trying."""
    try:
        from huggingface_hub import constants as hf_constants
    except ImportError:
        hf_constants = None
    env = os.environ.get("HF_HUB_OFFLINE", "").strip().upper()
    if env in {"1", "ON", "YES", "TRUE"} or (hf_constants is not None and hf_constants.HF_HUB_OFFLINE):
        return "HF_HUB_OFFLINE is set"
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None  # a proxy may reach what a direct connection cannot: let the client try
    if cfg.hf_hub_id and hf_constants is not None:
        url = urlparse(hf_constants.ENDPOINT)
    elif cfg.url:
        url = urlparse(cfg.url)
    else:
        return None
    port = url.port or (80 if url.scheme == "http" else 443)
    try:
        socket.create_connection((url.hostname, port), timeout=3).close()
    except OSError as err:
        return f"cannot reach {url.hostname}: {err}"
    return None


_SAFETENSORS_TWINS = {
    "pytorch_model.bin": "model.safetensors",
    "open_clip_pytorch_model.bin": "open_clip_model.safetensors",
}


def _cached_weights_file(cfg) -> str | None:
    """The weights file timm would load, if an earlier download left it in the HF or torch hub cache."""
    if cfg.hf_hub_id:
        found = _hf_cached_file(cfg.hf_hub_id, cfg.hf_hub_filename or "pytorch_model.bin")
        if found:
            return found
    if cfg.url:
        path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(cfg.url).path)
        if path.is_file():
            return str(path)
    return None


def _hf_cached_file(hub_id: str, filename: str) -> str | None:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    repo_id, _, revision = hub_id.partition("@")
    # timm loads the safetensors twin of a .bin file first when the repo has one
    safe = _SAFETENSORS_TWINS.get(filename)
    if safe is None and filename.endswith(".bin"):
        safe = filename[: -len(".bin")] + ".safetensors"
    for name in (safe, filename):
        if name:
            found = try_to_load_from_cache(repo_id, name, revision=revision or None)
            if isinstance(found, str):  # not None, nor the "known to be absent" marker
                return found
    return None


# --------------------------------------------------------------------------- public functions


def arch_names() -> list[str]:
    """Registered architecture names (any timm model name is accepted as well)."""
    return ARCHITECTURES.names()


def get_arch(name: str) -> ArchSpec:
    """The spec for a registered name, or a generic spec for any other timm model name."""
    if name in ARCHITECTURES:
        return ARCHITECTURES.get(name)
    if isinstance(name, str) and _is_timm_name(name):
        return _generic_timm_spec(name)
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


def _head_parameters(model: nn.Module) -> list[nn.Parameter]:
    if isinstance(model, _ScratchNet):
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
