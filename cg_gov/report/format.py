"""Number and text formatting shared by the report and diff views.

Every number a reader sees goes through these functions, so the same value is
written the same way everywhere ("n/a" for a missing value, intervals as
``[low, high]``).
"""
from __future__ import annotations

from cg_gov.text import truncate

__all__ = ["NA", "fmt_num", "fmt_signed", "fmt_ci", "fmt_pct", "fmt_int", "truncate"]

NA = "n/a"


def fmt_num(value: float | None, digits: int = 2) -> str:
    """``value`` with ``digits`` decimals; small non-zero values in scientific notation."""
    if value is None:
        return NA
    if value != 0 and abs(value) < 0.5 * 10 ** -digits:
        return f"{value:.1e}"
    text = f"{value:.{digits}f}"
    return "0." + "0" * digits if text.lstrip("-").strip("0.") == "" else text


def fmt_signed(value: float | None, digits: int = 2) -> str:
    """Like :func:`fmt_num` with an explicit sign (``+0.12``, ``-0.05``)."""
    if value is None:
        return NA
    text = fmt_num(value, digits)
    return text if text.startswith("-") or text.strip("0.") == "" else "+" + text


def fmt_ci(ci: tuple[float, float] | list[float] | None, digits: int = 2, signed: bool = False) -> str:
    """A confidence interval as ``[low, high]``."""
    if ci is None:
        return NA
    fmt = fmt_signed if signed else fmt_num
    return f"[{fmt(ci[0], digits)}, {fmt(ci[1], digits)}]"


def fmt_pct(fraction: float | None, digits: int = 0) -> str:
    """A fraction in [0, 1] as a percentage."""
    return NA if fraction is None else f"{fraction * 100:.{digits}f}%"


def fmt_int(value: int | None) -> str:
    """An integer with thousands separators."""
    return NA if value is None else f"{value:,}"
