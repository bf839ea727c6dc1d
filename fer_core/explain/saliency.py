"""Saliency maps (Grad-CAM and friends) for faces, over the `grad-cam` package (pytorch_grad_cam).

    result = explain_faces(model, card, faces, method="gradcam")   # faces: uint8 (N, 48, 48)

overlay.py lays a map over its face for display; faithfulness.py scores how faithful maps are.

Faces go through exactly the eval preprocessing of the checkpoint (`prepare_eval`: center crop,
resize, normalisation). The map is computed on the model's input and mapped back onto
the 48x48 face, so it can be laid over the face the user sees; pixels outside a center crop are 0.

A model object may be shared by threads (the app caches one per run). Every call here holds
`inference.predictor.model_lock(model)`, detaches the package's hooks on the way out (`with Method(...) as cam:`)
and restores each module's training flag, each parameter's requires_grad flag and its .grad, also
when the call fails. Parameters are frozen while a map is computed: the gradients the methods need
flow from the input, so nothing accumulates in the model's .grad.
"""
from __future__ import annotations

import contextlib
import numbers
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_grad_cam import (EigenCAM, EigenGradCAM, GradCAM, GradCAMElementWise, GradCAMPlusPlus, HiResCAM,
                              LayerCAM, ScoreCAM, XGradCAM)
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from fer_core.common.emotions import class_index
from fer_core.common.faces_array import IMAGE_SIZE, as_face_batch
from fer_core.common.registry import Registry
from fer_core.inference.predictor import model_lock
from fer_core.models import cam_target_layer
from fer_core.transforms.config import AugmentConfig
from fer_core.transforms.eval import prepare_eval

# ScoreCAM runs the model once per channel of the target layer, on masked copies of the input: this
# many input pixels per forward batch (256 copies of a 48 px face, 64 of a 128 px one).
SCORECAM_PIXELS_PER_BATCH = 256 * 48 * 48


@dataclass(frozen=True)
class CamMethod:
    """One saliency method of pytorch_grad_cam."""

    name: str
    cam_class: type
    description: str
    class_specific: bool = True  # False: the map ignores the target class (EigenCAM)


CAM_METHODS: Registry[CamMethod] = Registry("saliency method")


for _method in (
    CamMethod("gradcam", GradCAM, "Grad-CAM: channels weighted by their mean gradient"),
    CamMethod("hirescam", HiResCAM, "HiResCAM: activations times gradients, element-wise, then summed"),
    CamMethod("gradcam++", GradCAMPlusPlus, "Grad-CAM++: second-order weights, better for several regions"),
    CamMethod("xgradcam", XGradCAM, "XGrad-CAM: gradients weighted by normalised activations"),
    CamMethod("layercam", LayerCAM, "LayerCAM: positive gradients times activations, per position"),
    CamMethod("gradcam_elementwise", GradCAMElementWise, "Grad-CAM element-wise: ReLU(activation x gradient)"),
    CamMethod("eigengradcam", EigenGradCAM, "Eigen-Grad-CAM: first principal component of activation x gradient"),
    CamMethod("eigencam", EigenCAM, "EigenCAM: first principal component of the activations (class-agnostic)",
              class_specific=False),
    CamMethod("scorecam", ScoreCAM, "Score-CAM: channels weighted by the score of the input masked by them "
              "(no gradients; one forward pass per channel, slow)"),
):
    CAM_METHODS.register(_method.name, _method)


def method_names() -> list[str]:
    """Registered saliency method names, e.g. for a select box."""
    return CAM_METHODS.names()


@dataclass
class Explanation:
    """Saliency maps for N faces, all in face coordinates.

    heatmaps: float32 (N, 48, 48) in [0, 1] (max 1 unless the map is empty), 0 outside the crop the
    model sees. targets: int64 (N,) class explained per face. probabilities: float32 (N, C) for the
    unmodified faces. class_names: the model's classes, in output order.
    """

    heatmaps: np.ndarray
    targets: np.ndarray
    probabilities: np.ndarray
    method: str
    class_names: list[str]

    @property
    def predicted(self) -> np.ndarray:
        """The predicted class per face, int64 (N,)."""
        return self.probabilities.argmax(axis=1)

    @property
    def target_names(self) -> list[str]:
        return [self.class_names[t] for t in self.targets]


def resolve_targets(target, class_names: Sequence[str], n: int) -> np.ndarray | None:
    """None (the predicted class per face) or int64 (n,) class indices."""
    if target is None:
        return None
    if isinstance(target, np.ndarray) and target.ndim == 0:
        target = target.item()
    if isinstance(target, (str, numbers.Integral)):
        return np.full(n, class_index(target, class_names), dtype=np.int64)
    if isinstance(target, (Sequence, np.ndarray)):
        if len(target) != n:
            raise ValueError(f"target has {len(target)} entries for {n} faces: give one class per face, "
                             "one class for all, or None for the predicted class")
        return np.array([class_index(t, class_names) for t in target], dtype=np.int64)
    raise ValueError(f"target must be None, a class name or index, or a list of them (one per face); "
                     f"got {type(target).__name__}")


