"""`?`: every key of the screen underneath, read from the live bindings (so it can never go stale), then
the filter language by example (`core.filters.EXAMPLES`, the same examples as the README)."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Static

from batchtop.core.filters import EXAMPLES, SYNTAX

#: Keys no binding of ours describes well (table navigation, mouse, palette).
EXTRA: tuple[tuple[str, str, str], ...] = (
    ("↑ ↓ pgup pgdn home end", "move the cursor in a table", "Table"),
    ("click a row", "open it (a source, a track, a failure; a set of files: expand it)", "Mouse"),
    ("click a header", "sort by that column (overview)", "Mouse"),
    ("ctrl+p", "command palette: every action by name", "Everywhere"),
)
_NAMES = {"question_mark": "?", "slash": "/", "plus": "+", "minus": "-", "escape": "esc"}
_SECTIONS = ("This screen", "Table", "Everywhere", "Mouse")


def _key_name(binding: Binding) -> str:
    return binding.key_display or ", ".join(_NAMES.get(k, k) for k in binding.key.split(","))


def _own_keys(node: object) -> set[str]:
    """Keys bound by the node's own class (not Screen's or DataTable's generic ones)."""
    own = type(node).__dict__.get("BINDINGS", [])
    return {k for b in own if isinstance(b, Binding) for k in b.key.split(",")}


def help_rows(screen: Screen) -> list[tuple[str, str, str]]:
    """(keys, description, section) for every key active on `screen`."""
    rows: list[tuple[str, str, str]] = []
    seen: set[tuple[str, str]] = set()
    for key, active in screen.active_bindings.items():
        node, binding = active.node, active.binding
        if isinstance(node, App):
            section = "Everywhere"
        elif isinstance(node, DataTable):
            section = "Table"
        else:
            section = "This screen"
        if key not in _own_keys(node) or (binding.action, section) in seen:
            continue
        seen.add((binding.action, section))
        description = binding.description or binding.action.replace("_", " ")
        rows.append((_key_name(binding), description, section))
    rows += list(EXTRA)
    rows.sort(key=lambda r: _SECTIONS.index(r[2]))
    return rows


def bound_commands(screen: Screen) -> list[tuple[str, str, DOMNode, str]]:
    """(title, help, node, action) of every described binding on `screen`, for the command palette."""
    out: list[tuple[str, str, DOMNode, str]] = []
    seen: set[str] = set()
    for active in screen.active_bindings.values():
        binding = active.binding
        if binding.description and binding.action not in seen and binding.action != "quit":
            seen.add(binding.action)
            out.append((binding.description, f"key: {_key_name(binding)}", active.node, binding.action))
    return out


def bindings_table(screen: Screen) -> Table:
    """The help table: a heading per section, then key and description."""
    table = Table(box=None, padding=(0, 2), show_header=False)
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    section = None
    for keys, description, where in help_rows(screen):
        if where != section:
            if section is not None:
                table.add_row("", "")
            table.add_row(Text(where, style="bold underline"), "")
            section = where
        table.add_row(Text(keys), Text(description))
    return table


def filter_help() -> Text:
    """The filter language of the failures screen's `/` and the CLI's `--where`: examples, then syntax."""
    text = Text()
    text.append("Filter language", style="bold underline")
    text.append("  (failures screen /, and --where on the command line)\n", style="bright_black")
    for example, what in EXAMPLES:
        text.append(example, style="bold cyan")
        text.append(f"\n    {what}\n")
    for line in SYNTAX:
        text.append(f"\n{line}", style="bright_black")
    return text


class HelpScreen(ModalScreen[None]):
    """A modal list of keys; Escape, `q` or `?` closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close"),
    ]
    """
    | Key(s) | Description |
    | :- | :- |
    | escape, q, ? | Close the help. |
    """

    def __init__(self, under: Screen) -> None:
        super().__init__()
        self._under = under

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = "Keys · filter language"
            scroll.border_subtitle = "esc closes"
            yield Static(bindings_table(self._under))
            yield Static(filter_help(), id="filter-help")
        yield Footer()  # this modal's own keys, over the footer of the screen underneath

    def action_close(self) -> None:
        """Close the help."""
        self.dismiss(None)
