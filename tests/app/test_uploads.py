"""Uploaded dataset zips and images: stored only when safe and readable, refused with a clear message."""
from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
from PIL import Image

from fer_core.common import paths
from fer_core.data import load_dataset
from fer_core.app.uploads import (UploadError, UploadLimits, check_image_upload, safe_filename,
                              save_uploaded_dataset, uploads_dir)
from tests.conftest import face_pixels, make_zip, png_bytes

CLASSES = ("angry", "happy", "sad")


def class_folder_entries(per_class: int = 10, prefix: str = "") -> dict[str, bytes]:
    return {f"{prefix}{cls}/{i:03d}.png": png_bytes(face_pixels(100 * c + i))
            for c, cls in enumerate(CLASSES) for i in range(per_class)}


@pytest.fixture
def good_zip() -> bytes:
    return make_zip(class_folder_entries(prefix="my_faces/"))


# ---------------------------------------------------------------- dataset zips

def test_a_good_class_folder_zip_is_stored_and_loads(good_zip):
    path = save_uploaded_dataset(good_zip, "My Faces (v2).zip")
    assert path.parent == paths.data_dir() / "uploads" == uploads_dir()
    assert path.name.endswith("-My_Faces_v2.zip") and path.read_bytes() == good_zip
    ds = load_dataset(path)
    assert ds.classes == CLASSES and len(ds) == 30
    assert set(ds.split_names()) == {"train", "val", "test"}


def test_identical_bytes_give_the_same_file_whatever_the_name(good_zip, tmp_path):
    first = save_uploaded_dataset(good_zip, "faces.zip", dest_dir=tmp_path)
    mtime = first.stat().st_mtime_ns
    again = save_uploaded_dataset(good_zip, "renamed.zip", dest_dir=tmp_path)
    assert again == first and first.stat().st_mtime_ns == mtime  # not rewritten: caches stay valid
    assert len(list(tmp_path.glob("*.zip"))) == 1
    other = save_uploaded_dataset(make_zip(class_folder_entries(per_class=4)), "faces.zip", dest_dir=tmp_path)
    assert other != first and len(list(tmp_path.glob("*.zip"))) == 2


@pytest.mark.parametrize("entry, reason", [
    ("../evil.png", "'..'"),
    ("happy/../../evil.png", "'..'"),
    ("/abs.png", "absolute path"),
    ("C:/Windows/evil.png", "drive letter"),
    ("..\\evil.png", "'..'"),
])
def test_entries_that_escape_the_folder_are_refused_by_name(entry, reason, tmp_path):
    data = make_zip({**class_folder_entries(per_class=2), entry: png_bytes(face_pixels(1))})
    with pytest.raises(UploadError, match=reason) as info:
        save_uploaded_dataset(data, "faces.zip", dest_dir=tmp_path)
    assert repr(entry) in str(info.value)
    assert not list(tmp_path.iterdir())  # nothing stored


def test_a_zip_bomb_member_is_refused(tmp_path):
    data = make_zip({**class_folder_entries(per_class=2), "happy/bomb.png": b"\0" * 50_000_000})
    assert len(data) < 200_000  # ~1000x compression
    with pytest.raises(UploadError, match=r"'happy/bomb.png' expands .*zip bomb"):
        save_uploaded_dataset(data, "faces.zip", dest_dir=tmp_path)


def test_a_member_that_lies_about_its_size_is_refused(tmp_path):
    """The central directory's sizes are the attacker's word: the check inflates to verify them."""
    data = bytearray(make_zip({"happy/001.png": b"\0" * 300_000, "sad/002.png": png_bytes(face_pixels(2))}))
    central = data.index(b"PK\x01\x02")  # first central-directory record: patch its uncompressed size
    data[central + 24:central + 28] = (1000).to_bytes(4, "little")
    with pytest.raises(UploadError, match=r"'happy/001.png' cannot be read safely .happy/001.png inflates past its declared size"):
        save_uploaded_dataset(bytes(data), "faces.zip", dest_dir=tmp_path)


