"""Uniform, read-only access to the files of a folder or a zip archive (never extracted to disk)."""
from __future__ import annotations

import hashlib
import io
import lzma
import mmap
import os
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from fer_core.common.files import read_bounded
from fer_core.data.dataset import DataError

# Bounds for archives we did not make (uploads, downloads): refuse rather than exhaust memory.
MAX_ARCHIVE_FILES = 500_000
MAX_ARCHIVE_UNCOMPRESSED = 8 * 1024**3
MAX_MEMBER_BYTES = 64 * 1024**2  # one file of a dataset (an image, a CSV part): far above any real one


def is_junk(rel: str) -> bool:
    """Files every layout ignores: macOS resource forks, hidden files, thumbnails caches."""
    parts = PurePosixPath(rel).parts
    return any(p.startswith(".") or p == "__MACOSX" for p in parts) or parts[-1].lower() == "thumbs.db"


@dataclass
class FileEntry:
    rel: str  # POSIX path relative to the tree's root
    size: int


class FileTree:
    """The files below a folder or inside a zip; `read(entry)` returns the bytes of one file."""

    def __init__(self, path: str | os.PathLike, max_files: int = MAX_ARCHIVE_FILES):
        """`max_files`: a zip with more entries is refused before any is read (photo zips allow fewer)."""
        self.path, self.max_files = Path(path), max_files
        if not self.path.exists():
            raise DataError(f"{self.path}: no such file or folder. Give the path to a dataset zip, folder or CSV.")
        self.is_zip = self.path.is_file()
        self.refused: list[tuple[str, str]] = []  # (rel, why) for folder entries that are not read at all
        if self.is_zip:
            self._raw = _map_file(self.path)
            self._open_zip()
        else:
            self.entries = sorted(self._walk_folder(), key=lambda e: e.rel)

    @classmethod
    def from_bytes(cls, data: bytes, name: str) -> "FileTree":
        """The members of a zip held in memory (an upload), named `name` in messages; same checks."""
        tree = cls.__new__(cls)
        tree.path, tree.is_zip, tree._raw, tree.refused, tree.max_files = Path(name), True, data, [], MAX_ARCHIVE_FILES
        tree._open_zip()
        return tree

    # -- zip: map the archive once, then slice each member's bytes out of it --
    def _zip_file(self) -> zipfile.ZipFile:
        return zipfile.ZipFile(io.BytesIO(self._raw) if isinstance(self._raw, bytes) else self.path)

    def _open_zip(self) -> None:
        try:
            with self._zip_file() as zf:
                infos = [i for i in zf.infolist() if not i.is_dir()]
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, OSError) as exc:
            raise DataError(f"{self.path}: not a readable zip archive ({exc}).") from None
        if len(infos) > self.max_files:
            raise DataError(f"{self.path}: {len(infos):,} files, over the limit of {self.max_files:,}.")
        total = sum(i.file_size for i in infos)
        if total > MAX_ARCHIVE_UNCOMPRESSED:
            raise DataError(f"{self.path}: {total / 1024**3:.1f} GB uncompressed, over the {MAX_ARCHIVE_UNCOMPRESSED / 1024**3:.0f} GB limit.")
        self._check_no_overlaps(infos)
        self._infos = {}
        self.entries = []
        for info in infos:
            rel = info.filename.replace("\\", "/").lstrip("/")
            if is_junk(rel):
                continue
            if rel in self._infos:  # one would silently replace the other and be counted twice
                raise DataError(f"{self.path}: two entries are named {rel!r}; a dataset zip needs unique names.")
            self._infos[rel] = info
            self.entries.append(FileEntry(rel, info.file_size))
        self.entries.sort(key=lambda e: e.rel)

    def _check_no_overlaps(self, infos: list[zipfile.ZipInfo]) -> None:
        """Refuse archives whose entries share bytes (a zip bomb trick: thousands of names, one member)."""
        end = 0
        for info in sorted(infos, key=lambda i: i.header_offset):
            if info.header_offset < end:
                raise DataError(f"{self.path}: entries overlap inside the archive ({info.filename!r}); "
                                "this is not an ordinary zip, so it was not read.")
            try:
                end = member_span(self._raw, info)[1]
            except zipfile.BadZipFile as exc:
                raise DataError(f"{self.path}: the zip is damaged ({exc}).") from None

    def _walk_folder(self):
        """Regular files only: a FIFO would block a read for ever, a device (or a link to /dev/zero) never
        end one, and a link leading out of the folder would read files the dataset does not hold."""
        root = os.path.realpath(self.path)
        for dirpath, dirnames, filenames in os.walk(self.path):
            dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "__MACOSX"]
            for name in filenames:
                full = os.path.join(dirpath, name)
                rel = os.path.relpath(full, self.path).replace(os.sep, "/")
                if is_junk(rel):
                    continue
                why = _why_not_readable(full, root)
                if why:
                    self.refused.append((rel, why))
                else:
                    yield FileEntry(rel, os.stat(full).st_size)

    def read(self, entry: FileEntry) -> bytes:
        """The file's bytes; raises OSError / zlib.error / zipfile.BadZipFile for a damaged member."""
        if not self.is_zip:
            return read_bounded(self.path / entry.rel, MAX_MEMBER_BYTES)
        info = self._infos[entry.rel]
        if info.flag_bits & 0x1:
            raise zipfile.BadZipFile(f"{entry.rel} is password-protected; use an unencrypted zip")
        if info.file_size > MAX_MEMBER_BYTES:
            raise zipfile.BadZipFile(f"{entry.rel} inflates to {info.file_size / 1024**2:.0f} MB, over the "
                                     f"{MAX_MEMBER_BYTES / 1024**2:.0f} MB limit for one file")
        start, end = member_span(self._raw, info)
        payload = self._raw[start:end]
        # Inflate at most one byte past the declared size, whatever the method: a member that claims
        # to be small but inflates to gigabytes is caught after size + 1 bytes, not after gigabytes.
        if info.compress_type == zipfile.ZIP_STORED:
            data = payload
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            data = zlib.decompressobj(-15).decompress(payload, info.file_size + 1)
        else:  # rare methods (bzip2, lzma): zipfile's stream, read with the same bound
            try:
                with self._zip_file() as zf, zf.open(info) as member:
                    data = member.read(info.file_size + 1)
            except NotImplementedError:  # deflate64, AES, ...: zipfile names the method
                raise zipfile.BadZipFile(f"{entry.rel} is compressed with a method this reader does not "
                                         f"support (method {info.compress_type}); re-create the zip with deflate") from None
            except (RuntimeError, EOFError, lzma.LZMAError, OSError) as exc:
                raise zipfile.BadZipFile(f"{entry.rel} is damaged ({exc})") from None
        if len(data) > info.file_size:
            raise zipfile.BadZipFile(f"{entry.rel} inflates past its declared size: a damaged or hostile archive")
        if zlib.crc32(data) != info.CRC:
            raise zipfile.BadZipFile("CRC mismatch: the archive member is damaged")
        return data



