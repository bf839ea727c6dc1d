"""Architectures: the registry of nets a run can train, how to build one, and how to run one.

    from fer_core.models import build_model, get_arch, arch_names
    model = build_model("fast_cnn", num_classes=7)
"""
from fer_core.models.architectures import arch_names, build_model, cam_target_layer, features, get_arch
from fer_core.models.pretrained import PretrainedWeightsUnavailable
from fer_core.models.spec import ARCHITECTURES, ArchSpec

__all__ = ["ARCHITECTURES", "ArchSpec", "PretrainedWeightsUnavailable", "arch_names", "build_model",
           "cam_target_layer", "features", "get_arch"]
