"""Saliency maps (Grad-CAM and friends) for faces, over the `grad-cam` package (pytorch_grad_cam).

    result = explain_faces(model, card, faces, method="gradcam")   # faces: uint8 (N, 48, 48)
    panel = overlay(faces[0], result.heatmaps[0])                   # RGB uint8 (192, 192, 3)
    scores = faithfulness(model, card, faces, result.heatmaps, result.targets, metric="road")

Faces go through exactly the eval preprocessing of the checkpoint (`prepare_eval`: center crop,
resize, normalisation). The map is computed on the model's input and mapped back onto
the 48x48 face, so it can be laid over the face the user sees; pixels outside a center crop are 0.

A model object may be shared by threads (the app caches one per run). Every call here holds
`predict.model_lock(model)`, detaches the package's hooks on the way out (`with Method(...) as cam:`)
and restores each module's training flag, each parameter's requires_grad flag and its .grad, also
when the call fails. Parameters are frozen while a map is computed: the gradients the methods need
flow from the input, so nothing accumulates in the model's .grad.
"""
from __future__ import annotations

import contextlib
import numbers
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_grad_cam import (EigenCAM, EigenGradCAM, GradCAM, GradCAMElementWise, GradCAMPlusPlus, HiResCAM,
                              LayerCAM, ScoreCAM, XGradCAM)
from pytorch_grad_cam.metrics.perturbation_confidence import PerturbationConfidenceMetric
from pytorch_grad_cam.metrics.road import ROADCombined
from pytorch_grad_cam.utils.image import show_cam_on_image
from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget, ClassifierOutputTarget
from torch import nn

from .augment import AugmentConfig, prepare_eval
from .data.dataset import IMAGE_SIZE
from .emotions import display
from .models import cam_target_layer
from .predict import model_lock
from .registry import Registry

__all__ = [
    "CAM_METHODS",
    "FAITHFULNESS_METRICS",
    "CamMethod",
    "Explanation",
    "FaithfulnessMetric",
    "compare_methods",
    "explain_faces",
    "faithfulness",
    "mask_mass_ratio",
    "method_names",
    "overlay",
]

# ScoreCAM runs the model once per channel of the target layer, on masked copies of the input: this
# many input pixels per forward batch (256 copies of a 48 px face, 64 of a 128 px one).
SCORECAM_PIXELS_PER_BATCH = 256 * 48 * 48
# ROAD removes the most / least relevant 80, 60, 40 and 20 % of the pixels (the package's percentile
# p removes the pixels above it). Four levels instead of the package's nine: each costs a sparse solve.
ROAD_PERCENTILES = (20, 40, 60, 80)


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


# --------------------------------------------------------------------------- checks


def _check_faces(faces) -> np.ndarray:
    if not isinstance(faces, np.ndarray) or faces.dtype != np.uint8 or faces.ndim != 3 \
            or faces.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        got = f"{faces.dtype} {faces.shape}" if isinstance(faces, np.ndarray) else type(faces).__name__
        raise ValueError(f"faces must be a uint8 numpy array of shape (N, {IMAGE_SIZE}, {IMAGE_SIZE}), got {got} "
                         "(one face: face[None]; photos: crop the faces first with fer_core.faces)")
    if len(faces) == 0:
        raise ValueError("faces is empty: give at least one face")
    return np.ascontiguousarray(faces)


def _class_index(value, class_names: Sequence[str]) -> int:
    """A class given by index, name or display name (case-insensitive) -> its output index."""
    n = len(class_names)
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        if 0 <= value < n:
            return int(value)
        raise ValueError(f"target class index {value} is out of range: the model has {n} classes (0-{n - 1}: "
                         f"{', '.join(class_names)})")
    if isinstance(value, str):
        lookup = {c.lower(): i for i, c in enumerate(class_names)}
        lookup.update({display(c).lower(): i for i, c in enumerate(class_names)})
        key = value.strip().lower()
        if key in lookup:
            return lookup[key]
        raise ValueError(f"unknown target class {value!r}; this model's classes are {', '.join(class_names)}")
    raise ValueError(f"a target class must be a class name or an index, got {type(value).__name__} {value!r}")


def _resolve_targets(target, class_names: Sequence[str], n: int) -> np.ndarray | None:
    """None (the predicted class per face) or int64 (n,) class indices."""
    if target is None:
        return None
    if isinstance(target, np.ndarray) and target.ndim == 0:
        target = target.item()
    if isinstance(target, (str, numbers.Integral)):
        return np.full(n, _class_index(target, class_names), dtype=np.int64)
    if isinstance(target, (Sequence, np.ndarray)):
        if len(target) != n:
            raise ValueError(f"target has {len(target)} entries for {n} faces: give one class per face, "
                             "one class for all, or None for the predicted class")
        return np.array([_class_index(t, class_names) for t in target], dtype=np.int64)
    raise ValueError(f"target must be None, a class name or index, or a list of them (one per face); "
                     f"got {type(target).__name__}")


