"""The statements a conditional write runs, as one value shared by its preview and its execution."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: What a statement does in a write: select the keys a condition matches, read the before-images
#: (journaled), or write the rows still matching (returning the keys written).
Role = Literal["find-keys", "before-image", "update"]


@dataclass(frozen=True)
class Statement:
    """One statement of a write: its exact SQL text and its role."""

    role: Role
    text: str


def shown(statements: list[Statement]) -> list[str]:
    """The texts a preview lists: the keys found and the writes (before-image reads are not counted)."""
    return [s.text for s in statements if s.role != "before-image"]
