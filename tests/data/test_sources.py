"""Each source format, layout detection and bad input."""
from __future__ import annotations

import zipfile

import cv2
import numpy as np
import pytest

from fer_core.data import DataError, load_dataset, read_source
from fer_core.data.decode import MAX_PIXELS, ImageDecodeError, decode_face
from fer_core.common.emotions import CANONICAL_CLASSES, canonical_name

from tests.conftest import KAGGLE_COUNTS, csv_row, face_pixels, kaggle_files, png_bytes, write_csv


def _by_id(ds):
    return {str(i): (ds.classes[lab], img) for i, lab, img in zip(ds.ids, ds.labels, ds.images)}


@pytest.mark.parametrize("layout", ["kaggle_zip", "kaggle_folder"])
def test_kaggle_layout_reads_every_image_with_its_label_and_split(layout, request, tmp_path):
    ds = read_source(request.getfixturevalue(layout), cache_dir=tmp_path / "cache")
    assert ds.kind == "kaggle"
    assert ds.classes == CANONICAL_CLASSES
    assert ds.counts() == {s: dict(c) for s, c in KAGGLE_COUNTS.items()}
    expected = kaggle_files()
    got = _by_id(ds)
    assert set(got) == set(expected)
    for rel, img in expected.items():
        cls, decoded = got[rel]
        assert cls == rel.split("/")[1]
        np.testing.assert_array_equal(decoded, img)


def test_zip_with_wrapping_folder_and_usual_spellings(tmp_path):
    path = tmp_path / "archive.zip"
    spellings = {"angry": "Anger", "disgust": "disgusted", "fear": "Fearful", "happy": "HAPPINESS",
                 "neutral": "neutral", "sad": "Sadness", "surprise": "surprised"}
    with zipfile.ZipFile(path, "w") as zf:
        for rel, img in kaggle_files().items():
            split, cls, name = rel.split("/")
            zf.writestr(f"FER-2013/{split}/{spellings[cls]}/{name}", png_bytes(img))
        zf.writestr("FER-2013/README.txt", "not an image")
        zf.writestr("__MACOSX/FER-2013/._junk", "resource fork")
    ds = read_source(path, use_cache=False)
    assert ds.classes == CANONICAL_CLASSES
    assert ds.counts()["train"]["happy"] == KAGGLE_COUNTS["train"]["happy"]


def test_load_dataset_carves_val_from_train_for_kaggle(kaggle_zip, tmp_path):
    ds = load_dataset(kaggle_zip, cache_dir=tmp_path, val_fraction=0.2)
    assert ds.split_names() == ["train", "val", "test"]
    # test is the source's own test/ folder, untouched
    assert ds.counts()["test"] == KAGGLE_COUNTS["test"]
    assert sum(ds.counts()["val"].values()) > 0
    assert len(set(ds.ids.tolist())) == len(ds)


def test_csv_maps_usage_to_splits(fer_csv, tmp_path):
    ds = read_source(fer_csv, cache_dir=tmp_path)
    assert ds.kind == "csv"
    assert ds.classes == CANONICAL_CLASSES
    counts = ds.counts()
    assert counts["train"] == {c: 8 for c in CANONICAL_CLASSES}
    assert counts["val"] == {c: 2 for c in CANONICAL_CLASSES}  # PublicTest
    assert counts["test"] == {c: 2 for c in CANONICAL_CLASSES}  # PrivateTest
    np.testing.assert_array_equal(ds.images[0], face_pixels(1))
    assert ds.ids[0] == "row_0"


def test_csv_bad_rows_are_skipped_and_reported_without_shifting_labels(tmp_path):
    rows = [csv_row(3, "Training", 1),
            ("4", "1 2 3", "Training"),                      # wrong pixel count
            ("9", csv_row(0, "Training", 2)[1], "Training"),  # unknown label
            ("5", csv_row(5, "Training", 3)[1].replace("0", "x", 1), "Training") if "0" in csv_row(5, "Training", 3)[1]
            else ("5", "bad " * 2304, "Training"),          # non-numeric pixel
            ("2", " ".join(["300"] * 2304), "Training"),     # out of range
            csv_row(6, "Training", 4)]
    ds = read_source(write_csv(tmp_path / "fer2013.csv", rows), use_cache=False)
    assert ds.ids.tolist() == ["row_0", "row_5"]
    assert [ds.classes[i] for i in ds.labels] == ["happy", "surprise"]
    np.testing.assert_array_equal(ds.images[1], face_pixels(4))
    reasons = dict(ds.report.skipped)
    assert set(reasons) == {"row 1 (line 3)", "row 2 (line 4)", "row 3 (line 5)", "row 4 (line 6)"}
    assert "2304" in reasons["row 1 (line 3)"]
    assert "'9'" in reasons["row 2 (line 4)"]


