"""Cells safe to open in a spreadsheet: text from files (run folder names, notes, tags, photo names,
class names) that starts with = + - @ tab or CR would be run as a formula by Excel or LibreOffice
(CSV injection). OWASP's rule: prefix such a cell with a single quote, which shows it as text."""
from __future__ import annotations

from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """The value, with a leading ' when it is text a spreadsheet would read as a formula; numbers as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
