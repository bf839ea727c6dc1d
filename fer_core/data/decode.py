"""Image bytes -> 48x48 grayscale uint8 face, for dataset files of any size, format or colour."""
from __future__ import annotations

import io
import struct
import warnings

import cv2
import numpy as np
from PIL import Image, ImageOps

from fer_core.common.faces_array import IMAGE_SIZE

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm", ".jfif"}
)
_FORMATS = "PNG, JPEG, BMP, GIF, TIFF, WebP or PGM/PPM"
# Refuse images whose decoded size would need more than this many pixels (decompression bombs).
MAX_PIXELS = 50_000_000
MAX_IMAGE_BYTES = 20 * 1024**2  # one image file (upload, or a member of a zip of photos)


class ImageDecodeError(ValueError):
    """The bytes are not a readable image; the message says why."""


def to_gray_48(gray: np.ndarray) -> np.ndarray:
    """Resize a 2-D grayscale uint8 array to 48x48 (area interpolation when shrinking)."""
    if gray.shape == (IMAGE_SIZE, IMAGE_SIZE):
        return gray
    shrinking = gray.shape[0] > IMAGE_SIZE or gray.shape[1] > IMAGE_SIZE
    return cv2.resize(gray, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def decode_gray(data: bytes | np.ndarray) -> np.ndarray:
    """Decode image bytes to a 2-D grayscale uint8 array at full size, EXIF orientation applied.

    OpenCV handles the common formats fast; Pillow is the fallback for the rest (GIF, multi-page
    TIFF, unusual modes). Raises ImageDecodeError for anything that is not a readable image.
    """
    buf = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray, memoryview)) else data
    if buf.size == 0:
        raise ImageDecodeError("empty file")
    _check_dimensions(buf)
    # colour converted, EXIF orientation applied, 16-bit and float kept as they are for to_uint8
    gray = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE | cv2.IMREAD_ANYDEPTH)
    if gray is not None and gray.ndim == 2 and gray.size:
        return to_uint8(gray)
    unchanged = _decode_unchanged(buf, colour=False)
    return unchanged if unchanged is not None else _decode_with_pillow(buf.tobytes())


def decode_rgb(data: bytes | np.ndarray) -> np.ndarray:
    """Decode image bytes to an (H, W, 3) RGB uint8 array at full size, EXIF orientation applied.

    The colour twin of `decode_gray` (same size limit, same errors), for showing a photo, e.g. with
    face boxes drawn on it. Grayscale images come back with three equal channels; alpha is dropped.
    """
    buf = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray, memoryview)) else data
    if buf.size == 0:
        raise ImageDecodeError("empty file")
    _check_dimensions(buf)
    rgb = cv2.imdecode(buf, cv2.IMREAD_COLOR_RGB | cv2.IMREAD_ANYDEPTH)  # 3-channel whatever the source, EXIF applied
    if rgb is not None and rgb.ndim == 3 and rgb.size:
        return to_uint8(rgb)
    unchanged = _decode_unchanged(buf, colour=True)
    return unchanged if unchanged is not None else _decode_with_pillow(buf.tobytes(), colour=True)


