"""The one face-array check (fer_core.common.faces_array) and the one class-name resolver (emotions.class_index)."""
from __future__ import annotations

import numpy as np
import pytest

from fer_core.common.emotions import class_index
from fer_core.common.faces_array import as_face_batch

CLASSES = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]


def test_faces_come_back_as_a_contiguous_uint8_batch():
    faces = np.zeros((3, 48, 48), np.uint8)
    assert as_face_batch(faces).shape == (3, 48, 48)
    assert as_face_batch(faces[0]).shape == (1, 48, 48)
    assert as_face_batch(np.zeros((2, 48 * 48), np.uint8), allow_flat=True).shape == (2, 48, 48)
    assert as_face_batch(faces[:, ::-1]).flags["C_CONTIGUOUS"]
    assert as_face_batch(faces[:0]).shape == (0, 48, 48)


@pytest.mark.parametrize("bad, options", [
    (np.zeros((2, 32, 32), np.uint8), {}),
    (np.zeros((2, 48, 48), np.float32), {}),
    (np.zeros((48, 48), np.uint8), {"allow_single": False}),
    (np.zeros((2, 48 * 48), np.uint8), {}),
    (np.zeros((0, 48, 48), np.uint8), {"allow_empty": False}),
    (np.zeros((2, 48, 48), np.uint8).tolist(), {"arrays_only": True}),
])
def test_anything_else_is_refused_saying_what_was_given(bad, options):
    with pytest.raises(ValueError, match="faces"):
        as_face_batch(bad, **options)


def test_a_class_is_found_by_index_name_or_display_name():
    assert class_index("happy", CLASSES) == 3
    assert class_index("😄 Happy", CLASSES) == 3 and class_index(" HAPPY ", CLASSES) == 3
    assert class_index(np.int64(6), CLASSES) == 6
    with pytest.raises(ValueError, match="unknown class 'bored' for run x; it knows angry"):
        class_index("bored", CLASSES, model="run x")
    with pytest.raises(ValueError, match="out of range"):
        class_index(7, CLASSES)
    with pytest.raises(ValueError, match="class name or index"):
        class_index(2.5, CLASSES)
    with pytest.raises(ValueError, match="class name or index"):
        class_index(True, CLASSES)
