"""The engine's small parts, each on its own: sizing, planning, specs, SQL, keys, errors, casts,
memory budget and progress. No sockets; SQLite files live in tmp_path.
"""

from __future__ import annotations

import datetime as dt
import decimal
import itertools
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from bulksync.connectors.base import ChunkQuery
from bulksync.connectors.conform import cast_array, conform, conform_loose, to_sqlite_storage
from bulksync.connectors.memory import MemoryConnector
from bulksync.connectors.sqlite import SqliteConnector
from bulksync.engine.batching import MAX_ROWS, MIN_ROWS, BatchSizer
from bulksync.engine.checkpoint import decode_key, encode_key
from bulksync.engine.memory import MemoryGuard
from bulksync.engine.plan import check_table, plan_table
from bulksync.engine.progress import ProgressEvent, ProgressTracker
from bulksync.engine.retry import retrying
from bulksync.errors import (
    BadRowsError,
    ConnectError,
    ConnectionLost,
    PermanentError,
    SyncError,
    UnknownColumnError,
    UnsupportedTypeError,
    UsageError,
    redact,
)
from bulksync.schema import Column, TableSchema
from bulksync.spec import Filter, Mode, SyncSpec, TableSpec

MB = 2**20

# -- BatchSizer ---------------------------------------------------------------------------------


def sizer(**kw: float) -> BatchSizer:
    args: dict[str, float] = {
        "target_bytes": 4 * MB, "min_bytes": 1 * MB, "max_bytes": 16 * MB, "target_seconds": 0.5,
    }  # fmt: skip
    args.update(kw)
    return BatchSizer(**args)  # type: ignore[arg-type]


def test_batches_grow_while_writes_are_fast_and_stop_at_the_maximum() -> None:
    s = sizer()
    sizes = []
    for _ in range(20):
        s.observe_write(0.1)
        sizes.append(s.target_bytes)
    assert sizes[0] > 4 * MB and sizes == sorted(sizes)
    assert sizes[-1] == 16 * MB


def test_batches_shrink_while_writes_are_slow_and_stop_at_the_minimum() -> None:
    s = sizer()
    s.observe_write(1.5)
    assert s.target_bytes < 4 * MB
    for _ in range(20):
        s.observe_write(5.0)
    assert s.target_bytes == 1 * MB


def test_a_write_near_the_target_time_keeps_the_size() -> None:
    s = sizer()
    for took in (0.3, 0.5, 0.9):
        s.observe_write(took)
    assert s.target_bytes == 4 * MB


def test_shrink_halves_the_target_but_not_below_the_minimum() -> None:
    s = sizer()
    s.shrink()
    assert s.target_bytes == 2 * MB
    s.shrink()
    s.shrink()
    assert s.target_bytes == 1 * MB


def test_rows_follow_the_observed_row_width_within_the_row_limits() -> None:
    s = sizer()
    for _ in range(30):
        s.observe_chunk(1_000, 400_000)  # 400 bytes a row
    assert s.rows() == pytest.approx(4 * MB / 400, rel=0.01)
    s.observe_chunk(0, 0)  # an empty chunk tells nothing
    assert s.rows() == pytest.approx(4 * MB / 400, rel=0.01)
    assert sizer(target_bytes=1).rows() == MIN_ROWS
    huge = sizer(target_bytes=10**12, max_bytes=10**12, row_bytes=1.0)
    assert huge.rows() == MAX_ROWS


# -- planning over the memory connector ---------------------------------------------------------


@pytest.fixture
def stores() -> Iterator[tuple[MemoryConnector, MemoryConnector]]:
    names = [f"plan{uuid.uuid4().hex[:8]}" for _ in range(2)]
    yield MemoryConnector(f"memory://{names[0]}"), MemoryConnector(f"memory://{names[1]}")
    for name in names:
        MemoryConnector.drop_store(name)


def _table(conn: MemoryConnector, keys: list[int], *, primary_key: tuple[str, ...] = ("id",)) -> None:
    schema = TableSchema(
        "t", (Column("id", pa.int64(), nullable=False), Column("v", pa.string())), primary_key
    )
    conn.create_table(schema, with_indexes=False)
    with conn.transaction() as tx:
        tx.write("t", pa.record_batch({"id": pa.array(keys, pa.int64()), "v": [str(k) for k in keys]}))


