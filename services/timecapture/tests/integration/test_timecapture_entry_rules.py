"""Entry revisions and deletes with If-Match, overlap, active catalogue, who may log whose
time, and invoice locks, against the real Postgres and broker."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from contracts.envelope import EventEnvelope
from contracts.events.invoices import InvoiceIssued, InvoiceLine, InvoiceVoided
from contracts.registry import build_event, encode_event, event_key
from servicekit.db import set_tenant
from servicekit.identity import IDENTITY_HEADER, Identity, Role
from servicekit.problems import PROBLEM_JSON
from servicekit.service import create_app
from servicekit.testing import Infra, eventually, serve
from timecapture.app import define
from timecapture.messaging.consumers import on_invoices_issued
from timecapture.settings import TimecaptureSettings

if TYPE_CHECKING:
    from conftest import Catalog, TimecaptureProbe

pytestmark = pytest.mark.integration

# Far enough back that entry_body()'s hourly slots never reach it.
DAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=20)


@pytest.fixture(scope="module")
async def api(infra: Infra) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        serve(create_app(define(infra.settings(TimecaptureSettings)))) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        yield http


def at(hour: float) -> str:
    return (DAY + timedelta(hours=hour)).isoformat()


def as_role(
    probe: TimecaptureProbe, tenant_id: uuid.UUID, role: Role, principal: str
) -> dict[str, str]:
    return {IDENTITY_HEADER: probe.infra.token(Identity(tenant_id, principal, role))}


def version(n: int) -> dict[str, str]:
    return {"If-Match": f'"{n}"'}


async def log(
    api: httpx.AsyncClient,
    probe: TimecaptureProbe,
    catalog: Catalog,
    headers: dict[str, str] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    r = await api.post(
        "/v1/time-entries",
        json=probe.entry_body(catalog, **overrides),
        headers=headers or probe.headers(catalog.tenant_id),
    )
    assert r.status_code == 201, r.text
    entry: dict[str, Any] = r.json()
    return entry


def problem_of(r: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM_JSON
    problem: dict[str, Any] = r.json()
    assert problem["type"].endswith(f"/{slug}"), problem
    return problem


class Written:
    """The tenant's entry rows and published entry events, to show a request changed nothing."""

    def __init__(self, probe: TimecaptureProbe, tenant_id: uuid.UUID) -> None:
        self.probe = probe
        self.tenant_id = tenant_id
        self.rows: list[Any] = []
        self.events: list[tuple[str, int]] = []

    async def snapshot(self) -> Written:
        await self.probe.outbox_drained(self.tenant_id)
        self.rows = await self.probe.entries(self.tenant_id)
        self.events = await self.event_versions()
        return self

    async def event_versions(self) -> list[tuple[str, int]]:
        return [
            (p.event.event_type, p.event.payload.version)
            for p in await self.probe.published(self.tenant_id)
        ]

    async def assert_unchanged(self) -> None:
        assert await self.probe.entries(self.tenant_id) == self.rows
        assert await self.probe.outbox(self.tenant_id) == []
        assert await self.event_versions() == self.events


# Revisions and deletes


async def test_revision_at_the_current_version_is_published_under_the_same_key(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, catalog: Catalog
) -> None:
    entry = await log(api, probe, catalog)

    r = await api.patch(
        f"/v1/time-entries/{entry['id']}",
        json={"description": "retro", "duration_minutes": 90, "tags": ["a", "b"]},
        headers={**probe.headers(tenant_id), **version(1)},
    )

    assert r.status_code == 200, r.text
    assert r.headers["etag"] == '"2"'
    revised = r.json()
    assert (revised["version"], revised["description"]) == (2, "retro")
    assert revised["duration_seconds"] == 90 * 60
    assert revised["started_at"] == entry["started_at"]
    assert revised["cost_minor"] == 9000
    got = await api.get(f"/v1/time-entries/{entry['id']}", headers=probe.headers(tenant_id))
    assert got.json() == revised

    await probe.outbox_drained(tenant_id)
    logged, changed = await probe.published(tenant_id)
    assert (logged.event.event_type, changed.event.event_type) == (
        "time_entry.logged",
        "time_entry.revised",
    )
    assert logged.key == changed.key == entry["id"].encode()
    assert (logged.event.payload.version, changed.event.payload.version) == (1, 2)
    assert changed.event.payload.duration_seconds == 90 * 60
    assert changed.event.payload.tags == ["a", "b"]
    assert changed.event.payload.task == entry["task"]