def _decode_unchanged(buf: np.ndarray, colour: bool) -> np.ndarray | None:
    """OpenCV's read of the pixels as stored, converted here: its flagged reads refuse some TIFFs
    (float colour, float gray as colour) that it can read this way. None when it cannot read them."""
    pixels = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if pixels is None or not pixels.size or pixels.ndim not in (2, 3):
        return None
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    if channels not in (1, 3, 4):
        return None
    if channels == 1:
        gray = to_uint8(pixels.reshape(pixels.shape[:2]))
        return np.repeat(gray[:, :, None], 3, axis=2) if colour else gray
    if pixels.dtype not in (np.uint8, np.uint16, np.float32):  # the depths cvtColor takes
        pixels = to_uint8(pixels)
    code = {(3, True): cv2.COLOR_BGR2RGB, (4, True): cv2.COLOR_BGRA2RGB,
            (3, False): cv2.COLOR_BGR2GRAY, (4, False): cv2.COLOR_BGRA2GRAY}[channels, colour]
    return to_uint8(cv2.cvtColor(pixels, code))


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """8-bit pixels from any depth, scaled by the bit depth the data really uses: a 16-bit PNG holding
    10-bit data (max 1023) or a float TIFF in [0, 1] must not come out black, as a fixed 8-bit shift or a
    plain cast would make them. Full 16-bit data keeps the usual shift by 8 bits; float data already in
0-255 is kept as it is (not stretched by 255 / max).

    Converted a block of rows at a time: a 50-megapixel 16-bit image costs its uint8 result plus one
    small float32 block, not several float64 copies of itself (which made a 111 KB PNG cost 2.8 GB).
    """
    if pixels.dtype == np.uint8:
        return pixels
    if pixels.size == 0:
        return np.zeros(pixels.shape, np.uint8)
    integer = pixels.dtype.kind in "ui"
    top = max(0.0, float(pixels.max())) if integer else max(
        (float(_finite(block).max()) for block in _row_blocks(pixels)), default=0.0)
    if integer:
        bits = max(8, int(top).bit_length())
        shift, scale = (bits - 8, None) if bits >= 16 else (0, 255.0 / (2 ** bits - 1))
    else:  # floats in [0, 1] are scaled up, floats already in 0-255 kept, larger ranges brought down
        shift, scale = 0, 255.0 if top <= 1.0 else 1.0 if top <= 255.0 else 255.0 / top
    out = np.empty(pixels.shape, np.uint8)
    start = 0
    for block in _row_blocks(pixels):
        rows = slice(start, start + len(block))
        start += len(block)
        if scale is None:  # full 16-bit (or wider) data: keep the top 8 of its bits
            out[rows] = np.right_shift(np.clip(block, 0, None), shift)
            continue
        values = block.astype(np.float32) if integer else _finite(block)
        values *= scale
        np.clip(values, 0, 255, out=values)
        out[rows] = np.rint(values, out=values)
    return out


