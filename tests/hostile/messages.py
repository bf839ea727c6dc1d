"""What every refusal of a hostile input must look like: one clear, human line."""
from __future__ import annotations

import re

# What leaks out when an error is not handled on purpose: a traceback, an object repr, a bare type.
_LEAKS = re.compile(r"Traceback|object at 0x|^\s*$|\bNone\b$|File \"|line \d+, in ")


def assert_clear(message: str, *, max_chars: int = 600) -> None:
    """A message a person can act on: one line, not empty, no traceback or object repr, not the CLI's
    catch-all for errors nobody handled."""
    text = str(message).strip()
    assert text, "empty error message"
    assert "\n" not in text, f"more than one line: {text!r}"
    assert not _LEAKS.search(text), f"leaks internals: {text!r}"
    assert "unexpected error" not in text, f"reached the catch-all: {text!r}"
    assert len(text) <= max_chars, f"too long to read ({len(text)} chars): {text[:200]!r}..."
