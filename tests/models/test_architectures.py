"""Tests for fer_core.models: every architecture builds, trains a step, explains and loads weights."""
import time

import pytest
import timm
import torch
from torch import nn

from fer_core import models as M
from fer_core.models import pretrained
from fer_core.training.finetune import param_groups, set_backbone_trainable
from fer_core.common.registry import UnknownNameError

NUM_CLASSES = 7
# Training steps run at the native size except for the nets that are slow on a CPU there.
TRAIN_SIZE = {"resnet50": 64, "resnet101": 64, "vgg16": 64, "densenet169": 64, "convnext_tiny": 64}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module", params=M.arch_names())
def arch(request):
    """(name, model): module scope with params makes pytest run all tests of one net, then the next."""
    torch.manual_seed(0)
    return request.param, M.build_model(request.param, NUM_CLASSES)


def _head_params(name, model):
    head = model.head if M.get_arch(name).family == "scratch" else model.get_classifier()
    return list(head.parameters())


def _output_of(layer, model, x):
    out = {}
    handle = layer.register_forward_hook(lambda module, args, output: out.setdefault("y", output))
    try:
        with torch.no_grad():
            model.eval()(x)
    finally:
        handle.remove()
    return out["y"]


def test_spec_is_consistent(arch):
    name, _ = arch
    spec = M.get_arch(name)
    assert spec.name == name
    assert spec.family in ("scratch", "timm")
    assert "\n" not in spec.description and spec.description
    # scratch nets are built for 48 px faces; ImageNet nets need more to keep a final map >= 3x3
    assert spec.native_input_size == 48 if spec.family == "scratch" else spec.native_input_size >= 96
    assert spec.supports_pretrained == (spec.family == "timm")


def test_forward_backward(arch):
    name, model = arch
    size = TRAIN_SIZE.get(name, M.get_arch(name).native_input_size)
    model.train()
    logits = model(torch.randn(2, 1, size, size))
    assert logits.shape == (2, NUM_CLASSES)
    assert torch.isfinite(logits).all()
    nn.functional.cross_entropy(logits, torch.tensor([0, 6])).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{pname} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{pname} has a non-finite gradient"
    model.zero_grad(set_to_none=True)


def test_cam_target_layer_gives_a_map_at_native_size(arch):
    name, model = arch
    layer = M.cam_target_layer(name, model)
    assert any(layer is m for m in model.modules())
    size = M.get_arch(name).native_input_size
    fmap = _output_of(layer, model, torch.randn(1, 1, size, size))
    assert fmap.ndim == 4
    assert min(fmap.shape[-2:]) >= 3, f"{name}: CAM map {tuple(fmap.shape)} at {size} px"


def test_features_are_what_the_classifier_sees(arch):
    name, model = arch
    model.eval()
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        feats = M.features(model, x)
        logits = model(x)
    classifier = model.get_classifier()
    assert feats.shape == (2, classifier.in_features)
    torch.testing.assert_close(classifier(feats), logits, rtol=1e-4, atol=1e-4)


def test_set_backbone_trainable_freezes_all_but_head(arch):
    name, model = arch
    head = {id(p) for p in _head_params(name, model)}
    try:
        set_backbone_trainable(model, False)
        trainable = {id(p) for p in model.parameters() if p.requires_grad}
        assert trainable == head
        set_backbone_trainable(model, True)
        assert all(p.requires_grad for p in model.parameters())
    finally:
        model.requires_grad_(True)


def test_param_groups_split_head_and_backbone(arch):
    name, model = arch
    groups = param_groups(model, lr=1e-3, backbone_lr_scale=0.1)
    by_name = {g["name"]: g for g in groups}
    assert set(by_name) == {"head", "backbone"}
    assert by_name["head"]["lr"] == pytest.approx(1e-3)
    assert by_name["backbone"]["lr"] == pytest.approx(1e-4)
    assert {id(p) for p in by_name["head"]["params"]} == {id(p) for p in _head_params(name, model)}
    grouped = [id(p) for g in groups for p in g["params"]]
    assert sorted(grouped) == sorted(id(p) for p in model.parameters())  # each parameter exactly once
    torch.optim.SGD(groups, lr=1.0)  # accepted by an optimizer as they are