async def test_revision_that_changes_nothing_publishes_nothing(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, catalog: Catalog
) -> None:
    entry = await log(api, probe, catalog)
    written = await Written(probe, tenant_id).snapshot()

    r = await api.patch(
        f"/v1/time-entries/{entry['id']}",
        json={"description": entry["description"], "tags": entry["tags"]},
        headers={**probe.headers(tenant_id), **version(1)},
    )

    assert r.status_code == 200, r.text
    assert r.headers["etag"] == '"1"'
    await written.assert_unchanged()


async def test_revision_and_delete_without_or_with_a_stale_version_change_nothing(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, catalog: Catalog
) -> None:
    entry = await log(api, probe, catalog)
    url = f"/v1/time-entries/{entry['id']}"
    headers = probe.headers(tenant_id)
    r = await api.patch(url, json={"billable": False}, headers={**headers, **version(1)})
    assert r.status_code == 200, r.text
    written = await Written(probe, tenant_id).snapshot()

    missing = [
        await api.patch(url, json={"description": "x"}, headers=headers),
        await api.delete(url, headers=headers),
    ]
    stale = [
        await api.patch(url, json={"description": "x"}, headers={**headers, **version(1)}),
        await api.delete(url, headers={**headers, **version(1)}),
    ]

    for r in missing:
        problem_of(r, 428, "precondition-required")
    for r in stale:
        assert problem_of(r, 412, "precondition-failed")["current_version"] == 2
        assert r.headers["etag"] == '"2"'
    await written.assert_unchanged()


async def test_delete_soft_deletes_and_publishes_the_next_version(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, catalog: Catalog
) -> None:
    entry = await log(api, probe, catalog)
    url = f"/v1/time-entries/{entry['id']}"
    headers = probe.headers(tenant_id)

    r = await api.delete(url, headers={**headers, **version(1)})

    assert r.status_code == 204, r.text
    problem_of(await api.get(url, headers=headers), 404, "time-entry-not-found")
    problem_of(
        await api.delete(url, headers={**headers, **version(2)}), 404, "time-entry-not-found"
    )
    listed = await api.get("/v1/time-entries", headers=headers)
    assert listed.json()["items"] == []
    [row] = await probe.entries(tenant_id)
    assert row["deleted_at"] is not None
    assert row["version"] == 2
    await probe.outbox_drained(tenant_id)
    logged, gone = await probe.published(tenant_id)
    assert gone.event.event_type == "time_entry.deleted"
    assert gone.key == logged.key == entry["id"].encode()
    assert gone.event.payload.version == 2
    assert gone.event.payload.duration_seconds == entry["duration_seconds"]
    [usage] = await probe.infra.fetch_as_tenant(
        "timecapture", tenant_id, "SELECT tracked_seconds, cost_minor FROM project_usage"
    )
    assert (usage["tracked_seconds"], usage["cost_minor"]) == (0, 0)


async def test_concurrent_revisions_of_one_version_let_exactly_one_win(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, catalog: Catalog
) -> None:
    entry = await log(api, probe, catalog)
    headers = {**probe.headers(tenant_id), **version(1)}

    responses = await asyncio.gather(
        *(
            api.patch(
                f"/v1/time-entries/{entry['id']}",
                json={"description": f"writer {n}"},
                headers=headers,
            )
            for n in range(20)
        )
    )

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [412] * 19
    [winner] = [r.json() for r in responses if r.status_code == 200]
    [row] = await probe.entries(tenant_id)
    assert (row["version"], row["description"]) == (2, winner["description"])
    await probe.outbox_drained(tenant_id)
    events = await probe.published(tenant_id)
    revised = [p.event.payload for p in events if p.event.event_type == "time_entry.revised"]
    assert [(e.version, e.description) for e in revised] == [(2, winner["description"])]


