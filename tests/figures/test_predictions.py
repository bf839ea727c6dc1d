"""fer_core.figures.predictions: probability bars and method scores."""
from __future__ import annotations

import numpy as np
import pytest

from fer_core.common.emotions import COLOURS
from fer_core.figures.predictions import method_scores, probability_bars

CLASSES = ["angry", "happy", "sad"]


def test_probability_bars_show_each_class_in_percent_with_its_colour():
    fig = probability_bars(CLASSES, np.array([0.1, 0.7, 0.2]))
    bar = fig.data[0]
    assert list(bar.x) == pytest.approx([0.1, 0.7, 0.2])
    assert [label.split()[-1] for label in bar.y] == ["Angry", "Happy", "Sad"]
    assert list(bar.text) == ["10%", "70%", "20%"]
    assert list(bar.marker.color) == [COLOURS[c] for c in CLASSES]


def test_probability_bars_refuse_a_length_mismatch():
    with pytest.raises(ValueError, match="one probability per class \\(3\\)"):
        probability_bars(CLASSES, [0.5, 0.5])


def test_method_scores_has_one_bar_per_method():
    fig = method_scores({"gradcam": 0.25, "scorecam": 0.5}, "confidence drop")
    assert list(fig.data[0].x) == ["gradcam", "scorecam"]
    assert list(fig.data[0].y) == [0.25, 0.5]
    assert fig.layout.yaxis.title.text == "confidence drop"
