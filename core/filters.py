"""The filter language of `/` in the app and `--where` on the command line, parsed into a small AST.

    state:failed error:"rate limit" since:2h          terms side by side are ANDed
    (sig:"Timeout after <n>s" OR error:quota) NOT source:'chunk_0*'
    cost_usd>0.05 attempts>=3 track:topics label:physics

A term is `FIELD OP VALUE` or a bare VALUE (the error or the label contains it, as the old search did).
Operators: `:` (contains for text fields, equals for others), `=`, `!=`, `>`, `>=`, `<`, `<=`. Values are
words or quoted with `"` or `'` (a backslash escapes the next character inside quotes). `AND`, `OR`,
`NOT` (any case) and parentheses combine terms; NOT binds tighter than AND, AND tighter than OR.

Parsing knows nothing about tables: `filter_sql.compile_filter` checks fields against a track and turns
the AST into parameterised SQL. Every error is a `FilterError` carrying the position of the bad token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from batchtop.core.errors import FilterError

#: Longest filter accepted (the text is typed by a person; this bounds parsing work).
MAX_FILTER = 4_000
#: Deepest nesting of parentheses and NOTs accepted.
MAX_DEPTH = 50
OPERATORS = (">=", "<=", "!=", ":", "=", ">", "<")
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_KEYWORDS = {"and": "AND", "or": "OR", "not": "NOT"}
_SPECIAL = set("()\"'")


#: The filter language by example: (filter, what it selects). The one source of the examples in the
#: README's "Filters" section and on the help screen (tests/test_filter_docs.py checks both).
EXAMPLES: tuple[tuple[str, str], ...] = (
    ("timeout", "a plain word: the error or the label contains it"),
    ('state:failed error:"rate limit" since:2h', "terms side by side are ANDed"),
    ('sig:"Timeout after <n>s" OR error:quota', "an error group (as the groups show it), OR"),
    ("NOT source:'chunk_00*' (track:a OR track:b)", "NOT, parentheses; files by glob or prefix"),
    ("state:failed,skipped status:preparing", "a state (or several), the raw status"),
    ("cost_usd>0.05 attempts>=3", "any column of the table (a metric)"),
    ("label:physics key>1000", "the label contains; the row key"),
    ("age>30m until:'2026-01-31 12:00'", "older than 30 minutes; up to a time"),
)
#: One line each on fields and operators (the README says more).
SYNTAX: tuple[str, ...] = (
    "fields: state status error sig label key since until age source track, or any column",
    "operators: :  =  !=  >  >=  <  <=   (`:` contains for text, equals otherwise)",
    "quote values with \" or ' ; AND OR NOT ( ) combine terms; NOT binds tightest, OR loosest",
    "times: 90s 30m 2h 1d 1w ago, or a date/time in the database's zone",
)


def examples_text(width: int = 44) -> str:
    """The examples as aligned lines, `filter  what it selects` (the README's filter block)."""
    return "\n".join(f"{example:<{width}} {what}" for example, what in EXAMPLES)


@dataclass(frozen=True)
class Term:
    """`field op value`; a bare value has field None and op ':'."""

    field: str | None
    op: str
    value: str
    #: Offsets of the field (or bare value) and of the value, for error messages.
    pos: int
    value_pos: int
    #: The value was quoted (so `OR` or `(` in it are text).
    quoted: bool = False


@dataclass(frozen=True)
class Not:
    node: Node
    pos: int


@dataclass(frozen=True)
class BoolOp:
    """AND or OR of two or more nodes."""

    op: str
    nodes: tuple[Node, ...]


Node = Term | Not | BoolOp


@dataclass(frozen=True)
class _Tok:
    kind: str  # "(", ")", "AND", "OR", "NOT", "TERM"
    pos: int
    term: Term | None = None


def _quoted(text: str, i: int) -> tuple[str, int]:
    """The quoted string starting at `text[i]` and the offset after it."""
    quote, out, j = text[i], [], i + 1
    while j < len(text):
        ch = text[j]
        if ch == "\\" and j + 1 < len(text):
            out.append(text[j + 1])
            j += 2
            continue
        if ch == quote:
            return "".join(out), j + 1
        out.append(ch)
        j += 1
    raise FilterError(f"unclosed quote {quote}", i, text)


def _word(text: str, i: int) -> int:
    """End of the unquoted word starting at `i` (stops at white space and parentheses)."""
    j = i
    while j < len(text) and not text[j].isspace() and text[j] not in "()":
        if text[j] in "\"'":
            raise FilterError("quote inside a word: quote the whole value", j, text)
        j += 1
    return j


def tokenize(text: str) -> list[_Tok]:
    """Tokens of a filter; raises FilterError on an unclosed quote or a missing value."""
    toks: list[_Tok] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch in "()":
            toks.append(_Tok(ch, i))
            i += 1
            continue
        if ch in "\"'":
            value, end = _quoted(text, i)
            toks.append(_Tok("TERM", i, Term(None, ":", value, i, i, True)))
            i = end
            continue
        m = _FIELD.match(text, i)
        if m is not None:
            end = m.end()
            op = next((o for o in OPERATORS if text.startswith(o, end)), None)
            if op is not None:
                vpos = end + len(op)
                if vpos < n and text[vpos] in "\"'":
                    value, after = _quoted(text, vpos)
                    toks.append(_Tok("TERM", i, Term(m.group(), op, value, i, vpos, True)))
                    i = after
                    continue
                vend = _word(text, vpos)
                if vend == vpos:
                    raise FilterError(f"{m.group()}{op} needs a value", vpos, text)
                toks.append(_Tok("TERM", i, Term(m.group(), op, text[vpos:vend], i, vpos)))
                i = vend
                continue
        end = _word(text, i)
        word = text[i:end]
        if word.lower() in _KEYWORDS:
            toks.append(_Tok(_KEYWORDS[word.lower()], i))
        else:
            if word[0] in "=!<>:":
                raise FilterError(
                    f"{word[0]!r} needs a field before it (state:failed, cost_usd>0.05)", i, text
                )
            toks.append(_Tok("TERM", i, Term(None, ":", word, i, i)))
        i = end
    return toks


class _Parser:
    def __init__(self, text: str, toks: list[_Tok]) -> None:
        self.text, self.toks, self.i, self.depth = text, toks, 0, 0

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def fail(self, message: str, tok: _Tok | None) -> FilterError:
        return FilterError(message, tok.pos if tok is not None else len(self.text), self.text)

    def parse_or(self) -> Node:
        nodes = [self.parse_and()]
        while (tok := self.peek()) is not None and tok.kind == "OR":
            self.i += 1
            nodes.append(self.parse_and())
        return nodes[0] if len(nodes) == 1 else BoolOp("OR", tuple(nodes))

    def parse_and(self) -> Node:
        nodes = [self.parse_not()]
        while (tok := self.peek()) is not None and tok.kind in ("AND", "NOT", "TERM", "("):
            if tok.kind == "AND":
                self.i += 1
            nodes.append(self.parse_not())
        return nodes[0] if len(nodes) == 1 else BoolOp("AND", tuple(nodes))

    def parse_not(self) -> Node:
        tok = self.peek()
        if tok is not None and tok.kind == "NOT":
            self.i += 1
            self.enter(tok)
            node = Not(self.parse_not(), tok.pos)
            self.depth -= 1
            return node
        return self.parse_primary()

    def enter(self, tok: _Tok) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(f"nested more than {MAX_DEPTH} deep", tok)

    def parse_primary(self) -> Node:
        tok = self.peek()
        if tok is None:
            raise self.fail("expected a term after this", None)
        if tok.kind == "(":
            self.i += 1
            self.enter(tok)
            node = self.parse_or()
            close = self.peek()
            if close is None or close.kind != ")":
                raise FilterError("this ( is never closed", tok.pos, self.text)
            self.i += 1
            self.depth -= 1
            return node
        if tok.kind == "TERM":
            self.i += 1
            assert tok.term is not None
            return tok.term
        word = {")": "unexpected )"}.get(tok.kind, f"{tok.kind} needs a term before and after it")
        raise self.fail(word, tok)


def parse(text: str) -> Node | None:
    """The AST of a filter (None for an empty one).

    Raises:
        FilterError: with the position of the first bad token.
    """
    if len(text) > MAX_FILTER:
        raise FilterError(f"longer than {MAX_FILTER} characters", MAX_FILTER, text[:MAX_FILTER])
    toks = tokenize(text)
    if not toks:
        return None
    parser = _Parser(text, toks)
    node = parser.parse_or()
    extra = parser.peek()
    if extra is not None:
        raise parser.fail("unexpected )" if extra.kind == ")" else "unexpected token", extra)
    return node


def terms(node: Node | None) -> list[Term]:
    """Every term of a filter, left to right."""
    if node is None:
        return []
    if isinstance(node, Term):
        return [node]
    if isinstance(node, Not):
        return terms(node.node)
    return [t for n in node.nodes for t in terms(n)]
