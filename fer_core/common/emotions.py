"""The canonical emotion classes: names, display names, emoji, colours and class-set variants."""
from __future__ import annotations

import numbers

# Order matters: label indices everywhere refer to this order (FER2013's own order).
CANONICAL_CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
# Some datasets (CK+, AffectNet) add contempt; it comes after the FER2013 seven.
EXTRA_CLASSES: tuple[str, ...] = ("contempt",)
ALL_CLASSES: tuple[str, ...] = CANONICAL_CLASSES + EXTRA_CLASSES

DISPLAY_NAMES = {
    "angry": "Angry", "disgust": "Disgust", "fear": "Fear", "happy": "Happy",
    "neutral": "Neutral", "sad": "Sad", "surprise": "Surprise", "contempt": "Contempt",
}
EMOJI = {
    "angry": "😠", "disgust": "🤢", "fear": "😨", "happy": "😄",
    "neutral": "😐", "sad": "😢", "surprise": "😲", "contempt": "😒",
}
# One colour per class, used by every figure so a class looks the same everywhere.
COLOURS = {
    "angry": "#d62728", "disgust": "#2ca02c", "fear": "#9467bd", "happy": "#ffbf00",
    "neutral": "#7f7f7f", "sad": "#1f77b4", "surprise": "#ff7f0e", "contempt": "#8c564b",
}

# Spellings seen in public datasets' folder names, mapped to canonical names.
_ALIASES = {
    "angry": "angry", "anger": "angry", "mad": "angry",
    "disgust": "disgust", "disgusted": "disgust", "disgusting": "disgust",
    "fear": "fear", "fearful": "fear", "afraid": "fear", "scared": "fear",
    "happy": "happy", "happiness": "happy", "joy": "happy", "smile": "happy",
    "neutral": "neutral", "calm": "neutral",
    "sad": "sad", "sadness": "sad", "unhappy": "sad",
    "surprise": "surprise", "surprised": "surprise", "suprise": "surprise",
    "contempt": "contempt", "contemptuous": "contempt",
}

# Class-set variants: how the classes may be reduced before training.
CLASS_SETS: dict[str, str] = {
    "all": "every class the source has",
    "no_disgust": "drop the disgust images (disgust is ~1.5% of FER2013)",
    "merge_disgust": "relabel disgust as angry",
    "no_contempt": "drop the contempt images (FER+ labels: the 7 FER2013 classes)",
}


def canonical_name(name: str) -> str | None:
    """Canonical class for a folder or label name (case-insensitive, usual spellings), else None."""
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    for prefix in ("0_", "1_", "2_", "3_", "4_", "5_", "6_", "7_"):
        if key.startswith(prefix):  # folders such as "3_happy"
            key = key[len(prefix):]
    return _ALIASES.get(key)


def sort_classes(names) -> tuple[str, ...]:
    """Class names in canonical order."""
    return tuple(c for c in ALL_CLASSES if c in set(names))


def display(name: str) -> str:
    """Human-friendly label with emoji, e.g. '😄 Happy'."""
    return f"{EMOJI.get(name, '')} {DISPLAY_NAMES.get(name, name.title())}".strip()


def class_index(value, class_names, model: str = "this model") -> int:
    """A class given by index, canonical name or display name (any case) -> its index in `class_names`."""
    n = len(class_names)
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        if 0 <= value < n:
            return int(value)
        raise ValueError(f"unknown class {value} for {model}: the index is out of range; it has {n} classes "
                         f"(0-{n - 1}: {', '.join(class_names)})")
    if isinstance(value, str):
        lookup = {c.lower(): i for i, c in enumerate(class_names)}
        lookup.update({display(c).lower(): i for i, c in enumerate(class_names)})
        key = value.strip().lower()
        if key in lookup:
            return lookup[key]
        raise ValueError(f"unknown class {value!r} for {model}; it knows {', '.join(class_names)} "
                         f"(or an index 0-{n - 1})")
    raise ValueError(f"a class must be given as a class name or index, got {type(value).__name__} {value!r}")