def _why_not_readable(full: str, root: str) -> str | None:
    """Why a folder entry must not be read (None when it may): not a regular file, a link leading out of
    the dataset folder, or too large for one file of a dataset."""
    try:
        if os.path.islink(full) and os.path.commonpath([root, os.path.realpath(full)]) != root:
            return "a link to a file outside the dataset folder (copy the file in instead)"
        st = os.stat(full)
    except (OSError, ValueError) as exc:  # a dangling link, a link loop
        return f"could not be read ({getattr(exc, 'strerror', None) or exc})"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file (a pipe, device or socket)"
    if st.st_size > MAX_MEMBER_BYTES:
        return f"{st.st_size / 1024**2:.0f} MB, over the {MAX_MEMBER_BYTES / 1024**2:.0f} MB limit for one file"
    return None


def member_span(raw: bytes | memoryview, info: zipfile.ZipInfo) -> tuple[int, int]:
    """Where a member's compressed bytes lie in the archive (start, end), read from its local header;
    zipfile.BadZipFile when the header is not there."""
    start = info.header_offset
    header = bytes(raw[start:start + _LOCAL_HEADER])
    if len(header) < _LOCAL_HEADER or header[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"entry {info.filename!r} has no local header")
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    data_start = start + _LOCAL_HEADER + name_len + extra_len
    if data_start + info.compress_size > len(raw):
        raise zipfile.BadZipFile(f"entry {info.filename!r} runs past the end of the archive")
    return data_start, data_start + info.compress_size


_LOCAL_HEADER = 30  # bytes before a member's name in its local header


def _map_file(path: Path) -> mmap.mmap | bytes:
    """The file's bytes, memory-mapped: a multi-gigabyte zip given by path costs address space, not RAM."""
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size == 0:
                return b""
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: could not be read ({getattr(exc, 'strerror', None) or exc}).") from None


def fingerprint(path: str | os.PathLike) -> str:
    """A key that changes when a file's or folder's content changes (path, sizes and mtimes).

    Cheap for a single file (one stat), so a cached dataset can be found without opening it.
    """
    path = Path(path)
    h = hashlib.sha256(str(path.resolve()).encode())
    if path.is_file():
        st = path.stat()
        h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
    else:
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames.sort()
            for name in sorted(filenames):
                try:
                    st = os.stat(os.path.join(dirpath, name))
                except OSError:  # a dangling link or a loop: listed as refused, still part of the key
                    st = os.lstat(os.path.join(dirpath, name))
                rel = os.path.relpath(os.path.join(dirpath, name), path)
                h.update(f"{rel}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:20]