def test_csv_with_missing_columns_names_them(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("label,image\n1,2\n")
    with pytest.raises(DataError, match="missing column.*emotion.*pixels"):
        read_source(path, use_cache=False)


def test_colour_images_of_any_size_and_format_become_48x48_gray(colour_folder):
    ds = read_source(colour_folder, use_cache=False)
    assert ds.kind == "folder"
    assert ds.classes == ("happy", "sad", "surprise")
    assert ds.images.shape == (16, 48, 48) and ds.images.dtype == np.uint8
    assert ds.report.n_skipped == 0
    assert ds.split_names() == ["train"]


def test_user_folder_gets_stratified_val_and_test(colour_folder, tmp_path):
    ds = load_dataset(colour_folder, cache_dir=tmp_path, val_fraction=0.2, test_fraction=0.2)
    assert ds.split_names() == ["train", "val", "test"]
    for split in ("val", "test"):
        assert all(n >= 1 for n in ds.counts()[split].values())


def test_corrupt_files_are_skipped_counted_and_never_shift_labels(tmp_path):
    root = tmp_path / "faces"
    for cls in ("happy", "sad"):
        (root / cls).mkdir(parents=True)
    cv2.imwrite(str(root / "happy" / "a.png"), face_pixels(1))
    (root / "happy" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (root / "sad" / "empty.png").write_bytes(b"")
    cv2.imwrite(str(root / "sad" / "b.png"), face_pixels(2))
    (root / "sad" / "notes.txt").write_text("hello")
    ds = read_source(root, use_cache=False)
    assert dict(zip(ds.ids.tolist(), [ds.classes[i] for i in ds.labels])) == {"happy/a.png": "happy", "sad/b.png": "sad"}
    np.testing.assert_array_equal(ds.images[ds.ids.tolist().index("sad/b.png")], face_pixels(2))
    skipped = dict(ds.report.skipped)
    assert set(skipped) == {"happy/broken.jpg", "sad/empty.png", "sad/notes.txt"}
    assert ds.report.n_read == 2


def test_damaged_zip_member_is_skipped(tmp_path):
    path = tmp_path / "d.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("happy/a.png", png_bytes(face_pixels(1)))
        zf.writestr("happy/b.png", png_bytes(face_pixels(2)))
    raw = bytearray(path.read_bytes())
    offset = raw.index(png_bytes(face_pixels(2))[:64]) + 40
    raw[offset:offset + 20] = b"\x00" * 20  # corrupt b.png's payload: CRC no longer matches
    path.write_bytes(bytes(raw))
    ds = read_source(path, use_cache=False)
    assert ds.ids.tolist() == ["happy/a.png"]
    assert "happy/b.png" in dict(ds.report.skipped)


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "missing", "no such file or folder"),
    (lambda p: (p / "empty").mkdir() or p / "empty", "no image files"),
    (lambda p: (p / "x.zip").write_bytes(b"not a zip") and p / "x.zip", "not a readable zip"),
    (lambda p: (p / "x.txt").write_text("hi") and p / "x.txt", "is not a dataset"),
])
def test_bad_paths_give_clear_errors(tmp_path, make, message):
    with pytest.raises(DataError, match=message):
        load_dataset(make(tmp_path), cache_dir=tmp_path / "cache")


def test_no_recognisable_layout(tmp_path):
    root = tmp_path / "flat"
    root.mkdir()
    cv2.imwrite(str(root / "a.png"), face_pixels(1))
    with pytest.raises(DataError, match="no images inside class folders"):
        read_source(root, use_cache=False)


def test_unknown_class_folder_names_the_folder_and_expected_names(tmp_path):
    root = tmp_path / "faces"
    for cls in ("happy", "bored"):
        (root / cls).mkdir(parents=True)
        cv2.imwrite(str(root / cls / "a.png"), face_pixels(1))
    with pytest.raises(DataError, match=r"unknown class folder.*'bored'.*bored/a.png.*angry, disgust"):
        read_source(root, use_cache=False)


def test_folder_of_only_unreadable_images_is_an_error(tmp_path):
    (tmp_path / "faces" / "happy").mkdir(parents=True)
    (tmp_path / "faces" / "happy" / "a.jpg").write_bytes(b"garbage")
    with pytest.raises(DataError, match="none of the image files could be read"):
        read_source(tmp_path / "faces", use_cache=False)


def test_decode_refuses_enormous_images_without_decoding_them():
    from PIL import Image
    import io
    buf = io.BytesIO()
    Image.new("L", (12000, 12000)).save(buf, format="PNG")  # compresses to a few hundred KB
    with pytest.raises(ImageDecodeError, match="pixel limit"):
        decode_face(buf.getvalue())
    assert 12000 * 12000 > MAX_PIXELS


def test_decode_handles_16_bit_png():
    img16 = (np.arange(48 * 48, dtype=np.uint16).reshape(48, 48) * 28)
    ok, buf = cv2.imencode(".png", img16)
    face = decode_face(buf.tobytes())
    assert face.dtype == np.uint8 and face.shape == (48, 48)
    assert face[0, 0] < face[-1, -1]


@pytest.mark.parametrize("name, expected", [("Anger", "angry"), ("disgusted", "disgust"), ("FEARFUL", "fear"),
                                            ("happiness", "happy"), ("Sadness", "sad"), ("surprised", "surprise"),
                                            ("3_happy", "happy"), ("contempt", "contempt"), ("bored", None)])
def test_class_name_spellings(name, expected):
    assert canonical_name(name) == expected
