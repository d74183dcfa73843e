"""The preview modal's body as pure functions: what, how many, samples, the exact predicate, the rules."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from batchtop.core.actions import Plan
from batchtop.core.backends.sqlite.write_session import describe_states
from batchtop.tui.text import safe, safe_block

#: Characters of a predicate shown (a marked set of thousands of keys is long); the rest is counted.
PREDICATE_CHARS = 3000


def sample_lines(plan: Plan) -> list[Text]:
    """Up to five sample rows as aligned, one-line Texts: key, state, label, error preview."""
    cells = [(safe(s.key, 14), safe(s.raw, 14), safe(s.label, 36), safe(s.error, 300, style="red"))
             for s in plan.samples]
    widths = [max([len(head)] + [row[i].cell_len for row in cells]) for i, head in enumerate(("Key", "State", "Label"))]
    head = Text.assemble(*(f"{h:<{w}}  " for h, w in zip(("Key", "State", "Label"), widths)), "Error", style="bold")
    lines = [head]
    for row in cells:
        line = Text(no_wrap=True, overflow="ellipsis")
        for cell, width in zip(row[:3], widths):
            line.append_text(cell)
            line.append(" " * (width - cell.cell_len + 2))
        line.append_text(row[3])
        lines.append(line)
    return lines


def plan_view(plan: Plan) -> RenderableType:
    """The preview's body: what, how many, samples, the exact predicate, and the rules of the write."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bright_black", no_wrap=True)
    grid.add_column()
    grid.add_row("what it does", safe_block(plan.description))
    rows = Text(f"{plan.count:,} match now", style="bold")
    if plan.cap != plan.count:
        rows.append(f"; the first {plan.cap:,} by key will be written (run again for the rest)", style="yellow")
    grid.add_row("rows", rows)
    if plan.not_eligible:
        grid.add_row("left out", safe(f"{len(plan.not_eligible):,} not in a state {plan.action.name} takes "
                                      f"(now {describe_states(plan.not_eligible)})", style="yellow"))
    parts: list[RenderableType] = [grid, Text("")]
    if plan.samples:
        parts += sample_lines(plan)
        if plan.count > len(plan.samples):
            parts.append(Text(f"… and {plan.count - len(plan.samples):,} more", style="bright_black"))
        parts.append(Text(""))
    predicate = plan.predicate
    more = len(predicate) - PREDICATE_CHARS
    shown = safe_block(predicate[:PREDICATE_CHARS] if more > 0 else predicate, style="cyan")
    if more > 0:
        shown.append(f"… ({more:,} more characters)", style="bright_black")
    parts += [Text("Predicate (exactly as written in every statement):", style="bold"), shown]
    if plan.cap == 0:
        return Group(*parts)
    parts.append(Text(""))
    states = ", ".join(plan.action.from_states)
    rule = (f"Rows that leave {states} before the write (the job picks one up, say) are left alone and "
            f"reported: every UPDATE also requires the row to be still {states}. "
            f"{len(plan.statements())} statement(s) in one short transaction.")
    if plan.by_condition:
        rule += (f" The condition is evaluated again when writing, capped at {plan.cap:,} rows: rows that "
                 "match only by then can be among them.")
    parts.append(Text(rule, style="bright_black"))
    return Group(*parts)
