from __future__ import annotations

import asyncio

import httpx
import pytest

from servicekit.service import Runtime, create_app
from servicekit.testing import Infra, serve
from timecapture.app import define as define_timecapture
from timecapture.settings import TimecaptureSettings

pytestmark = pytest.mark.integration


async def test_consumer_groups_not_settled_in_time_fail_the_start_and_leave_nothing_running(
    infra: Infra,
) -> None:
    if infra.kafka.kind != "mock":
        pytest.skip("relies on the local broker holding a group's first join for 2-3 s")
    # 1 s: past the consumers' bootstrap (aiokafka leaks a connection when cancelled inside
    # it), short of the local broker's first join, so the wait ends in the group join.
    stuck = create_app(
        define_timecapture(infra.settings(TimecaptureSettings, consumer_start_timeout_s=1.0))
    )
    runtime: Runtime = stuck.state.runtime
    assert len(runtime.definition.subscriptions) >= 2
    loop = asyncio.get_running_loop()
    began = loop.time()
    try:
        with pytest.raises(TimeoutError):
            await runtime.start()
        assert loop.time() - began < 10
        assert runtime.broker is None
        assert not runtime.started
    finally:
        await runtime.stop()

    # Nothing of the failed start holds the groups: the next instance settles and serves.
    app = create_app(define_timecapture(infra.settings(TimecaptureSettings)))
    async with serve(app) as url, httpx.AsyncClient(base_url=url) as http:
        ready = await http.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert app.state.runtime.broker is None  # stopped with the app
