"""Numbers as the pages and messages say them: ordinals and durations."""
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
