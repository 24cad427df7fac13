"""`/v1/invoice-settings`: the tenant's timezone, tax rounding, number prefixes, seller block."""

from __future__ import annotations

from typing import Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from fastapi import APIRouter, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from invoicing.db import settings as settings_rows
from invoicing.domain.settings import InvoiceSettings
from invoicing.handlers import catalog
from servicekit.api import Manager, Reader, RuntimeDep, versioned
from servicekit.db import tenant_transaction
from servicekit.versioning import IfMatch

router = APIRouter(prefix="/v1/invoice-settings", tags=["invoice settings"])

Prefix = Field(pattern=r"^[A-Z0-9]{1,10}$", description="Number prefix, e.g. INV.")


class SettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timezone: str = Field(
        "UTC", max_length=64, description="IANA zone: billing periods and issue years."
    )
    tax_rounding: Literal["per_line", "per_document"] = Field(
        "per_document", description="Round tax per line, or once per rate per document."
    )
    invoice_prefix: str = Field("INV", pattern=r"^[A-Z0-9]{1,10}$")
    credit_note_prefix: str = Field("CN", pattern=r"^[A-Z0-9]{1,10}$")
    seller_name: str | None = Field(None, max_length=200, description="Printed as the seller.")
    seller_address: str | None = Field(None, max_length=1000)
    seller_tax_id: str | None = Field(None, max_length=50)
    payment_instructions: str | None = Field(None, max_length=2000, description="Bank details.")

    @model_validator(mode="after")
    def _distinct_series(self) -> Self:
        if self.invoice_prefix == self.credit_note_prefix:
            raise ValueError("invoice_prefix and credit_note_prefix must differ (own series)")
        return self

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value not in available_timezones():
            raise ValueError("not an IANA timezone name (e.g. Europe/Berlin)")
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("not an IANA timezone name (e.g. Europe/Berlin)") from None
        return value


class SettingsOut(SettingsIn):
    model_config = ConfigDict(extra="ignore")

    version: int = Field(description="0 until the tenant first saves its settings.")
    updated_at: AwareDatetime

    @classmethod
    def of(cls, s: InvoiceSettings) -> SettingsOut:
        return cls.model_validate(s, from_attributes=True)


@router.get("", response_model=SettingsOut)
async def get_settings(response: Response, runtime: RuntimeDep, identity: Reader) -> SettingsOut:
    async with tenant_transaction(runtime.require_pool(), identity.tenant_id) as conn:
        found = await settings_rows.get(conn, identity.tenant_id)
    versioned(response, found.version)
    return SettingsOut.of(found)


@router.put("", response_model=SettingsOut)
async def put_settings(
    body: SettingsIn,
    response: Response,
    runtime: RuntimeDep,
    identity: Manager,
    if_match: IfMatch = None,
) -> SettingsOut:
    """Replaces the settings; after the first save, send the ETag as If-Match."""
    saved = await catalog.put_settings(runtime, identity, body.model_dump(), if_match=if_match)
    versioned(response, saved.version)
    return SettingsOut.of(saved)
