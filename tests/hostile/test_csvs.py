"""Hostile and odd fer2013-style CSVs: bad rows are named by line and the good rows load; files that
cannot be used are refused saying why."""
from __future__ import annotations

import pytest

from fer_core.data import read_source
from fer_core.data.dataset import DataError

from tests.hostile.corpus import OK, REFUSED, csv_cases
from tests.hostile.messages import assert_clear


@pytest.mark.parametrize("case", csv_cases(), ids=str)
def test_a_csv_loads_its_good_rows_or_is_refused_clearly(case, tmp_path):
    path = tmp_path / "fer2013.csv"
    path.write_bytes(case.make())
    try:
        ds = read_source(path, use_cache=False)
    except DataError as exc:
        assert case.expect == REFUSED, f"refused: {exc}"
        assert_clear(exc)
        return
    assert case.expect == OK, f"loaded {len(ds)} rows"
    assert ds.images.dtype.name == "uint8" and len(ds) >= 1
    if case.name.startswith("csv-one-bad-row-"):
        assert len(ds) == 3, "the good rows load"
        (where, why), = ds.report.skipped
        assert "line 5" in where  # the header is line 1, the three good rows lines 2-4
        assert_clear(why)
    else:
        assert ds.report.n_skipped == 0, ds.report.skipped[:2]
