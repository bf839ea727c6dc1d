"""The one check for arrays of faces: every model in the tool takes uint8 grayscale 48x48 faces."""
from __future__ import annotations

import numpy as np

IMAGE_SIZE = 48  # FER2013's face size: every source is brought to IMAGE_SIZE x IMAGE_SIZE grayscale


def as_face_batch(faces, *, allow_single: bool = True, allow_flat: bool = False, allow_empty: bool = True,
                  arrays_only: bool = False) -> np.ndarray:
    """uint8 faces as a contiguous (N, 48, 48) array; ValueError saying what was given otherwise.

    allow_single: one (48, 48) face becomes N=1; allow_flat: pixel rows (N, 2304) are reshaped;
    arrays_only: lists are refused rather than converted.
    """
    if arrays_only and not isinstance(faces, np.ndarray):
        raise ValueError(f"faces must be a uint8 numpy array of shape (N, {IMAGE_SIZE}, {IMAGE_SIZE}), "
                         f"got {type(faces).__name__}")
    faces = np.asarray(faces)
    if allow_single and faces.shape == (IMAGE_SIZE, IMAGE_SIZE):
        faces = faces[None]
    elif allow_flat and faces.ndim == 2 and faces.shape[1] == IMAGE_SIZE * IMAGE_SIZE:
        faces = faces.reshape(-1, IMAGE_SIZE, IMAGE_SIZE)
    if faces.ndim != 3 or faces.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE) or faces.dtype != np.uint8:
        raise ValueError(f"faces must be uint8 grayscale arrays of shape (N, {IMAGE_SIZE}, {IMAGE_SIZE}) or "
                         f"({IMAGE_SIZE}, {IMAGE_SIZE}); got {faces.dtype} {faces.shape}. Photos of any size: "
                         "find the faces first (fer_core.inference.faces.find_faces, or Predictor.predict_photo)")
    if not allow_empty and len(faces) == 0:
        raise ValueError("no faces were given: give at least one face")
    return np.ascontiguousarray(faces)
