"""When a store sync may resume an unfinished run: the same fetch, and recent."""

from __future__ import annotations

import datetime as dt

from bulksync.recipes.store_resume import differing, fetch_params, refusal, shown

T0 = dt.datetime(2026, 12, 3, 1, 0, tzinfo=dt.UTC)
STORES = [("s0001", "https://a.example/s1"), ("s0002", "https://a.example/s2")]


def params(**kw: object) -> str:
    base: dict[str, object] = {
        "since": None, "page_size": 100, "pagination": "cursor", "records_path": "data", "stores": STORES,
    }  # fmt: skip
    return fetch_params(**{**base, **kw})  # type: ignore[arg-type]


def test_the_same_fetch_within_the_window_may_resume() -> None:
    assert refusal(params(), params(), started=T0, now=T0 + dt.timedelta(hours=1), within_s=6 * 3600) is None
    # the store list's order does not matter, its content does
    assert refusal(params(), params(stores=STORES[::-1]), started=T0, now=T0, within_s=60) is None


def test_each_option_that_changes_what_is_fetched_is_named() -> None:
    assert differing(params(), params(since="2026-12-01")) == ["--since"]
    assert differing(params(), params(page_size=50, pagination="offset")) == ["--page-size", "--pagination"]
    assert differing(params(), params(stores=STORES[:1])) == ["store list"]
    why = refusal(params(), params(since="2026-12-01", page_size=5), started=T0, now=T0, within_s=60)
    assert why == "its --since and --page-size differed"


def test_an_old_run_or_one_of_an_earlier_build_is_not_resumed() -> None:
    why = refusal(params(), params(), started=T0, now=T0 + dt.timedelta(hours=26), within_s=6 * 3600)
    assert why == "it started 26.0 h ago, more than --resume-within 6 h"
    assert refusal(None, params(), started=T0, now=T0, within_s=60) == (
        "its options were not recorded (a run of an earlier build)"
    )
    assert shown("r1", T0) == "run r1 from 2026-12-03 01:00:00 UTC"


def test_a_job_record_keeps_the_resume_window_and_older_records_take_the_setting() -> None:
    from pydantic import SecretStr

    from bulksync.jobs.store_specs import store_job_from_record, store_job_record
    from bulksync.recipes.store_list import Store
    from bulksync.recipes.stores import StoreJob
    from bulksync.settings import Settings, StoreSyncSettings

    url = "postgresql://postgres@127.0.0.1/nowhere"
    job = StoreJob("users", [Store("s0001", "https://a.example/s1", "main")], url,
                   {"main": SecretStr("t")}, resume_within_s=600.0)  # fmt: skip
    settings, conf = Settings(), StoreSyncSettings(resume_within_hours=2)
    record = store_job_record(job, settings, destination=url)
    assert store_job_from_record(record, settings, conf).resume_within_s == 600.0
    del record["stores"]["resume_within_s"]  # a record written before the window existed
    assert store_job_from_record(record, settings, conf).resume_within_s == 7200.0
