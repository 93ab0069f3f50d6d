"""Short human forms of numbers, durations and texts for a one-line status."""

from __future__ import annotations


def duration(seconds: float) -> str:
    """``0.4s``, ``12s``, ``3m05s``, ``1h02m``."""
    seconds = max(seconds, 0.0)
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def cost(usd: float | None) -> str:
    """``$0.012``, ``$1.25``; ``-`` when the provider reports no cost."""
    if usd is None:
        return "-"
    return f"${usd:.3f}" if usd < 1 else f"${usd:.2f}"


def one_line(text: str, width: int) -> str:
    """The first line of ``text``, cut to ``width`` characters with an ellipsis."""
    first, _, rest = text.strip().partition("\n")
    if len(first) > width or (rest and len(first) == width):
        return first[: max(width - 1, 0)] + "…"
    return first + ("…" if rest else "")
