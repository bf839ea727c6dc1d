"""How faithful a saliency map is to the model: ROAD and a drop-in-confidence metric, per face.

Scores are in target-class probability units, higher is better. The metrics perturb the face the user
sees (through the model's eval preprocessing), so heatmaps stay in face coordinates.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from pytorch_grad_cam.metrics.perturbation_confidence import PerturbationConfidenceMetric
from pytorch_grad_cam.metrics.road import ROADCombined
from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget
from torch import nn

from fer_core.common.faces_array import IMAGE_SIZE, as_face_batch
from fer_core.common.registry import Registry
from fer_core.explain.saliency import (CAM_METHODS, device_of, exclusive_eval, explain_faces, method_names,
                                       resolve_targets, small_blas)
from fer_core.transforms.config import AugmentConfig
from fer_core.transforms.eval import prepare_eval

# ROAD removes the most / least relevant 80, 60, 40 and 20 % of the pixels (the package's percentile
# p removes the pixels above it). Four levels instead of the package's nine: each costs a sparse solve.
ROAD_PERCENTILES = (20, 40, 60, 80)


def _check_heatmaps(heatmaps, n: int) -> np.ndarray:
    heatmaps = np.asarray(heatmaps, dtype=np.float32)
    if heatmaps.shape != (n, IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"heatmaps must have shape ({n}, {IMAGE_SIZE}, {IMAGE_SIZE}) to match the faces, "
                         f"got {heatmaps.shape}")
    if not np.isfinite(heatmaps).all():
        raise ValueError("heatmaps contain NaN or infinite values")
    return heatmaps


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


SEED = 0  # ROAD's imputation noise: fixed, so a score is a property of the face and the map

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
                 metric: str = "road", on_face: Callable[[int], None] | None = None) -> np.ndarray:
    """How faithful saliency maps are to the model, per face (float32 (N,), higher is better).

    heatmaps: (N, 48, 48) in face coordinates, e.g. `explain_faces(...).heatmaps`; targets: the
    classes they explain (`.targets`; an index, name or list as in explain_faces). Scores are in
    target-class probability units; see FAITHFULNESS_METRICS for what each metric measures. ROAD's
    imputation adds random noise, drawn from a fixed seed here, so the same faces and maps always get
    the same scores (a method comparison then agrees with the per-face scores it averages).
    on_face, if given, is called with the number of faces scored so far after each face.
    """
    spec = FAITHFULNESS_METRICS.get(metric)
    faces = as_face_batch(faces, allow_single=False, allow_empty=False, arrays_only=True)
    heatmaps = _check_heatmaps(heatmaps, len(faces))
    wanted = resolve_targets(targets, list(card.class_names), len(faces))
    if wanted is None:
        raise ValueError("targets are required: pass the classes the heatmaps explain (Explanation.targets)")
    callables = [ClassifierOutputSoftmaxTarget(int(t)) for t in wanted]
    scores = []
    with exclusive_eval(model), small_blas(), torch.no_grad(), torch.random.fork_rng(devices=[]):
        device = device_of(model)
        pipeline = _FacePipeline(model, card.augment_config)
        x = torch.from_numpy(faces).to(device).unsqueeze(1).float().div_(255.0)
        for i in range(len(faces)):  # one face at a time, each from the same seed: its score is its own
            torch.manual_seed(SEED)  # (the caller's random state is left as it was: fork_rng)
            scores.append(np.asarray(spec.compute(pipeline, x[i:i + 1], heatmaps[i:i + 1], callables[i:i + 1])))
            if on_face is not None:
                on_face(i + 1)
    return np.concatenate([s.reshape(-1) for s in scores]).astype(np.float32)


def compare_methods(model: nn.Module, card, faces: np.ndarray, methods: Sequence[str] | None = None,
                    metric: str = "road", target=None, progress=None) -> dict[str, float]:
    """Mean faithfulness score per method on the same faces ({method: score}, higher is better): the
    mean of `faithfulness` per face, so each equals the mean of that method's per-face scores.

    methods: names from `method_names()` (default: all); target as in explain_faces. progress, if
    given, is called as progress(method, done, total) before each method and after each face it
    scores, counting steps of one face by one method (total = methods x faces): a caller can show
    progress, and stop between steps, on long comparisons (Score-CAM, many faces).
    """
    methods = method_names() if methods is None else list(methods)
    if not methods:
        raise ValueError(f"methods is empty; valid: {', '.join(method_names())}")
    for name in methods:  # refuse a bad name before spending time on the good ones
        CAM_METHODS.get(name)
    FAITHFULNESS_METRICS.get(metric)
    n_faces, scores = len(faces), {}
    total = len(methods) * n_faces
    for m, name in enumerate(methods):
        def report(faces_done: int, name=name, before=m * n_faces) -> None:
            if progress is not None:
                progress(name, before + faces_done, total)
        report(0)
        result = explain_faces(model, card, faces, method=name, target=target)
        scores[name] = float(np.mean(faithfulness(model, card, faces, result.heatmaps, result.targets, metric,
                                                  on_face=report)))
    return scores
