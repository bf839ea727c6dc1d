"""Pixels -> model input, on whole batches on the training device: augmentation, eval preprocessing, TTA.

Names load on first use: `fer_core.transforms.config` (settings only, no torch) stays importable by the
ONNX-only answer path (inference/run_onnx.py)."""
from __future__ import annotations

import importlib

# name -> the module that defines it
_PUBLIC = {"BatchAugmenter": "augment", "AUGMENT_PRESETS": "config", "AugmentConfig": "config",
           "augment_config": "config", "TTA_MODES": "config", "prepare_eval": "eval", "tta_views": "eval"}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(importlib.import_module(f"fer_core.transforms.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module 'fer_core.transforms' has no attribute {name!r}")
