"""README's set-up, read literally by a newcomer, and the quick test subset it promises."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETUP = re.search(r"## Set-up.*?(?=\n## )", (ROOT / "README.md").read_text(), re.S).group(0)


def test_the_set_up_says_where_to_browse_how_to_stop_the_app_and_what_the_install_weighs():
    assert "http://localhost:8501" in SETUP and "Ctrl+C" in SETUP
    assert "GB" in SETUP and "--index-url https://download.pytorch.org/whl/cpu" in SETUP
    assert "../shared/data/fer2013.zip" in SETUP and "$FER2013_ZIP" in SETUP
    assert '-m "not slow"' in SETUP and re.search(r"\d+ min \d+ s", SETUP)
    assert ".venv/bin/python -m fer_core" in SETUP and "source .venv/bin/activate" in SETUP


def test_not_slow_leaves_out_the_pages_and_the_command_line_and_keeps_the_unit_tests():
    listed = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "not slow",
                             "tests/app_pages/test_home.py", "tests/test_cli.py", "tests/runs/test_notes.py"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300).stdout
    assert "tests/runs/test_notes.py::" in listed
    assert "test_home.py::" not in listed and "test_cli.py::" not in listed
