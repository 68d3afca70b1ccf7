"""Where a store sync's global limit lives: BULKSYNC_STORES_RATE_LIMIT_URL, the broker's Redis, or
the process; a rated job for a RabbitMQ fleet without Redis is refused."""

from __future__ import annotations

import pydantic
import pytest

from bulksync.errors import UsageError
from bulksync.jobs.store_specs import shared_limit_url
from bulksync.settings import Settings, StoreSyncSettings

REDIS, AMQP = "redis://r:6379/2", "amqp://guest:guest@rabbit:5672/v"


def conf(url: str | None = None) -> StoreSyncSettings:
    return StoreSyncSettings.model_validate({"rate_limit_url": url} if url else {})


@pytest.mark.parametrize(
    ("broker", "limit_url", "fleet", "want"),
    [
        (REDIS, None, True, REDIS),  # the broker's Redis
        (AMQP, "redis://limits:6379/0", True, "redis://limits:6379/0"),  # its own Redis
        (REDIS, "redis://limits:6379/0", False, "redis://limits:6379/0"),
        (AMQP, None, False, None),  # a foreground sync: the limit in its process
        (None, None, False, None),
    ],
)
def test_the_global_limit_goes_where_every_process_sees_it(
    broker: str | None, limit_url: str | None, fleet: bool, want: str | None
) -> None:
    settings = Settings(broker_url=broker)
    assert shared_limit_url(settings, conf(limit_url), rate=20.0, fleet=fleet) == want


def test_rabbitmq_fleet_without_redis_refuses_a_global_rate_and_says_what_to_set() -> None:
    settings = Settings(broker_url=AMQP)
    with pytest.raises(UsageError, match="BULKSYNC_STORES_RATE_LIMIT_URL=redis://") as caught:
        shared_limit_url(settings, conf(), rate=20.0, fleet=True)
    assert "guest" not in str(caught.value)  # the broker URL's password is not in the message
    assert (
        shared_limit_url(settings, conf(), rate=None, fleet=True) is None
    )  # no global rate: nothing to share


def test_a_limit_url_that_is_not_redis_is_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="redis://"):
        conf("amqp://rabbit:5672/")
