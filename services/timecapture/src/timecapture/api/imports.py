"""`/v1/time-entries/import` and `/v1/time-entries/export`: bulk in and out, as CSV or JSON."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from servicekit.api import Reader, RuntimeDep, Writer
from servicekit.pagination import InvalidListParameter
from servicekit.problems import ServiceError
from timecapture.domain.imports import UnreadableCsv, csv_records, json_records, validate_rows
from timecapture.handlers import imports as handlers
from timecapture.settings import TimecaptureSettings
from timecapture.views.export import ExportFilter, export_csv

router = APIRouter(prefix="/v1/time-entries", tags=["time entries"])

CSV = "text/csv"
JSON = "application/json"


class UnreadableImport(ServiceError):
    status = 422
    slug = "import-unreadable"
    title = "Import body unreadable"

    def __init__(self, detail: str) -> None:
        # The body as a whole is at fault: the pointer is its root.
        super().__init__(detail, errors=[{"pointer": "#", "detail": detail}])


class UnsupportedImportType(ServiceError):
    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported media type"


class RowErrorOut(BaseModel):
    row: int = Field(description="1-based record number (the first row after the header is 1).")
    field: str
    detail: str


class ImportReportOut(BaseModel):
    mode: handlers.Mode
    received: int
    imported: int
    rejected: int
    errors: list[RowErrorOut]
    entry_ids: list[UUID] | None = Field(
        description=f"Ids of the imported entries in row order, for imports of up to "
        f"{handlers.MAX_LISTED_IDS} rows."
    )


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidListParameter("timezone", f"{name!r} is not an IANA time zone") from None


def _records(body: bytes, content_type: str) -> list[Any]:
    kind = content_type.split(";", maxsplit=1)[0].strip().lower()
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnreadableImport("the body is not UTF-8 text") from None
    if kind == CSV:
        try:
            return list(csv_records(text))
        except UnreadableCsv as exc:
            raise UnreadableImport(f"the body is not readable CSV: {exc}") from None
    if kind == JSON:
        try:
            items = json.loads(text)
        except ValueError as exc:
            raise UnreadableImport(f"the body is not JSON: {exc}") from None
        except RecursionError:
            raise UnreadableImport("the body nests JSON too deeply") from None
        if not isinstance(items, list):
            raise UnreadableImport("a JSON import is an array of entry objects")
        return json_records(items)
    raise UnsupportedImportType(f"send {CSV} or {JSON}, not {kind or 'no content type'}")


@router.post(
    "/import",
    response_model=ImportReportOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                CSV: {"schema": {"type": "string"}},
                JSON: {"schema": {"type": "array", "items": {"type": "object"}}},
            },
        }
    },
    responses={422: {"description": "All-or-nothing import with bad rows; nothing written."}},
)
async def import_time_entries(
    request: Request,
    runtime: RuntimeDep,
    identity: Writer,
    mode: Annotated[handlers.Mode, Query()] = "all_or_nothing",
    timezone: Annotated[
        str, Query(max_length=64, description="IANA zone of CSV dates and times.")
    ] = "UTC",
) -> ImportReportOut:
    """Import many entries in one transaction; columns: services/timecapture/README.md."""
    zone = _zone(timezone)
    settings = runtime.settings
    assert isinstance(settings, TimecaptureSettings)
    body, content_type = await request.body(), request.headers.get("content-type", "")
    # Parsing 50,000 rows takes seconds of CPU: off the event loop, so other requests and the
    # consumers' heartbeats go on meanwhile.
    records = await asyncio.to_thread(_records, body, content_type)
    if len(records) > settings.import_max_rows:
        raise UnreadableImport(
            f"{len(records)} rows; an import holds at most {settings.import_max_rows}"
        )
    valid, errors = await asyncio.to_thread(validate_rows, records, zone, runtime.clock())
    report = await handlers.import_entries(
        runtime, identity, valid, errors, received=len(records), mode=mode
    )
    return ImportReportOut(
        mode=report.mode,
        received=report.received,
        imported=report.imported,
        rejected=len(report.errors),
        errors=[RowErrorOut(row=e.row, field=e.field, detail=e.detail) for e in report.errors],
        entry_ids=report.entry_ids,
    )


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={200: {"content": {CSV: {"schema": {"type": "string"}}}}},
)
async def export_time_entries(
    runtime: RuntimeDep,
    identity: Reader,
    started_from: Annotated[datetime | None, Query(alias="from")] = None,
    started_to: Annotated[datetime | None, Query(alias="to")] = None,
    member_id: Annotated[UUID | None, Query()] = None,
    project_id: Annotated[UUID | None, Query()] = None,
    client_id: Annotated[UUID | None, Query()] = None,
    billable: Annotated[bool | None, Query()] = None,
    timezone: Annotated[str, Query(max_length=64, description="Zone of dates and times.")] = "UTC",
) -> StreamingResponse:
    """Entries as CSV in the import format, oldest first, streamed."""
    zone = _zone(timezone)
    for name, value in (("from", started_from), ("to", started_to)):
        if value is not None and value.tzinfo is None:
            raise InvalidListParameter(name, "must carry a UTC offset")
    where = ExportFilter(started_from, started_to, member_id, project_id, client_id, billable)
    return StreamingResponse(
        export_csv(runtime.require_pool(), identity.tenant_id, where, zone),
        media_type=f"{CSV}; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="time-entries.csv"'},
    )
