"""The only way DB-derived text becomes something Textual renders.

Every database value, file name and error message goes through `safe()`: it is sanitised (no control,
format or bidi characters: hazards.md rule 2) and wrapped in a `rich.text.Text`, which is never parsed
as markup (rule 1). Never pass DB text to `Static(str)`, `Label(str)`, `notify(str)`, tooltips,
`border_title = str`, `DataTable.add_column(str)` or `add_row(str)`: they parse markup. Where Textual
wants a `str` it shows literally (screen titles, `Content(str)`), pass `plain(...)`.
"""

from __future__ import annotations

from rich.text import Text

from batchtop.core.sanitize import clean, display
from batchtop.core.timeutil import human_age, human_duration


def safe(value: object, limit: int | None = None, style: str = "") -> Text:
    """One sanitised, redacted line as literal Text."""
    return Text(display("" if value is None else str(value), limit), style=style, no_wrap=True,
                overflow="ellipsis")


def plain(value: object, limit: int | None = None) -> str:
    """The same sanitised, redacted line as a `str`, for the few places that take a literal `str` and
    never parse it (`Screen.sub_title`, `Content(...)`, `notify(..., markup=False)`)."""
    return safe(value, limit).plain


def safe_block(value: object, style: str = "") -> Text:
    """Multi-line sanitised text (newlines and tabs kept) as literal Text."""
    return Text(clean("" if value is None else str(value), multiline=True), style=style)


def fmt_rate(rate: float | None) -> str:
    """'12.3/min', '0.40/min', '—'."""
    if rate is None:
        return "—"
    return f"{rate:,.1f}/min" if rate >= 10 else f"{rate:.2f}/min"


def fmt_eta(eta: tuple[float, float] | None) -> str:
    """'12m–18m', 'done', '—'."""
    if eta is None:
        return "—"
    lo, hi = eta
    if hi <= 0:
        return "done"
    a, b = _coarse(lo), _coarse(hi)
    return a if a == b else f"{a}–{b}"


def _coarse(seconds: float) -> str:
    """An ETA bound to the precision it deserves: '40s', '7m', '2h 05m', '3d 4h'."""
    if seconds < 60:
        return f"{int(seconds)}s"
    if seconds < 3600:
        return f"{round(seconds / 60)}m"
    return human_duration(seconds)


def fmt_age(now: float, then: float | None) -> str:
    """'4s ago', '3m 10s ago', 'never'; a time ahead of the clock says so (never '0s ago')."""
    return human_age(now, then)
