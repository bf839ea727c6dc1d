"""Where the project keeps users' data, caches and run folders (overridable by environment variables)."""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # fer_core/
PROJECT_ROOT = PACKAGE_DIR.parent


def data_dir() -> Path:
    """Users' datasets and decoded caches: $FER_DATA_DIR, else <project>/data."""
    return Path(os.environ.get("FER_DATA_DIR", PROJECT_ROOT / "data"))


def cache_dir() -> Path:
    return data_dir() / "cache"


def checkpoints_dir() -> Path:
    """Run folders: $FER_CHECKPOINTS_DIR, else <project>/checkpoints."""
    return Path(os.environ.get("FER_CHECKPOINTS_DIR", PROJECT_ROOT / "checkpoints"))


PACKAGED_BUILTIN = PACKAGE_DIR / "assets" / "builtin"


def builtin_model_dir() -> Path:
    """The bundled real-face model (`--run builtin`): $FER_BUILTIN_DIR, else the run folder shipped
    inside the package."""
    return Path(os.environ.get("FER_BUILTIN_DIR", PACKAGED_BUILTIN))


YUNET_MODEL = PACKAGE_DIR / "assets" / "yunet" / "face_detection_yunet_2023mar.onnx"  # third-party: see its README.md