def _row_blocks(pixels: np.ndarray, max_values: int = 1 << 20):
    """Views of about `max_values` values each, whole rows at a time."""
    per_row = max(1, pixels[0].size if pixels.ndim > 1 else 1)
    step = max(1, max_values // per_row)
    for start in range(0, len(pixels), step):
        yield pixels[start:start + step]


def _finite(block: np.ndarray) -> np.ndarray:
    """A float32 copy of a block with NaN and infinities set to 0."""
    return np.nan_to_num(block.astype(np.float32), copy=False, nan=0.0, posinf=0.0, neginf=0.0)


def decode_face(data: bytes | np.ndarray) -> np.ndarray:
    """Decode image bytes straight to a 48x48 grayscale uint8 face."""
    return to_gray_48(decode_gray(data))


def _jpeg_or_png_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) read from a PNG or JPEG header without decoding; None for other formats."""
    if head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) >= 24:
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    if head[:2] != b"\xff\xd8":
        return None
    pos = 2
    while pos + 9 < len(head):  # walk the JPEG segments to the start-of-frame marker
        if head[pos] != 0xFF:
            return None
        while pos + 9 < len(head) and head[pos + 1] == 0xFF:  # fill bytes: any number of 0xFF may pad a marker
            pos += 1
        marker = head[pos + 1]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return int.from_bytes(head[pos + 7:pos + 9], "big"), int.from_bytes(head[pos + 5:pos + 7], "big")
        pos += 2 + int.from_bytes(head[pos + 2:pos + 4], "big")
    return None


def _tiff_size(buf: np.ndarray) -> tuple[int, int] | None:
    """(width, height) of a TIFF's first directory (the page OpenCV decodes); None if not a classic TIFF.

    Read here rather than by Pillow, which cannot open some TIFFs OpenCV decodes (3-channel float)."""
    head = buf[:8].tobytes()
    if len(head) < 8:
        return None
    order = {b"II*\x00": "<", b"MM\x00*": ">"}.get(head[:4])
    if order is None:
        return None
    offset = struct.unpack(order + "I", head[4:8])[0]
    directory = buf[offset:offset + 2].tobytes()
    if len(directory) < 2:
        return None
    count = struct.unpack(order + "H", directory)[0]
    entries = buf[offset + 2:offset + 2 + 12 * count].tobytes()
    size = {}
    for at in range(0, len(entries) - 11, 12):
        tag, kind = struct.unpack(order + "HH", entries[at:at + 4])
        if tag in (256, 257) and kind in (3, 4):  # ImageWidth, ImageLength as SHORT or LONG
            size[tag] = struct.unpack(order + ("H" if kind == 3 else "I"), entries[at + 8:at + (10 if kind == 3 else 12)])[0]
    return (size[256], size[257]) if len(size) == 2 else None


def read_header(data: bytes | np.ndarray) -> tuple[str, int, int]:
    """(format, width, height) from an image's header alone, no pixels decoded; the format is Pillow's
    name for it (PNG, JPEG, TIFF, GIF, ...). PNG, JPEG and TIFF headers are read here (JPEG fill bytes
    and TIFFs Pillow cannot open included), the rest by Pillow (a GIF's logical screen included).
    ImageDecodeError for what cannot be sized: it is never decoded, since a decoder would allocate
    whatever the file claims."""
    buf = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray, memoryview)) else data
    head = buf[:65536].tobytes()
    size = _jpeg_or_png_size(head)
    if size is not None:
        return ("PNG" if head.startswith(b"\x89PNG") else "JPEG"), *size
    size = _tiff_size(buf)
    if size is not None:
        return "TIFF", *size
    try:
        with warnings.catch_warnings():  # Pillow's own bomb warning: our limit is applied by the caller
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(buf.tobytes())) as im:
                return im.format or "unknown", *im.size
    except Image.DecompressionBombError:
        raise ImageDecodeError(f"image is far over the {MAX_PIXELS:,}-pixel limit; resize it first") from None
    except Exception:  # Pillow raises many types for what it cannot identify
        raise ImageDecodeError(f"not a readable image: its format is not one of {_FORMATS}") from None


def check_pixel_count(width: int, height: int) -> None:
    """Refuse an image whose decoded size would be over MAX_PIXELS (a decompression bomb), or empty."""
    if width <= 0 or height <= 0:
        raise ImageDecodeError(f"image is {width}x{height} pixels: it holds no picture")
    if width * height > MAX_PIXELS:
        raise ImageDecodeError(
            f"image is {width}x{height} pixels, over the {MAX_PIXELS:,}-pixel limit; resize it first"
        )


def _check_dimensions(buf: np.ndarray) -> None:
    """Read only the header (no pixels) and refuse images that would be too large to decode."""
    _, width, height = read_header(buf)
    check_pixel_count(width, height)


def _decode_with_pillow(data: bytes, colour: bool = False) -> np.ndarray:
    """Gray (H, W) uint8, or RGB (H, W, 3) uint8 when `colour`, from the first frame."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.seek(0)  # first frame of animated or multi-page images
            im = ImageOps.exif_transpose(im)
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im, dtype=np.float32)
                top = arr.max() if arr.max() > 255 else 255.0
                gray = np.clip(arr * (255.0 / top), 0, 255).astype(np.uint8)
                return np.repeat(gray[:, :, None], 3, axis=2) if colour else gray
            return np.asarray(im.convert("RGB" if colour else "L"), dtype=np.uint8)
    except Image.DecompressionBombError as exc:
        raise ImageDecodeError(f"image is too large to decode safely ({exc})") from None
    except Image.UnidentifiedImageError:
        raise ImageDecodeError(f"not a readable image: its format is not one of {_FORMATS}") from None
    except Exception as exc:  # Pillow raises many types for broken files
        raise ImageDecodeError(f"not a readable image ({type(exc).__name__}: {exc})") from None