@contextlib.contextmanager
def exclusive_eval(model: nn.Module):
    """Hold the model's lock, put it in eval mode with frozen parameters, and put everything back."""
    with model_lock(model):
        modes = [(m, m.training) for m in model.modules()]
        params = list(model.parameters())
        saved = [(p, p.requires_grad, p.grad) for p in params]
        try:
            model.eval()
            for p in params:
                p.requires_grad_(False)
            yield
        finally:
            for m, training in modes:
                m.training = training
            for p, requires_grad, grad in saved:
                p.requires_grad_(requires_grad)
                p.grad = grad  # the methods call model.zero_grad(), which drops any existing .grad


def small_blas():
    """Single-threaded BLAS for the tiny matrices of EigenCAM's SVD and ROAD's solves: OpenBLAS
    threads on a CPU busy with a training job made a 36x256 SVD take seconds instead of 10 ms."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # scikit-learn's dependency; without it BLAS keeps its own threads
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def device_of(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def to_face_coordinates(cams: np.ndarray, aug: AugmentConfig) -> np.ndarray:
    """(B, S, S) maps on the model input -> (B, 48, 48) on the face: the inverse of prepare_eval's
    center crop and resize, with 0 where the crop left the face out; each map rescaled to max 1."""
    crop = aug.crop_size or IMAGE_SIZE
    maps = torch.from_numpy(np.ascontiguousarray(cams, dtype=np.float32))[:, None]
    if maps.shape[-1] != crop:
        # Same half-pixel alignment as prepare_eval's resize, so input pixel i lands where it came from.
        maps = F.interpolate(maps, size=(crop, crop), mode="bilinear", align_corners=False)
    out = np.zeros((len(cams), IMAGE_SIZE, IMAGE_SIZE), np.float32)
    top = (IMAGE_SIZE - crop) // 2  # prepare_eval's _center_crop offset, on both axes
    out[:, top:top + crop, top:top + crop] = maps[:, 0].numpy()
    np.clip(out, 0.0, 1.0, out=out)
    peak = out.reshape(len(out), -1).max(axis=1)
    out[peak > 0] /= peak[peak > 0, None, None]
    return out


def _scorecam_batch(input_size: int) -> int:
    return int(max(8, SCORECAM_PIXELS_PER_BATCH // (input_size * input_size)))


def explain_faces(model: nn.Module, card, faces: np.ndarray, method: str = "gradcam", target=None,
                  batch_size: int = 32) -> Explanation:
    """Saliency maps of `method` for uint8 faces (N, 48, 48), in face coordinates.

    model, card: from `runs.checkpoint.load_checkpoint` (or a `Predictor`'s .model and .card).
    target: None explains the predicted class of each face; a class index or name (canonical or
    display name) explains that class for all faces; a list gives one class per face.
    batch_size: faces per forward/backward pass.
    The model's modes, requires_grad flags and .grad are left as they were, hooks are removed.
    """
    spec = CAM_METHODS.get(method)
    faces = as_face_batch(faces, allow_single=False, allow_empty=False, arrays_only=True)
    class_names = list(card.class_names)
    wanted = resolve_targets(target, class_names, len(faces))
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    aug = card.augment_config
    layer = cam_target_layer(card.arch, model)
    device = device_of(model)

    maps, targets, probs = [], [], []
    # inference_mode(False) and enable_grad: the gradient methods must work even when the caller
    # runs inside torch.no_grad() or torch.inference_mode().
    with exclusive_eval(model), small_blas(), torch.inference_mode(False), torch.enable_grad():
        with spec.cam_class(model=model, target_layers=[layer]) as cam:
            if spec.cam_class is ScoreCAM:
                cam.batch_size = _scorecam_batch(aug.input_size)
            failure = None
            try:
                for start in range(0, len(faces), batch_size):
                    chunk = torch.from_numpy(faces[start:start + batch_size]).unsqueeze(1)
                    x = prepare_eval(chunk, aug, device=device)
                    chunk_targets = None if wanted is None else wanted[start:start + len(x)]
                    cams, logits = _run_cam(cam, x, chunk_targets)
                    maps.append(to_face_coordinates(cams, aug))
                    probs.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
                    targets.append(logits.argmax(1).cpu().numpy() if chunk_targets is None else chunk_targets)
            except IndexError as exc:  # BaseCAM.__exit__ would swallow an IndexError: carry it out
                failure = exc
        if failure is not None:
            raise failure
    return Explanation(heatmaps=np.concatenate(maps), targets=np.concatenate(targets).astype(np.int64),
                       probabilities=np.concatenate(probs).astype(np.float32), method=method,
                       class_names=class_names)


def _run_cam(cam, x: torch.Tensor, targets: np.ndarray | None) -> tuple[np.ndarray, torch.Tensor]:
    """One batch through the package: (maps (B, S, S), logits (B, C)) for the given or predicted classes."""
    callables = None if targets is None else [ClassifierOutputTarget(int(t)) for t in targets]
    if cam.uses_gradients:
        # Parameters are frozen, so the input carries the graph the methods backpropagate through.
        cams = cam(input_tensor=x.requires_grad_(True), targets=callables)
    else:
        with torch.no_grad():
            cams = cam(input_tensor=x, targets=callables)
    logits = cam.outputs.detach()  # the forward pass the maps came from: unmodified input
    return np.asarray(cams, dtype=np.float32), logits
