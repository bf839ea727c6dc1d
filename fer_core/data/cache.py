"""Decoded-dataset cache: one .npz per source version, verified on load, rebuilt when bad."""
from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np

from fer_core.common.files import atomic_writer, remove_stale_temporaries
from fer_core.data.dataset import FaceDataset, LoadReport

# Bump when the decoded form changes, so old caches are ignored rather than trusted.
CACHE_VERSION = 1
_ARRAYS = ("images", "labels", "splits", "ids", "groups")


def _checksum(arrays: dict[str, np.ndarray]) -> int:
    crc = 0
    for name in ("images", "labels", "splits", "groups"):
        crc = zlib.crc32(np.ascontiguousarray(arrays[name]), crc)
    return crc


_swept: set[Path] = set()  # cache folders already cleared of stale temporaries by this process


def cache_path(cache_dir: Path, kind: str, fingerprint: str) -> Path:
    """Where a source's cache lives. The first call per folder and process also removes the partial
    files a process killed while saving a cache left behind (each can be hundreds of MB)."""
    folder = Path(cache_dir)
    if folder not in _swept:
        _swept.add(folder)
        remove_stale_temporaries(folder)
    return folder / f"{kind}-{fingerprint}-v{CACHE_VERSION}.npz"


def save(path: Path, ds: FaceDataset, groups: np.ndarray) -> None:
    """Write atomically (common/files.py), so a crash never leaves half a cache."""
    arrays = {"images": ds.images, "labels": ds.labels, "splits": ds.splits, "ids": ds.ids.astype(str),
              "groups": groups}
    meta = {"version": CACHE_VERSION, "classes": list(ds.classes), "source": ds.source, "kind": ds.kind,
            "report": ds.report.to_dict(), "n": len(ds), "checksum": _checksum(arrays)}
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_writer(path) as f:
        np.savez(f, meta=np.array(json.dumps(meta)), **arrays)


def load(path: Path) -> tuple[FaceDataset, np.ndarray] | None:
    """The cached dataset and its duplicate groups, or None if missing, stale or corrupt."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            arrays = {name: z[name] for name in _ARRAYS}
        if meta.get("version") != CACHE_VERSION or meta["n"] != len(arrays["images"]) \
                or _checksum(arrays) != meta["checksum"]:
            return None
        ds = FaceDataset(images=arrays["images"], labels=arrays["labels"], splits=arrays["splits"],
                         ids=arrays["ids"], classes=tuple(meta["classes"]), source=meta["source"],
                         kind=meta["kind"], report=LoadReport.from_dict(meta["report"]))
        return ds, arrays["groups"]
    except Exception:  # truncated zip, bad JSON, wrong shapes: any of these means "rebuild"
        return None
