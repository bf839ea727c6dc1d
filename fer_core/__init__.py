"""fer_core: facial expression recognition on FER2013-style faces (48x48 grayscale, 7 emotions).

The public face, importable straight from the package (loaded on first use, so `import fer_core` stays
light):

    from fer_core import load_dataset, make_config, TrainConfig, Predictor
    ds = load_dataset("fer2013.zip")                   # any source -> FaceDataset
    config = make_config("fer2013-cpu", data="fer2013.zip")
    run_dir = fer_core.jobs.submit(config)             # trains in the background
    Predictor.from_run("builtin").predict_photo("photo.jpg")

Subpackages, one per stage: common, data, transforms, models, training, runs, jobs, inference,
explain, figures, app (see docs/architecture.md).
"""
from __future__ import annotations

import importlib

# name -> the module that defines it
_PUBLIC = {
    "load_dataset": "fer_core.data", "FaceDataset": "fer_core.data", "DataError": "fer_core.data",
    "TrainConfig": "fer_core.training.config", "make_config": "fer_core.training.config",
    "RECIPES": "fer_core.training.config",
    "run_training": "fer_core.training.loop",
    "build_model": "fer_core.models", "arch_names": "fer_core.models", "get_arch": "fer_core.models",
    "load_run": "fer_core.runs", "list_runs": "fer_core.runs", "RunError": "fer_core.runs",
    "ModelCard": "fer_core.runs.card", "load_model": "fer_core.runs.checkpoint",
    "Predictor": "fer_core.inference.predictor", "find_faces": "fer_core.inference.faces",
    "evaluate_run": "fer_core.inference.evaluation",
    "explain_faces": "fer_core.explain", "faithfulness": "fer_core.explain", "overlay": "fer_core.explain",
}
_SUBPACKAGES = ("app", "common", "data", "explain", "figures", "inference", "jobs", "models", "runs", "training",
                "transforms")

__all__ = sorted(_PUBLIC) + list(_SUBPACKAGES)


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    if name in _SUBPACKAGES:
        return importlib.import_module(f"fer_core.{name}")
    raise AttributeError(f"module 'fer_core' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
