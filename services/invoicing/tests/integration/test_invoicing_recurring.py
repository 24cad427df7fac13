"""Recurring invoices: every due period billed once, missed ones caught up after downtime."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from invoicing import jobs

from .conftest import Invoicing

pytestmark = pytest.mark.integration

TODAY = datetime.now(UTC).date()
LINE = {"description": "Support retainer", "quantity": "1", "unit_amount_minor": 250000}


def weeks_ago(n: int) -> date:
    return TODAY - timedelta(weeks=n)


async def test_each_due_period_is_billed_once_and_a_pause_is_caught_up(
    invoicing: Invoicing, tenant_id: uuid.UUID
) -> None:
    client_id = await invoicing.client(tenant_id)
    body = {
        "client_id": str(client_id),
        "frequency": "weekly",
        "interval": 2,
        "start_date": str(weeks_ago(5)),
        "auto_issue": True,
        "lines": [LINE],
    }
    async with invoicing.http(tenant_id) as http:
        made = await http.post("/v1/recurring-invoices", json=body)
        assert made.status_code == 201, made.text
        schedule = made.json()
        assert schedule["next_due_on"] == str(TODAY)
        location = made.headers["Location"]
        # Periods start 5, 3 and 1 weeks ago: three due, billed once however often it runs.
        assert await jobs.bill_recurring(invoicing.runtime) >= 3
        assert await jobs.bill_recurring(invoicing.runtime) == 0
        detail = (await http.get(location)).json()
        starts = sorted(o["period_start"] for o in detail["occurrences"])
        assert starts == [str(weeks_ago(5)), str(weeks_ago(3)), str(weeks_ago(1))]
        assert {o["outcome"] for o in detail["occurrences"]} == {"issued"}
        assert detail["next_due_on"] == str(weeks_ago(-1))
        invoices = (
            await http.get("/v1/invoices", params={"client_id": str(client_id), "limit": 50})
        ).json()["items"]
        assert len(invoices) == 3
        assert {(i["status"], i["total_minor"]) for i in invoices} == {("issued", 250000)}
        periods = sorted((i["period_start"], i["period_end"]) for i in invoices)
        assert periods[0] == (str(weeks_ago(5)), str(weeks_ago(3) - timedelta(days=1)))

        paused = await http.patch(
            location, json={"status": "paused"}, headers={"If-Match": made.headers["ETag"]}
        )
        assert paused.status_code == 200, paused.text
        assert paused.json()["next_due_on"] is None
        # Four weeks pass while paused: nothing is billed...
        invoicing.clock.offset = timedelta(weeks=4)
        try:
            assert await jobs.bill_recurring(invoicing.runtime) == 0
            resumed = await http.patch(
                location, json={"status": "active"}, headers={"If-Match": paused.headers["ETag"]}
            )
            assert resumed.json()["next_due_on"] == str(TODAY + timedelta(weeks=4))
            # ...and resuming bills the two periods missed meanwhile, once.
            assert await jobs.bill_recurring(invoicing.runtime) >= 2
            assert await jobs.bill_recurring(invoicing.runtime) == 0
        finally:
            invoicing.clock.offset = timedelta(0)
        detail = (await http.get(location)).json()
    assert len(detail["occurrences"]) == 5
    numbers = await invoicing.rows(
        tenant_id, "SELECT number FROM invoices WHERE client_id = $1 ORDER BY number", client_id
    )
    assert len({r["number"] for r in numbers}) == 5


async def test_an_ended_schedule_stops_and_bad_schedules_are_refused(
    invoicing: Invoicing, tenant_id: uuid.UUID
) -> None:
    client_id = await invoicing.client(tenant_id)
    base = {"client_id": str(client_id), "frequency": "monthly", "lines": [LINE]}
    async with invoicing.http(tenant_id) as http:
        ended = await http.post(
            "/v1/recurring-invoices",
            json={**base, "start_date": str(weeks_ago(9)), "end_date": str(weeks_ago(8))},
        )
        await jobs.bill_recurring(invoicing.runtime)
        after = (await http.get(ended.headers["Location"])).json()
        nothing = await http.post(
            "/v1/recurring-invoices",
            json={**base, "lines": [], "start_date": str(TODAY)},
        )
        backwards = await http.post(
            "/v1/recurring-invoices",
            json={**base, "start_date": str(TODAY), "end_date": str(weeks_ago(1))},
        )
        unknown = await http.post(
            "/v1/recurring-invoices",
            json={**base, "client_id": str(uuid.uuid4()), "start_date": str(TODAY)},
        )
        bad_interval = await http.post(
            "/v1/recurring-invoices", json={**base, "interval": 0, "start_date": str(TODAY)}
        )
    assert ended.status_code == 201
    assert [o["outcome"] for o in after["occurrences"]] == ["drafted"]
    assert (after["status"], after["next_due_on"]) == ("ended", None)
    assert nothing.status_code == 422
    assert backwards.status_code == 422
    assert unknown.status_code == 404
    assert bad_interval.status_code == 422
