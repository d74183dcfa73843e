"""The status line: live or paused, poll interval, watch state, when the data last changed, poll cost."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widget import Widget

from batchtop.core import fmt
from batchtop.tui.widgets.cells import joined


@dataclass(frozen=True)
class LiveInfo:
    """What the status line shows. Frozen, so an unchanged line is not re-rendered."""

    paused: bool
    interval: float
    #: True: watching directories; False: watch off or failed (timed polls only); None: starting.
    watching: bool | None
    now: float
    last_change: float | None
    #: Cost of the latest poll (or of the latest round of polls, on the overview).
    cost: float | None = None
    queries: int | None = None
    #: What `cost` covers: "last poll" or "last round (12 sources)".
    scope: str = "last poll"
    #: Show the measured cost (snapshot tests turn it off: wall time is not deterministic).
    show_cost: bool = True
    in_flight: int = 0


def render_info(info: LiveInfo) -> Text:
    """The status line's text."""
    if info.paused:
        mode = Text("‖ PAUSED", style="bold black on yellow")
        mode.append(" p resumes", style="yellow")
    else:
        mode = Text("● LIVE", style="bold green")
    poll = Text(f"poll every {fmt.interval(info.interval)}")
    poll.append(" (+/-)", style="bright_black")
    if info.watching is None:
        watch = Text("watch: starting", style="bright_black")
    elif info.watching:
        watch = Text("watch: on")
    else:
        watch = Text("watch: off", style="yellow")
    if info.last_change is None:
        change = Text("data: no change seen yet", style="bright_black")
    else:
        change = Text(f"data changed {fmt.fresh_ago(info.now, info.last_change)}")
    parts: list[Text] = [mode, poll, watch, change]
    if info.cost is not None and info.queries is not None:
        cost = Text(f"{info.scope}: ")
        if info.show_cost:
            cost.append(f"{info.cost * 1000:.1f} ms", style="bold")
            cost.append(", ")
        cost.append(f"{info.queries} statement{'s' if info.queries != 1 else ''}")
        parts.append(cost)
    if info.in_flight:
        parts.append(Text(f"{info.in_flight} reading…", style="bright_black"))
    return joined(*parts)


class StatusLine(Widget):
    """One line above the footer."""

    DEFAULT_CSS = """
    StatusLine {
        height: 1;
        padding: 0 1;
        background: $panel;
        color: $text-muted;
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self._info: LiveInfo | None = None
        self._text = Text("starting…", style="bright_black")

    @property
    def info(self) -> LiveInfo | None:
        """What is shown (None until the first poll)."""
        return self._info

    @info.setter
    def info(self, info: LiveInfo | None) -> None:
        # Every second brings a new LiveInfo (its clock moved): repaint only when the text changed.
        self._info = info
        text = render_info(info) if info is not None else Text("starting…", style="bright_black")
        if text.plain != self._text.plain or text.spans != self._text.spans:
            self._text = text
            self.refresh()

    def render(self) -> Text:
        return self._text
