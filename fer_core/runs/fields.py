"""What the fields of a run folder's JSON files may hold, checked on every read.

A run folder is data anyone can edit or damage. Every field a listing, table or page reads is checked
here once, so that one bad value makes its run "unreadable" (with the reason) instead of raising in
whichever page happens to use it, and never hides the other runs. Fields not named here are kept as
they are; every field may be absent or null.
"""
from __future__ import annotations

import math
from typing import Any, Callable

LATEST_TIME = 1e11  # seconds since 1970: the year 5138, far past any real run and within time_t


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 10**9


def _time(v: Any) -> bool:
    return _number(v) and 0 <= v <= LATEST_TIME


def _fraction(v: Any) -> bool:
    return _number(v) and 0 <= v <= 1


def _text(v: Any) -> bool:
    return isinstance(v, str)


def _texts(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _mapping(v: Any) -> bool:
    return isinstance(v, dict)


def _per_class(v: Any) -> bool:
    return isinstance(v, dict) and all(isinstance(scores, dict) and all(_number(x) or x is None for x in scores.values())
                                       for scores in v.values())


Check = tuple[Callable[[Any], bool], str]
TEXT: Check = (_text, "text")
COUNT: Check = (_count, "a whole number from 0")
TIME: Check = (_time, "a time in seconds since 1970")
NUMBER: Check = (_number, "a finite number")
FRACTION: Check = (_fraction, "a number from 0 to 1")

STATUS_FIELDS: dict[str, Check] = {
    "status": TEXT, "phase": TEXT, "host": TEXT, "error": TEXT, "traceback": TEXT,
    "queued_at": TIME, "started_at": TIME, "updated_at": TIME, "finished_at": TIME,
    "epochs": COUNT, "epoch": COUNT, "batch": COUNT, "batches": COUNT, "best_epoch": COUNT, "pid": COUNT,
    "resume_from": COUNT, "at_once": COUNT, "backend": TEXT, "cluster_job": TEXT, "cluster_state": TEXT,
    "pid_start": ((lambda v: _text(v) or _number(v)), "text or a number"),
}
CONFIG_FIELDS: dict[str, Check] = {
    "arch": TEXT, "imbalance": TEXT, "data": TEXT, "recipe": TEXT, "class_set": TEXT, "device": TEXT,
    "votes": TEXT, "label_mode": TEXT,
    "epochs": COUNT, "input_size": COUNT, "synthetic_size": COUNT, "batch_size": COUNT,
    "imbalance_options": (_mapping, "a JSON object"), "backend": (_mapping, "a JSON object"),
}
EVALUATION_FIELDS: dict[str, Check] = {
    "split": TEXT, "selected_on": TEXT, "n": COUNT, "best_epoch": COUNT,
    "accuracy": FRACTION, "macro_f1": FRACTION, "best_val_score": NUMBER,
    "classes": (_texts, "a list of class names"),
    "per_class": (_per_class, "class name -> scores"),
}


def bad_field(value: Any, fields: dict[str, Check]) -> str | None:
    """Why a file's parsed JSON cannot be used (not an object, or a field of the wrong kind), or None."""
    if not isinstance(value, dict):
        return "not a JSON object"
    for key, (valid, expected) in fields.items():
        found = value.get(key)
        if found is not None and not valid(found):
            shown = repr(found) if len(repr(found)) <= 40 else repr(found)[:37] + "..."
            return f"{key!r} is {shown}, expected {expected}"
    return None