def _spec(src: MemoryConnector, dst: MemoryConnector, table: TableSpec, **kw: object) -> SyncSpec:
    return SyncSpec(source=f"memory://{src.name}", destination=f"memory://{dst.name}", tables=[table], **kw)


@pytest.mark.parametrize(
    ("workers", "min_rows", "parts"), [(4, 100, 4), (8, 300, 3), (2, 100, 2), (4, 600, 1)]
)
def test_partitions_are_contiguous_and_cover_every_key_once(
    stores: tuple[MemoryConnector, MemoryConnector], workers: int, min_rows: int, parts: int
) -> None:
    src, dst = stores
    keys = sorted({-50, *range(1, 3_000, 3), 9_999})  # gaps and an outlier
    _table(src, keys)
    spec = _spec(src, dst, TableSpec(name="t"), workers=workers, partition_min_rows=min_rows)
    plan = plan_table(spec, check_table(spec, spec.tables[0], src), src, dst)

    states = plan.states
    assert len(states) == parts
    assert states[0].lower is None and states[-1].upper is None
    assert all(a.upper == b.lower for a, b in itertools.pairwise(states)), [
        (s.lower, s.upper) for s in states
    ]
    for key in keys:
        owners = [
            s.partition
            for s in states
            if (s.lower is None or key > s.lower[0]) and (s.upper is None or key <= s.upper[0])
        ]
        assert len(owners) == 1, f"key {key} belongs to partitions {owners}"
    read = []
    for s in states:
        query = ChunkQuery(plan.source, plan.order, limit=10_000, after=s.lower, upto=s.upper)
        read += src.read_chunk(query).column(0).to_pylist()
    assert read == keys
    assert [(s.lower, s.upper) for s in dst.load_states(plan.sync_id)] == [(s.lower, s.upper) for s in states]


def test_a_table_without_a_primary_key_needs_key(stores: tuple[MemoryConnector, MemoryConnector]) -> None:
    src, dst = stores
    _table(src, [1, 2, 3], primary_key=())
    spec = _spec(src, dst, TableSpec(name="t"))
    with pytest.raises(UsageError, match="--key"):
        check_table(spec, spec.tables[0], src)
    named = _spec(src, dst, TableSpec(name="t", key=("id",)))
    assert check_table(named, named.tables[0], src).key == ("id",)


@pytest.mark.parametrize(
    "table",
    [
        TableSpec(name="t", filters=(Filter(column="nope", op="eq", value=1),)),
        TableSpec(name="t", key=("nope",)),
    ],
)
def test_unknown_columns_are_refused_before_anything_is_written(
    stores: tuple[MemoryConnector, MemoryConnector], table: TableSpec
) -> None:
    src, dst = stores
    _table(src, [1, 2, 3])
    spec = _spec(src, dst, table)
    with pytest.raises(UnknownColumnError, match="nope") as err:
        check_table(spec, table, src)
    assert "id, v" in err.value.message  # the message lists the columns there are
    assert dst.list_tables() == []


# -- SyncSpec ----------------------------------------------------------------------------------


def test_incremental_mode_needs_a_cursor() -> None:
    with pytest.raises(ValidationError, match="cursor"):
        SyncSpec(source="a.db", destination="b.db", tables=[TableSpec(name="t")], mode=Mode.INCREMENTAL)
    ok = SyncSpec(
        source="a.db",
        destination="b.db",
        tables=[TableSpec(name="t", cursor="updated_at")],
        mode="incremental",
    )
    assert ok.tables[0].cursor == "updated_at"


