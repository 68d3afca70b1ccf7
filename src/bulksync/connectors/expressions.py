"""Portable SQL expressions: column defaults and CHECK constraints, from one dialect to another.

A catalog's default or CHECK text is split into tokens (strings, numbers, names in any quoting,
operators) and carried only when every token is something each destination reads alike:

- a **default** is a literal (number, string, TRUE/FALSE) or ``CURRENT_TIMESTAMP`` /
  ``CURRENT_DATE`` (``now()``, ``curdate()``, ``datetime('now')`` … are spelled so);
- a **CHECK** uses column names, literals, comparisons, AND/OR/NOT, ``IN (…)``, ``BETWEEN``,
  ``IS [NOT] NULL`` and the character length of a column (PostgreSQL's ``= ANY (ARRAY[…])`` is
  read as ``IN``, its casts of literals are dropped). MariaDB's ``LENGTH`` counts bytes, so
  only its ``CHAR_LENGTH`` counts as a length there.

Anything else is refused with a one-line reason, which the sync reports: conservative on purpose,
a CHECK that means something else on the destination is worse than none.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import pyarrow as pa

from bulksync.schema import Check, Column

Token = tuple[str, str]  # (kind, text): str (unescaped value), num, word, name (quoted), op

_NUMBER = re.compile(r"(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_OPS = (
    "::",
    "<=",
    ">=",
    "<>",
    "!=",
    "==",
    "||",
    "(",
    ")",
    ",",
    "[",
    "]",
    "=",
    "<",
    ">",
    "+",
    "-",
    "*",
    "/",
    ".",
    ";",
)
_MYSQL_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "b": "\b", "Z": "\x1a"}
_CAST_WORDS = {
    "text", "character", "varying", "char", "varchar", "bpchar", "integer", "int", "int2", "int4",
    "int8", "bigint", "smallint", "numeric", "decimal", "real", "double", "precision", "boolean",
    "bool", "date", "timestamp", "timestamptz", "time", "with", "without", "zone",
}  # fmt: skip
_NUMERIC_CASTS = {
    "integer",
    "int",
    "int2",
    "int4",
    "int8",
    "bigint",
    "smallint",
    "numeric",
    "decimal",
    "real",
    "double",
}
_NOW = {"current_timestamp", "now", "localtimestamp", "transaction_timestamp"}
_TODAY = {"current_date", "curdate"}
_CHECK_WORDS = {"and", "or", "not", "in", "between", "is", "null", "true", "false"}
_LENGTHS = {"length", "char_length", "character_length"}
_COMPARE = {"=", "<>", "<", ">", "<=", ">="}
LENGTH_FUNCTION = {"postgresql": "length", "sqlite": "length", "mysql": "CHAR_LENGTH"}


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
        elif (m := _NUMBER.match(text, i)) and (ch.isdigit() or ch == "."):
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


def _strip_casts(tokens: list[Token]) -> tuple[list[Token], bool]:
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


def _unwrap(tokens: list[Token]) -> list[Token]:
    """``tokens`` without parentheses around the whole of them."""
    while len(tokens) >= 2 and tokens[0] == ("op", "(") and _closing(tokens, 0) == len(tokens) - 1:
        tokens = tokens[1:-1]
    return tokens


def _closing(tokens: Sequence[Token], start: int) -> int:
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


# -- defaults ----------------------------------------------------------------------------------


def portable_default(text: str | None, *, dialect: str) -> tuple[str | None, str | None]:
    """A catalog's default → (portable default, None), or (None, why it cannot travel).

    (None, None): no default (or an explicit NULL, the same thing).
    """
    if text is None or not text.strip():
        return None, None
    try:
        tokens, numeric = _strip_casts(tokenize(text, dialect=dialect))
    except NotPortable:
        return None, f"default {text} is not portable"
    tokens = _unwrap(tokens)
    if not tokens:
        return None, f"default {text} is not portable"
    words = [t[1].lower() for t in tokens]
    kinds = [t[0] for t in tokens]
    if kinds == ["word"] and words[0] == "null":
        return None, None
    if kinds == ["num"] or (kinds == ["op", "num"] and words[0] in "+-"):
        return _number("".join(words).lstrip("+")), None
    if kinds == ["str"]:
        value = tokens[0][1]
        if numeric and _NUMBER.fullmatch(value.lstrip("-")):
            return _number(value), None
        return sql_string(value), None
    if kinds == ["word"] and words[0] in ("true", "false"):
        return words[0].upper(), None
    called = words[1:] in ([], ["(", ")"]) or (len(words) == 4 and kinds[2] == "num" and words[3] == ")")
    if (called and words[0] in _NOW) or words == ["datetime", "(", "now", ")"]:
        return "CURRENT_TIMESTAMP", None
    if (called and words[0] in _TODAY) or words == ["date", "(", "now", ")"]:
        return "CURRENT_DATE", None
    return None, f"default {text} is not portable"


def _number(text: str) -> str:
    return text[1:] if text.startswith("+") else text


def render_default(col: Column, *, dialect: str) -> str | None:
    """``col.default`` as ``dialect`` writes it for ``col``'s type; None when it cannot."""
    value, t = col.default, col.type
    if value is None:
        return None
    if value in ("CURRENT_TIMESTAMP", "CURRENT_DATE"):
        if value == "CURRENT_TIMESTAMP" and not pa.types.is_timestamp(t):
            return None
        if value == "CURRENT_DATE" and not pa.types.is_date(t):
            return None
        if dialect == "mysql":
            return "CURRENT_TIMESTAMP(6)" if value == "CURRENT_TIMESTAMP" else "(CURRENT_DATE)"
        return value
    if pa.types.is_boolean(t):
        truth = {"TRUE": "TRUE", "FALSE": "FALSE", "1": "TRUE", "0": "FALSE"}.get(value)
        return None if truth is None else truth
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return None
    if value in ("TRUE", "FALSE"):
        return "1" if value == "TRUE" else "0"
    if value.startswith("'"):
        return value.replace("\\", "\\\\") if dialect == "mysql" else value
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return sql_string(value)
    return value


