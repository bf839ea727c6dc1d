"""Face galleries (fer_core.figures.gallery): same-size tiles whatever the caption, full text on hover."""
from __future__ import annotations

import numpy as np
import pytest

from fer_core.figures.gallery import gallery_html


def test_every_tile_has_the_same_size_and_long_captions_become_tooltips():
    faces = [np.full((96, 96), 100, np.uint8), np.zeros((96, 96, 3), np.uint8)]
    long_path = "train/happy/" + "a" * 200 + ".png"
    html = gallery_html(faces, ["happy", "sad <b>"], tooltips=[long_path, "test · sad"], tile_px=96)
    assert html.count('width="96" height="96"') == 2 and "repeat(auto-fill,96px)" in html
    assert f'title="{long_path}"' in html and "text-overflow:ellipsis" in html
    assert "sad &lt;b&gt;" in html and "<b>" not in html  # captions are text, never markup


def test_a_gallery_needs_one_caption_per_image():
    with pytest.raises(ValueError, match="one caption"):
        gallery_html([np.zeros((48, 48), np.uint8)], [])


def test_an_image_smaller_than_its_tile_is_scaled_to_fill_it():
    html = gallery_html([np.zeros((48, 48), np.uint8)], ["a 48 px face"], tile_px=192)
    assert 'width="192" height="192"' in html and "object-fit:fill" in html  # not Streamlit's scale-down
