"""Hostile and odd inputs, generated in memory (nothing hostile is committed).

Each case is (name, bytes or builder, expectation): "ok" when a careful reader must accept it (a valid
oddity), "refused" when it must be refused with a clear message, "either" when both are right (a
truncated file some decoders still read) as long as nothing crashes.
"""
from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np
from PIL import Image

OK, REFUSED, EITHER = "ok", "refused", "either"


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[], bytes]
    expect: str
    bomb: bool = False  # claims far more memory than it is: also run under a memory limit

    def __str__(self) -> str:  # pytest ids
        return self.name


# ---------------------------------------------------------------- image encoders

def _gradient(width: int = 64, height: int = 48, channels: int = 3) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    base = ((x * 255 // max(width - 1, 1) + y * 255 // max(height - 1, 1)) // 2).astype(np.uint8)
    return base if channels == 1 else np.stack([base, base[::-1], 255 - base], axis=-1)[..., :channels]


def pil_bytes(fmt: str, mode: str = "RGB", size: tuple[int, int] = (64, 48), **save) -> bytes:
    image = Image.fromarray(_gradient(*size, channels=3)).convert(mode)
    out = io.BytesIO()
    image.save(out, format=fmt, **save)
    return out.getvalue()


def cv_bytes(ext: str, pixels: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(ext, pixels)
    assert ok, ext
    return buf.tobytes()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_claiming(width: int, height: int, depth: int = 8, colour: int = 0) -> bytes:
    """A PNG with a valid IHDR (CRC included) claiming width x height, and a few bytes of data."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 4096)) + _png_chunk(b"IEND", b""))


def jpeg_claiming(width: int, height: int, fill: int = 0, app_padding: int = 0, marker: int = 0xC0) -> bytes:
    """SOI, optional APP segments, then a start-of-frame claiming width x height (fill 0xFF bytes before it)."""
    out = b"\xff\xd8"
    while app_padding > 0:  # APP segments hold at most 65,533 bytes each
        n = min(app_padding, 65533)
        out += b"\xff\xe1" + struct.pack(">H", n + 2) + b"\x00" * n
        app_padding -= n
    sof = bytes([0xFF, marker]) + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return out + b"\xff" * fill + sof + b"\x00" * 64


def gif_claiming(screen: tuple[int, int], frame: tuple[int, int] = (1, 1)) -> bytes:
    """A GIF whose logical screen and one frame claim the given sizes (about 35 bytes)."""
    return (b"GIF89a" + struct.pack("<HH", *screen) + b"\x00\x00\x00"
            + b"\x2c" + struct.pack("<HHHH", 0, 0, *frame) + b"\x00" + b"\x02\x02\x44\x01\x00" + b"\x3b")


def bmp_claiming(width: int, height: int, bits: int = 24) -> bytes:
    """A BMP header claiming width x height (height may be negative: top-down), with no pixel data."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, bits, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + len(info) + 16, 0, 0, 14 + len(info)) + info + b"\x00" * 16


def tiff_claiming(width: int, height: int) -> bytes:
    """A little-endian TIFF whose only directory claims width x height, 8-bit gray, one strip."""
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
               (273, 4, 1, 8 + 2 + 12 * 9 + 4), (277, 3, 1, 1), (278, 4, 1, height), (279, 4, 1, 16)]
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e) for e in entries) + b"\x00" * 4
    return b"II*\x00" + struct.pack("<I", 8) + ifd + b"\x00" * 16


def webp_claiming(width: int, height: int) -> bytes:
    """A WebP with an extended (VP8X) header claiming a width x height canvas."""
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" \
        + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = b"WEBP" + vp8x + b"VP8 " + struct.pack("<I", 4) + b"\x00" * 4
    return b"RIFF" + struct.pack("<I", len(body)) + body


def netpbm_claiming(magic: bytes, width: int, height: int) -> bytes:
    return magic + b"\n%d %d\n255\n" % (width, height) + b"\x00" * 64


def exif_jpeg(orientation: int) -> bytes:
    image = Image.fromarray(_gradient(64, 48))
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


