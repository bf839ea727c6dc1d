"""Hostile and malformed inputs: images that lie about their size, zips that lie about their members.

Each case is generated here (nothing hostile is committed) and must end in a clear error, fast, without
allocating what the file claims.
"""
from __future__ import annotations

import struct
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

from fer_core.data.dataset import DataError
from fer_core.data.decode import MAX_PIXELS, ImageDecodeError, decode_gray, decode_rgb
from fer_core.data.files import FileTree

from tests.conftest import make_zip, png_bytes


def huge_gif(width: int = 65535, height: int = 65535) -> bytes:
    """A 1x1 GIF whose logical screen claims width x height (35 bytes)."""
    return (b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00"
            + b"\x2c" + struct.pack("<HHHH", 0, 0, 1, 1) + b"\x00" + b"\x02\x02\x44\x01\x00" + b"\x3b")


def jpeg_header_with_fill_bytes(width: int, height: int) -> bytes:
    """SOI, then a start-of-frame marker preceded by legal 0xFF fill bytes, claiming width x height."""
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + b"\xff\xff\xff" + sof + b"\x00" * 64


@pytest.mark.parametrize("decode", [decode_gray, decode_rgb])
@pytest.mark.parametrize("data, message", [
    (huge_gif(), "pixel limit"),
    (jpeg_header_with_fill_bytes(60000, 60000), "60000x60000 pixels, over the"),
    (b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 30000 +X 30000\n" + b"\x00" * 64, "not a readable image"),
    (b"\x00" * 200, "not a readable image"),
])
def test_images_that_lie_about_their_size_are_refused_before_decoding(decode, data, message):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no bomb warning leaks out either
        with pytest.raises(ImageDecodeError, match=message):
            decode(data)
    assert 60000 * 60000 > MAX_PIXELS


def _understate_sizes(data: bytes, declared: int) -> bytes:
    """Rewrite every member's uncompressed size (local header and central directory) to `declared`."""
    raw = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = raw.find(signature)
        while at != -1:
            raw[at + offset:at + offset + 4] = struct.pack("<I", declared)
            at = raw.find(signature, at + 4)
    return bytes(raw)


def _face() -> bytes:
    return png_bytes(np.full((48, 48), 128, np.uint8))


@pytest.mark.parametrize("compression", [zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_a_member_inflating_past_its_declared_size_is_stopped(tmp_path, compression):
    path = tmp_path / "bomb.zip"
    path.write_bytes(_understate_sizes(make_zip({"happy/a.png": b"\0" * 5_000_000}, compression), declared=100))
    tree = FileTree(path)
    # zipfile itself stops bzip2/LZMA streams at the declared size and then fails their CRC
    with pytest.raises(zipfile.BadZipFile, match="inflates past its declared size|Bad CRC-32"):
        tree.read(tree.entries[0])


def test_entries_sharing_one_member_are_refused(tmp_path):
    data = bytearray(make_zip({"happy/a.png": _face()}))
    eocd = data.rfind(b"PK\x05\x06")
    cd_size, cd_offset = struct.unpack("<II", data[eocd + 12:eocd + 20])
    record = bytes(data[cd_offset:cd_offset + cd_size])
    copies = [record.replace(b"happy/a.png", f"happy/{i}.png".encode()) for i in range(3)]
    central = record + b"".join(copies)
    end = bytearray(data[eocd:])
    end[8:12] = struct.pack("<HH", 4, 4)
    end[12:16] = struct.pack("<I", len(central))
    path = tmp_path / "overlap.zip"
    path.write_bytes(bytes(data[:cd_offset]) + central + bytes(end))
    with pytest.raises(DataError, match="entries overlap"):
        FileTree(path)


def test_two_entries_with_one_name_are_refused(tmp_path):
    path = tmp_path / "twice.zip"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name it is asked to write
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("happy/a.png", _face())
            zf.writestr("happy/a.png", _face())
    with pytest.raises(DataError, match="two entries are named 'happy/a.png'"):
        FileTree(path)


def test_an_ordinary_zip_still_reads(tmp_path):
    path = tmp_path / "ok.zip"
    path.write_bytes(make_zip({"happy/a.png": _face(), "sad/b.png": _face()}))
    tree = FileTree(path)
    assert [e.rel for e in tree.entries] == ["happy/a.png", "sad/b.png"]
    assert decode_gray(tree.read(tree.entries[0])).shape == (48, 48)


def _csv(tmp_path, rows: list[str], header: str = "emotion,pixels,Usage") -> Path:
    path = tmp_path / "fer2013.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def _pixels(value: str = "128") -> str:
    return " ".join([value] * 48 * 48)


def test_csv_pixels_that_would_wrap_round_are_out_of_range(tmp_path):
    from fer_core.data.sources import read_csv
    wrapped = " ".join(["4294967296", "4294967297"] + ["128"] * (48 * 48 - 2))
    ds = read_csv(_csv(tmp_path, [f"3,{_pixels()},Training", f"3,{wrapped},Training", f"4,{_pixels('1.5')},Training"]))
    assert len(ds) == 1 and ds.report.n_skipped == 2
    assert all("0-255" in reason for _, reason in ds.report.skipped)


def test_a_unicode_digit_label_is_one_bad_row_with_its_line(tmp_path):
    from fer_core.data.sources import read_csv
    ds = read_csv(_csv(tmp_path, [f"3,{_pixels()},Training", f"\u00b2,{_pixels()},Training"]))
    assert len(ds) == 1
    (where, reason), = ds.report.skipped
    assert "line 3" in where and "not a known label" in reason


def test_columns_differing_only_in_case_are_refused(tmp_path):
    from fer_core.data.sources import read_csv
    with pytest.raises(DataError, match="columns emotion, Emotion differ only in case"):
        read_csv(_csv(tmp_path, [f"3,4,{_pixels()},Training"], header="emotion,Emotion,pixels,Usage"))


def test_16_bit_and_float_images_are_scaled_by_their_real_range():
    import cv2
    ten_bit = (np.arange(48 * 48, dtype=np.uint16).reshape(48, 48) % 1024)  # 10-bit data in a 16-bit PNG
    ok, png16 = cv2.imencode(".png", ten_bit)
    gray = decode_gray(png16.tobytes())
    assert gray.dtype == np.uint8 and gray.max() >= 250  # not the black face a >> 8 shift gives
    unit = (np.arange(48 * 48, dtype=np.float32).reshape(48, 48) / (48 * 48))  # float TIFF in [0, 1]
    ok, tiff = cv2.imencode(".tiff", unit)
    assert ok
    gray = decode_gray(tiff.tobytes())
    assert gray.max() >= 250 and gray.min() == 0
    assert decode_rgb(png16.tobytes()).max() >= 250


def _tampered_checkpoint(trained_run, tmp_path, edit) -> Path:
    import shutil

    import torch

    from fer_core import runs
    run_dir = tmp_path / "tampered"
    shutil.copytree(trained_run, run_dir)
    blob = torch.load(run_dir / runs.CHECKPOINT, weights_only=True)
    edit(blob)
    torch.save(blob, run_dir / runs.CHECKPOINT)
    return run_dir


@pytest.mark.parametrize("edit, message", [
    (lambda b: b["card"].update(class_names=[f"c{i}" for i in range(1_000_000)]), "1000000 classes; between 1 and 1000"),
    (lambda b: b["card"].update(class_names=["a", "b"]), "does not match its own model card"),
    (lambda b: b["card"].update(arch="no_such_net"), "does not match its own model card .no_such_net"),
    (lambda b: b["card"].update(in_chans=10_000), "10000 input channels"),
    (lambda b: b.pop("state_dict"), "not a readable checkpoint"),
])
def test_a_checkpoint_at_odds_with_its_card_is_a_clear_error(trained_run, tmp_path, edit, message):
    from fer_core import runs
    from fer_core.inference.predictor import Predictor
    with pytest.raises(runs.RunError, match=message):
        Predictor.from_run(_tampered_checkpoint(trained_run, tmp_path, edit))


@pytest.mark.parametrize("make", ["device", "fifo"])
def test_a_device_or_pipe_as_data_is_a_clear_error(tmp_path, make):
    import os

    from fer_core.data import load_dataset
    path = "/dev/zero" if make == "device" else tmp_path / "pipe"
    if make == "fifo":
        os.mkfifo(path)
    with pytest.raises(DataError, match="is not a file or folder .a device, pipe or socket"):
        load_dataset(str(path))


def test_an_output_path_that_cannot_be_created_is_one_line_not_a_traceback(bundled_model, tmp_path, capsys):
    import cv2

    from fer_core.cli import main
    face = tmp_path / "face.png"
    cv2.imwrite(str(face), np.full((48, 48), 128, np.uint8))
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder is needed")
    assert main(["explain", str(face), "--out", str(blocker / "sub" / "x.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and len(err.strip().splitlines()) == 1