def _check_heatmaps(heatmaps, n: int) -> np.ndarray:
    heatmaps = np.asarray(heatmaps, dtype=np.float32)
    if heatmaps.shape != (n, IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"heatmaps must have shape ({n}, {IMAGE_SIZE}, {IMAGE_SIZE}) to match the faces, "
                         f"got {heatmaps.shape}")
    if not np.isfinite(heatmaps).all():
        raise ValueError("heatmaps contain NaN or infinite values")
    return heatmaps


# --------------------------------------------------------------------------- shared-model safety


@contextlib.contextmanager
def _exclusive_eval(model: nn.Module):
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


def _small_blas():
    """Single-threaded BLAS for the tiny matrices of EigenCAM's SVD and ROAD's solves: OpenBLAS
    threads on a CPU busy with a training job made a 36x256 SVD take seconds instead of 10 ms."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # scikit-learn's dependency; without it BLAS keeps its own threads
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _device_of(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


# --------------------------------------------------------------------------- maps


def _to_face_coordinates(cams: np.ndarray, aug: AugmentConfig) -> np.ndarray:
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

    model, card: from `train.load_checkpoint` (or a `predict.Predictor`'s .model and .card).
    target: None explains the predicted class of each face; a class index or name (canonical or
    display name) explains that class for all faces; a list gives one class per face.
    batch_size: faces per forward/backward pass.
    The model's modes, requires_grad flags and .grad are left as they were, hooks are removed.
    """
    spec = CAM_METHODS.get(method)
    faces = _check_faces(faces)
    class_names = list(card.class_names)
    wanted = _resolve_targets(target, class_names, len(faces))
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    aug = card.augment_config
    layer = cam_target_layer(card.arch, model)
    device = _device_of(model)

    maps, targets, probs = [], [], []
    # inference_mode(False) and enable_grad: the gradient methods must work even when the caller
    # runs inside torch.no_grad() or torch.inference_mode().
    with _exclusive_eval(model), _small_blas(), torch.inference_mode(False), torch.enable_grad():
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
                    maps.append(_to_face_coordinates(cams, aug))
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