def test_param_groups_reject_bad_rates():
    model = M.build_model("simple_cnn", NUM_CLASSES)
    with pytest.raises(ValueError, match="lr"):
        param_groups(model, lr=0.0, backbone_lr_scale=0.1)
    with pytest.raises(ValueError, match="backbone_lr_scale"):
        param_groups(model, lr=1e-3, backbone_lr_scale=-1.0)


@pytest.mark.parametrize("name", ["simple_cnn", "vgg_fer", "fast_cnn"])
@pytest.mark.parametrize("size", [32, 40, 44, 48])
def test_scratch_nets_take_32_to_48_px(name, size):
    model = M.build_model(name, NUM_CLASSES).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 1, size, size)).shape == (1, NUM_CLASSES)


def test_drop_rate_reaches_the_model():
    simple = M.build_model("simple_cnn", NUM_CLASSES, drop_rate=0.3)
    assert [m.p for m in simple.head.modules() if isinstance(m, nn.Dropout)] == [0.3]
    fast = M.build_model("fast_cnn", NUM_CLASSES, drop_rate=0.3)
    assert [m.p for m in fast.head.modules() if isinstance(m, nn.Dropout)] == [0.3]
    assert not any(isinstance(m, nn.Dropout) for m in M.build_model("fast_cnn", NUM_CLASSES).modules())
    assert M.build_model("resnet18", NUM_CLASSES, drop_rate=0.3).drop_rate == 0.3


def test_timm_name_passes_through():
    assert "resnet10t" not in M.arch_names()
    spec = M.get_arch("resnet10t")
    assert (spec.family, spec.timm_name, spec.native_input_size) == ("timm", "resnet10t", 112)
    assert spec.supports_pretrained
    model = M.build_model("resnet10t", NUM_CLASSES)
    size = spec.native_input_size
    assert model(torch.randn(2, 1, size, size)).shape == (2, NUM_CLASSES)
    fmap = _output_of(M.cam_target_layer("resnet10t", model), model, torch.randn(1, 1, size, size))
    assert fmap.ndim == 4 and min(fmap.shape[-2:]) >= 3
    assert M.get_arch("resnet18.a1_in1k").timm_name == "resnet18.a1_in1k"  # a weights tag is fine too


@pytest.mark.parametrize("bad", ["resnet5o", "resnet18.no_such_tag", "not a model"])
def test_unknown_name_lists_valid_names(bad):
    with pytest.raises(UnknownNameError) as info:
        M.get_arch(bad)
    message = str(info.value)
    assert repr(bad) in message
    assert all(name in message for name in M.arch_names())
    assert "timm" in message
    assert isinstance(info.value, ValueError)


def test_build_model_rejects_bad_arguments():
    for kwargs, word in [
        (dict(num_classes=0), "num_classes"),
        (dict(num_classes=7, in_chans=0), "in_chans"),
        (dict(num_classes=7, drop_rate=1.5), "drop_rate"),
        (dict(num_classes=7, pretrained=3), "pretrained"),
    ]:
        with pytest.raises(ValueError, match=word):
            M.build_model("resnet18", **kwargs)


@pytest.mark.parametrize("name", ["simple_cnn", "vgg_fer"])
@pytest.mark.parametrize("pretrained", [True, "/tmp/weights.pth"])
def test_scratch_nets_have_no_pretrained_weights(name, pretrained):
    with pytest.raises(ValueError, match="no pretrained weights"):
        M.build_model(name, NUM_CLASSES, pretrained=pretrained)


@pytest.fixture
def empty_weight_caches(monkeypatch, tmp_path):
    """Point the HF hub and torch hub caches at empty folders, so a developer's cache cannot interfere."""
    from huggingface_hub import constants as hf_constants

    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "hf"


