"""The one atomic writer, and the one bounded reader.

Every write goes to a temporary file in the same folder first (fsynced), then is renamed over the
target, so a crash or a kill at any moment leaves the previous complete version, never half a file.
Every read of a file we did not make checks, before reading, that it is a regular file (a FIFO would
block for ever, a device never end) and no larger than its kind allows (a sparse 2 GiB status.json).
"""
from __future__ import annotations

import json
import os
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Iterator


@contextmanager
def atomic_writer(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A binary file object whose content replaces `path` when the block ends without an error."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_temporaries(folder: str | os.PathLike, older_than_s: float = 3600.0) -> int:
    """Delete what atomic_writer left in `folder` when its process was killed mid-write: temporary files
    untouched for `older_than_s` (a live writer's file is newer). Returns how many were removed."""
    import time
    removed, cutoff = 0, time.time() - older_than_s
    try:
        candidates = list(Path(folder).glob(".*.tmp"))
    except OSError:
        return 0
    for tmp in candidates:
        try:
            if tmp.is_file() and tmp.stat().st_mtime < cutoff:
                tmp.unlink()
                removed += 1
        except OSError:
            continue  # removed by another process meanwhile, or not ours to remove
    return removed


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_writer(path) as f:
        f.write(data)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=2, default=_json_default).encode())


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):  # numpy arrays and tensors
        return obj.tolist()
    if hasattr(obj, "item"):  # numpy scalars
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def read_bounded(path: str | os.PathLike, limit: int) -> bytes:
    """A file's bytes, refused with OSError unless it is a regular file of at most `limit` bytes. Opened
    without blocking (a FIFO swapped in since it was listed opens at once) and checked on the open file."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(f"{Path(path).name} is not a regular file (a pipe, device or socket)")
        if st.st_size > limit:
            raise OSError(f"{Path(path).name} is {_size(st.st_size)}, over the {_size(limit)} limit for it")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise OSError(f"{Path(path).name} grew past the {_size(limit)} limit while it was read")
    return data


def _size(n: int) -> str:
    return f"{n / 1024**2:.1f} MB" if n < 1024**3 else f"{n / 1024**3:.1f} GB"
