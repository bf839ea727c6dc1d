"""Face galleries as one HTML grid: every tile the same size whatever its caption, captions cut to the
tile's width with the full text as a tooltip (a long file path no longer widens its tile). Images smaller
than a tile are scaled up to fill it (Streamlit's markdown style would draw them at their own size)."""
from __future__ import annotations

import base64
import html
from typing import Sequence

import cv2
import numpy as np

TILE_PX = 96
MAX_TILES = 200  # a page never draws more than this many faces at once


def png_data_uri(image: np.ndarray) -> str:
    """A gray (H, W) or RGB (H, W, 3) uint8 image as a data: URI of a PNG, for HTML and plotly images."""
    ok, png = cv2.imencode(".png", image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"could not encode an image of shape {image.shape} as PNG")
    return "data:image/png;base64," + base64.b64encode(png.tobytes()).decode("ascii")


def gallery_html(images: Sequence[np.ndarray], captions: Sequence[str], tooltips: Sequence[str] | None = None,
                 tile_px: int = TILE_PX) -> str:
    """A grid of `tile_px` square tiles (uint8 gray or RGB images), each with a one-line caption;
    `tooltips` (default: the captions) appear on hover over the tile."""
    if len(captions) != len(images) or (tooltips is not None and len(tooltips) != len(images)):
        raise ValueError(f"give one caption (and tooltip) per image: {len(images)} images, {len(captions)} captions")
    if not 16 <= tile_px <= 512:
        raise ValueError(f"tile_px must be from 16 to 512, got {tile_px}")
    tiles = []
    for i, (image, caption) in enumerate(zip(list(images)[:MAX_TILES], captions)):
        tip = html.escape(str(tooltips[i] if tooltips is not None else caption), quote=True)
        tiles.append(
            f'<figure style="margin:0;width:{tile_px}px" title="{tip}">'
            f'<img src="{png_data_uri(np.asarray(image, np.uint8))}" width="{tile_px}" height="{tile_px}" '
            f'style="display:block;object-fit:fill;image-rendering:pixelated;border-radius:4px" alt="{tip}"/>'
            f'<figcaption style="font-size:0.72rem;line-height:1.2;margin-top:2px;white-space:nowrap;'
            f'overflow:hidden;text-overflow:ellipsis">{html.escape(str(caption))}</figcaption></figure>')
    return (f'<div class="fer-gallery" style="display:grid;grid-template-columns:repeat(auto-fill,{tile_px}px);'
            f'gap:10px 8px">{"".join(tiles)}</div>')


def answer_html(label: str) -> str:
    """The Demo's answer: the class's emoji over its display name, large. The name comes from a model
    card, a file: it is escaped, never markup."""
    from fer_core.common.emotions import DISPLAY_NAMES, EMOJI
    name = DISPLAY_NAMES.get(label, str(label).title())
    return (f"<div style='font-size:5rem;line-height:1'>{html.escape(EMOJI.get(label, '🙂'))}</div>"
            f"<div style='font-size:3rem;font-weight:700'>{html.escape(name)}</div>")
