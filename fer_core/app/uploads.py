"""Files users upload through the app: dataset zips (validated, then stored) and single images.

Nothing here trusts an upload. A dataset zip is checked from its bytes in memory, never extracted:
size, member count, declared and actual uncompressed sizes (zip bombs), entry names (path escape),
and the class-folder layout the data layer would read. Only then is it stored, under its content
hash, in `data_dir()/uploads/`, where `load_dataset` reads it like any other zip.
"""
from __future__ import annotations

import hashlib
import io
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from fer_core.common import paths
from fer_core.data.dataset import DataError, LoadReport
from fer_core.data.decode import IMAGE_EXTENSIONS, MAX_IMAGE_BYTES, ImageDecodeError, check_pixel_count, read_header
from fer_core.data.files import FileTree
from fer_core.data.sources import plan_images
from fer_core.common.files import atomic_write_bytes

GB = 1024**3
MB = 1024**2
# Image formats the data layer reads (Pillow's names; PPM covers .pgm/.pbm, MPO is a camera JPEG).
IMAGE_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "MPO": "JPEG", "BMP": "BMP", "DIB": "BMP", "GIF": "GIF",
                 "TIFF": "TIFF", "WEBP": "WebP", "PPM": "PGM/PPM"}
_FORMAT_LIST = "PNG, JPEG, BMP, GIF, TIFF, WebP or PGM"
# Signatures of common non-image uploads, so the message can say what the file is instead.
_SIGNATURES = [
    (b"%PDF", "a PDF document"), (b"PK\x03\x04", "a zip archive"), (b"PK\x05\x06", "an empty zip archive"),
    (b"\x1f\x8b", "a gzip archive"), (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"), (b"Rar!", "a RAR archive"),
    (b"\xd0\xcf\x11\xe0", "an old Microsoft Office document"), (b"\x7fELF", "a program"),
    (b"MZ", "a Windows program"),
]
_DRIVE = re.compile(r"^[A-Za-z]:")


class UploadError(ValueError):
    """An upload was refused; the message says why and what to do."""


@dataclass(frozen=True)
class UploadLimits:
    """Bounds for an uploaded dataset zip; anything over one of them is refused."""

    max_bytes: int = 2 * GB              # the zip itself
    max_members: int = 100_000           # entries, folders included (FER2013's zip has ~36,000; a
                                         # 100,000-photo upload costs ~30 s and ~0.8 GB to check)
    max_uncompressed: int = 4 * GB       # all members together, decompressed
    max_ratio: float = 200.0             # per member: uncompressed / compressed size ...
    ratio_min_bytes: int = 1 * MB        # ... checked for members at least this large


def uploads_dir() -> Path:
    """Where uploaded datasets are stored: data_dir()/uploads."""
    return paths.data_dir() / "uploads"


def _describe_content(data: bytes) -> str:
    """A few words on what some bytes look like, for messages about the wrong kind of file."""
    for magic, what in _SIGNATURES:
        if data.startswith(magic):
            return what
    head = data[:4096]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return "a file of an unrecognised type"
    printable = sum(c.isprintable() or c in "\r\n\t" for c in text)
    return "a text file" if text and printable / len(text) > 0.95 else "a file of an unrecognised type"


def _size(n: int) -> str:
    return f"{n / GB:.1f} GB" if n >= GB else f"{n / MB:.1f} MB" if n >= MB else f"{n:,} bytes"


def safe_filename(filename: str, default: str = "dataset.zip") -> str:
    """The last component of a client-supplied name, reduced to letters, digits, '.', '-', '_'."""
    name = re.split(r"[\\/]", filename or "")[-1]
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name)
    name = re.sub(r"_+(?=\.)", "", name).strip("._-")[-80:]  # 'My Faces (v2).zip' -> 'My_Faces_v2.zip'
    return name or default


# ---------------------------------------------------------------- dataset zips