def test_too_many_members_and_too_large_uploads_are_refused(good_zip, tmp_path):
    with pytest.raises(UploadError, match=r"30 entries, over the limit of 5"):
        save_uploaded_dataset(good_zip, "faces.zip", dest_dir=tmp_path, limits=UploadLimits(max_members=5))
    with pytest.raises(UploadError, match=r"over the 1,000 bytes upload limit"):
        save_uploaded_dataset(good_zip, "faces.zip", dest_dir=tmp_path, limits=UploadLimits(max_bytes=1000))
    with pytest.raises(UploadError, match=r"uncompressed, over the"):
        save_uploaded_dataset(good_zip, "faces.zip", dest_dir=tmp_path, limits=UploadLimits(max_uncompressed=10_000))
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("data, looks_like", [
    (b"%PDF-1.7\n...", "a PDF document"),
    (b"emotion,pixels,Usage\n0,1 2 3,Training\n", "a text file"),
    (b"\x1f\x8b\x08\x00rest", "a gzip archive"),
    (png_bytes(face_pixels(3)), "a file of an unrecognised type"),
])
def test_not_a_zip_is_refused_saying_what_it_looks_like(data, looks_like, tmp_path):
    with pytest.raises(UploadError, match=f"faces.zip is not a zip archive: it looks like {looks_like}"):
        save_uploaded_dataset(data, "faces.zip", dest_dir=tmp_path)


def test_a_damaged_zip_and_an_empty_upload_are_refused(good_zip, tmp_path):
    with pytest.raises(UploadError, match="not a readable zip archive"):
        save_uploaded_dataset(good_zip[:len(good_zip) // 2], "faces.zip", dest_dir=tmp_path)
    with pytest.raises(UploadError, match="faces.zip is empty"):
        save_uploaded_dataset(b"", "faces.zip", dest_dir=tmp_path)


def test_a_zip_without_class_folders_gets_the_data_layers_message(tmp_path):
    loose = make_zip({"001.png": png_bytes(face_pixels(1)), "002.png": png_bytes(face_pixels(2))})
    with pytest.raises(UploadError, match=r"^loose.zip: no images inside class folders"):
        save_uploaded_dataset(loose, "loose.zip", dest_dir=tmp_path)
    no_images = make_zip({"notes/readme.txt": b"hello"})
    with pytest.raises(UploadError, match=r"no image files found"):
        save_uploaded_dataset(no_images, "docs.zip", dest_dir=tmp_path)
    wrong_names = make_zip({"cats/001.png": png_bytes(face_pixels(1))})
    with pytest.raises(UploadError, match=r"unknown class folder name\(s\): 'cats'"):
        save_uploaded_dataset(wrong_names, "pets.zip", dest_dir=tmp_path)
    assert not list(tmp_path.iterdir())


def test_kaggle_layout_and_macos_junk_are_accepted(tmp_path):
    entries = {"train/happy/1.png": png_bytes(face_pixels(1)), "test/sad/2.png": png_bytes(face_pixels(2)),
               "__MACOSX/train/happy/._1.png": b"\0\0junk"}
    path = save_uploaded_dataset(make_zip(entries), "fer.zip", dest_dir=tmp_path)
    assert path.exists()


def test_safe_filename_keeps_only_the_last_component():
    assert safe_filename("C:\\Users\\me\\faces.zip") == "faces.zip"
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("...") == "dataset.zip"
    assert safe_filename("héllo wörld.zip") == "h_llo_w_rld.zip"


# ---------------------------------------------------------------- single images

def image_bytes(fmt: str, size=(64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.zeros((size[1], size[0], 3), np.uint8)).save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP"])
def test_images_are_accepted_by_content(fmt):
    check_image_upload(image_bytes(fmt), "photo.bin")  # the name does not matter, the content does


@pytest.mark.parametrize("data, name, message", [
    (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj", "x.pdf", "x.pdf is not an image: it looks like a PDF document"),
    (b"just some notes\n", "notes.png", "notes.png is not an image: it looks like a text file"),
    (b"", "empty.png", "empty.png is empty"),
])
def test_non_images_are_refused(data, name, message):
    with pytest.raises(UploadError, match=message):
        check_image_upload(data, name)


def test_oversized_images_are_refused():
    data = png_bytes(face_pixels(1))  # ~2.3 kB of noise
    with pytest.raises(UploadError, match=r"big.png is 2,\d{3} bytes, over the 1,000 bytes limit for images"):
        check_image_upload(data, "big.png", max_bytes=1000)
    huge = bytearray(image_bytes("PNG", size=(8, 8)))
    huge[16:24] = (8000).to_bytes(4, "big") * 2  # the header claims 8000x8000 pixels: 64 MP
    huge[29:33] = zlib.crc32(bytes(huge[12:29])).to_bytes(4, "big")  # a valid IHDR checksum
    with pytest.raises(UploadError, match=r"8000x8000 pixels, over the 50,000,000-pixel limit"):
        check_image_upload(bytes(huge), "huge.png")
