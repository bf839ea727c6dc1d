"""Image bytes -> 48x48 grayscale uint8 face, for dataset files of any size, format or colour."""
from __future__ import annotations

import io
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
    return _decode_with_pillow(buf.tobytes())


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
    return _decode_with_pillow(buf.tobytes(), colour=True)


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """8-bit pixels from any depth, scaled by the bit depth the data really uses: a 16-bit PNG holding
    10-bit data (max 1023) or a float TIFF in [0, 1] must not come out black, as a fixed 8-bit shift or a
    plain cast would make them. Full 16-bit data keeps the usual shift by 8 bits."""
    if pixels.dtype == np.uint8:
        return pixels
    if pixels.dtype.kind in "ui":
        values = np.clip(pixels, 0, None)
        bits = max(8, int(values.max()).bit_length()) if values.size else 8
        if bits >= 16:
            return (values >> (bits - 8)).astype(np.uint8)
        return np.clip(values * (255.0 / (2 ** bits - 1)), 0, 255).round().astype(np.uint8)
    values = np.nan_to_num(pixels.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    top = float(values.max()) if values.size else 0.0
    scale = 255.0 if top <= 1.0 else 255.0 / top
    return np.clip(values * scale, 0, 255).round().astype(np.uint8)


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


def _check_dimensions(buf: np.ndarray) -> None:
    """Read only the header (no pixels) and refuse images that would be too large to decode."""
    size = _jpeg_or_png_size(buf[:65536].tobytes())
    if size is None:  # other formats: Pillow reads the header (a GIF's logical screen included)
        try:
            with warnings.catch_warnings():  # Pillow's own bomb warning: we apply our own limit below
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(io.BytesIO(buf.tobytes())) as im:
                    size = im.size
        except Image.DecompressionBombError:
            raise ImageDecodeError(f"image is far over the {MAX_PIXELS:,}-pixel limit; resize it first") from None
        except Exception:  # what cannot be sized is not decoded: OpenCV would allocate whatever it claims
            raise ImageDecodeError(f"not a readable image: its format is not one of {_FORMATS}") from None
    width, height = size
    if width * height > MAX_PIXELS:
        raise ImageDecodeError(
            f"image is {width}x{height} pixels, over the {MAX_PIXELS:,}-pixel limit; resize it first"
        )


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