def animated_gif(frames: int = 3) -> bytes:
    images = [Image.fromarray(np.roll(_gradient(48, 48, 1), 5 * i, axis=1)) for i in range(frames)]
    out = io.BytesIO()
    images[0].save(out, format="GIF", save_all=True, append_images=images[1:], duration=50)
    return out.getvalue()


def multipage_tiff(sizes=((48, 48), (64, 64))) -> bytes:
    pages = [Image.fromarray(_gradient(w, h, 1)) for w, h in sizes]
    out = io.BytesIO()
    pages[0].save(out, format="TIFF", save_all=True, append_images=pages[1:])
    return out.getvalue()


def float_tiff(values: np.ndarray) -> bytes:
    return cv_bytes(".tiff", values.astype(np.float32))


def _unit_float(height: int = 48, width: int = 48) -> np.ndarray:
    return np.arange(height * width, dtype=np.float32).reshape(height, width) / (height * width)


def _valid_images() -> list[Case]:
    cases = []
    for fmt, modes, extra in [
        ("PNG", ["L", "LA", "RGB", "RGBA", "P", "1", "I;16"], {}),
        ("JPEG", ["L", "RGB", "CMYK"], {"quality": 90}),
        ("JPEG", ["RGB"], {"progressive": True}),
        ("BMP", ["L", "RGB", "P", "1"], {}),
        ("GIF", ["L", "P"], {}),
        ("TIFF", ["L", "RGB", "RGBA", "CMYK", "1", "I;16", "F"], {}),
        ("TIFF", ["RGB"], {"compression": "tiff_lzw"}),
        ("WEBP", ["RGB", "RGBA"], {"lossless": True}),
        ("PPM", ["RGB", "L"], {}),
    ]:
        for mode in modes:
            name = f"image-{fmt.lower()}-{mode.replace(';', '')}" + ("-" + "-".join(extra) if extra else "")
            cases.append(Case(name, lambda f=fmt, m=mode, e=extra: pil_bytes(f, m, **e), OK))
    for w, h in [(1, 1), (1, 300), (300, 1), (2, 2), (5000, 3), (48, 48)]:
        cases.append(Case(f"image-png-{w}x{h}", lambda w=w, h=h: cv_bytes(".png", _gradient(w, h, 1)), OK))
    for o in range(0, 10):
        cases.append(Case(f"image-jpeg-exif-orientation-{o}", lambda o=o: exif_jpeg(o), OK))
    cases.append(Case("image-jpeg-exif-orientation-65535", lambda: exif_jpeg(65535), OK))
    cases += [
        Case("image-gif-animated", animated_gif, OK),
        Case("image-tiff-multipage", multipage_tiff, OK),
        Case("image-png-16bit-full-range", lambda: cv_bytes(".png", (_gradient(48, 48, 1).astype(np.uint16) * 257)), OK),
        Case("image-png-16bit-10bit-data", lambda: cv_bytes(".png", (np.arange(48 * 48, dtype=np.uint16).reshape(48, 48) % 1024)), OK),
        Case("image-png-16bit-12bit-data", lambda: cv_bytes(".png", (np.arange(48 * 48, dtype=np.uint16).reshape(48, 48) * 2 % 4096)), OK),
        Case("image-png-16bit-all-zero", lambda: cv_bytes(".png", np.zeros((48, 48), np.uint16)), OK),
        Case("image-png-16bit-colour", lambda: cv_bytes(".png", (_gradient(48, 48).astype(np.uint16) * 257)), OK),
        Case("image-tiff-float-unit", lambda: float_tiff(_unit_float()), OK),
        Case("image-tiff-float-0-1000", lambda: float_tiff(_unit_float() * 1000), OK),
        Case("image-tiff-float-negative", lambda: float_tiff(_unit_float() - 0.5), OK),
        Case("image-tiff-float-nan-inf", lambda: float_tiff(np.where(np.eye(48, dtype=bool), np.nan, np.inf)), OK),
        Case("image-tiff-float-all-zero", lambda: float_tiff(np.zeros((48, 48))), OK),
        Case("image-tiff-float-colour", lambda: cv_bytes(".tiff", np.stack([_unit_float()] * 3, -1)), OK),
        Case("image-tiff-int32", lambda: pil_bytes("TIFF", "I"), OK),
    ]
    return cases


