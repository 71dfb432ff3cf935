"""Small helpers for user-facing text shared by panels (each panel keeps its own MESSAGES)."""

from __future__ import annotations


def format_seconds(seconds: float) -> str:
    """1:02:03 / 4:05 style, for ETA and elapsed time."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_count(n: int) -> str:
    """22.5 M, 1.2 k, 950."""
    if n >= 1_000_000_000:
        return f"{n / 1e9:.1f} B"
    if n >= 1_000_000:
        return f"{n / 1e6:.1f} M"
    if n >= 10_000:
        return f"{n / 1e3:.1f} k"
    return f"{n:,}"


def describe_error(exc: BaseException) -> str:
    """A UserError's message as is; anything else with its type, so bugs are recognisable."""
    from workbench.errors import UserError

    if isinstance(exc, UserError):
        return str(exc)
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
