"""What an undo did (`UndoOutcome`) and what it would do now (`UndoPreview`), for every backend."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from batchtop.core.backends.sqlite.write_session import RowState, describe_states
from batchtop.core.journal import encode_value
from batchtop.core.profiles.model import RawValue


@dataclass(frozen=True)
class UndoOutcome:
    """What `undo()` did."""

    #: The action undone (or found already undone).
    entry_id: str
    #: The journal record of this undo (None when nothing was written).
    undo_id: str | None
    #: "restored", "already-undone" or "never-applied".
    status: str
    restored: tuple[RawValue, ...] = ()
    #: Rows the job moved after the action, left alone, and where they are now (first DESCRIBE_LIMIT).
    moved: tuple[RowState, ...] = ()
    moved_count: int = 0
    #: Rows whose before-image was too large to journal.
    not_restorable: int = 0
    note: str = ""
    seconds: float = 0.0
    warnings: tuple[str, ...] = ()

    def summary(self) -> str:
        """'restored 140; 8 already moved by the job, left alone (now running: 5, done: 3)'."""
        if self.status == "already-undone":
            return f"action {self.entry_id} was already undone ({self.note}); nothing changed"
        if self.status == "never-applied":
            return f"action {self.entry_id} was never applied ({self.note or 'aborted'}); nothing to undo"
        parts = [f"restored {len(self.restored)}"]
        if self.moved_count:
            now = describe_states(self.moved, self.moved_count) if any(r.state for r in self.moved) else ""
            parts.append(f"{self.moved_count} already moved by the job, left alone" + (f" (now {now})" if now else ""))
        if self.not_restorable:
            parts.append(f"{self.not_restorable} not restorable (value too large to journal), left alone")
        return "; ".join(parts + list(self.warnings))

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-safe form."""
        return {
            "entry_id": self.entry_id, "undo_id": self.undo_id, "status": self.status,
            "restored": len(self.restored), "restored_keys": [encode_value(k) for k in self.restored],
            "moved": [{"key": encode_value(r.key), "state": r.label} for r in self.moved],
            "moved_count": self.moved_count, "not_restorable": self.not_restorable, "note": self.note,
            "seconds": round(self.seconds, 4), "warnings": list(self.warnings), "summary": self.summary(),
        }


@dataclass(frozen=True)
class UndoPreview:
    """What an undo of one action would restore if run now (read on a read-only connection)."""

    entry_id: str
    #: Rows the action wrote.
    written: int
    #: Rows that still hold every value the action wrote: the undo restores these.
    restorable: int
    #: Rows whose before-image was too large to journal: left alone.
    not_restorable: int
    #: Whether the file was replaced since the action (the undo would then refuse).
    replaced: bool = False

    @property
    def moved(self) -> int:
        """Rows the job has changed since the action: left alone."""
        return self.written - self.restorable - self.not_restorable

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-safe form."""
        return {"entry_id": self.entry_id, "written": self.written, "restorable": self.restorable,
                "moved": self.moved, "not_restorable": self.not_restorable, "replaced": self.replaced}
