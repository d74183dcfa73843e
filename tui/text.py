"""The only way DB-derived text becomes something Textual renders.

Every database value, file name and error message goes through `safe()`: it is sanitised (no control,
format or bidi characters: hazards.md rule 2) and wrapped in a `rich.text.Text`, which is never parsed
as markup (rule 1). Never pass DB text to `Static(str)`, `Label(str)`, `notify(str)`, tooltips,
`border_title = str`, `DataTable.add_column(str)` or `add_row(str)`: they parse markup. Where Textual
wants a `str` it shows literally (screen titles, `Content(str)`), pass `plain(...)`. Numbers, times and
ETAs are worded by `batchtop.core.fmt`.
"""

from __future__ import annotations

from rich.text import Text

from batchtop.core.sanitize import clean, display


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