def mask_mass_ratio(heatmaps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Per face: the share of the map's mass inside `masks` divided by the share of pixels inside
    it, i.e. how many times more mass the region gets than under a uniform map (1 = no better than
    uniform). NaN for faces whose map or mask is empty."""
    heat = np.asarray(heatmaps, dtype=np.float64)
    masks = np.asarray(masks, dtype=bool)
    if heat.shape != masks.shape or heat.ndim != 3:
        raise ValueError(f"heatmaps and masks must both be (N, H, W), got {heat.shape} and {masks.shape}")
    total = heat.sum(axis=(1, 2))
    inside = (heat * masks).sum(axis=(1, 2))
    area = masks.mean(axis=(1, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (inside / total) / area
    return np.where((total > 0) & (area > 0), ratio, np.nan)


# --------------------------------------------------------------------------- display


def overlay(face: np.ndarray, heatmap: np.ndarray, size: int = 192, alpha: float = 0.5) -> np.ndarray:
    """The face (uint8 (48, 48)) upscaled smoothly to `size` with the heatmap ((48, 48) in [0, 1])
    laid over it in the jet colour map; `alpha` is the heatmap's weight. RGB uint8 (size, size, 3)."""
    import cv2
    face = np.asarray(face)
    heatmap = np.asarray(heatmap, dtype=np.float32)
    if face.dtype != np.uint8 or face.shape != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"face must be uint8 ({IMAGE_SIZE}, {IMAGE_SIZE}), got {face.dtype} {face.shape}")
    if heatmap.shape != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"heatmap must be ({IMAGE_SIZE}, {IMAGE_SIZE}), got {heatmap.shape}")
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or not 16 <= size <= 4096:
        raise ValueError(f"size must be an integer from 16 to 4096 pixels, got {size!r}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    big = cv2.resize(face, (size, size), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255.0
    rgb = np.repeat(big[:, :, None], 3, axis=2)
    heat = cv2.resize(np.nan_to_num(heatmap).clip(0, 1), (size, size), interpolation=cv2.INTER_LINEAR)
    return show_cam_on_image(rgb, heat.clip(0, 1), use_rgb=True, image_weight=1.0 - float(alpha))


# --------------------------------------------------------------------------- faithfulness


class _FacePipeline(nn.Module):
    """Face pixels in [0, 1] (B, 1, 48, 48) -> logits, through the eval preprocessing: the metrics
    then perturb the face the user sees and heatmaps stay in face coordinates."""

    def __init__(self, model: nn.Module, aug: AugmentConfig):
        super().__init__()
        self.model, self.aug = model, aug

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(prepare_eval(x, self.aug))


def _fade_salient(face: torch.Tensor, heat: torch.Tensor) -> torch.Tensor:
    """Blend each pixel towards the face's mean grey in proportion to its saliency: heat 1 removes
    the pixel, heat 0 keeps it (mean grey rather than black, so no dark blob is added)."""
    mean = face.mean()
    return mean + (face - mean) * (1.0 - heat.to(face.dtype))


def _road(pipeline, x, heatmaps, targets) -> np.ndarray:
    # Ties (many exact zeros in a focused map) would make the package's percentile threshold remove
    # every pixel at once; a tiny fixed jitter orders tied pixels at random instead.
    jitter = np.random.default_rng(0).random(heatmaps.shape[1:], dtype=np.float32) * 1e-4
    return ROADCombined(percentiles=list(ROAD_PERCENTILES))(x, heatmaps + jitter, targets, pipeline)


def _drop(pipeline, x, heatmaps, targets) -> np.ndarray:
    change = PerturbationConfidenceMetric(_fade_salient)(x, heatmaps, targets, pipeline)
    return -np.asarray(change)


@dataclass(frozen=True)
class FaithfulnessMetric:
    """One way of scoring how faithful a map is to the model (higher is better for all)."""

    name: str
    description: str
    compute: Callable  # (pipeline, x, heatmaps, targets) -> (N,) scores


FAITHFULNESS_METRICS: Registry[FaithfulnessMetric] = Registry("faithfulness metric")
FAITHFULNESS_METRICS.register("road", FaithfulnessMetric(
    "road",
    "ROAD (Rong et al. 2022, pytorch_grad_cam ROADCombined): pixels are removed by noisy linear imputation, "
    "least relevant first and most relevant first, 20-80 % of the face; the score is the mean of "
    "(probability change removing the least relevant - change removing the most relevant) / 2, in "
    "[-1, 1]. Higher is better: the map has found the pixels the prediction rests on; 0 is no better "
    "than chance.", _road))
FAITHFULNESS_METRICS.register("drop", FaithfulnessMetric(
    "drop",
    "Drop in confidence (pytorch_grad_cam's perturbation-confidence metric, DropInConfidence style, "
    "unclipped): the target-class probability of the face minus that of the face with its salient "
    "pixels faded to the face's mean grey in proportion to the map. In [-1, 1]; higher is better. "
    "It also grows with the map's area, so compare methods on the same faces.", _drop))


def faithfulness(model: nn.Module, card, faces: np.ndarray, heatmaps: np.ndarray, targets,
                 metric: str = "road") -> np.ndarray:
    """How faithful saliency maps are to the model, per face (float32 (N,), higher is better).

    heatmaps: (N, 48, 48) in face coordinates, e.g. `explain_faces(...).heatmaps`; targets: the
    classes they explain (`.targets`; an index, name or list as in explain_faces). Scores are in
    target-class probability units; see FAITHFULNESS_METRICS for what each metric measures. ROAD's
    imputation adds a little random noise, so repeated scores differ in the third decimal.
    """
    spec = FAITHFULNESS_METRICS.get(metric)
    faces = _check_faces(faces)
    heatmaps = _check_heatmaps(heatmaps, len(faces))
    wanted = _resolve_targets(targets, list(card.class_names), len(faces))
    if wanted is None:
        raise ValueError("targets are required: pass the classes the heatmaps explain (Explanation.targets)")
    callables = [ClassifierOutputSoftmaxTarget(int(t)) for t in wanted]
    with _exclusive_eval(model), _small_blas(), torch.no_grad():
        device = _device_of(model)
        x = torch.from_numpy(faces).to(device).unsqueeze(1).float().div_(255.0)
        scores = spec.compute(_FacePipeline(model, card.augment_config), x, heatmaps, callables)
    return np.asarray(scores, dtype=np.float32).reshape(len(faces))


def compare_methods(model: nn.Module, card, faces: np.ndarray, methods: Sequence[str] | None = None,
                    metric: str = "road", target=None) -> dict[str, float]:
    """Mean faithfulness score per method on the same faces ({method: score}, higher is better).

    methods: names from `method_names()` (default: all); target as in explain_faces.
    """
    methods = method_names() if methods is None else list(methods)
    if not methods:
        raise ValueError(f"methods is empty; valid: {', '.join(method_names())}")
    for name in methods:  # refuse a bad name before spending time on the good ones
        CAM_METHODS.get(name)
    FAITHFULNESS_METRICS.get(metric)
    scores = {}
    for name in methods:
        result = explain_faces(model, card, faces, method=name, target=target)
        scores[name] = float(np.mean(faithfulness(model, card, faces, result.heatmaps, result.targets, metric)))
    return scores
