"""``copy`` into a table that ``migrate`` folded into PostgreSQL's lower case.

``migrate data.db $PG`` makes ``Artist (ArtistId, Name)`` the table ``artist (artistid, name)``;
``copy`` keeps names as they are, so a later ``copy data.db $PG -t Artist --mode upsert`` made a
second table ``"Artist"`` beside it, or (``--dest-table artist``) was refused for lacking
``ArtistId`` and ``Name``. Where the table as named is not in the destination and its folded
name is, that one is the destination, and each column goes to its own name if the table has it,
else to its folded name (as ``verify`` pairs them). Only for the modes that write into a table
that is there (append, upsert, incremental): a replace makes its table as named.
"""

from __future__ import annotations

import dataclasses

from bulksync.connectors.base import Destination
from bulksync.engine.plan import CheckedTable
from bulksync.naming import dest_name
from bulksync.spec import Mode, SyncSpec

_FOLDING = ("postgresql", "postgres")


def adopt_folded(
    spec: SyncSpec, checked: list[CheckedTable], dest: Destination, dialect: str
) -> list[CheckedTable]:
    """``checked`` with each table that only a folded destination table can be, pointed at it."""
    if spec.lower_names or dialect not in _FOLDING or spec.mode is Mode.REPLACE:
        return checked  # a replace makes the table as named (migrate --keep-case after a migrate)
    found = []
    for table in checked:
        target, spec_ = table.spec.target, table.spec
        existing = dest.find(target)
        folded = dest_name(target, dialect=dialect, lower=True)
        if existing is None and table.spec.dest_name is None and folded != target:
            existing = dest.find(folded)
            if existing is not None:
                spec_ = table.spec.model_copy(update={"dest_name": folded})
        if existing is not None:
            columns = {}
            for name in table.schema.names:
                mine = table.columns.get(name, name)
                lower = dest_name(name, dialect=dialect, lower=True)
                columns[name] = lower if mine not in existing.names and lower in existing.names else mine
            if spec_ is not table.spec or any(columns[n] != table.columns.get(n, n) for n in columns):
                table = dataclasses.replace(table, spec=spec_, columns=columns)
        found.append(table)
    return found