def _unsafe_entry_reason(name: str) -> str | None:
    """Why an entry name would escape the folder it is extracted into, or None if it is safe."""
    posix = name.replace("\\", "/")
    if posix.startswith("/"):
        return "is an absolute path"
    if _DRIVE.match(posix):
        return "starts with a drive letter"
    if ".." in PurePosixPath(posix).parts:
        return "contains a '..' component"
    return None


def _check_members(data: bytes, zf: zipfile.ZipFile, filename: str, limits: UploadLimits) -> None:
    infos = zf.infolist()
    if len(infos) > limits.max_members:
        raise UploadError(f"{filename}: {len(infos):,} entries, over the limit of {limits.max_members:,}. "
                          "Split the dataset or remove files that are not images.")
    for info in infos:
        reason = _unsafe_entry_reason(info.filename)
        if reason:
            raise UploadError(f"{filename}: entry {info.filename!r} {reason}, which could write outside the "
                              "dataset folder; refusing the archive. Re-create the zip from the dataset folder.")
    total = sum(i.file_size for i in infos)
    if total > limits.max_uncompressed:
        raise UploadError(f"{filename}: {_size(total)} uncompressed, over the {_size(limits.max_uncompressed)} "
                          "limit. Use a smaller dataset or give its path on this machine instead.")
    files = [i for i in infos if not i.is_dir()]
    for info in files:
        if info.flag_bits & 0x1:
            raise UploadError(f"{filename}: entry {info.filename!r} is password-protected; upload an unencrypted zip.")
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size >= limits.ratio_min_bytes and ratio > limits.max_ratio:
            raise UploadError(f"{filename}: entry {info.filename!r} expands {ratio:,.0f}x "
                              f"({_size(info.compress_size)} -> {_size(info.file_size)}), over the "
                              f"{limits.max_ratio:,.0f}x limit; refusing a possible zip bomb.")
    for info in files:
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
            raise UploadError(f"{filename}: entry {info.filename!r} has inconsistent sizes; the zip is damaged.")


def _check_contents(tree: FileTree, filename: str) -> None:
    """Refuse a zip the data layer would not read, with the data layer's own reader: its layout
    detection on the entry names, then every image member read as loading will read it (bounded
    inflation whatever the method, CRC) and sized from its header.
    A damaged or hostile member (one that inflates past its declared size, fails its CRC, is encrypted
    or uses an unknown method) refuses the whole zip. Unreadable images refuse it only when no image
    is readable; otherwise the dataset loads and its load report lists them."""
    try:
        plan_images(tree, LoadReport())
    except DataError as exc:
        raise UploadError(str(exc)) from None
    problems, readable = [], 0
    for entry in tree.entries:
        if Path(entry.rel).suffix.lower() not in IMAGE_EXTENSIONS:
            continue
        try:
            member = tree.read(entry)
        except (zipfile.BadZipFile, zlib.error, OSError) as exc:
            raise UploadError(f"{filename}: entry {entry.rel!r} cannot be read safely ({exc}); "
                              "refusing the archive. Re-create the zip from the dataset folder.") from None
        try:
            if not member:
                raise ImageDecodeError("empty file")
            check_pixel_count(*read_header(member)[1:])
            readable += 1
        except ImageDecodeError as exc:
            problems.append(f"{entry.rel}: {exc}")
    if not readable and problems:
        raise UploadError(f"{filename}: none of its {len(problems)} image(s) can be read; the first: {problems[0]}.")


def validate_dataset_zip(data: bytes, filename: str, limits: UploadLimits | None = None) -> None:
    """Check an uploaded dataset zip without extracting it; UploadError says what is wrong."""
    limits = limits or UploadLimits()
    if not data:
        raise UploadError(f"{filename} is empty.")
    if len(data) > limits.max_bytes:
        raise UploadError(f"{filename} is {_size(len(data))}, over the {_size(limits.max_bytes)} upload limit. "
                          "Give the dataset's path on this machine instead.")
    # a zip starts with a member, or (self-extracting, prefixed) ends with its end-of-archive record
    if not data.startswith((b"PK\x03\x04", b"PK\x05\x06")) and b"PK\x05\x06" not in data[-65_600:]:
        raise UploadError(f"{filename} is not a zip archive: it looks like {_describe_content(data)}. "
                          "Upload a .zip of class folders (e.g. happy/001.jpg, sad/002.png).")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
        raise UploadError(f"{filename} is not a readable zip archive ({exc}).") from None
    with zf:
        _check_members(data, zf, filename, limits)
    try:  # the data layer's reader: overlapping entries and duplicate names refused
        tree = FileTree.from_bytes(data, filename)
    except DataError as exc:
        raise UploadError(str(exc)) from None
    _check_contents(tree, filename)


