"""SQL expression text as tokens: what ``defaults`` and ``checks`` read a catalog's text with.

A catalog's default or CHECK text (or a SQLite CREATE TABLE) is split into strings (their value,
each dialect's escapes undone), numbers, words, quoted names and operators; PostgreSQL's casts
of literals (``'a'::text``) can be dropped. Anything else raises ``NotPortable``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

Token = tuple[str, str]  # (kind, text): str (unescaped value), num, word, name (quoted), op

NUMBER = re.compile(r"(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_OPS = ("::", "<=", ">=", "<>", "!=", "==", "||", "(", ")", ",", "[", "]", "=", "<", ">", "+", "-", "*", "/",
        ".", ";")  # fmt: skip
_MYSQL_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "b": "\b", "Z": "\x1a"}
_CAST_WORDS = {
    "text", "character", "varying", "char", "varchar", "bpchar", "integer", "int", "int2", "int4",
    "int8", "bigint", "smallint", "numeric", "decimal", "real", "double", "precision", "boolean",
    "bool", "date", "timestamp", "timestamptz", "time", "with", "without", "zone",
}  # fmt: skip
_NUMERIC_CASTS = {
    "integer", "int", "int2", "int4", "int8", "bigint", "smallint", "numeric", "decimal", "real", "double",
}  # fmt: skip


class NotPortable(ValueError):
    """The expression uses something not every destination reads alike."""


def tokenize(text: str, *, dialect: str) -> list[Token]:
    """Split ``text`` into tokens; raise ``NotPortable`` on anything unexpected."""
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
        elif text.startswith("--", i):  # a comment (in a SQLite CREATE TABLE)
            end = text.find("\n", i)
            i = len(text) if end == -1 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = len(text) if end == -1 else end + 2
        elif ch == "'":  # bulksync's MariaDB sessions are ANSI_QUOTES: '"' quotes names there too
            value, i = _string(text, i, escapes=dialect == "mysql")
            tokens.append(("str", value))
        elif ch in '"`' or (ch == "[" and dialect == "sqlite"):
            close = {"[": "]"}.get(ch, ch)
            end = text.find(close, i + 1)
            while end != -1 and text[end + 1 : end + 2] == close and close != "]":
                end = text.find(close, end + 2)  # a doubled quote inside the name
            if end == -1:
                raise NotPortable(f"unterminated name in {text!r}")
            tokens.append(("name", text[i + 1 : end].replace(close * 2, close)))
            i = end + 1
        elif (m := NUMBER.match(text, i)) and (ch.isdigit() or ch == "."):
            tokens.append(("num", m.group(0)))
            i = m.end()
        elif m := _WORD.match(text, i):
            tokens.append(("word", m.group(0)))
            i = m.end()
        else:
            op = next((o for o in _OPS if text.startswith(o, i)), None)
            if op is None:
                raise NotPortable(f"{text!r} uses {ch!r}")
            tokens.append(("op", op))
            i += len(op)
    return tokens


def _string(text: str, start: int, *, escapes: bool) -> tuple[str, int]:
    """The string literal at ``start`` (its value) and the index after it."""
    quote, out, i = text[start], [], start + 1
    while i < len(text):
        ch = text[i]
        if escapes and ch == "\\" and i + 1 < len(text):
            out.append(_MYSQL_ESCAPES.get(text[i + 1], text[i + 1]))
            i += 2
        elif ch == quote and text[i + 1 : i + 2] == quote:
            out.append(quote)
            i += 2
        elif ch == quote:
            return "".join(out), i + 1
        else:
            out.append(ch)
            i += 1
    raise NotPortable(f"unterminated string in {text!r}")


def sql_string(value: str) -> str:
    """``value`` as a standard SQL string literal (quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


def strip_casts(tokens: list[Token]) -> tuple[list[Token], bool]:
    """Tokens without PostgreSQL's ``::type`` casts; True if the last cast was to a number type."""
    out: list[Token] = []
    numeric, i = False, 0
    while i < len(tokens):
        if tokens[i] != ("op", "::"):
            out.append(tokens[i])
            i += 1
            continue
        i += 1
        words = []
        while i < len(tokens) and tokens[i][0] == "word" and tokens[i][1].lower() in _CAST_WORDS:
            words.append(tokens[i][1].lower())
            i += 1
        if not words:
            raise NotPortable("casts to a type other than text, numbers, dates and booleans")
        if (
            i < len(tokens)
            and tokens[i] == ("op", "(")
            and tokens[i + 1 : i + 2]
            and tokens[i + 1][0] == "num"
        ):
            close = i + 2 if tokens[i + 2 : i + 3] == [("op", ")")] else i + 4  # (n) or (n, m)
            i = close + 1
        if tokens[i : i + 2] == [("op", "["), ("op", "]")]:
            i += 2
        numeric = words[0] in _NUMERIC_CASTS
    return out, numeric


def unwrap(tokens: list[Token]) -> list[Token]:
    """``tokens`` without parentheses around the whole of them."""
    while len(tokens) >= 2 and tokens[0] == ("op", "(") and closing(tokens, 0) == len(tokens) - 1:
        tokens = tokens[1:-1]
    return tokens


def closing(tokens: Sequence[Token], start: int) -> int:
    """The index of the parenthesis that closes the one at ``start`` (-1 if none)."""
    depth = 0
    for i in range(start, len(tokens)):
        if tokens[i] == ("op", "("):
            depth += 1
        elif tokens[i] == ("op", ")"):
            depth -= 1
            if depth == 0:
                return i
    return -1