# Overlap


async def test_overlapping_entry_of_one_member_is_409_and_writes_nothing(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, catalog: Catalog
) -> None:
    first = await log(api, probe, catalog, started_at=at(10), ended_at=at(11))
    adjacent = await log(api, probe, catalog, started_at=at(11), ended_at=at(12))
    written = await Written(probe, tenant_id).snapshot()

    r = await api.post(
        "/v1/time-entries",
        json=probe.entry_body(catalog, started_at=at(10.5), ended_at=at(10.75)),
        headers=probe.headers(tenant_id),
    )
    moved = await api.patch(
        f"/v1/time-entries/{adjacent['id']}",
        json={"started_at": at(10.5)},
        headers={**probe.headers(tenant_id), **version(1)},
    )

    problem = problem_of(r, 409, "time-entry-overlaps")
    assert problem["overlapping_entry_id"] == first["id"]
    assert problem_of(moved, 409, "time-entry-overlaps")["overlapping_entry_id"] == first["id"]
    await written.assert_unchanged()


async def test_concurrent_overlapping_entries_of_one_member_let_exactly_one_in(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, catalog: Catalog
) -> None:
    bodies = [
        probe.entry_body(catalog, started_at=at(9 + n / 60), ended_at=at(10 + n / 60))
        for n in range(10)
    ]

    responses = await asyncio.gather(
        *(api.post("/v1/time-entries", json=b, headers=probe.headers(tenant_id)) for b in bodies)
    )

    assert sorted(r.status_code for r in responses) == [201] + [409] * 9
    [entry] = [r.json() for r in responses if r.status_code == 201]
    assert [str(e["id"]) for e in await probe.entries(tenant_id)] == [entry["id"]]
    await probe.outbox_drained(tenant_id)
    assert [str(p.event.payload.entry_id) for p in await probe.published(tenant_id)] == [
        entry["id"]
    ]


async def test_overlap_is_allowed_when_the_setting_is_off(
    infra: Infra, probe: TimecaptureProbe, tenant_id: uuid.UUID, catalog: Catalog
) -> None:
    settings = infra.settings(TimecaptureSettings, reject_overlapping_entries=False)
    # No consumers: this second app must not take invoice partitions from the module's app.
    app = create_app(dataclasses.replace(define(settings), subscriptions=()))
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        first = await log(http, probe, catalog, started_at=at(10), ended_at=at(11))
        second = await log(http, probe, catalog, started_at=at(10.5), ended_at=at(11.5))
        r = await http.patch(
            f"/v1/time-entries/{second['id']}",
            json={"started_at": at(10)},
            headers={**probe.headers(tenant_id), **version(1)},
        )

    assert r.status_code == 200, r.text
    assert {str(e["id"]) for e in await probe.entries(tenant_id)} == {first["id"], second["id"]}


# The catalogue must be active


async def archive(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, path: str
) -> None:
    r = await api.patch(
        path, json={"archived": True}, headers={**probe.headers(tenant_id), **version(1)}
    )
    assert r.status_code == 200, r.text


ARCHIVED = {
    "member": ("members", "member_id", "the member is archived"),
    "project": ("projects", "project_id", "the project is archived"),
    "client": ("clients", "project_id", "the project's client is archived"),
}


@pytest.mark.parametrize(("collection", "field", "detail"), ARCHIVED.values(), ids=ARCHIVED)
async def test_time_on_an_archived_member_project_or_client_is_422(
    api: httpx.AsyncClient,
    probe: TimecaptureProbe,
    tenant_id: uuid.UUID,
    catalog: Catalog,
    collection: str,
    field: str,
    detail: str,
) -> None:
    ids = {
        "members": catalog.member_id,
        "projects": catalog.project_id,
        "clients": catalog.client_id,
    }
    await archive(api, probe, tenant_id, f"/v1/{collection}/{ids[collection]}")
    await probe.outbox_drained(tenant_id)

    r = await api.post(
        "/v1/time-entries", json=probe.entry_body(catalog), headers=probe.headers(tenant_id)
    )

    problem = problem_of(r, 422, "time-entry-invalid")
    assert problem["errors"] == [{"pointer": f"#/{field}", "detail": detail}]
    await probe.assert_nothing_written(tenant_id)


