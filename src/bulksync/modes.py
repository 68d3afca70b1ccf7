"""How rows land (``Mode``) and what becomes of a value that does not fit (``BadValue``).

Plain enums, apart from the pydantic spec, so the CLI can declare its options without paying
for pydantic (or anything else) before it knows which command runs.
"""

from __future__ import annotations

from enum import StrEnum


class Mode(StrEnum):
    """How rows land in the destination."""

    APPEND = "append"  # insert; resumes after the last checkpointed key, never doubles
    REPLACE = "replace"  # load a new table, swap it in atomically at the end
    UPSERT = "upsert"  # insert or update on the key
    INCREMENTAL = "incremental"  # upsert only rows whose (cursor, key) moved past the watermark


class BadValue(StrEnum):
    """What to do with a value that cannot be converted to its column's type."""

    REJECT = "reject"  # the row goes to the reject table with the reason; the rest lands
    NULL = "null"  # the row lands with NULL in that column; the value is recorded with the rejects
    FAIL = "fail"  # the table stops at the first such value (or any row the destination refuses)