@pytest.mark.parametrize("mode", [Mode.APPEND, Mode.UPSERT, Mode.REPLACE])
def test_a_cursor_only_goes_with_incremental_mode(mode: Mode) -> None:
    with pytest.raises(ValidationError, match="--cursor only applies"):
        SyncSpec(source="a.db", destination="b.db", tables=[TableSpec(name="t", cursor="u")], mode=mode)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "a\x00b"),
        ("dest_name", "x\n--"),
        ("key", ("id\r",)),
        ("cursor", "x" * 256),
        ("name", ""),
    ],
)
def test_names_no_database_could_hold_are_bad_usage(field: str, value: object) -> None:
    with pytest.raises(UsageError, match="1 to 255 characters without a NUL"):
        TableSpec(**{"name": "t", field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name", ["Order Lines", 'weird"quote', "x; DROP TABLE y", "t --", "Ünïcode", "2024_sales"]
)
def test_any_other_name_is_left_to_the_catalog_and_to_quoting(name: str) -> None:
    assert TableSpec(name=name, dest_name=name, key=(name,)).target == name
    assert Filter(column=name, op="eq", value=1).column == name


def test_two_tables_cannot_share_a_target() -> None:
    with pytest.raises(ValidationError, match="same destination table"):
        SyncSpec(
            source="a.db",
            destination="b.db",
            tables=[TableSpec(name="a", dest_name="x"), TableSpec(name="b", dest_name="x")],
        )


# -- filters become bound parameters -----------------------------------------------------------

EVIL = "x' OR '1'='1'; DROP TABLE t; --"


@pytest.fixture
def sqlite_conn(tmp_path: Path) -> Iterator[SqliteConnector]:
    conn = SqliteConnector(str(tmp_path / "u.db"), create=True)
    schema = TableSchema(
        "t",
        (
            Column("id", pa.int64(), nullable=False),
            Column("note", pa.string()),
            Column("at", pa.timestamp("us")),
        ),
        ("id",),
    )
    conn.create_table(schema, with_indexes=False)
    yield conn
    conn.close()


def test_filter_values_are_bound_never_spliced_into_the_sql(sqlite_conn: SqliteConnector) -> None:
    schema = sqlite_conn.describe("t")
    filters = (
        Filter(column="note", op="eq", value=EVIL),
        Filter(column="at", op="ge", value="2026-03-29T02:30:00"),
        Filter(column="id", op="lt", value=424242),
    )
    where, params = sqlite_conn.where_sql(schema, filters)
    assert where.count("?") == 3 and EVIL not in where and "424242" not in where and "2026" not in where
    assert params == [EVIL, "2026-03-29 02:30:00", 424242]

    sql, params = sqlite_conn.chunk_sql(ChunkQuery(schema, ("id",), 777, (13,), (987_654,), filters))
    assert sql.count("?") == len(params) == 6
    for text in (EVIL, "777", "13", "987654", "2026"):
        assert text not in sql
    assert params[-1] == 777 and (13 in params) and (987_654 in params)


def test_a_hostile_filter_value_matches_nothing_and_drops_nothing(sqlite_conn: SqliteConnector) -> None:
    with sqlite_conn.transaction() as tx:
        tx.write(
            "t",
            pa.record_batch(
                {"id": [1, 2], "note": ["a", EVIL], "at": pa.array([None, None], pa.timestamp("us"))}
            ),
        )
    schema = sqlite_conn.describe("t")
    query = ChunkQuery(schema, ("id",), 10, filters=(Filter(column="note", op="eq", value=EVIL),))
    assert sqlite_conn.read_chunk(query).column(0).to_pylist() == [2]
    assert sqlite_conn.list_tables() == ["t"]


def test_a_filter_value_of_the_wrong_type_is_a_usage_error(sqlite_conn: SqliteConnector) -> None:
    schema = sqlite_conn.describe("t")
    with pytest.raises(UsageError, match="'at'"):
        sqlite_conn.where_sql(schema, (Filter(column="at", op="ge", value="yesterday"),))


# -- checkpoint keys ---------------------------------------------------------------------------

KEYS = [
    (dt.datetime(2026, 3, 29, 2, 30, 0, 123456),),
    (dt.datetime(2026, 10, 25, 1, 30, tzinfo=dt.timezone(dt.timedelta(hours=2))),),
    (dt.date(2026, 2, 28), 7),
    (decimal.Decimal("12345678901234567890.1234567890"), decimal.Decimal("-0.10")),
    (b"\x00\xff\x10bytes",),
    (2**62, -1, 0),
    ("plain", "ünï 🎲", "", '{"ts": "not a tag"}'),
    (dt.datetime(2026, 1, 1), "mixed", 3, decimal.Decimal("1E+3")),
]


@pytest.mark.parametrize("key", KEYS)
def test_checkpoint_keys_round_trip_exactly(key: tuple[object, ...]) -> None:
    back = decode_key(encode_key(key))
    assert back == key
    assert [type(v) for v in back] == [type(v) for v in key]
    assert [str(v) for v in back] == [str(v) for v in key]  # Decimal scale, tz offset kept


def test_no_checkpoint_key_is_none() -> None:
    assert encode_key(None) is None
    assert decode_key(None) is None and decode_key("") is None


@given(
    st.tuples(
        st.one_of(
            st.integers(-(2**63), 2**63 - 1),
            st.text(),
            st.binary(),
            st.dates(),
            st.datetimes(),
            st.decimals(allow_nan=False, allow_infinity=False),
        ),
        st.integers(),
    )
)
def test_any_checkpoint_key_round_trips(key: tuple[object, ...]) -> None:
    assert decode_key(encode_key(key)) == key


# -- secrets ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "cannot connect to postgresql://bob:s3cr3t@db:5432/x",
        "postgresql+psycopg://bob:s3cr3t@db/x and mysql://root:s3cr3t@h/y",
        "host=db user=bob password=s3cr3t dbname=x",
        "host=db PASSWORD = 's3cr3t' dbname=x",
        "redis://:s3cr3t@localhost:6379/0",
    ],
)
def test_redact_hides_passwords_in_urls_and_pairs(text: str) -> None:
    hidden = redact(text)
    assert "s3cr3t" not in hidden
    assert "***" in hidden
    assert ("bob" in hidden) == ("bob" in text)  # the rest of the message stays useful