async def test_moving_an_entry_to_an_archived_project_is_422(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, catalog: Catalog
) -> None:
    entry = await log(api, probe, catalog)
    other = await api.post(
        "/v1/projects",
        json={"client_id": str(catalog.client_id), "name": "Old"},
        headers=probe.headers(tenant_id),
    )
    assert other.status_code == 201, other.text
    await archive(api, probe, tenant_id, f"/v1/projects/{other.json()['id']}")
    written = await Written(probe, tenant_id).snapshot()

    r = await api.patch(
        f"/v1/time-entries/{entry['id']}",
        json={"project_id": other.json()["id"]},
        headers={**probe.headers(tenant_id), **version(1)},
    )

    assert problem_of(r, 422, "time-entry-invalid")["errors"][0]["pointer"] == "#/project_id"
    await written.assert_unchanged()


# Whose time a caller may write


async def add_member(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, **fields: Any
) -> str:
    r = await api.post(
        "/v1/members",
        json={"name": "Other", "email": f"{uuid.uuid4().hex[:8]}@example.com", **fields},
        headers=probe.headers(tenant_id),
    )
    assert r.status_code == 201, r.text
    member_id: str = r.json()["id"]
    return member_id


async def test_member_role_writes_only_their_own_time(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, catalog: Catalog
) -> None:
    # The catalog's member is linked to principal "tester".
    me = as_role(probe, tenant_id, "member", "tester")
    colleague = await add_member(api, probe, tenant_id)
    theirs = await log(api, probe, catalog, member_id=colleague)
    mine = await log(api, probe, catalog, headers=me)
    assert mine["member_id"] == str(catalog.member_id)
    r = await api.patch(
        f"/v1/time-entries/{mine['id']}", json={"description": "mine"}, headers={**me, **version(1)}
    )
    assert r.status_code == 200, r.text
    written = await Written(probe, tenant_id).snapshot()

    attempts = [
        await api.post(
            "/v1/time-entries",
            json=probe.entry_body(catalog, member_id=colleague),
            headers=me,
        ),
        await api.patch(
            f"/v1/time-entries/{theirs['id']}",
            json={"description": "not mine"},
            headers={**me, **version(1)},
        ),
        await api.delete(f"/v1/time-entries/{theirs['id']}", headers={**me, **version(1)}),
        # A stale version changes nothing: who may act is checked first, so the answer tells
        # a stranger nothing about the entry's version.
        await api.patch(
            f"/v1/time-entries/{theirs['id']}",
            json={"description": "not mine"},
            headers={**me, **version(7)},
        ),
        # Moving one's own entry to someone else is writing their time too.
        await api.patch(
            f"/v1/time-entries/{mine['id']}",
            json={"member_id": colleague},
            headers={**me, **version(2)},
        ),
    ]

    for r in attempts:
        problem_of(r, 403, "not-your-time")
    await written.assert_unchanged()


async def test_member_role_writes_others_time_on_projects_they_manage(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, catalog: Catalog
) -> None:
    me = as_role(probe, tenant_id, "member", "tester")
    colleague = await add_member(api, probe, tenant_id)
    theirs = await log(api, probe, catalog, member_id=colleague)
    r = await api.patch(
        f"/v1/projects/{catalog.project_id}",
        json={"manager_ids": [str(catalog.member_id)]},
        headers={**probe.headers(tenant_id), **version(1)},
    )
    assert r.status_code == 200, r.text

    logged = await api.post(
        "/v1/time-entries", json=probe.entry_body(catalog, member_id=colleague), headers=me
    )
    revised = await api.patch(
        f"/v1/time-entries/{theirs['id']}",
        json={"description": "fixed by the manager"},
        headers={**me, **version(1)},
    )
    deleted = await api.delete(f"/v1/time-entries/{theirs['id']}", headers={**me, **version(2)})

    assert logged.status_code == 201, logged.text
    assert logged.json()["member_id"] == colleague
    assert revised.status_code == 200, revised.text
    assert deleted.status_code == 204, deleted.text