# -- CHECK constraints -------------------------------------------------------------------------


def portable_check(name: str, text: str, *, dialect: str, columns: Sequence[str]) -> Check | str:
    """A catalog's CHECK expression → a portable ``Check``, or why it cannot travel."""
    try:
        tokens = tokenize(text, dialect=dialect)
    except NotPortable as exc:
        return f"check {name} ({' '.join(text.split())}) is not portable: {exc}"
    return check_of_tokens(name, tokens, dialect=dialect, columns=columns, text=text)


def check_of_tokens(
    name: str, tokens: list[Token], *, dialect: str, columns: Sequence[str], text: str | None = None
) -> Check | str:
    """``portable_check`` of an expression already split into tokens."""
    try:
        stripped, _ = _strip_casts(tokens)
        template, used = _template(_any_array_as_in(stripped), dialect=dialect, columns=columns)
    except NotPortable as exc:
        shown = " ".join(text.split()) if text else " ".join(t[1] for t in tokens)
        return f"check {name} ({shown}) is not portable: {exc}"
    return Check(name, template, used)


def _any_array_as_in(tokens: list[Token]) -> list[Token]:
    """PostgreSQL's ``x = ANY (ARRAY[a, b])`` as ``x IN (a, b)`` (``<> ALL``: ``NOT IN``)."""
    out: list[Token] = []
    i = 0
    while i < len(tokens):
        head = [t[1].lower() for t in tokens[i : i + 5]]
        if head[:4] in (["=", "any", "(", "array"], ["<>", "all", "(", "array"]) and head[4:] == ["["]:
            end = i + 5
            while end < len(tokens) and tokens[end] != ("op", "]"):
                end += 1
            if tokens[end + 1 : end + 2] != [("op", ")")]:
                raise NotPortable("uses an ARRAY expression")
            out += [("word", "NOT")] if head[0] == "<>" else []
            out += [("word", "IN"), ("op", "("), *tokens[i + 5 : end], ("op", ")")]
            i = end + 2
        else:
            out.append(tokens[i])
            i += 1
    return out


def _template(tokens: list[Token], *, dialect: str, columns: Sequence[str]) -> tuple[str, tuple[str, ...]]:
    """The ``Check.template`` of ``tokens`` and the columns it reads, in ``{cN}`` order."""
    parts: list[str] = []
    used: list[str] = []
    depth = 0
    for i, (kind, text) in enumerate(tokens):
        before = tokens[i - 1] if i else None
        if kind == "str":
            parts.append(sql_string(text).replace("{", "{{").replace("}", "}}"))
        elif kind == "num":
            parts.append(text)
        elif kind == "op":
            depth += {"(": 1, ")": -1}.get(text, 0)
            parts.append(_operator(text, before, tokens[i + 1 : i + 2]))
            if depth < 0:
                raise NotPortable("unbalanced parentheses")
        elif kind == "word" and text.lower() in _CHECK_WORDS:
            parts.append(text.upper())
        elif kind == "word" and text.lower() in _LENGTHS and tokens[i + 1 : i + 2] == [("op", "(")]:
            if dialect == "mysql" and text.lower() == "length":
                raise NotPortable("MariaDB's LENGTH counts bytes")
            parts.append("{length}")
        else:
            column = _column(text, columns, quoted=kind == "name")
            if column not in used:
                used.append(column)
            parts.append(f"{{c{used.index(column)}}}")
    if depth != 0 or not parts:
        raise NotPortable("unbalanced parentheses")
    return _join(parts), tuple(used)


def _operator(op: str, before: Token | None, after: list[Token]) -> str:
    if op in ("(", ")", ","):
        return op
    if op in _COMPARE or op in ("==", "!="):
        return {"==": "=", "!=": "<>"}.get(op, op)
    keyword = before is not None and before[0] == "word" and before[1].lower() in _CHECK_WORDS
    unary = before is None or (before[0] == "op" and before[1] != ")") or keyword
    if op == "-" and unary and after and after[0][0] == "num":
        return "-"
    raise NotPortable(f"uses {op!r}")


def _column(text: str, columns: Sequence[str], *, quoted: bool) -> str:
    if text in columns:
        return text
    if not quoted:
        folded = [c for c in columns if c.lower() == text.lower()]
        if len(folded) == 1:
            return folded[0]
    raise NotPortable(f"uses {text!r}")


def _join(parts: list[str]) -> str:
    """Tokens as readable SQL: no space inside parentheses, before commas or after unary minus."""
    out = ""
    for i, part in enumerate(parts):
        prev = parts[i - 1] if i else ""
        tight = part in (")", ",") or prev in ("(", "-") or (part == "(" and prev == "{length}")
        out += part if tight or not out else " " + part
    return out


def render_check(check: Check, *, dialect: str, quote: Callable[[str], str]) -> str:
    """The CHECK expression of ``check`` in ``dialect``, each column quoted with ``quote``."""
    names = {f"c{i}": quote(c) for i, c in enumerate(check.columns)}
    # the template holds literals, keywords and placeholders only: MariaDB's strings escape "\\"
    template = check.template.replace("\\", "\\\\") if dialect == "mysql" else check.template
    return template.format(length=LENGTH_FUNCTION[dialect], **names)
