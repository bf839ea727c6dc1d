"""Pretrained weights for timm backbones: from the hub, its local cache when offline, or a local file.

Offline, nothing is downloaded and nothing random is passed off as pretrained: an unavailable
weight source is a PretrainedWeightsUnavailable that says how to get the weights.
"""
from __future__ import annotations

import functools
import os
import pickle
import socket
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

import torch
from torch import nn

_HOW_TO_GET_WEIGHTS = (
    "To use pretrained weights, run once with internet access so the Hugging Face hub cache fills, "
    "or pass a local weights file (pretrained='/path/to/weights.safetensors' or .pth), "
    "or train from scratch with pretrained=False."
)


class PretrainedWeightsUnavailable(RuntimeError):
    """Pretrained weights were asked for but cannot be had (offline and not cached, missing file, none exist)."""


def create_timm(timm_name: str, num_classes: int, in_chans: int, pretrained: bool | str | os.PathLike,
                 **kw) -> nn.Module:
    import timm  # imported when a timm net is built: scratch nets train without timm and torchvision
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
    import timm
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
    import timm
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