def test_redact_hides_a_password_that_contains_an_at_sign() -> None:
    # people paste unencoded passwords; safe_pg_url already hides all of this one
    hidden = redact("cannot connect to postgresql://bob:pa@ss-s3cr3t@db:5432/x")
    assert "s3cr3t" not in hidden and "ss-" not in hidden, hidden
    assert hidden.endswith("@db:5432/x")


def test_every_sync_error_message_is_redacted() -> None:
    err = ConnectError("cannot connect to postgresql://bob:s3cr3t@db/x (password=s3cr3t)")
    assert "s3cr3t" not in str(err) and "s3cr3t" not in err.message
    assert "postgresql://bob:***@db/x" in err.message


# -- casts ---------------------------------------------------------------------------------------


def test_floats_become_the_decimals_they_stand_for() -> None:
    """19.99 is a double a hair below it; 0.1 + 0.2 is 0.30000000000000004: both the decimal."""
    got = cast_array(
        pa.array([19.99, -19.99, 12.3, 0.1 + 0.2, 0.1 + 0.2 - 0.3, 7.0, -0.0, 1e12 + 0.000122, None]),
        pa.decimal128(18, 2),
        "amount",
    )
    want = ["19.99", "-19.99", "12.30", "0.30", "0.00", "7.00", "0.00", "1000000000000.00", None]
    assert [None if v is None else str(v) for v in got.to_pylist()] == want


@pytest.mark.parametrize("value", [1.234, 12.345, 2.675, 0.00001, -0.005, 12.340001])
def test_a_float_with_a_digit_the_decimal_does_not_keep_is_refused_not_rounded(value: float) -> None:
    batch = pa.record_batch({"amount": pa.array([1.5, value, 2.25])})
    schema = pa.schema([pa.field("amount", pa.decimal128(12, 2))])
    fixed, bad = conform_loose(batch, schema)
    assert [(b.row, b.reason) for b in bad] == [
        (1, "not a valid decimal (more decimals than the column's 2: it would be rounded)")
    ]
    assert fixed.column(0).to_pylist() == [decimal.Decimal("1.50"), None, decimal.Decimal("2.25")]