def _size_lies() -> list[Case]:
    huge = [
        ("png-ihdr-60000x60000", lambda: png_claiming(60000, 60000)),
        ("png-ihdr-16bit-rgba-20000x20000", lambda: png_claiming(20000, 20000, depth=16, colour=6)),
        ("png-ihdr-2e9x1", lambda: png_claiming(2_000_000_000, 1)),
        ("png-ihdr-max-uint31", lambda: png_claiming(2**31 - 1, 2**31 - 1)),
        ("jpeg-sof0-60000x60000", lambda: jpeg_claiming(60000, 60000)),
        ("jpeg-sof2-progressive-60000x60000", lambda: jpeg_claiming(60000, 60000, marker=0xC2)),
        ("jpeg-sof-after-fill-bytes", lambda: jpeg_claiming(60000, 60000, fill=5)),
        ("jpeg-sof-after-many-fill-bytes", lambda: jpeg_claiming(60000, 60000, fill=1000)),
        ("jpeg-sof-after-70kb-of-app-segments", lambda: jpeg_claiming(60000, 60000, app_padding=70_000)),
        ("jpeg-sof-after-300kb-of-app-segments", lambda: jpeg_claiming(60000, 60000, app_padding=300_000)),
        ("gif-logical-screen-65535x65535", lambda: gif_claiming((65535, 65535))),
        ("gif-frame-65535x65535-in-small-screen", lambda: gif_claiming((1, 1), (65535, 65535))),
        ("gif-screen-and-frame-20000x20000", lambda: gif_claiming((20000, 20000), (20000, 20000))),
        ("bmp-30000x30000", lambda: bmp_claiming(30000, 30000)),
        ("bmp-top-down-30000x-30000", lambda: bmp_claiming(30000, -30000)),
        ("bmp-32bit-20000x20000", lambda: bmp_claiming(20000, 20000, bits=32)),
        ("tiff-60000x60000", lambda: tiff_claiming(60000, 60000)),
        ("tiff-1x4e9", lambda: tiff_claiming(1, 4_000_000_000)),
        ("webp-vp8x-16000x16000", lambda: webp_claiming(16000, 16000)),
        ("pgm-60000x60000", lambda: netpbm_claiming(b"P5", 60000, 60000)),
        ("ppm-60000x60000", lambda: netpbm_claiming(b"P6", 60000, 60000)),
        ("pbm-200000x200000", lambda: netpbm_claiming(b"P4", 200000, 200000)),
        ("radiance-hdr-30000x30000", lambda: b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 30000 +X 30000\n" + b"\x00" * 64),
        ("pfm-30000x30000", lambda: b"Pf\n30000 30000\n-1.0\n" + b"\x00" * 64),
        ("sun-raster-30000x30000", lambda: struct.pack(">8I", 0x59A66A95, 30000, 30000, 8, 0, 1, 0, 0) + b"\x00" * 64),
    ]
    return [Case(f"image-size-lie-{name}", make, REFUSED, bomb=True) for name, make in huge]


def _not_images() -> list[Case]:
    rng = np.random.default_rng(0)
    garbage = {
        "empty": b"", "one-byte": b"\x00", "zeros-200": b"\x00" * 200, "ff-200": b"\xff" * 200,
        "random-16": rng.bytes(16), "random-4k": rng.bytes(4096), "random-1m": rng.bytes(1 << 20),
        "text": b"hello, this is not a face\n" * 10, "html": b"<!doctype html><html><body>hi</body></html>",
        "svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="99999" height="99999"/>',
        "pdf": b"%PDF-1.7\n1 0 obj <<>> endobj\n%%EOF", "zip": b"PK\x05\x06" + b"\x00" * 18,
        "heic": b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64,
        "psd": b"8BPS\x00\x01" + b"\x00" * 6 + struct.pack(">HIIHH", 3, 30000, 30000, 8, 3) + b"\x00" * 64,
        "exr": b"\x76\x2f\x31\x01" + b"\x00" * 64, "ico": b"\x00\x00\x01\x00\x01\x00" + b"\x00" * 32,
        "elf": b"\x7fELF" + b"\x00" * 60, "python-pickle": b"\x80\x04\x95" + b"\x00" * 20 + b".",
        "png-signature-only": b"\x89PNG\r\n\x1a\n", "jpeg-soi-only": b"\xff\xd8",
        "jpeg-soi-eoi": b"\xff\xd8\xff\xd9", "gif-header-only": b"GIF89a", "bmp-magic-only": b"BM",
        "tiff-magic-only": b"II*\x00", "riff-webp-empty": b"RIFF\x04\x00\x00\x00WEBP",
        "png-bad-ihdr-crc": png_claiming(48, 48)[:29] + b"\x00\x00\x00\x00" + png_claiming(48, 48)[33:],
        "png-zero-size": png_claiming(0, 0), "png-48x0": png_claiming(48, 0),
        "bmp-zero-size": bmp_claiming(0, 0), "gif-zero-screen": gif_claiming((0, 0), (0, 0)),
        "jpeg-zero-size": jpeg_claiming(0, 0), "tiff-zero-size": tiff_claiming(0, 0),
    }
    return [Case(f"image-not-an-image-{name}", (lambda d=data: d), REFUSED) for name, data in garbage.items()]


def _truncated() -> list[Case]:
    cases = []
    sources = {"png": lambda: pil_bytes("PNG", size=(96, 96)), "jpeg": lambda: pil_bytes("JPEG", size=(96, 96)),
               "bmp": lambda: pil_bytes("BMP", size=(96, 96)), "gif": lambda: pil_bytes("GIF", "P", size=(96, 96)),
               "tiff": lambda: pil_bytes("TIFF", size=(96, 96)), "webp": lambda: pil_bytes("WEBP", size=(96, 96))}
    for fmt, make in sources.items():
        for fraction in (0.02, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99):
            cases.append(Case(f"image-truncated-{fmt}-{int(fraction * 100)}pct",
                              lambda m=make, f=fraction: m()[: max(1, int(len(m()) * f))], EITHER))
        cases.append(Case(f"image-{fmt}-with-trailing-garbage", lambda m=make: m() + b"\x00garbage" * 100, EITHER))
        cases.append(Case(f"image-{fmt}-one-byte-flipped-in-the-middle",
                          lambda m=make: _flip(m(), 0.5), EITHER))
    return cases


def _flip(data: bytes, at: float) -> bytes:
    raw = bytearray(data)
    raw[int(len(raw) * at)] ^= 0xFF
    return bytes(raw)


def image_cases() -> list[Case]:
    return _valid_images() + _size_lies() + _not_images() + _truncated()


# ---------------------------------------------------------------- zips

def face_png(seed: int = 0) -> bytes:
    return cv_bytes(".png", np.random.default_rng(seed).integers(0, 256, (48, 48), dtype=np.uint8))


def zip_of(entries: dict[str, bytes] | list[tuple[str, bytes]], method: int = 8, comment: bytes = b"",
           zip64: bool = False, prefix: bytes = b"") -> bytes:
    """A zip of name -> bytes (a list allows repeated names), written by zipfile."""
    import warnings
    import zipfile
    out = io.BytesIO()
    out.write(prefix)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about a duplicate name it is asked to write
        with zipfile.ZipFile(out, "w", method) as zf:
            for name, data in (entries.items() if isinstance(entries, dict) else entries):
                if zip64:
                    with zf.open(name, "w", force_zip64=True) as member:
                        member.write(data)
                else:
                    zf.writestr(name, data)
            zf.comment = comment
    return out.getvalue()


def _classes(n_per_class: int = 2, classes=("happy", "sad"), prefix: str = "") -> dict[str, bytes]:
    return {f"{prefix}{c}/{i}.png": face_png(10 * k + i) for k, c in enumerate(classes) for i in range(n_per_class)}


def _set_sizes(data: bytes, declared: int) -> bytes:
    """Every member's uncompressed size (local header and central directory) rewritten to `declared`."""
    raw = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = raw.find(signature)
        while at != -1:
            raw[at + offset:at + offset + 4] = struct.pack("<I", declared)
            at = raw.find(signature, at + 4)
    return bytes(raw)


def _patch_central(data: bytes, field_offset: int, fmt: str, value: int, which: int = 0) -> bytes:
    """Overwrite one field of the `which`-th central directory record."""
    raw = bytearray(data)
    at = -1
    for _ in range(which + 1):
        at = raw.find(b"PK\x01\x02", at + 1)
    struct.pack_into(fmt, raw, at + field_offset, value)
    return bytes(raw)


def _patch_local(data: bytes, field_offset: int, fmt: str, value: int) -> bytes:
    raw = bytearray(data)
    struct.pack_into(fmt, raw, raw.find(b"PK\x03\x04") + field_offset, value)
    return bytes(raw)


def _overlapping(copies: int) -> bytes:
    """One real member and `copies` more central-directory entries naming other files, all pointing at it."""
    data = bytearray(zip_of({"happy/a.png": face_png()}))
    eocd = data.rfind(b"PK\x05\x06")
    cd_size, cd_offset = struct.unpack("<II", data[eocd + 12:eocd + 20])
    record = bytes(data[cd_offset:cd_offset + cd_size])
    central = record + b"".join(record.replace(b"happy/a.png", f"happy/{i:05d}"[:11].encode().ljust(11, b"x"))
                                for i in range(copies))
    end = bytearray(data[eocd:])
    struct.pack_into("<HHII", end, 8, copies + 1, copies + 1, len(central), cd_offset)
    return bytes(data[:cd_offset]) + central + bytes(end)


def _eocd_claiming(entries: int) -> bytes:
    data = bytearray(zip_of(_classes()))
    eocd = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", data, eocd + 8, entries & 0xFFFF, entries & 0xFFFF)
    return bytes(data)


def _streamed_zip() -> bytes:
    """Members written to an unseekable stream: sizes live in data descriptors after each member."""
    import zipfile

    class Unseekable(io.RawIOBase):
        def __init__(self):
            self.buf = bytearray()

        def writable(self):
            return True

        def write(self, b):
            self.buf += b
            return len(b)

    sink = Unseekable()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in _classes().items():
            with zf.open(name, "w") as member:
                member.write(data)
    return bytes(sink.buf)


def _symlink_member() -> bytes:
    import zipfile
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in _classes().items():
            zf.writestr(name, data)
        link = zipfile.ZipInfo("happy/link.png")
        link.external_attr = (0o120777 << 16)
        zf.writestr(link, "/etc/passwd")
    return out.getvalue()


def zip_cases() -> list[Case]:
    """Dataset zips. ok: the dataset loads (with `expected` images); refused: a clear DataError."""
    ok = {
        "ordinary": lambda: zip_of(_classes()),
        "stored": lambda: zip_of(_classes(), method=0),
        "bzip2": lambda: zip_of(_classes(), method=12),
        "lzma": lambda: zip_of(_classes(), method=14),
        "zip64-records": lambda: zip_of(_classes(), zip64=True),
        "streamed-with-data-descriptors": _streamed_zip,
        "with-a-comment": lambda: zip_of(_classes(), comment=b"made by hand " * 100),
        "with-prepended-bytes": lambda: zip_of(_classes(), prefix=b"#!/bin/sh\nexit 0\n" + b"\x00" * 100),
        "kaggle-layout-in-a-wrapping-folder": lambda: zip_of(_classes(prefix="fer2013/train/") | _classes(prefix="fer2013/test/")),
        "macos-junk-beside-the-images": lambda: zip_of(_classes() | {"__MACOSX/happy/._0.png": b"\x00\x05", "happy/.DS_Store": b"x", "Thumbs.db": b"x"}),
        "folder-entries": lambda: zip_of({"happy/": b"", "sad/": b""} | _classes()),
        "unicode-names": lambda: zip_of({"happy/ça va 😀.png": face_png(1), "sad/日本.png": face_png(2)}),
        "backslash-separators": lambda: zip_of({"happy\\a.png": face_png(1), "sad\\b.png": face_png(2)}),
        "uppercase-class-names": lambda: zip_of({"HAPPY/a.png": face_png(1), "Sadness/b.png": face_png(2)}),
        "deeper-folders": lambda: zip_of({"happy/day1/a.png": face_png(1), "sad/day2/b.png": face_png(2)}),
        "names-differing-in-case": lambda: zip_of({"happy/a.png": face_png(1), "happy/A.png": face_png(2)}),
        "a-symlink-member": _symlink_member,
        "one-broken-image-among-good": lambda: zip_of(_classes() | {"happy/broken.png": b"\x89PNG\r\n\x1a\nbroken"}),
        "an-empty-file-among-good": lambda: zip_of(_classes() | {"happy/empty.png": b""}),
        "a-text-file-named-png": lambda: zip_of(_classes() | {"happy/notes.png": b"not an image"}),
        "a-60000x60000-png-header-among-good": lambda: zip_of(_classes() | {"happy/huge.png": png_claiming(60000, 60000)}),
        "a-gif-bomb-among-good": lambda: zip_of(_classes() | {"happy/huge.gif": gif_claiming((65535, 65535))}),
        "readme-and-csv-beside-the-folders": lambda: zip_of(_classes() | {"README.txt": b"hi", "labels.csv": b"a,b"}),
        "eocd-claiming-65535-entries": lambda: _eocd_claiming(65535),
        "many-small-members": lambda: zip_of({f"happy/{i}.png": face_png(i % 7) for i in range(2000)}),
    }
    refused = {
        "not-a-zip": lambda: b"this is not a zip archive at all\n" * 10,
        "random-bytes": lambda: np.random.default_rng(1).bytes(10_000),
        "empty-file": lambda: b"",
        "empty-archive": lambda: zip_of({}),
        "only-text-files": lambda: zip_of({"happy/a.txt": b"x", "sad/b.txt": b"y"}),
        "a-zip-inside-a-zip": lambda: zip_of({"inner.zip": zip_of(_classes())}),
        "truncated-at-half": lambda: zip_of(_classes())[: len(zip_of(_classes())) // 2],
        "truncated-central-directory": lambda: zip_of(_classes())[:-30],
        "unknown-class-folders": lambda: zip_of({"cats/a.png": face_png(1), "dogs/b.png": face_png(2)}),
        "images-outside-class-folders": lambda: zip_of({"a.png": face_png(1), "b.png": face_png(2)}),
        "dot-dot-entry": lambda: zip_of({"../happy/a.png": face_png(1), "../sad/b.png": face_png(2)}),
        "every-image-broken": lambda: zip_of({"happy/a.png": b"broken", "sad/b.png": b"\xff\xd8\xff"}),
        "every-member-a-deflate-bomb": lambda: _set_sizes(zip_of({"happy/a.png": b"\0" * 5_000_000, "sad/b.png": b"\0" * 5_000_000}), 100),
        "every-member-a-bzip2-bomb": lambda: _set_sizes(zip_of({"happy/a.png": b"\0" * 5_000_000, "sad/b.png": b"\0" * 5_000_000}, method=12), 100),
        "every-member-an-lzma-bomb": lambda: _set_sizes(zip_of({"happy/a.png": b"\0" * 5_000_000, "sad/b.png": b"\0" * 5_000_000}, method=14), 100),
        "members-declaring-3gb-each": lambda: _set_sizes(zip_of(_classes()), 3 * 1024**3),
        "entries-overlapping-4000-names-one-member": lambda: _overlapping(4000),
        "entries-overlapping-3-names": lambda: _overlapping(3),
        "two-entries-with-one-name": lambda: zip_of([("happy/a.png", face_png(1)), ("happy/a.png", face_png(2))]),
        "central-directory-offset-outside-the-file": lambda: _patch_central(zip_of(_classes()), 42, "<I", 0x7FFFFFF0),
        "local-header-name-length-huge": lambda: _patch_local(zip_of({"happy/a.png": face_png(1)}), 26, "<H", 0xFFFF),
        "compressed-size-past-the-end": lambda: _patch_central(zip_of({"happy/a.png": face_png(1)}), 20, "<I", 0x7FFFFFF0),
        "encrypted-flag-on-every-member": lambda: _patch_central(_patch_central(zip_of(_classes(1)), 8, "<H", 1, 0), 8, "<H", 1, 1),
        "deflate64-method-on-every-member": lambda: _patch_central(_patch_central(zip_of(_classes(1)), 10, "<H", 9, 0), 10, "<H", 9, 1),
        "aes-method-99-on-every-member": lambda: _patch_central(_patch_central(zip_of(_classes(1)), 10, "<H", 99, 0), 10, "<H", 99, 1),
        "crc-wrong-on-every-member": lambda: _patch_central(_patch_central(zip_of(_classes(1)), 16, "<I", 0, 0), 16, "<I", 0, 1),
    }
    return ([Case(f"zip-{k}", v, OK) for k, v in ok.items()]
            + [Case(f"zip-{k}", v, REFUSED, bomb="bomb" in k or "overlapping" in k or "3gb" in k)
               for k, v in refused.items()])


# ---------------------------------------------------------------- fer2013.csv

PIXELS = 48 * 48


def pixel_text(value: str = "128", count: int = PIXELS) -> str:
    return " ".join([value] * count)


def _csv(rows: list[str], header: str = "emotion,pixels,Usage", newline: str = "\n") -> bytes:
    return (newline.join([header, *rows]) + newline).encode()


_GOOD = [f"3,{pixel_text()},Training", f"4,{pixel_text('7')},PublicTest", f"5,{pixel_text('250')},PrivateTest"]


def csv_cases() -> list[Case]:
    """fer2013-style CSVs. ok: loads; the `good` count is checked by the test where a case has one."""
    good_plus = lambda *bad: (lambda: _csv(_GOOD + list(bad)))  # noqa: E731
    one_bad_row = {
        "pixel-2-to-the-32": f"3,{pixel_text('4294967296')},Training",
        "pixel-2-to-the-32-plus-1": f"3,{pixel_text('4294967297')},Training",
        "pixel-256": f"3,{pixel_text('256')},Training",
        "pixel-minus-1": f"3,{pixel_text('-1')},Training",
        "pixel-1.5": f"3,{pixel_text('1.5')},Training",
        "pixel-nan": f"3,{pixel_text('nan')},Training",
        "pixel-inf": f"3,{pixel_text('inf')},Training",
        "pixel-1e308": f"3,{pixel_text('1e308')},Training",
        "pixel-hex": f"3,{pixel_text('0x10')},Training",
        "pixel-underscore-digits": f"3,{pixel_text('1_0')},Training",
        "pixel-arabic-indic-digits": f"3,{pixel_text('١٢٨')},Training",
        "pixel-fullwidth-digits": f"3,{pixel_text('１２８')},Training",
        "pixel-superscript-two": f"3,{pixel_text('²')},Training",
        "pixel-word": f"3,{pixel_text('gray')},Training",
        "pixel-count-one-short": f"3,{pixel_text(count=PIXELS - 1)},Training",
        "pixel-count-one-over": f"3,{pixel_text(count=PIXELS + 1)},Training",
        "pixel-count-zero": "3,,Training",
        "pixel-commas-inside-quotes": f'3,"{",".join(["1"] * PIXELS)}",Training',
        "label-superscript-two": f"²,{pixel_text()},Training",
        "label-7": f"7,{pixel_text()},Training",
        "label-minus-1": f"-1,{pixel_text()},Training",
        "label-99999999999999999999": f"99999999999999999999,{pixel_text()},Training",
        "label-3.0": f"3.0,{pixel_text()},Training",
        "label-empty": f",{pixel_text()},Training",
        "label-unknown-word": f"bored,{pixel_text()},Training",
        "label-arabic-indic-digit": f"٣,{pixel_text()},Training",
        "usage-unknown": f"3,{pixel_text()},Holdout",
        "usage-empty": f"3,{pixel_text()},",
        "a-row-with-a-nul-byte": f"3,{pixel_text()}\x00,Training",
        "a-row-of-one-field": "3",
    }
    cases = [Case(f"csv-one-bad-row-{k}", good_plus(v), OK) for k, v in one_bad_row.items()]
    oddities = {
        "crlf-line-endings": lambda: _csv(_GOOD, newline="\r\n"),
        "utf8-byte-order-mark": lambda: b"\xef\xbb\xbf" + _csv(_GOOD),
        "header-in-capitals-and-spaces": lambda: _csv(_GOOD, header=" Emotion , Pixels , Usage "),
        "no-usage-column": lambda: _csv([r.rsplit(",", 1)[0] for r in _GOOD], header="emotion,pixels"),
        "extra-columns": lambda: _csv([r + ",x" for r in _GOOD], header="emotion,pixels,Usage,note"),
        "columns-in-another-order": lambda: _csv([f"{r.split(',')[2]},{r.split(',')[0]},{r.split(',')[1]}" for r in _GOOD],
                                                 header="Usage,emotion,pixels"),
        "label-names-instead-of-numbers": lambda: _csv([f"happy,{pixel_text()},Training", f"Sadness,{pixel_text()},Training"]),
        "pixels-with-extra-spaces": lambda: _csv([f"3,  {pixel_text().replace(' ', '   ')}  ,Training"]),
        "pixels-separated-by-tabs": lambda: _csv([f"3,{pixel_text().replace(' ', chr(9))},Training"]),
        "pixel-values-written-128.0": lambda: _csv([f"3,{pixel_text('128.0')},Training"]),
        "pixel-values-with-leading-zeros": lambda: _csv([f"3,{pixel_text('007')},Training"]),
        "trailing-blank-lines": lambda: _csv(_GOOD) + b"\n\n\n",
        "quoted-fields": lambda: _csv([f'"3","{pixel_text()}","Training"']),
        "many-rows": lambda: _csv(_GOOD * 300),
    }
    cases += [Case(f"csv-{k}", v, OK) for k, v in oddities.items()]
    refused = {
        "empty-file": lambda: b"",
        "header-only": lambda: _csv([]),
        "no-pixels-column": lambda: _csv(["3,Training"], header="emotion,Usage"),
        "no-emotion-column": lambda: _csv([f"{pixel_text()},Training"], header="pixels,Usage"),
        "emotion-and-Emotion-columns": lambda: _csv([f"3,4,{pixel_text()},Training"], header="emotion,Emotion,pixels,Usage"),
        "pixels-and-PIXELS-columns": lambda: _csv([f"3,{pixel_text()},{pixel_text()},Training"], header="emotion,pixels,PIXELS,Usage"),
        "usage-and-USAGE-columns": lambda: _csv([f"3,{pixel_text()},Training,Training"], header="emotion,pixels,Usage,USAGE"),
        "every-row-bad": lambda: _csv([f"9,{pixel_text()},Training", f"3,{pixel_text('300')},Training"]),
        "semicolon-separated": lambda: _csv([r.replace(",", ";") for r in _GOOD], header="emotion;pixels;Usage"),
        "binary-garbage": lambda: np.random.default_rng(2).bytes(50_000),
        "utf16-encoded": lambda: _csv(_GOOD).decode().encode("utf-16"),
        "gzip-bytes-named-csv": lambda: b"\x1f\x8b\x08\x00" + np.random.default_rng(3).bytes(1000),
        "a-png-named-csv": lambda: face_png(),
        "unclosed-quote": lambda: _csv(['3,"' + pixel_text() + ",Training"]),
        "one-line-of-10mb-without-newline": lambda: b"emotion,pixels,Usage\n3," + b"1 " * 5_000_000,
    }
    cases += [Case(f"csv-{k}", v, REFUSED) for k, v in refused.items()]
    return cases