async def test_unlinked_principal_and_viewers_write_no_time(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, catalog: Catalog
) -> None:
    entry = await log(api, probe, catalog)
    written = await Written(probe, tenant_id).snapshot()
    stranger = as_role(probe, tenant_id, "member", "nobody")
    viewer = as_role(probe, tenant_id, "viewer", "tester")
    url = f"/v1/time-entries/{entry['id']}"

    problem = problem_of(
        await api.post("/v1/time-entries", json=probe.entry_body(catalog), headers=stranger),
        403,
        "not-your-time",
    )
    assert "not linked" in problem["detail"]
    for r in [
        await api.patch(url, json={"description": "x"}, headers={**stranger, **version(1)}),
        await api.delete(url, headers={**stranger, **version(1)}),
    ]:
        problem_of(r, 403, "not-your-time")
    for r in [
        await api.post("/v1/time-entries", json=probe.entry_body(catalog), headers=viewer),
        await api.patch(url, json={"description": "x"}, headers={**viewer, **version(1)}),
        await api.delete(url, headers={**viewer, **version(1)}),
    ]:
        problem_of(r, 403, "forbidden")
    await written.assert_unchanged()
    assert (await api.get(url, headers=viewer)).status_code == 200


# Invoice locks


def issued(
    tenant_id: uuid.UUID, client_id: uuid.UUID, invoice_id: uuid.UUID, entries: list[str]
) -> Any:
    ids = [uuid.UUID(e) for e in entries]
    line = InvoiceLine(
        line_id=uuid.uuid4(),
        description="Consulting",
        project_id=None,
        quantity=Decimal("1"),
        unit_amount_minor=10000,
        amount_minor=10000,
        discount_minor=0,
        tax_rate_id=None,
        tax_rate_percent=None,
        tax_minor=0,
        time_entry_ids=ids,
    )
    payload = InvoiceIssued(
        invoice_id=invoice_id,
        number=f"INV-{invoice_id.hex[:6]}",
        client_id=client_id,
        currency="EUR",
        issued_at=datetime.now(UTC),
        due_date=datetime.now(UTC).date() + timedelta(days=30),
        period_start=None,
        period_end=None,
        lines=[line],
        subtotal_minor=10000,
        discount_minor=0,
        tax_minor=0,
        total_minor=10000,
        time_entry_ids=ids,
    )
    return build_event(
        "invoice.issued",
        payload,
        tenant_id=tenant_id,
        producer="invoicing",
        event_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
    )


def voided(
    tenant_id: uuid.UUID, client_id: uuid.UUID, invoice_id: uuid.UUID, entries: list[str]
) -> Any:
    payload = InvoiceVoided(
        invoice_id=invoice_id,
        number=f"INV-{invoice_id.hex[:6]}",
        client_id=client_id,
        voided_at=datetime.now(UTC),
        reason="wrong rate",
        time_entry_ids=[uuid.UUID(e) for e in entries],
    )
    return build_event(
        "invoice.voided",
        payload,
        tenant_id=tenant_id,
        producer="invoicing",
        event_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
    )