def test_a_float_too_big_for_the_decimal_is_refused_not_zeroed() -> None:
    # NUMERIC(12,2) holds at most 9,999,999,999.99; SQLite happily stores more in such a column
    arr = pa.array([1.5e10, 12.5])
    try:
        got = cast_array(arr, pa.decimal128(12, 2), "amount").to_pylist()
    except SyncError:
        return
    assert got[0] == decimal.Decimal("15000000000.00"), f"1.5e10 silently became {got[0]}"


def test_text_becomes_timestamps_and_booleans() -> None:
    ts = cast_array(
        pa.array(["2026-03-29 02:30:00", "2026-03-29 02:30:00.123456", "2026-03-29", None]),
        pa.timestamp("us"),
        "at",
    )
    assert ts.to_pylist() == [
        dt.datetime(2026, 3, 29, 2, 30),
        dt.datetime(2026, 3, 29, 2, 30, 0, 123456),
        dt.datetime(2026, 3, 29),
        None,
    ]
    flags = cast_array(
        pa.array(["1", "t", "TRUE", "Yes", "y", "0", "f", "false", "no", None]), pa.bool_(), "won"
    )
    assert flags.to_pylist() == [True] * 5 + [False] * 4 + [None]


def test_text_that_is_no_timestamp_is_refused_with_the_column_name() -> None:
    """A value, not the type: its row is refused (BadRowsError isolates it), the table goes on."""
    with pytest.raises(BadRowsError, match=r"^column 'placed_at': a value does not convert to timestamp"):
        cast_array(pa.array(["soon"]), pa.timestamp("us"), "placed_at")


def test_a_float_with_a_fraction_into_an_integer_column_refuses_its_row_not_the_table() -> None:
    with pytest.raises(
        BadRowsError, match=r"^column 'v': a value does not convert to int32: Float value 2.5"
    ):
        cast_array(pa.array([2.0, 2.5]), pa.int32(), "v")
    with pytest.raises(UnsupportedTypeError):  # no cast exists at all: the type is refused
        cast_array(pa.array([[1]]), pa.int32(), "v")


def test_conform_turns_a_chunked_table_into_one_batch_of_the_schema() -> None:
    schema = pa.schema([("id", pa.int64()), ("amount", pa.decimal128(10, 2)), ("won", pa.bool_())])
    table = pa.concat_tables(
        [
            pa.table({"id": pa.array([1], pa.int32()), "amount": [1.05], "won": ["yes"]}),
            pa.table({"id": pa.array([2], pa.int32()), "amount": [2.5], "won": ["no"]}),
        ]
    )
    batch = conform(table, schema)
    assert isinstance(batch, pa.RecordBatch) and batch.schema.equals(schema)
    assert batch.to_pydict()["id"] == [1, 2] and batch.to_pydict()["won"] == [True, False]
    assert conform(pa.table({"id": pa.array([], pa.int32())}), pa.schema([("id", pa.int64())])).num_rows == 0


def _stored(values: list[dt.datetime | None], tz: str | None = None) -> list[str | None]:
    batch = pa.record_batch({"at": pa.array(values, pa.timestamp("us", tz=tz))})
    return to_sqlite_storage(batch).column(0).to_pylist()


def test_sqlite_storage_writes_whole_second_timestamps_as_sqlite_text() -> None:
    assert _stored([dt.datetime(2026, 3, 29, 2, 30), None]) == ["2026-03-29 02:30:00", None]


