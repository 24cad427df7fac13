"""Provider webhooks through the gateway: no API key, the tenant named in the URL, the body
and its signature header passed on untouched, as a provider identity no other route takes."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gateway.app import define
from gateway.settings import GatewaySettings
from servicekit.identity import Identity, IdentityVerifier
from servicekit.service import create_app
from servicekit.testing import Infra, serve

from .test_gateway_proxy import API_KEY, Gateway, Seen, assert_problem, echo_app

pytestmark = pytest.mark.integration
WEBHOOK = "/v1/providers/stripe/webhook"


@contextlib.asynccontextmanager
async def echoing_gateway(infra: Infra, **settings: Any) -> AsyncIterator[Gateway]:
    """A gateway whose every service is an echo of what reached it; `settings` override."""
    seen: list[Seen] = []
    tenant_id = uuid.uuid4()
    async with serve(echo_app(IdentityVerifier(infra.public_key), seen)) as echo_url:
        configured = infra.settings(
            GatewaySettings,
            identity_private_key=infra.private_key,
            dev_api_key=API_KEY,
            dev_tenant_id=tenant_id,
            timecapture_url=echo_url,
            invoicing_url=echo_url,
            payments_url=echo_url,
            **settings,
        )
        async with serve(create_app(define(configured))) as url:
            yield Gateway(url, tenant_id, seen)


@pytest.fixture(scope="module")
async def gateway(infra: Infra) -> AsyncIterator[Gateway]:
    async with echoing_gateway(infra) as ready:
        yield ready


async def test_a_delivery_reaches_payments_as_the_tenants_provider_byte_for_byte(
    gateway: Gateway,
) -> None:
    body = b'{"id": "evt_1",  "type": "payment_intent.succeeded"}'  # odd spacing kept
    gateway.seen.clear()
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        r = await http.post(
            WEBHOOK,
            params={"tenant_id": str(gateway.tenant_id)},
            content=body,
            headers={"Stripe-Signature": "t=1,v1=abc", "Content-Type": "application/json"},
        )
    assert r.status_code == 201, r.text  # the echo's answer
    [seen] = gateway.seen
    assert seen.body == body
    assert seen.headers["stripe-signature"] == "t=1,v1=abc"
    assert seen.query == f"tenant_id={gateway.tenant_id}"
    assert seen.identity == Identity(
        gateway.tenant_id, f"provider:stripe:{gateway.tenant_id}", "provider"
    )


@pytest.mark.parametrize(
    ("query", "status", "slug"),
    [
        ({}, 422, "invalid-parameter"),
        ({"tenant_id": "not-a-uuid"}, 422, "invalid-parameter"),
        ({"tenant_id": str(uuid.UUID(int=99))}, 404, "tenant-not-found"),
    ],
)
async def test_a_delivery_for_no_known_tenant_goes_nowhere(
    gateway: Gateway, query: dict[str, str], status: int, slug: str
) -> None:
    gateway.seen.clear()
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        r = await http.post(WEBHOOK, params=query, content=b"{}")
    problem = assert_problem(r, status, slug)
    if status == 422:
        [error] = problem["errors"]
        assert (error["parameter"], error["in"]) == ("tenant_id", "query")
    assert gateway.seen == []


async def test_only_the_webhook_route_is_open_without_a_key(gateway: Gateway) -> None:
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        settings = await http.get(
            "/v1/providers/stripe", params={"tenant_id": str(gateway.tenant_id)}
        )
        read = await http.get(WEBHOOK, params={"tenant_id": str(gateway.tenant_id)})
    assert settings.status_code == 401
    assert read.status_code == 401


async def test_a_flood_of_deliveries_does_not_spend_the_tenants_own_api_budget(
    infra: Infra,
) -> None:
    limits = {
        "rate_limit_key_per_s": 0.01,
        "rate_limit_key_burst": 3,
        "rate_limit_tenant_per_s": 0.01,
        "rate_limit_tenant_burst": 3,
    }
    async with (
        echoing_gateway(infra, **limits) as gw,
        httpx.AsyncClient(base_url=gw.url) as http,
    ):
        hooks = [
            await http.post(WEBHOOK, params={"tenant_id": str(gw.tenant_id)}, content=b"{}")
            for _ in range(4)
        ]
        own = await http.get("/v1/time-entries", headers={"Authorization": f"Bearer {API_KEY}"})
    assert [r.status_code for r in hooks] == [201, 201, 201, 429]
    assert hooks[-1].headers["retry-after"]
    assert own.status_code == 200, own.text