async def produce(infra: Infra, topic: str, event: EventEnvelope[Any]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka.bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(topic, encode_event(event), key=event_key(event))
    finally:
        await producer.stop()


async def invoice_of(probe: TimecaptureProbe, tenant_id: uuid.UUID, entry_id: str) -> Any:
    [row] = await probe.infra.fetch_as_tenant(
        "timecapture",
        tenant_id,
        "SELECT invoice_id FROM time_entries WHERE id = $1",
        uuid.UUID(entry_id),
    )
    return row["invoice_id"]


async def invoice_seen(
    probe: TimecaptureProbe, tenant_id: uuid.UUID, invoice_id: uuid.UUID, column: str
) -> None:
    async def seen() -> bool:
        rows = await probe.infra.fetch_as_tenant(
            "timecapture",
            tenant_id,
            f"SELECT {column} IS NOT NULL AS seen FROM invoice_locks WHERE invoice_id = $1",
            invoice_id,
        )
        return bool(rows) and rows[0]["seen"]

    await eventually(seen, timeout=60, interval=0.2, message=f"invoice {column} recorded")


async def test_entries_on_an_issued_invoice_are_locked_until_it_is_voided(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, catalog: Catalog
) -> None:
    billed, other = await log(api, probe, catalog), await log(api, probe, catalog)
    invoice_id = uuid.uuid4()
    headers = probe.headers(tenant_id)
    url = f"/v1/time-entries/{billed['id']}"

    await produce(
        probe.infra,
        "invoice-issued",
        issued(tenant_id, catalog.client_id, invoice_id, [billed["id"]]),
    )
    await invoice_seen(probe, tenant_id, invoice_id, "issued_at")

    assert (await api.get(url, headers=headers)).json()["invoice_id"] == str(invoice_id)
    assert await invoice_of(probe, tenant_id, other["id"]) is None
    written = await Written(probe, tenant_id).snapshot()
    for r in [
        await api.patch(url, json={"description": "late edit"}, headers={**headers, **version(1)}),
        await api.delete(url, headers={**headers, **version(1)}),
    ]:
        assert problem_of(r, 409, "time-entry-locked")["invoice_id"] == str(invoice_id)
    await written.assert_unchanged()
    untouched = await api.patch(
        f"/v1/time-entries/{other['id']}",
        json={"description": "still free"},
        headers={**headers, **version(1)},
    )
    assert untouched.status_code == 200, untouched.text

    await produce(
        probe.infra,
        "invoice-voided",
        voided(tenant_id, catalog.client_id, invoice_id, [billed["id"]]),
    )
    await invoice_seen(probe, tenant_id, invoice_id, "voided_at")

    assert await invoice_of(probe, tenant_id, billed["id"]) is None
    r = await api.patch(url, json={"description": "after void"}, headers={**headers, **version(1)})
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2


async def test_a_void_seen_before_its_issue_leaves_the_entries_editable(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, catalog: Catalog
) -> None:
    entry = await log(api, probe, catalog)
    invoice_id = uuid.uuid4()

    await produce(
        probe.infra,
        "invoice-voided",
        voided(tenant_id, catalog.client_id, invoice_id, [entry["id"]]),
    )
    await invoice_seen(probe, tenant_id, invoice_id, "voided_at")
    await produce(
        probe.infra,
        "invoice-issued",
        issued(tenant_id, catalog.client_id, invoice_id, [entry["id"]]),
    )
    await invoice_seen(probe, tenant_id, invoice_id, "issued_at")

    assert await invoice_of(probe, tenant_id, entry["id"]) is None
    r = await api.delete(
        f"/v1/time-entries/{entry['id']}", headers={**probe.headers(tenant_id), **version(1)}
    )
    assert r.status_code == 204, r.text


async def test_a_batch_of_issues_locks_each_invoices_entries_unless_its_void_came_first(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, catalog: Catalog
) -> None:
    """The consumer's batch path (`on_invoices_issued`), called with one tenant's events."""
    billed, freed = await log(api, probe, catalog), await log(api, probe, catalog)
    kept, void_first = uuid.uuid4(), uuid.uuid4()
    await produce(
        probe.infra,
        "invoice-voided",
        voided(tenant_id, catalog.client_id, void_first, [freed["id"]]),
    )
    await invoice_seen(probe, tenant_id, void_first, "voided_at")
    events = [
        issued(tenant_id, catalog.client_id, kept, [billed["id"]]),
        issued(tenant_id, catalog.client_id, void_first, [freed["id"]]),
    ]

    conn = await asyncpg.connect(probe.infra.dsn("timecapture"))
    try:
        async with conn.transaction():
            await set_tenant(conn, tenant_id)
            await on_invoices_issued(conn, events)
    finally:
        await conn.close()

    assert await invoice_of(probe, tenant_id, billed["id"]) == kept
    assert await invoice_of(probe, tenant_id, freed["id"]) is None
    await invoice_seen(probe, tenant_id, void_first, "issued_at")


async def test_rebilled_entry_stays_locked_when_the_new_issue_arrives_before_the_old_void(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, catalog: Catalog
) -> None:
    entry = await log(api, probe, catalog)
    first, second = uuid.uuid4(), uuid.uuid4()
    await produce(
        probe.infra, "invoice-issued", issued(tenant_id, catalog.client_id, first, [entry["id"]])
    )
    await invoice_seen(probe, tenant_id, first, "issued_at")
    # Invoicing voided the first invoice and billed the entry again; the topics are not
    # ordered with each other, so the second issue is seen first.
    await produce(
        probe.infra, "invoice-issued", issued(tenant_id, catalog.client_id, second, [entry["id"]])
    )
    await invoice_seen(probe, tenant_id, second, "issued_at")
    await produce(
        probe.infra, "invoice-voided", voided(tenant_id, catalog.client_id, first, [entry["id"]])
    )
    await invoice_seen(probe, tenant_id, first, "voided_at")

    assert await invoice_of(probe, tenant_id, entry["id"]) == second
    r = await api.delete(
        f"/v1/time-entries/{entry['id']}", headers={**probe.headers(tenant_id), **version(1)}
    )
    assert problem_of(r, 409, "time-entry-locked")["invoice_id"] == str(second)


@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        ({"description": "nul \x00 byte"}, 422),
        ({"started_at": "9999-12-31T23:00:00-01:00", "duration_minutes": 90}, 422),
        ({"started_at": "0001-01-01T00:00:00+01:00", "duration_minutes": 30}, 422),
    ],
    ids=["nul", "year-9999", "year-1"],
)
async def test_unstorable_values_are_422_and_write_nothing(
    api: httpx.AsyncClient,
    probe: TimecaptureProbe,
    tenant_id: uuid.UUID,
    catalog: Catalog,
    overrides: dict[str, Any],
    status: int,
) -> None:
    body = probe.entry_body(catalog, **overrides)
    if "duration_minutes" in overrides:
        del body["ended_at"]

    r = await api.post("/v1/time-entries", json=body, headers=probe.headers(tenant_id))

    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    await probe.assert_nothing_written(tenant_id)


