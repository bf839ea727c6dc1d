"""Markup and formulas from files never reach people as such: text a file supplies (class names from a
model card, run folder names, notes, tags, photo names) is escaped wherever the pages render HTML, and
CSV exports prefix cells a spreadsheet would run as a formula (OWASP's rule)."""
from __future__ import annotations

import ast
import csv
import io
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fer_core import runs
from fer_core.common.paths import PACKAGED_BUILTIN
from fer_core.common.spreadsheet import FORMULA_STARTS, safe_cell
from fer_core.figures.gallery import answer_html, gallery_html
from fer_core.inference.batch import ImageResult, write_csv
from fer_core.runs import compare
from fer_core.runs.notes import RunNotes, write_notes

ROOT = Path(__file__).resolve().parents[2]
MARKUP = ['<img src=x onerror="alert(1)">', "<script>alert(1)</script>", "</div><b>bold</b>"]
FORMULAS = ['=HYPERLINK("http://evil","x")', "=cmd|' /C calc'!A0", "@SUM(1+1)", "+1+2", "-2+3", "\tx", "\rx"]
SAFE_HTML_BUILDERS = {"gallery_html", "answer_html"}


@pytest.mark.parametrize("text", MARKUP)
def test_markup_in_a_class_name_or_caption_is_escaped(text):
    for rendered in (answer_html(text), gallery_html([np.zeros((48, 48), np.uint8)], [text], [text])):
        assert "<img src=x" not in rendered and "<script" not in rendered and "<b>" not in rendered
        assert "&lt;" in rendered


def test_every_page_html_goes_through_an_escaping_builder():
    """unsafe_allow_html only ever renders what gallery_html or answer_html built (both escape)."""
    for page in sorted((ROOT / "app_pages").glob("*.py")) + [ROOT / "streamlit_app.py"]:
        for node in ast.walk(ast.parse(page.read_text())):
            if isinstance(node, ast.Call) and any(k.arg == "unsafe_allow_html" for k in node.keywords):
                first = node.args[0] if node.args else None
                name = getattr(getattr(first, "func", None), "id", None) or getattr(getattr(first, "func", None), "attr", None)
                assert name in SAFE_HTML_BUILDERS, f"{page.name}:{node.lineno} renders HTML not built by an escaping builder"


def _cells(data: bytes) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(data.decode("utf-8"), newline="")) for cell in row]


def _assert_no_formula(cells: list[str]) -> None:
    bad = [c for c in cells if c.startswith(FORMULA_STARTS)]
    assert not bad, f"cells a spreadsheet would run: {bad[:3]}"


def test_a_comparison_csv_of_runs_named_and_tagged_with_formulas_runs_nothing(tmp_path):
    for i, formula in enumerate(FORMULAS[:3]):
        folder = tmp_path / f"{formula.replace('/', '')}{i}"  # a folder name holds no slash
        shutil.copytree(PACKAGED_BUILTIN, folder)
        write_notes(folder, RunNotes(name=FORMULAS[(i + 1) % 3], tags=[FORMULAS[(i + 2) % 3]], notes=formula))
    records = runs.list_runs(tmp_path)
    assert len(records) == 3
    data = compare.to_csv_bytes(compare.runs_table(records))
    _assert_no_formula(_cells(data))
    assert "'=HYPERLINK" in data.decode()  # kept, as text


def test_to_csv_bytes_prefixes_text_cells_and_headers_but_not_numbers():
    texts = [f for f in FORMULAS if "\r" not in f]  # a bare CR ends a CSV line for readers: checked below
    table = pd.DataFrame({"=x": texts, "value": [-1.5] * len(texts)})
    data = compare.to_csv_bytes(table)
    _assert_no_formula(_cells(data)[0::2])  # the text column and its header
    assert pd.read_csv(io.BytesIO(data))["value"].tolist() == [-1.5] * len(texts)  # numbers stay numbers
    assert safe_cell("\rx") == "'\rx" and safe_cell(-1.5) == -1.5 and safe_cell("a=b") == "a=b"


def test_the_predict_csv_prefixes_photo_names_that_are_formulas(tmp_path):
    path = tmp_path / "out.csv"
    write_csv([ImageResult(f"{f}.png", error="not an image") for f in FORMULAS], path, ["happy"], {})
    _assert_no_formula([c for c in _cells(path.read_bytes()) if c])
