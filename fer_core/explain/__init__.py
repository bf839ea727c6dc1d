"""Explaining a model's answer: saliency maps (Grad-CAM and friends), their faithfulness, overlays.

    from fer_core.explain import explain_faces, faithfulness, overlay
    result = explain_faces(model, card, faces, method="gradcam")   # faces: uint8 (N, 48, 48)
    panel = overlay(faces[0], result.heatmaps[0])                   # RGB uint8 (192, 192, 3)
    scores = faithfulness(model, card, faces, result.heatmaps, result.targets, metric="road")
"""
from fer_core.explain.faithfulness import FAITHFULNESS_METRICS, compare_methods, faithfulness, mask_mass_ratio
from fer_core.explain.overlay import overlay
from fer_core.explain.saliency import CAM_METHODS, Explanation, explain_faces, method_names

__all__ = ["CAM_METHODS", "FAITHFULNESS_METRICS", "Explanation", "compare_methods", "explain_faces", "faithfulness",
           "mask_mass_ratio", "method_names", "overlay"]
