"""The app's few remembered choices, in one small JSON file in the data folder (`data/settings.json`): the
dataset chosen on Home, the architectures and strategies last launched on Train. A reload, or a link
straight to a page, starts from them. The file is read as untrusted input: each reader takes only the
bounded, known values it expects, and anything else means "nothing remembered"."""
from __future__ import annotations

import json
from pathlib import Path

from fer_core.common import paths
from fer_core.common.files import atomic_write_json

SETTINGS_FILE = "settings.json"
MAX_SETTINGS_BYTES = 64 * 1024


def settings_path() -> Path:
    return paths.data_dir() / SETTINGS_FILE


def read_settings() -> dict:
    """What is remembered, as a dict ({} when there is no file, or it is too big or not a JSON object)."""
    try:
        with open(settings_path(), "rb") as f:
            raw = f.read(MAX_SETTINGS_BYTES + 1)
        record = json.loads(raw) if len(raw) <= MAX_SETTINGS_BYTES else {}
    except (OSError, ValueError, RecursionError):
        return {}
    return record if isinstance(record, dict) else {}


def update_settings(**values) -> None:
    """Remember `values` beside what is remembered already. A data folder that cannot be written only means
    nothing is remembered."""
    record = read_settings()
    if all(record.get(k) == v for k, v in values.items()):
        return
    try:
        settings_path().parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(settings_path(), {**record, **values})
    except OSError:
        pass