def test_pretrained_offline_raises_at_once(monkeypatch, empty_weight_caches):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(M.PretrainedWeightsUnavailable) as info:
        M.build_model("resnet18", NUM_CLASSES, pretrained=True)
    assert time.perf_counter() - start < 5
    message = str(info.value)
    assert "HF_HUB_OFFLINE" in message
    assert "local weights file" in message and "from scratch" in message


def test_pretrained_with_unreachable_hub_raises_at_once(monkeypatch, empty_weight_caches):
    """No HF_HUB_OFFLINE, but no network: a quick connection probe fails before the hub's retries."""
    from huggingface_hub import constants as hf_constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)

    def no_network(*args, **kwargs):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(pretrained.socket, "create_connection", no_network)
    start = time.perf_counter()
    with pytest.raises(M.PretrainedWeightsUnavailable, match="cannot reach"):
        M.build_model("resnet18", NUM_CLASSES, pretrained=True)
    assert time.perf_counter() - start < 5


def test_pretrained_offline_loads_from_hub_cache(monkeypatch, empty_weight_caches):
    """Weights an earlier online run left in the HF cache are used offline, through timm's loader."""
    from safetensors.torch import save_file

    repo_id = timm.models.get_pretrained_cfg("resnet10t").hf_hub_id
    commit = "0" * 40
    repo_dir = empty_weight_caches / ("models--" + repo_id.replace("/", "--"))
    (repo_dir / "refs").mkdir(parents=True)
    (repo_dir / "refs" / "main").write_text(commit)
    (repo_dir / "snapshots" / commit).mkdir(parents=True)
    imagenet_like = timm.create_model("resnet10t", num_classes=1000, in_chans=3).state_dict()
    save_file(imagenet_like, str(repo_dir / "snapshots" / commit / "model.safetensors"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    model = M.build_model("resnet10t", NUM_CLASSES, pretrained=True)
    torch.testing.assert_close(model.layer4[0].conv1.weight, imagenet_like["layer4.0.conv1.weight"])


def test_local_weights_file_is_loaded(tmp_path):
    # Like real ImageNet weights: RGB first conv and a 1000-class head.
    imagenet_like = timm.create_model("resnet18", num_classes=1000, in_chans=3).state_dict()
    path = tmp_path / "resnet18.pth"
    torch.save(imagenet_like, path)

    model = M.build_model("resnet18", NUM_CLASSES, pretrained=str(path))
    torch.testing.assert_close(model.layer4[1].conv2.weight, imagenet_like["layer4.1.conv2.weight"])
    # timm folds the RGB filters into one channel by summing them
    torch.testing.assert_close(model.conv1.weight, imagenet_like["conv1.weight"].sum(dim=1, keepdim=True))
    assert model.fc.weight.shape == (NUM_CLASSES, 512)


def test_local_weights_of_another_arch_are_refused(tmp_path):
    path = tmp_path / "resnet10t.pth"
    torch.save(timm.create_model("resnet10t", num_classes=1000, in_chans=3).state_dict(), path)
    with pytest.raises(ValueError, match="does not fit"):
        M.build_model("resnet18", NUM_CLASSES, pretrained=path)


def test_partial_weights_file_is_refused(tmp_path):
    """timm loads non-strictly when it replaces the head; a file lacking backbone tensors must not pass."""
    state = timm.create_model("resnet18", num_classes=1000, in_chans=3).state_dict()
    path = tmp_path / "partial.pth"
    torch.save({k: v for k, v in state.items() if not k.startswith("layer4.")}, path)
    with pytest.raises(ValueError, match="layer4"):
        M.build_model("resnet18", NUM_CLASSES, pretrained=path)


def test_missing_local_weights_file_raises(tmp_path):
    with pytest.raises(M.PretrainedWeightsUnavailable, match="not found"):
        M.build_model("resnet18", NUM_CLASSES, pretrained=str(tmp_path / "nope.pth"))


def test_timm_model_without_weights_says_so():
    name = next(n for n in timm.list_models() if not timm.models.is_model_pretrained(n))
    assert not M.get_arch(name).supports_pretrained
    with pytest.raises(M.PretrainedWeightsUnavailable, match="no pretrained weights"):
        M.build_model(name, NUM_CLASSES, pretrained=True)
