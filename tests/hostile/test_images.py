"""Hostile and odd image files through every way an image enters: the decoder the data layer uses,
the upload check Demo and Explain run first, and `predict` on the command line."""
from __future__ import annotations

import csv
import warnings

import numpy as np
import pytest

from fer_core.app.uploads import UploadError, check_image_upload
from fer_core.data.decode import ImageDecodeError, decode_gray, decode_rgb

from tests.hostile.corpus import EITHER, OK, REFUSED, image_cases
from tests.hostile.messages import assert_clear

CASES = image_cases()


@pytest.mark.parametrize("case", CASES, ids=str)
def test_the_decoder_reads_valid_oddities_and_refuses_the_rest_clearly(case):
    data = case.make()
    for decode, ndim in ((decode_gray, 2), (decode_rgb, 3)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Warning)  # no decompression-bomb warning leaks out either
                pixels = decode(data)
        except ImageDecodeError as exc:
            assert case.expect in (REFUSED, EITHER), f"{decode.__name__} refused a valid image: {exc}"
            assert_clear(exc)
            continue
        assert case.expect in (OK, EITHER), f"{decode.__name__} accepted it"
        assert pixels.dtype == np.uint8 and pixels.ndim == ndim and pixels.size > 0
        if ndim == 3:
            assert pixels.shape[2] == 3


@pytest.mark.parametrize("case", [c for c in CASES if c.expect != EITHER], ids=str)
def test_an_uploaded_image_is_accepted_or_refused_by_name(case):
    """What Demo and Explain do with an upload: the upload check, then the decoder."""
    data = case.make()
    try:
        check_image_upload(data, "my photo.png")
        decode_rgb(data)
    except UploadError as exc:
        assert case.expect == REFUSED, f"refused a valid image: {exc}"
        assert_clear(exc)
        assert str(exc).startswith("my photo.png")  # the upload is named, never an object repr
    except ImageDecodeError as exc:
        assert case.expect == REFUSED, f"refused a valid image: {exc}"
        assert_clear(exc)
    else:
        assert case.expect == OK, "accepted"


def test_predict_gives_every_hostile_image_a_row_and_finishes_the_batch(bundled_model, tmp_path, capsys):
    from fer_core.cli import main
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, case in enumerate(CASES):
        (folder / f"{i:03d}-{case.name}.png").write_bytes(case.make())
    out = tmp_path / "results.csv"
    assert main(["predict", str(folder), "--out", str(out), "--no-detect"]) == 1  # 1: some images unreadable
    assert "Traceback" not in capsys.readouterr().err
    with out.open(newline="") as f:
        rows = list(csv.DictReader(f))
    by_case = {}
    for row in rows:
        by_case.setdefault(row["image"].rsplit("/", 1)[-1].split("-", 1)[1][:-4], []).append(row)
    assert set(by_case) == {c.name for c in CASES}
    for case in CASES:
        errors = [r["error"] for r in by_case[case.name] if r.get("error")]
        if case.expect == OK:
            assert not errors, (case.name, errors)
        elif case.expect == REFUSED:
            assert errors, case.name
        for error in errors:
            assert_clear(error)