async def test_entry_under_a_second_is_422_at_ended_at_and_writes_nothing(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, catalog: Catalog
) -> None:
    # Its event would count duration_seconds 0, which the contract refuses (was a 500).
    start = DAY + timedelta(hours=10)
    body = probe.entry_body(
        catalog,
        started_at=start.isoformat(),
        ended_at=(start + timedelta(milliseconds=500)).isoformat(),
    )

    r = await api.post("/v1/time-entries", json=body, headers=probe.headers(tenant_id))

    [error] = problem_of(r, 422, "time-entry-invalid")["errors"]
    assert error == {"pointer": "#/ended_at", "detail": "an entry lasts at least one second"}
    await probe.assert_nothing_written(tenant_id)


async def test_revision_to_under_a_second_is_422_and_changes_nothing(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, catalog: Catalog
) -> None:
    entry = await log(api, probe, catalog)
    written = await Written(probe, tenant_id).snapshot()
    end = datetime.fromisoformat(entry["started_at"]) + timedelta(microseconds=999_999)

    r = await api.patch(
        f"/v1/time-entries/{entry['id']}",
        json={"ended_at": end.isoformat()},
        headers={**probe.headers(tenant_id), **version(1)},
    )

    assert problem_of(r, 422, "time-entry-invalid")["errors"][0]["pointer"] == "#/ended_at"
    await written.assert_unchanged()