def save_uploaded_dataset(data: bytes, filename: str, dest_dir: str | Path | None = None,
                          limits: UploadLimits | None = None) -> Path:
    """Validate an uploaded dataset zip and store it; returns the stored path for `load_dataset`.

    Stored as `<dest_dir or uploads_dir()>/<sha256 prefix>-<safe name>.zip`. The same bytes give
    the same file whatever they were called, so uploading twice stores nothing new (and the
    data layer's cache, keyed on path and mtime, stays valid).
    """
    validate_dataset_zip(data, filename, limits)
    digest = hashlib.sha256(data).hexdigest()[:16]
    folder = Path(dest_dir) if dest_dir is not None else uploads_dir()
    existing = sorted(folder.glob(f"{digest}-*.zip"))
    if existing:
        return existing[0]
    name = safe_filename(filename)
    if not name.lower().endswith(".zip"):
        name += ".zip"
    target = folder / f"{digest}-{name}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, data)
    except OSError as exc:
        raise UploadError(f"Could not store {filename} in {folder}: {exc.strerror or exc}.") from None
    return target


def save_uploaded_votes(data: bytes, filename: str, dest_dir: str | Path | None = None) -> Path:
    """Check an uploaded FER+ votes CSV (data/votes.py's checks) and store it under its content hash
    beside the uploaded datasets; returns the stored path for `load_dataset(votes=...)`."""
    from fer_core.data.votes import MAX_VOTES_BYTES, read_votes

    if len(data) > MAX_VOTES_BYTES:
        raise UploadError(f"{filename} is {_size(len(data))}, over the {_size(MAX_VOTES_BYTES)} limit for a "
                          "votes file (FER+'s is 1.8 MB).")
    digest = hashlib.sha256(data).hexdigest()[:16]
    folder = Path(dest_dir) if dest_dir is not None else uploads_dir()
    name = safe_filename(filename)
    target = folder / f"{digest}-{name if name.lower().endswith('.csv') else name + '.csv'}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            atomic_write_bytes(target, data)
        read_votes(target)
    except DataError as exc:
        target.unlink(missing_ok=True)
        raise UploadError(str(exc).replace(str(target), filename)) from None
    except OSError as exc:
        raise UploadError(f"Could not store {filename} in {folder}: {exc.strerror or exc}.") from None
    return target


# ---------------------------------------------------------------- single images

def check_image_upload(data: bytes, filename: str, max_bytes: int = MAX_IMAGE_BYTES) -> None:
    """Refuse an uploaded image that is empty, too large, or not an image the app reads.

    The type comes from the content (the header Pillow identifies), not the name; the pixel limit
    is the data layer's (decode.MAX_PIXELS). Pixels are not decoded here.
    """
    if not data:
        raise UploadError(f"{filename} is empty.")
    if len(data) > max_bytes:
        raise UploadError(f"{filename} is {_size(len(data))}, over the {_size(max_bytes)} limit for images; "
                          "upload a smaller or more compressed image.")
    try:
        fmt, width, height = read_header(data)
        check_pixel_count(width, height)
    except ImageDecodeError as exc:
        if "not a readable image" in str(exc):
            raise UploadError(f"{filename} is not an image: it looks like {_describe_content(data)}. "
                              f"Upload a {_FORMAT_LIST} image.") from None
        raise UploadError(f"{filename}: {exc}.") from None
    if fmt not in IMAGE_FORMATS:
        raise UploadError(f"{filename} is a {fmt} image, which the app does not read; "
                          f"upload a {_FORMAT_LIST} image.")
