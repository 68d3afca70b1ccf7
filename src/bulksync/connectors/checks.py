"""CHECK constraints from one dialect to another, only where every destination reads them alike.

A CHECK travels when it uses column names, literals, comparisons, AND/OR/NOT, ``IN (…)``,
``BETWEEN``, ``IS [NOT] NULL`` and the character length of a column (PostgreSQL's
``= ANY (ARRAY[…])`` is read as ``IN``, its casts of literals are dropped). MariaDB's ``LENGTH``
counts bytes, so only its ``CHAR_LENGTH`` is a length there. Anything else is refused with a
one-line reason, which the sync reports: a CHECK that means something else on the destination
is worse than none.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bulksync.connectors.expressions import NotPortable, Token, sql_string, strip_casts, tokenize
from bulksync.naming import fitted_name
from bulksync.schema import Check

_CHECK_WORDS = {"and", "or", "not", "in", "between", "is", "null", "true", "false"}
_LENGTHS = {"length", "char_length", "character_length"}
_COMPARE = {"=", "<>", "<", ">", "<=", ">="}
LENGTH_FUNCTION = {"postgresql": "length", "sqlite": "length", "mysql": "CHAR_LENGTH"}


def labels_check(table: str, column: str, labels: Sequence[str]) -> tuple[str, str]:
    """An enum's labels as a CHECK in PostgreSQL's dialect (``portable_check`` reads it):
    ``"m" IN ('sad', 'ok')``, named ``<table>_<column>_enum``. An enum travels as text; its
    labels keep the copy to the values the source allowed."""
    listed = ", ".join("'" + label.replace("'", "''") + "'" for label in labels)
    quoted = '"' + column.replace('"', '""') + '"'
    return fitted_name(f"{table}_{column}", "_enum"), f"{quoted} IN ({listed})"


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
        stripped, _ = strip_casts(tokens)
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
