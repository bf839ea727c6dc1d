"""Numbers as the pages and messages say them: ordinals, durations, percentages and scores. One formatter
per kind of figure, so a figure reads the same on every page and in every message."""
from __future__ import annotations


def ordinal(n: float) -> str:
    """1 -> '1st', 2 -> '2nd', 11 -> '11th', 99 -> '99th', 2.5 -> '2.5th'."""
    if n != int(n):
        return f"{n:g}th"
    n = int(n)
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def format_duration(seconds: float | None) -> str:
    """'12 s', '3 min 05 s', '1 h 02 min'; '' when unknown."""
    if seconds is None:
        return ""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def percent(fraction: float | None, digits: int = 1) -> str:
    """An accuracy or a share as people read it: 0.6486 -> '64.9%'; '' when unknown."""
    if fraction is None or fraction != fraction:  # None or NaN
        return ""
    return f"{fraction:.{digits}%}"


def score(value: float | None) -> str:
    """A score on a 0-1 scale that is not a share (macro-F1, a loss): 0.62708 -> '0.627'; '' when unknown."""
    if value is None or value != value:
        return ""
    return f"{value:.3f}"
