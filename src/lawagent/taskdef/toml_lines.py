"""Where each key of a task.toml is written: dotted key path -> line number.

Python's tomllib gives values but no positions, and `lawagent tasks check`
wants to say ``task.toml:12``. This scanner reads the text line by line, knows
table headers, ``key =`` lines, one-line inline tables (``initial = { A = 1 }``)
and skips the inside of multi-line strings and arrays; that covers the way
task files are written. It never decides validity (tomllib does): a key it
cannot place simply has no line.
"""

from __future__ import annotations

import re

__all__ = ["key_lines", "toml_error_line"]

_KEY = r'(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|\'[^\']*\')'
_DOTTED = rf"{_KEY}(?:\s*\.\s*{_KEY})*"
_HEADER_RE = re.compile(rf"^\[\[?\s*({_DOTTED})\s*\]\]?\s*(?:#.*)?$")
_ASSIGN_RE = re.compile(rf"^({_DOTTED})\s*=(.*)$")
_PART_RE = re.compile(_KEY)
_INLINE_RE = re.compile(rf"(?:^|[{{,])\s*({_KEY})\s*=")
_STRING_RE = re.compile(r'"""|\'\'\'|"(?:[^"\\]|\\.)*"|\'[^\']*\'')


def _parts(dotted: str) -> list[str]:
    return [p[1:-1] if p[0] in "\"'" else p for p in _PART_RE.findall(dotted)]


def _open_delims(rest: str, delim: str | None) -> tuple[str | None, int]:
    """After scanning ``rest``: the multi-line string still open (or None) and the bracket depth change."""
    depth = 0
    i = 0
    while i < len(rest):
        if delim is not None:
            end = rest.find(delim, i)
            if end < 0:
                return delim, depth
            i, delim = end + 3, None
            continue
        m = _STRING_RE.match(rest, i)
        if m:
            tok = m.group()
            if tok in ('"""', "'''"):
                delim = tok
            i = m.end()
            continue
        ch = rest[i]
        if ch == "#":
            break
        depth += (ch in "[{") - (ch in "]}")
        i += 1
    return delim, depth


def key_lines(text: str) -> dict[str, int]:
    """1-based line of each table header and key, by dotted path ('split', 'split.rule', 'reference.initial.A')."""
    lines: dict[str, int] = {}
    table: list[str] = []
    delim: str | None = None  # inside a multi-line string
    depth = 0  # inside a multi-line array or table value
    for n, raw in enumerate(text.splitlines(), start=1):
        if delim is not None or depth > 0:
            delim, d = _open_delims(raw, delim)
            depth = max(0, depth + d)
            continue
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        header = _HEADER_RE.match(line)
        if header:
            table = _parts(header.group(1))
            lines.setdefault(".".join(table), n)
            continue
        assign = _ASSIGN_RE.match(line)
        if not assign:
            continue
        path = table + _parts(assign.group(1))
        lines.setdefault(".".join(path), n)
        value = assign.group(2).strip()
        if value.startswith("{"):
            for key in _INLINE_RE.findall(value):
                lines.setdefault(".".join(path + _parts(key)), n)
        delim, depth = _open_delims(value, None)
        depth = max(0, depth)
    return lines


def toml_error_line(message: str) -> int | None:
    """The line number tomllib puts in its error messages ('... (at line 3, column 5)')."""
    m = re.search(r"at line (\d+)", message)
    return int(m.group(1)) if m else None
