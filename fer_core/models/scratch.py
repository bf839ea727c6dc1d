"""The "scratch" family: small CNNs written for 48x48 grayscale faces, trained from random weights.

Each answers timm's interface (`forward_features`, `forward_head(x, pre_logits=True)`,
`get_classifier()`), so callers need no special cases.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from fer_core.models.spec import ARCHITECTURES, ArchSpec

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


class ScratchNet(nn.Module):
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


class SimpleCNN(ScratchNet):
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


class VGGFER(ScratchNet):
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


class FastCNN(ScratchNet):
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


def _scratch_builder(name: str, cls: type[ScratchNet]) -> Callable[..., nn.Module]:
    def build(num_classes: int, in_chans: int = 1, pretrained: bool | str = False, **kw) -> nn.Module:
        if pretrained:
            from fer_core.models.timm_archs import timm_arch_names
            raise ValueError(
                f"{name} is trained from scratch and has no pretrained weights; use pretrained=False, "
                f"or a timm backbone for pretrained weights ({', '.join(timm_arch_names())})"
            )
        return cls(num_classes, in_chans=in_chans, **{k: v for k, v in kw.items() if v is not None})

    build.__doc__ = f"Build {cls.__name__} (no pretrained weights)."
    return build


def _last_stage_convs(model: nn.Module) -> nn.Module:
    # Pre-pool output of the last stage: 6x6 for a 48 px input where the pooled map is only 3x3.
    return model.stages[-1].convs


def _register_scratch(name: str, cls: type[ScratchNet], description: str,
                      cam_layer: Callable[[nn.Module], nn.Module]) -> None:
    ARCHITECTURES.register(name, ArchSpec(name=name, description=description, builder=_scratch_builder(name, cls),
                                          native_input_size=48, supports_pretrained=False,
                                          cam_target_layer=cam_layer, family="scratch"))


_register_scratch("simple_cnn", SimpleCNN, "Small 4-stage CNN for 48x48 faces (~0.46 M params), quick to train on a CPU",
                  _last_stage_convs)
_register_scratch("vgg_fer", VGGFER,
                  "VGG-style net of Khaireddin & Chen 2021 for 40-48 px faces (~30 M params), from scratch",
                  _last_stage_convs)
_register_scratch("fast_cnn", FastCNN,
                  "airbench-style 7-conv net (~0.3 M params), the best accuracy per CPU second (fer2013-cpu)",
                  lambda m: m.stages[-1])
_register_scratch("fast_cnn_wide", FastCNNWide,
                  "fast_cnn at GPU width (128/256/512 channels, ~4.7 M params), for 48 px on a GPU (fer2013-gpu)",
                  lambda m: m.stages[-1])
