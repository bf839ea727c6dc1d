"""The smaller hostile findings: help text that crashed argparse, a float TIFF stretched, '1e2' as a pixel."""
from __future__ import annotations

import argparse
import contextlib
import io

import cv2
import numpy as np
import pytest

from fer_core.cli import build_parser
from fer_core.data.decode import decode_gray
from fer_core.data.sources import read_csv


def _every_command(parser, prefix=()):
    yield prefix
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _every_command(sub, prefix + (name,))


@pytest.mark.parametrize("command", list(_every_command(build_parser())), ids=" ".join)
def test_every_command_prints_its_help(command):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as done:
        build_parser().parse_args([*command, "--help"])
    assert done.value.code == 0 and "usage:" in out.getvalue()


def test_a_float_tiff_holding_0_to_255_keeps_its_values():
    pixels = np.tile(np.linspace(60, 250, 64, dtype=np.float32), (48, 1))
    ok, buf = cv2.imencode(".tiff", pixels)
    assert ok
    gray = decode_gray(buf.tobytes())
    assert abs(float(gray.mean()) - float(pixels.mean())) < 1.5  # not stretched by 255 / 250


@pytest.mark.parametrize("token", ["1e2", "1E2", "1.5", "0x10", "-0", "+5", "1_0", "１２８", "nan", "inf"])
def test_a_pixel_is_only_ever_plain_decimal_digits(tmp_path, token):
    """'1e2' was read as 100 while '1.5' and '0x10' were refused ('128.0', a whole number, is accepted)."""
    good = " ".join(["100"] * 2304)
    bad = " ".join([token] + ["100"] * 2303)
    path = tmp_path / "fer2013.csv"
    path.write_text(f"emotion,pixels,Usage\n3,{good},Training\n3,{bad},Training\n", encoding="utf-8")
    ds = read_csv(path)
    assert len(ds) == 1 and ds.report.n_skipped == 1
    assert "pixels" in ds.report.skipped[0][1]
