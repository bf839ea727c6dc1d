"""Hostile and odd zips through every way one enters: a dataset by path, a dataset upload, and a zip
of photos for batch prediction (CLI `predict` and Demo's "Many photos")."""
from __future__ import annotations

import io
import zipfile

import pytest

from fer_core.app.uploads import UploadError, validate_dataset_zip
from fer_core.data import read_source
from fer_core.data.dataset import DataError
from fer_core.inference.batch import expand_inputs

from tests.hostile.corpus import OK, REFUSED, zip_cases
from tests.hostile.messages import assert_clear

CASES = zip_cases()


@pytest.fixture
def zip_path(tmp_path, request):
    case = request.param
    path = tmp_path / f"{case.name}.zip"
    path.write_bytes(case.make())
    return case, path


@pytest.mark.parametrize("zip_path", CASES, ids=str, indirect=True)
def test_a_dataset_zip_given_by_path_loads_or_is_refused_clearly(zip_path):
    case, path = zip_path
    try:
        ds = read_source(path, use_cache=False)
    except DataError as exc:
        assert case.expect == REFUSED, f"refused: {exc}"
        assert_clear(exc)
        return
    assert case.expect == OK, f"loaded {len(ds)} images"
    assert len(ds) >= 2 and len(ds.ids) == len(set(ds.ids))  # nothing counted twice
    for where, why in ds.report.skipped:
        assert_clear(f"{where}: {why}")


@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_dataset_upload_is_accepted_or_refused_by_name(case):
    try:
        validate_dataset_zip(case.make(), "faces (v2).zip")
    except UploadError as exc:
        assert case.expect == REFUSED, f"refused: {exc}"
        assert_clear(exc)
        assert "faces (v2).zip" in str(exc)
    else:
        assert case.expect == OK, "accepted"


@pytest.mark.parametrize("zip_path", CASES, ids=str, indirect=True)
def test_a_zip_of_photos_for_prediction_gives_an_input_or_a_clear_error_per_member(zip_path):
    case, path = zip_path
    inputs = list(expand_inputs([path]))
    assert inputs
    for item in inputs:
        assert (item.data is None) != (item.error is None)
        if item.error:
            assert_clear(item.error)
    if case.expect == OK:
        assert any(item.data for item in inputs)


def _many_entries(n: int, folder: str = "happy") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        for i in range(n):
            zf.writestr(f"{folder}/{i}.png", b"")
    return out.getvalue()


def test_a_zip_of_photos_over_the_entry_limit_is_refused_before_anything_is_read(tmp_path):
    from fer_core.inference.batch import MAX_PHOTO_ZIP_FILES, expand_inputs
    path = tmp_path / "photos.zip"
    path.write_bytes(_many_entries(MAX_PHOTO_ZIP_FILES + 1))
    (only,) = list(expand_inputs([path]))
    assert only.error and f"over the limit of {MAX_PHOTO_ZIP_FILES:,}" in only.error
    assert_clear(only.error)


def test_a_dataset_upload_over_the_entry_limit_is_refused(tmp_path):
    from fer_core.app.uploads import UploadError, UploadLimits, validate_dataset_zip
    limit = UploadLimits().max_members
    with pytest.raises(UploadError, match=f"{limit:,}") as caught:
        validate_dataset_zip(_many_entries(limit + 1), "many.zip")
    assert_clear(caught.value)
