"""Opening the app in AppTest as a user would: through streamlit_app.py and its navigation."""
from __future__ import annotations

import html
import re
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 180  # the first script run imports torch and friends: slow on a cold 2-core machine


def open_app(page: str | None = None) -> AppTest:
    """The app (not yet run), switched to app_pages/<page>.py when a page is named."""
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=TIMEOUT)
    if page is not None:
        at.switch_page(f"app_pages/{page}.py")
    return at


def gallery_tiles(at: AppTest) -> list[list[str]]:
    """The captions of each face gallery on the page (app_pages.common.gallery), tile by tile."""
    return [[html.unescape(c) for c in re.findall(r"<figcaption[^>]*>(.*?)</figcaption>", m.value)]
            for m in at.markdown if "fer-gallery" in m.value]


def gallery_tooltips(at: AppTest) -> list[list[str]]:
    """The hover text of each gallery's tiles, tile by tile."""
    return [[html.unescape(t) for t in re.findall(r'<figure [^>]*title="([^"]*)"', m.value)]
            for m in at.markdown if "fer-gallery" in m.value]
