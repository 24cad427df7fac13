"""Bulk import (CSV and JSON, all-or-nothing and best-effort) and CSV export."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from servicekit.problems import PROBLEM_JSON
from servicekit.service import create_app
from servicekit.testing import Infra, serve
from timecapture.app import define
from timecapture.domain.imports import csv_records, validate_rows
from timecapture.settings import TimecaptureSettings

if TYPE_CHECKING:
    from conftest import Catalog, TimecaptureProbe

pytestmark = pytest.mark.integration

BERLIN = ZoneInfo("Europe/Berlin")
DAY = (datetime.now(UTC) - timedelta(days=3)).date()


@pytest.fixture(scope="module")
async def api(infra: Infra) -> AsyncIterator[httpx.AsyncClient]:
    settings = infra.settings(TimecaptureSettings, import_max_rows=50)
    async with (
        serve(create_app(define(settings))) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        yield http


def as_csv(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def row(catalog: Catalog, start: str, end: str, **extra: str) -> dict[str, str]:
    return {
        "Email": f"{catalog.member_id}@example.com",
        "Project code": "WEB",
        "Start date": DAY.isoformat(),
        "Start time": start,
        "End date": DAY.isoformat(),
        "End time": end,
        "Description": extra.pop("description", "imported"),
        "Billable": extra.pop("billable", ""),
        "Tags": extra.pop("tags", ""),
    }


async def with_code(probe: TimecaptureProbe, catalog: Catalog) -> None:
    await probe.infra.fetch_as_tenant(
        "timecapture",
        catalog.tenant_id,
        "UPDATE projects SET code = 'WEB' WHERE id = $1",
        catalog.project_id,
    )


async def post_import(
    api: httpx.AsyncClient,
    probe: TimecaptureProbe,
    tenant_id: uuid.UUID,
    body: bytes,
    *,
    content_type: str = "text/csv",
    **params: str,
) -> httpx.Response:
    return await api.post(
        "/v1/time-entries/import",
        content=body,
        params=params,
        headers={**probe.headers(tenant_id), "content-type": content_type},
    )


async def test_csv_import_stores_entries_in_local_time_and_publishes_each_once(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, catalog: Catalog
) -> None:
    await with_code(probe, catalog)
    body = as_csv(
        [
            row(catalog, "09:00", "10:30", tags="ux, design"),
            row(catalog, "11:00", "11:45", billable="no", description="=SUM(A1)"),
        ]
    )

    r = await post_import(api, probe, tenant_id, body, timezone="Europe/Berlin")

    assert r.status_code == 200, r.text
    report = r.json()
    assert report["imported"] == 2
    assert report["rejected"] == 0
    assert len(report["entry_ids"]) == 2
    stored = sorted(await probe.entries(tenant_id), key=lambda e: e["started_at"])
    assert [str(e["id"]) for e in stored] == report["entry_ids"]
    first, second = stored
    assert first["started_at"] == datetime.combine(DAY, datetime.min.time(), BERLIN).replace(hour=9)
    assert first["ended_at"] - first["started_at"] == timedelta(minutes=90)
    assert first["billable"] is True  # the project's default
    assert first["tags"] == ["ux", "design"]
    assert second["billable"] is False
    assert second["description"] == "=SUM(A1)"
    # Seeded member costs 60.00 EUR an hour: 1.5 h -> 90.00.
    assert first["cost_minor"] == 9000

    await probe.outbox_drained(tenant_id)
    published = await probe.published(tenant_id)
    assert sorted(str(p.event.payload.entry_id) for p in published) == sorted(report["entry_ids"])
    assert {p.event.event_type for p in published} == {"time_entry.logged"}
    assert all(p.key == str(p.event.payload.entry_id).encode() for p in published)
    [usage] = await probe.infra.fetch_as_tenant(
        "timecapture", tenant_id, "SELECT tracked_seconds FROM project_usage"
    )
    assert usage["tracked_seconds"] == (90 + 45) * 60


async def test_all_or_nothing_import_with_bad_rows_lists_each_and_writes_nothing(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, catalog: Catalog
) -> None:
    await with_code(probe, catalog)
    rows = [
        row(catalog, "09:00", "10:00"),
        row(catalog, "12:00", "11:00"),
        {**row(catalog, "13:00", "14:00"), "Email": "nobody@example.com"},
        row(catalog, "09:30", "09:45"),
    ]

    r = await post_import(api, probe, tenant_id, as_csv(rows))

    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == PROBLEM_JSON
    problem = r.json()
    assert problem["type"].endswith("/import-rejected")
    assert [(e["row"], e["field"]) for e in problem["errors"]] == [
        (2, "ended_at"),
        (3, "email"),
        (4, "started_at"),
    ]
    await probe.assert_nothing_written(tenant_id)


async def test_best_effort_import_keeps_good_rows_and_reports_bad_ones(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, catalog: Catalog
) -> None:
    await with_code(probe, catalog)
    logged = await api.post(
        "/v1/time-entries",
        json={
            "member_id": str(catalog.member_id),
            "project_id": str(catalog.project_id),
            "started_at": datetime.combine(DAY, datetime.min.time(), UTC)
            .replace(hour=15)
            .isoformat(),
            "duration_minutes": 60,
        },
        headers=probe.headers(tenant_id),
    )
    assert logged.status_code == 201, logged.text
    rows = [
        row(catalog, "08:00", "09:00"),
        {**row(catalog, "10:00", "11:00"), "Project code": "NOPE"},
        row(catalog, "15:30", "16:00"),  # overlaps the entry logged above
        row(catalog, "12:00", "13:00"),
    ]

    r = await post_import(api, probe, tenant_id, as_csv(rows), mode="best_effort")

    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["received"], report["imported"], report["rejected"]) == (4, 2, 2)
    assert [(e["row"], e["field"]) for e in report["errors"]] == [
        (2, "project_code"),
        (3, "started_at"),
    ]
    assert len(await probe.entries(tenant_id)) == 3


async def test_json_import_accepts_the_entry_body_shape(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, catalog: Catalog
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    items: list[dict[str, Any]] = [
        {
            "member_id": str(catalog.member_id),
            "project_id": str(catalog.project_id),
            "started_at": (start + timedelta(hours=i)).isoformat(),
            "duration_minutes": 30,
            "billable": False,
            "tags": ["a", "b"],
        }
        for i in range(3)
    ]

    r = await post_import(
        api, probe, tenant_id, json.dumps(items).encode(), content_type="application/json"
    )

    assert r.status_code == 200, r.text
    assert r.json()["imported"] == 3
    stored = await probe.entries(tenant_id)
    assert [e["tags"] for e in stored] == [["a", "b"]] * 3
    assert all(e["billable"] is False for e in stored)


@pytest.mark.parametrize(
    ("body", "content_type", "params", "status"),
    [
        (b"a,b\n1,2\n", "text/plain", {}, 415),
        (b"\xff\xfe", "text/csv", {}, 422),
        (b"{}", "application/json", {}, 422),
        (b"email\n" + b"x\n" * 51, "text/csv", {}, 422),
        (b"email\nx\n", "text/csv", {"timezone": "Mars/Olympus"}, 422),
        (b"email\nx\n", "text/csv", {"mode": "sometimes"}, 422),
    ],
    ids=["media-type", "not-utf8", "json-not-array", "too-many-rows", "timezone", "mode"],
)
async def test_unreadable_imports_are_problems_and_write_nothing(
    api: httpx.AsyncClient,
    probe: TimecaptureProbe,
    tenant_id: uuid.UUID,
    body: bytes,
    content_type: str,
    params: dict[str, str],
    status: int,
) -> None:
    r = await post_import(api, probe, tenant_id, body, content_type=content_type, **params)

    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM_JSON
    await probe.assert_nothing_written(tenant_id)


@pytest.mark.parametrize(
    ("body", "content_type", "detail"),
    [
        (b"email,description\nx," + b"d" * 200_000 + b"\n", "text/csv", "line 2: field larger"),
        (b"[" * 200_000 + b"]" * 200_000, "application/json", "nests JSON too deeply"),
    ],
    ids=["csv-field-over-the-reader-limit", "json-nested-too-deeply"],
)
async def test_body_the_reader_gives_up_on_is_422_at_the_root_and_writes_nothing(
    api: httpx.AsyncClient,
    probe: TimecaptureProbe,
    tenant_id: uuid.UUID,
    body: bytes,
    content_type: str,
    detail: str,
) -> None:
    r = await post_import(api, probe, tenant_id, body, content_type=content_type)

    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == PROBLEM_JSON
    problem = r.json()
    assert problem["type"].endswith("/import-unreadable")
    [error] = problem["errors"]
    assert error["pointer"] == "#"
    assert detail in error["detail"]
    await probe.assert_nothing_written(tenant_id)


async def test_row_under_a_second_is_a_row_error_and_never_published(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, catalog: Catalog
) -> None:
    # The bulk encoder does not check the contract: such a row was stored and published
    # with duration_seconds 0.
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    items = [
        {
            "member_id": str(catalog.member_id),
            "project_id": str(catalog.project_id),
            "started_at": start.isoformat(),
            "ended_at": (start + timedelta(milliseconds=500)).isoformat(),
        },
        {
            "member_id": str(catalog.member_id),
            "project_id": str(catalog.project_id),
            "started_at": (start + timedelta(hours=1)).isoformat(),
            "duration_minutes": 30,
        },
    ]
    body = json.dumps(items).encode()

    rejected = await post_import(api, probe, tenant_id, body, content_type="application/json")

    assert rejected.status_code == 422, rejected.text
    assert [(e["row"], e["field"]) for e in rejected.json()["errors"]] == [(1, "ended_at")]
    await probe.assert_nothing_written(tenant_id)

    r = await post_import(
        api, probe, tenant_id, body, content_type="application/json", mode="best_effort"
    )

    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["imported"], report["rejected"]) == (1, 1)
    assert [(e["row"], e["field"]) for e in report["errors"]] == [(1, "ended_at")]
    [stored] = await probe.entries(tenant_id)
    assert stored["ended_at"] - stored["started_at"] == timedelta(minutes=30)
    await probe.outbox_drained(tenant_id)
    [published] = await probe.published(tenant_id)
    assert published.event.payload.duration_seconds == 30 * 60


@pytest.mark.parametrize("hours", ["1e999999", "-1e999999", "1e999990", "25"])
async def test_hours_beyond_a_day_are_a_row_error_on_hours(
    api: httpx.AsyncClient,
    probe: TimecaptureProbe,
    tenant_id: uuid.UUID,
    catalog: Catalog,
    hours: str,
) -> None:
    await with_code(probe, catalog)
    body = as_csv(
        [
            {
                "Email": f"{catalog.member_id}@example.com",
                "Project code": "WEB",
                "Start date": DAY.isoformat(),
                "Start time": "09:00",
                "Hours": hours,
            }
        ]
    )

    r = await post_import(api, probe, tenant_id, body)

    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["type"].endswith("/import-rejected")
    assert problem["errors"] == [
        {"row": 1, "field": "hours", "detail": "an entry spans at most 24 hours"}
    ]
    await probe.assert_nothing_written(tenant_id)


async def test_viewer_cannot_import(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, catalog: Catalog
) -> None:
    from servicekit.identity import IDENTITY_HEADER, Identity

    token = probe.infra.token(Identity(tenant_id, "viewer", "viewer"))
    r = await api.post(
        "/v1/time-entries/import",
        content=as_csv([row(catalog, "09:00", "10:00")]),
        headers={IDENTITY_HEADER: token, "content-type": "text/csv"},
    )

    assert r.status_code == 403, r.text
    await probe.assert_nothing_written(tenant_id)


async def test_export_streams_the_import_format_and_reads_back(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, catalog: Catalog
) -> None:
    await with_code(probe, catalog)
    sent = [
        row(catalog, "09:00", "10:30", description="=HYPERLINK(evil)", tags="a,b"),
        # Stored as "'=quoted...": the importer removes the one guarding quote.
        row(catalog, "23:30", "23:59", billable="no", description="''=quoted on purpose"),
    ]
    imported = await post_import(api, probe, tenant_id, as_csv(sent), timezone="Europe/Berlin")
    assert imported.status_code == 200, imported.text

    r = await api.get(
        "/v1/time-entries/export",
        params={"timezone": "Europe/Berlin"},
        headers=probe.headers(tenant_id),
    )

    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    exported = list(csv.DictReader(io.StringIO(r.text)))
    assert [e["entry_id"] for e in exported] == imported.json()["entry_ids"]
    assert exported[0]["description"] == "'=HYPERLINK(evil)"
    assert (exported[0]["start_time"], exported[0]["duration"]) == ("09:00:00", "1:30:00")
    assert exported[1]["billable"] == "no"
    back, errors = validate_rows(csv_records(r.text), BERLIN, datetime.now(UTC))
    assert errors == []
    assert exported[1]["description"] == "''=quoted on purpose"
    assert [b.description for b in back] == ["=HYPERLINK(evil)", "'=quoted on purpose"]
    assert back[0].tags == ("a", "b")
    stored = sorted(await probe.entries(tenant_id), key=lambda e: e["started_at"])
    assert [(b.started_at, b.ended_at) for b in back] == [
        (e["started_at"], e["ended_at"]) for e in stored
    ]


async def test_export_of_the_hour_a_clock_change_repeats_imports_back_to_the_same_instants(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, catalog: Catalog
) -> None:
    # 02:30 happens twice in Berlin on 2026-10-25; this is the second one (+01:00).
    second = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    r = await api.post(
        "/v1/time-entries",
        json=probe.entry_body(
            catalog,
            started_at=second.isoformat(),
            ended_at=(second + timedelta(minutes=15)).isoformat(),
        ),
        headers=probe.headers(tenant_id),
    )
    assert r.status_code == 201, r.text

    exported = await api.get(
        "/v1/time-entries/export",
        params={"timezone": "Europe/Berlin"},
        headers=probe.headers(tenant_id),
    )

    assert exported.status_code == 200, exported.text
    [cells] = list(csv.DictReader(io.StringIO(exported.text)))
    assert (cells["start_date"], cells["start_time"]) == ("2026-10-25", "02:30:00")
    assert cells["started_at"] == "2026-10-25T02:30:00+01:00"
    back, errors = validate_rows(csv_records(exported.text), BERLIN, datetime.now(UTC))
    assert errors == []
    assert [(b.started_at, b.ended_at) for b in back] == [(second, second + timedelta(minutes=15))]


async def test_tag_with_a_comma_is_422_naming_it(
    api: httpx.AsyncClient, probe: TimecaptureProbe, tenant_id: uuid.UUID, catalog: Catalog
) -> None:
    r = await api.post(
        "/v1/time-entries",
        json=probe.entry_body(catalog, tags=["ok", "a,b"]),
        headers=probe.headers(tenant_id),
    )

    assert r.status_code == 422, r.text
    assert [e["pointer"] for e in r.json()["errors"]] == ["#/tags/1"]
    await probe.assert_nothing_written(tenant_id)