def test_sqlite_storage_keeps_microseconds_when_present() -> None:
    assert _stored([dt.datetime(2026, 3, 29, 2, 30, 0, 5)]) == ["2026-03-29 02:30:00.000005"]
    aware = dt.datetime(2026, 3, 29, 3, 30, 0, 250000, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert _stored([aware], tz="UTC") == ["2026-03-29 02:30:00.250000"]  # stored in UTC


def test_sqlite_storage_writes_one_instant_as_one_text_whatever_its_batch_mates() -> None:
    # SQLite compares these as text: filters and keyset resume need one spelling per instant
    alone = _stored([dt.datetime(2026, 3, 29, 2, 30)])
    with_fraction = _stored([dt.datetime(2026, 3, 29, 2, 30), dt.datetime(2026, 3, 29, 2, 31, 0, 500000)])
    assert with_fraction[0] == alone[0], f"{with_fraction[0]!r} != {alone[0]!r}"


def test_sqlite_storage_keeps_decimals_as_the_nearest_double() -> None:
    # a SQLite reader (or `WHERE amount = 17618.6`) must see the number, not 17618.600000000002
    values = ["17618.60", "20046.17", "79071.18", "0.30", "-5.05"]
    batch = pa.record_batch({"amount": pa.array([decimal.Decimal(v) for v in values], pa.decimal128(12, 2))})
    stored = to_sqlite_storage(batch).column(0).to_pylist()
    assert stored == [float(v) for v in values]


def test_a_timestamp_equality_filter_finds_every_row_at_that_instant(sqlite_conn: SqliteConnector) -> None:
    at = dt.datetime(2026, 3, 29, 2, 30)
    for batch in (
        {"id": [1], "note": ["alone"], "at": [at]},
        {"id": [2, 3], "note": ["with a fraction", "x"], "at": [at, at + dt.timedelta(microseconds=5)]},
    ):
        with sqlite_conn.transaction() as tx:
            tx.write("t", pa.record_batch({**batch, "at": pa.array(batch["at"], pa.timestamp("us"))}))
    schema = sqlite_conn.describe("t")
    query = ChunkQuery(schema, ("id",), 10, filters=(Filter(column="at", op="eq", value=at.isoformat()),))
    assert sqlite_conn.read_chunk(query).column(0).to_pylist() == [1, 2]


# -- memory guard and progress -------------------------------------------------------------------


def test_the_memory_budget_fits_every_stream_under_the_high_water_mark() -> None:
    guard = MemoryGuard(1024)
    assert guard.high_water_mb == pytest.approx(819.2)
    budget = guard.budget_bytes(baseline_mb=200, streams=4, depth=2)
    assert 0 < budget * 4 * (2 + 3) <= (819.2 - 200) * MB
    assert guard.budget_bytes(baseline_mb=200, streams=8, depth=2) < budget
    assert guard.budget_bytes(baseline_mb=200, streams=4, depth=8) < budget
    over = guard.budget_bytes(baseline_mb=5_000, streams=4, depth=2)  # already above the mark
    assert over > 0 and over == 16 * MB // (4 * 5)
    assert guard.rss_mb() > 10 and guard.peak_mb >= guard.rss_mb() * 0.5


def test_progress_events_carry_rate_and_eta() -> None:
    events: list[ProgressEvent] = []
    tracker = ProgressTracker([events.append], rss_mb=lambda: 123.0)
    tracker.start("t", total=1_000, partitions=2, already=100)
    assert events[-1].phase == "planned" and events[-1].rows_done == 100
    tracker.advance("t", rows=400, nbytes=4_000, rejected=3)
    ev = events[-1]
    assert (ev.phase, ev.rows_done, ev.rows_total, ev.bytes_done, ev.rejected) == (
        "copying",
        500,
        1_000,
        4_000,
        3,
    )
    assert ev.rows_per_s > 0 and ev.eta_s is not None and ev.eta_s > 0
    assert ev.eta_s == pytest.approx(500 / ev.rows_per_s, rel=1e-6)
    assert ev.percent == 50.0 and ev.rss_mb == 123.0 and ev.partitions == 2
    tracker.advance("t", rows=700, nbytes=1)  # more rows than estimated: the total follows
    assert events[-1].rows_total == 1_200 and events[-1].eta_s == 0 and events[-1].percent == 100.0
    tracker.phase("t", "done")
    assert events[-1].phase == "done" and len(events) == 4


def test_an_empty_table_is_done_at_100_percent() -> None:
    events: list[ProgressEvent] = []
    tracker = ProgressTracker([events.append], rss_mb=lambda: 1.0)
    tracker.start("t", total=0, partitions=1)
    assert events[-1].percent == 0.0 and events[-1].eta_s is None
    tracker.phase("t", "done")
    assert events[-1].percent == 100.0


# -- retries --------------------------------------------------------------------------------------


def test_a_transient_error_is_retried_after_a_reconnect() -> None:
    calls: list[str] = []

    def flaky() -> str:
        calls.append("try")
        if len(calls) < 3:
            raise ConnectionLost("server went away")
        return "ok"

    reconnects: list[int] = []
    assert (
        retrying(flaky, retries=3, reconnect=lambda: reconnects.append(1), initial_wait=0.001, max_wait=0.01)
        == "ok"
    )
    assert len(calls) == 3 and len(reconnects) == 2


def test_a_permanent_error_is_not_retried() -> None:
    calls: list[int] = []

    def broken() -> None:
        calls.append(1)
        raise UsageError("no")

    with pytest.raises(UsageError):
        retrying(broken, retries=5, initial_wait=0.001)
    assert calls == [1]


def test_sqlite_reads_inline_parameters_as_exact_literals() -> None:
    from bulksync.connectors.sqlite import inline_literals

    sql = 'SELECT "id" FROM "t" WHERE "note" = ? AND "id" > ? AND "odds" < ? AND "raw" = ? LIMIT ?'
    got = inline_literals(sql, ["x'); DROP TABLE t; --", 5, 1.5, b"\x00\xff", 100])
    assert got == (
        'SELECT "id" FROM "t" WHERE "note" = \'x\'\'); DROP TABLE t; --\' AND "id" > 5 '
        'AND "odds" < 1.5 AND "raw" = X\'00ff\' LIMIT 100'
    )
    assert inline_literals(sql, [float("nan"), 1, 1.0, b"", 1]) is None  # no exact literal: bind
    assert inline_literals(sql, ["a\x00b", 1, 1.0, b"", 1]) is None
    assert inline_literals(sql, [1, 2]) is None  # counts disagree: bind
    assert inline_literals("SELECT ?", [None]) == "SELECT NULL"
    assert inline_literals("SELECT ?, ?", [True, float("inf")]) == "SELECT 1, 9e999"


def test_a_resumed_table_counts_earlier_rows_but_not_in_its_rate() -> None:
    import time as _time

    from bulksync.engine.progress import ProgressTracker

    seen: list[ProgressEvent] = []
    tracker = ProgressTracker([seen.append], lambda: 100.0)
    tracker.start("bets", total=1000, partitions=1, already=600)
    assert (seen[-1].rows_done, seen[-1].percent) == (600, 60.0)
    _time.sleep(0.05)
    tracker.advance("bets", rows=100, nbytes=1000)
    event = seen[-1]
    assert event.rows_done == 700
    assert event.rows_per_s <= 100 / 0.05 + 1  # this run's 100 rows, not 700
    assert event.eta_s is not None and event.eta_s >= 300 / event.rows_per_s - 0.01


def test_a_spec_takes_plain_table_names() -> None:
    from bulksync.spec import SyncSpec, TableSpec

    tables = ["bets", TableSpec(name="players", key=("id",))]
    spec = SyncSpec(source="a.db", destination="b.db", tables=tables)
    assert [t.name for t in spec.tables] == ["bets", "players"]
    assert spec.tables[1].key == ("id",)


def test_insert_first_backs_off_twice_as_long_after_each_refusal_in_a_row() -> None:
    from bulksync.engine.write import InsertFirst

    tries = InsertFirst(pause=2, max_pause=8)

    def skipped() -> int:
        n = 0
        while not tries.wanted():
            n += 1
        return n

    assert skipped() == 0
    gaps = []
    for _ in range(5):  # a full re-run: every try is refused
        tries.was_refused()
        gaps.append(skipped())
    assert gaps == [2, 4, 8, 8, 8]
    tries.was_accepted()  # new rows again: back to the short pause
    tries.was_refused()
    assert skipped() == 2


def test_a_full_disk_under_sqlite_says_what_to_do(tmp_path: Path) -> None:
    from bulksync.connectors.registry import open_connector

    conn = open_connector(str(tmp_path / "dest.db"), create=True)
    try:
        full = Exception("IO: Failed to step query: database or disk is full")
        error = conn.translate(full, context="INSERT")
    finally:
        conn.close()
    assert isinstance(error, PermanentError)
    assert "is full: free space" in error.message and "run the same command again" in error.message
    assert str(tmp_path / "dest.db") in error.message


def test_the_guard_hands_freed_heap_pages_back_once_in_a_while(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the drivers free stays in glibc's heap (a hole below live blocks is never given
    back by itself); the readers' guard trims it, at most every TRIM_EVERY_S."""
    import bulksync.engine.memory as memory

    guard = MemoryGuard(max_mb=1 << 20)
    assert guard._trim is not None, "glibc's malloc_trim not found (bulksync runs on glibc Linux)"
    blocks = [bytes(2000) for _ in range(60_000)]  # ~120 MB from malloc (above pymalloc's 512 B)
    keep = blocks[::50]  # a live block every 100 KB: no free top of heap to shrink
    del blocks
    before = guard.rss_mb()
    monkeypatch.setattr(memory, "TRIM_EVERY_S", 3600.0)
    guard.trim_now_and_then()  # just made: not due yet
    assert guard.rss_mb() > before - 20
    monkeypatch.setattr(memory, "TRIM_EVERY_S", 0.0)
    guard.trim_now_and_then()
    assert guard.rss_mb() < before - 60, (before, guard.rss_mb())
    assert len(keep) == 1_200


@pytest.mark.parametrize("text", ["9999-12-31T23:00:00-02:00", "0001-01-01T01:00:00+02:00"])
def test_text_whose_instant_falls_outside_years_1_to_9999_is_a_bad_value(text: str) -> None:
    """An offset moved it past 9999 (or before year 1) in UTC: PostgreSQL took it as 10000 or BC
    and verify then called the row different; MariaDB refused it and the row's reject crashed."""
    batch = pa.record_batch({"at": pa.array(["2024-01-01 12:00:00", text, "9999-12-31T23:59:59Z"])})
    fixed, bad = conform_loose(batch, pa.schema([pa.field("at", pa.timestamp("us"))]))
    assert [(b.row, b.reason) for b in bad] == [
        (1, "not a valid date and time (outside years 1 to 9999, which bulksync cannot carry)")
    ]
    assert fixed.column(0).to_pylist() == [
        dt.datetime(2024, 1, 1, 12),
        None,
        dt.datetime(9999, 12, 31, 23, 59, 59),
    ]


def test_a_rejected_row_python_cannot_hold_is_recorded_as_text() -> None:
    from bulksync.engine.write import _row_of

    past_9999 = pa.array([(253_402_300_800 + 3_600) * 1_000_000], pa.timestamp("us"))
    assert _row_of(pa.record_batch({"id": [7], "at": past_9999})) == {
        "id": 7,
        "at": "10000-01-01 01:00:00.000000",
    }


def test_a_float_past_2_53_is_the_decimal_its_shortest_text_says() -> None:
    """NUMERIC(38,0) -9e37 went into SQLite as the double -9e37 (it reads back as the same
    number); verify read that double back as -89999999999999992307089061666856370176 and called
    the copy different."""
    got = cast_array(pa.array([-9e37, 2.0**64, 12.0, None]), pa.decimal128(38, 0), "n").to_pylist()
    assert got == [decimal.Decimal("-9E+37"), decimal.Decimal("18446744073709552000"), 12, None]


def test_an_integer_in_a_datetime_column_is_unix_seconds() -> None:
    """Arrow's cast took 1704067200 for microseconds (1970-01-01 00:28:24.0672), exit 0, and
    verify, converting the same way, called the copy equal. Milliseconds land past year 9999."""
    batch = pa.record_batch({"ts": pa.array([1_704_067_200, -1, 1_704_067_200_000, None])})
    for target in (pa.timestamp("us"), pa.timestamp("us", tz="UTC")):
        fixed, bad = conform_loose(batch, pa.schema([pa.field("ts", target)]))
        assert [v if v is None else v.replace(tzinfo=None) for v in fixed.column(0).to_pylist()] == [
            dt.datetime(2024, 1, 1), dt.datetime(1969, 12, 31, 23, 59, 59), None, None
        ]  # fmt: skip
        assert [(b.row, b.reason) for b in bad] == [
            (2, "not a valid date and time (outside years 1 to 9999 as Unix time in seconds, "
                "which bulksync cannot carry)")
        ]  # fmt: skip
