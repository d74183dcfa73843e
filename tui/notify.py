"""Terminal alerts: the bell and desktop notifications (OSC 9, OSC 777), passed through tmux.

batchtop writes these control sequences itself; the text inside them can come from a database (an error
signature, a file name), so it is sanitised first (`clean_line`: no ESC, BEL or other control or bidi
character can end the sequence early or start another) and cut short. Inside tmux a sequence reaches
the outer terminal only wrapped in a DCS passthrough (`ESC P tmux; ... ESC \\`, every ESC doubled),
which tmux forwards when `allow-passthrough` is on.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from batchtop.core.alerts import Event
from batchtop.core.sanitize import clean_line

#: Characters of notification text at most.
MAX_TEXT = 200
DESKTOP_MODES = ("osc9", "osc777", "off")


def _text(text: str) -> str:
    return clean_line(text, MAX_TEXT)


def osc9(message: str) -> str:
    """A desktop notification (iTerm2, WezTerm, Windows Terminal, kitty, foot...)."""
    return f"\x1b]9;{_text(message)}\x07"


def osc777(title: str, body: str) -> str:
    """A desktop notification (urxvt, VTE terminals, WezTerm); `;` separates fields, so none is kept."""
    return f"\x1b]777;notify;{_text(title).replace(';', ',')};{_text(body).replace(';', ',')}\x07"


def tmux_wrap(sequence: str) -> str:
    """`sequence` in a tmux DCS passthrough (each ESC doubled)."""
    return "\x1bPtmux;" + sequence.replace("\x1b", "\x1b\x1b") + "\x1b\\"


class Notifier:
    """Turns alert events into terminal output through `write` (the app's driver, or a file)."""

    def __init__(self, write: Callable[[str], object], *, bell: bool = True, desktop: str = "osc9") -> None:
        if desktop not in DESKTOP_MODES:
            raise ValueError(f"desktop notifications {desktop!r}: choose one of {', '.join(DESKTOP_MODES)}")
        self.write, self.bell, self.desktop = write, bell, desktop

    def notify(self, event: Event) -> None:
        """Ring the bell and/or send one desktop notification for `event`."""
        if self.bell:
            self.write("\a")
        if self.desktop == "off":
            return
        seq = (
            osc9(f"{event.title()}: {event.message}")
            if self.desktop == "osc9"
            else osc777(event.title(), event.message)
        )
        self.write(tmux_wrap(seq) if os.environ.get("TMUX") else seq)
