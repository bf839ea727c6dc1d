"""Opening the app in AppTest as a user would: through streamlit_app.py and its navigation."""
from __future__ import annotations

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
