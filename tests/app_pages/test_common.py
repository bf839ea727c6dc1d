"""UI glue shared by the pages (app_pages/common.py)."""
from __future__ import annotations

import re

from tests.app_pages.app import ROOT


def test_every_table_on_the_pages_goes_through_show_table():
    """show_table leaves a missing value's cell empty; a bare st.dataframe writes a grey "None" in it."""
    bare = [f"{page.name}:{n}" for page in sorted((ROOT / "app_pages").glob("*.py")) if page.name != "common.py"
            for n, line in enumerate(page.read_text().splitlines(), 1) if re.search(r"\.(dataframe|data_editor)\(", line)]
    assert not bare, f"tables drawn without app_pages.common.show_table: {bare}"
