"""Tenant isolation and roles on every route of the aggregated OpenAPI document.

The routes come from the gateway's `/openapi.json`, so a new route is walked as soon as it
exists; a path parameter this file does not know fails the walk until it learns it.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import stripe

from gateway.app import define as define_gateway
from gateway.settings import GatewaySettings
from invoicing.app import define as define_invoicing
from invoicing.settings import InvoicingSettings
from payments.app import define as define_payments
from payments.settings import PaymentsSettings
from servicekit.service import create_app
from servicekit.testing import Infra, eventually, serve
from timecapture.app import define as define_timecapture
from timecapture.settings import TimecaptureSettings

OPERATOR = "bso_test_isolation_operator"
WRITES = ("post", "put", "patch", "delete")
WEBHOOK = "/v1/providers/stripe/webhook"
# What a member may write: time, and only their own.
TIME_PATHS = ("/v1/time-entries", "/v1/timers")


@dataclass
class Tenant:
    id: str
    admin: str
    viewer: str
    ids: dict[str, str]


@dataclass
class Platform:
    http: httpx.AsyncClient
    spec: dict[str, Any]
    a: Tenant
    b: Tenant


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def tenant(http: httpx.AsyncClient, name: str) -> Tenant:
    made = await http.post("/v1/tenants", json={"name": name}, headers=auth(OPERATOR))
    assert made.status_code == 201, made.text
    admin = made.json()["api_key"]["key"]

    async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = await http.post(path, json=body, headers=auth(admin))
        assert r.status_code == 201, r.text
        created: dict[str, Any] = r.json()
        return created

    viewer = await post("/v1/api-keys", {"name": "reader", "role": "viewer"})
    user = await post(
        "/v1/users",
        {
            "email": f"{uuid.uuid4()}@x.io",
            "name": "U",
            "password": "long password",
            "role": "member",
        },
    )
    client = await post("/v1/clients", {"name": f"{name} client", "currency": "EUR"})
    project = await post("/v1/projects", {"client_id": client["id"], "name": "P"})
    member = await post("/v1/members", {"name": "M", "email": f"{uuid.uuid4()}@x.io"})
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=5)
    entry = await post(
        "/v1/time-entries",
        {
            "member_id": member["id"],
            "project_id": project["id"],
            "started_at": start.isoformat(),
            "duration_minutes": 30,
        },
    )
    timer = await post("/v1/timers", {"member_id": member["id"], "project_id": project["id"]})
    tax_rate = await post("/v1/tax-rates", {"name": "VAT", "percent": "20"})
    rule_body = {
        "kind": "hourly",
        "client_id": client["id"],
        "currency": "EUR",
        "amount_minor": 9000,
        "effective_from": "2026-01-01",
    }

    async def client_reached_invoicing() -> httpx.Response | None:
        r = await http.post("/v1/rate-rules", json=rule_body, headers=auth(admin))
        return r if r.status_code == 201 else None

    # Generous: a fresh invoicing first dead-letters the earlier suites' money for invoices
    # it never issued (payments' tests: ~110 events at ~0.2 s each, decision 33).
    rule = (
        await eventually(client_reached_invoicing, timeout=60, message="client in invoicing")
    ).json()
    line = {"description": "Setup", "quantity": "1", "unit_amount_minor": 5000}
    invoice = await post(
        "/v1/invoices", {"client_id": client["id"], "include_time": False, "lines": [line]}
    )
    issued = await http.post(f"/v1/invoices/{invoice['id']}/issue", headers=auth(admin))
    assert issued.status_code == 200, issued.text
    note = await post(
        "/v1/credit-notes",
        {
            "invoice_id": invoice["id"],
            "lines": [{"invoice_line_id": issued.json()["lines"][0]["id"], "amount_minor": 100}],
        },
    )
    today = datetime.now(UTC).date().isoformat()
    run = await http.post(
        "/v1/billing-runs",
        json={"period_start": today, "period_end": today},
        headers=auth(admin),
    )
    assert run.status_code == 202, run.text
    payment_body = {
        "invoice_id": invoice["id"],
        "amount_minor": 100,
        "currency": "EUR",
        "method": "card",
    }

    async def invoice_reached_payments() -> httpx.Response | None:
        r = await http.post("/v1/payments", json=payment_body, headers=auth(admin))
        return r if r.status_code == 201 else None

    payment = (await eventually(invoice_reached_payments, message="invoice in payments")).json()

    secret = await http.put(
        "/v1/providers/stripe",
        json={"webhook_secret": "whsec_isolation0001"},
        headers=auth(admin),
    )
    assert secret.status_code == 200, secret.text
    # A second invoice paid over: its excess then pays part of the first, from credit.
    second = await post(
        "/v1/invoices", {"client_id": client["id"], "include_time": False, "lines": [line]}
    )
    second_issued = await http.post(f"/v1/invoices/{second['id']}/issue", headers=auth(admin))
    assert second_issued.status_code == 200, second_issued.text
    over = {**payment_body, "invoice_id": second["id"], "amount_minor": 5100}

    async def overpaid() -> httpx.Response | None:
        r = await http.post("/v1/payments", json=over, headers=auth(admin))
        return r if r.status_code == 201 else None

    await eventually(overpaid, message="second invoice in payments")
    application = await post(
        f"/v1/clients/{client['id']}/credit-balance/applications",
        {"currency": "EUR", "invoice_ids": [invoice["id"]]},
    )

    async def paid_in_invoicing() -> bool:
        r = await http.get(f"/v1/invoices/{invoice['id']}", headers=auth(admin))
        return bool(r.json()["amount_paid_minor"] == 200)

    # Settled before the walk, so the invoice's version no longer moves.
    await eventually(paid_in_invoicing, message="payments applied by invoicing")
    refund = await post(f"/v1/payments/{payment['id']}/refunds", {"amount_minor": 10})

    async def refunded_in_invoicing() -> bool:
        r = await http.get(f"/v1/invoices/{invoice['id']}", headers=auth(admin))
        return bool(r.json()["amount_paid_minor"] == 190)

    await eventually(refunded_in_invoicing, message="refund applied by invoicing")
    # An event Stripe sent that payments must list (an intent naming no invoice: rejected,
    # for a person to resolve), signed by stripe.
    intent = {
        "id": f"pi_{uuid.uuid4().hex[:24]}",
        "object": "payment_intent",
        "amount_received": 100,
        "currency": "eur",
        "metadata": {},
    }
    notice = json.dumps(
        {
            "id": f"evt_{uuid.uuid4().hex[:24]}",
            "object": "event",
            "created": int(time.time()),
            "livemode": False,
            "type": "payment_intent.succeeded",
            "data": {"object": intent},
        }
    )
    signature = stripe.WebhookSignature.generate_signature_header(notice, "whsec_isolation0001")
    delivered = await http.post(
        WEBHOOK,
        params={"tenant_id": made.json()["id"]},
        content=notice,
        headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
    )
    assert delivered.status_code == 200, delivered.text
    assert delivered.json()["event"]["outcome"] == "rejected", delivered.text
    schedule = await post(
        "/v1/recurring-invoices",
        {
            "client_id": client["id"],
            "frequency": "monthly",
            "start_date": "2030-01-01",
            "lines": [line],
        },
    )
    return Tenant(
        made.json()["id"],
        admin,
        viewer["key"],
        {
            "client_id": client["id"],
            "project_id": project["id"],
            "member_id": member["id"],
            "entry_id": entry["id"],
            "timer_id": timer["id"],
            "key_id": viewer["id"],
            "user_id": user["id"],
            "tax_rate_id": tax_rate["id"],
            "rate_rule_id": rule["id"],
            "invoice_id": invoice["id"],
            "credit_note_id": note["id"],
            "billing_run_id": run.json()["id"],
            "recurring_invoice_id": schedule["id"],
            "payment_id": payment["id"],
            "application_id": application["id"],
            "refund_id": refund["refund_id"],
            "provider_event_id": delivered.json()["event"]["id"],
        },
    )


@pytest.fixture(scope="module")
async def platform(infra: Infra) -> AsyncIterator[Platform]:
    # The broker carries clients to invoicing, whose invoices need them.
    tc = create_app(define_timecapture(infra.settings(TimecaptureSettings)))
    inv = create_app(define_invoicing(infra.settings(InvoicingSettings)))
    pay = create_app(define_payments(infra.settings(PaymentsSettings)))
    async with serve(tc) as tc_url, serve(inv) as inv_url, serve(pay) as pay_url:
        settings = infra.settings(
            GatewaySettings,
            identity_private_key=infra.private_key,
            operator_key=OPERATOR,
            timecapture_url=tc_url,
            invoicing_url=inv_url,
            payments_url=pay_url,
            rate_limit_key_per_s=0,
            rate_limit_tenant_per_s=0,
        )
        async with (
            serve(create_app(define_gateway(settings))) as url,
            httpx.AsyncClient(base_url=url, timeout=30) as http,
        ):
            a, b = await tenant(http, "A"), await tenant(http, "B")
            spec = (await http.get("/openapi.json")).json()
            missing = spec.get("x-billstream-unavailable", [])
            # Notifications and analytics have no routes yet.
            assert not {"timecapture", "invoicing", "payments"} & set(missing)
            yield Platform(http, spec, a, b)


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, item in sorted(spec["paths"].items())
        for method, op in item.items()
        if method in ("get", *WRITES)
    ]


def filled(path: str, ids: dict[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in ids:
            pytest.fail(f"{path}: no object of the test tenants for {{{name}}}; add one")
        return ids[name]

    return re.sub(r"\{(\w+)\}", one, path)


def request_of(op: dict[str, Any], spec: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a request needs besides the path: a JSON body with just its required fields where
    one is taken (partial updates take an empty one), and a version for conditional writes."""
    extra: dict[str, Any] = {"headers": {"If-Match": '"1"'}}
    content = op.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        schema = content["application/json"].get("schema", {})
        extra["json"] = minimal(schema, spec) if spec is not None else {}
    return extra


def minimal(schema: dict[str, Any], spec: dict[str, Any]) -> Any:
    """The smallest value the schema takes: required properties only, each a plain value."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return minimal(spec["components"]["schemas"][name], spec)
    if "anyOf" in schema:
        return minimal(schema["anyOf"][0], spec)
    if "enum" in schema:
        return schema["enum"][0]
    if "examples" in schema:
        return schema["examples"][0]
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: minimal(props[name], spec) for name in schema.get("required", [])}
    if kind in ("integer", "number"):
        return max(1, schema.get("minimum", 1), schema.get("exclusiveMinimum", 0) + 1)
    if kind == "boolean":
        return False
    if kind == "array":
        return []
    formats = {"uuid": str(uuid.uuid4()), "date": "2026-01-01", "date-time": "2026-01-01T00:00:00Z"}
    return formats.get(schema.get("format", ""), "x")


def leaks(text: str, other: Tenant, asked: str = "") -> list[str]:
    """The other tenant's ids in a response, but those the caller sent itself."""
    return [v for v in [other.id, *other.ids.values()] if v in text and v not in asked]


def required_query(op: dict[str, Any]) -> dict[str, str]:
    """A value for each required query parameter, from its schema (a date range today)."""
    today = datetime.now(UTC).date().isoformat()
    values = {"date": today, "date-time": f"{today}T00:00:00Z"}
    found = {}
    for p in op.get("parameters", []):
        if p["in"] != "query" or not p.get("required"):
            continue
        schema = p.get("schema", {})
        if "enum" in schema:
            found[p["name"]] = str(schema["enum"][0])
        elif schema.get("format") in values:
            found[p["name"]] = values[schema["format"]]
        else:
            pytest.fail(f"no value for the required query parameter {p['name']}: {schema}")
    return found


async def versions_of(http: httpx.AsyncClient, t: Tenant) -> dict[str, Any]:
    """Each object's version (a payment's refunds, a balance, an event's resolution too),
    read as its own tenant."""
    found = {}
    for kind, object_id in t.ids.items():
        if kind in ("key_id", "timer_id", "billing_run_id"):
            continue
        url = {
            "entry_id": f"/v1/time-entries/{object_id}",
            "application_id": f"/v1/clients/{t.ids['client_id']}/credit-balance/applications/"
            + object_id,
            "refund_id": f"/v1/payments/{t.ids['payment_id']}/refunds/{object_id}",
            "provider_event_id": f"/v1/providers/stripe/events/{object_id}",
        }.get(kind, f"/v1/{kind.removesuffix('_id').replace('_', '-')}s/{object_id}")
        r = await http.get(url, headers=auth(t.admin))
        assert r.status_code == 200, r.text
        body = r.json()
        found[kind] = tuple(
            body.get(k) for k in ("version", "refunded_minor", "balance_minor", "resolved_at")
        )
    return found


async def test_every_route_with_another_tenants_id_is_404_and_shows_nothing_of_it(
    platform: Platform,
) -> None:
    a, b, http = platform.a, platform.b, platform.http
    before = await versions_of(http, b)
    walked = []
    for method, path, op in operations(platform.spec):
        if "{" not in path:
            continue
        extra = request_of(op, platform.spec)
        headers = {**auth(a.admin), **extra.pop("headers")}
        url = filled(path, b.ids)
        r = await http.request(method, url, headers=headers, **extra)
        walked.append(f"{method.upper()} {path}")
        assert r.status_code == 404, f"{method.upper()} {path}: {r.status_code} {r.text}"
        assert leaks(r.text, b, url) == [], f"{method.upper()} {path} shows tenant B's data"
    assert len(walked) >= 15, walked

    # Nothing of B changed: each object still at the version it had, the key still works.
    assert await versions_of(http, b) == before
    assert (await http.get("/v1/clients", headers=auth(b.viewer))).status_code == 200


async def test_lists_filtered_by_another_tenants_ids_show_nothing_of_it(
    platform: Platform,
) -> None:
    a, b, http = platform.a, platform.b, platform.http
    walked = []
    for method, path, op in operations(platform.spec):
        if method != "get" or "{" in path:
            continue
        query = required_query(op) | {
            p["name"]: b.ids[p["name"]]
            for p in op.get("parameters", [])
            if p["in"] == "query" and p["name"] in b.ids
        }
        r = await http.get(path, params=query, headers=auth(a.admin))
        walked.append(path)
        assert r.status_code in (200, 404), f"GET {path} {query}: {r.status_code} {r.text}"
        assert leaks(r.text, b) == [], f"GET {path} {query} shows tenant B's data"
    assert len(walked) >= 6, walked


async def test_a_viewer_key_can_read_but_every_write_is_refused(platform: Platform) -> None:
    a, http = platform.a, platform.http
    for method, path, op in operations(platform.spec):
        extra = request_of(op)
        headers = {**auth(a.viewer), **extra.pop("headers")}
        params = required_query(op) if method == "get" else {}
        url = filled(path, a.ids)
        r = await http.request(method, url, params=params, headers=headers, **extra)
        where = f"{method.upper()} {path}: {r.status_code} {r.text[:300]}"
        if path == "/v1/tenants":
            assert r.status_code == 401, where  # the operator's alone
        elif path.startswith("/v1/auth/"):
            assert r.status_code == 422, where  # credentials go in the body, not a key
        elif path == WEBHOOK:
            assert r.status_code == 422, where  # the provider's: it names its tenant, no key
        elif method in WRITES or path.startswith(("/v1/api-keys", "/v1/users")):
            assert r.status_code == 403, where
        else:
            assert r.status_code == 200, where


async def test_schemathesis_finds_no_server_error_and_no_response_off_its_schema(
    platform: Platform, infra: Infra
) -> None:
    """Bounded (a fixed seed, a few examples per operation): it runs in `make test`."""
    # A tenant of its own, so what it creates and changes disturbs no other test.
    fuzzed = await tenant(platform.http, "Fuzzed")
    base = str(platform.http.base_url).rstrip("/")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{base}/openapi.json",
        "--url",
        base,
        "-H",
        f"Authorization: Bearer {fuzzed.admin}",
        "--checks",
        "not_a_server_error,response_schema_conformance",
        "--max-examples",
        "10",
        "--seed",
        "20261201",
        # The operator's route, and the two that would end the very key the run uses.
        "--exclude-path",
        "/v1/tenants",
        "--exclude-path-regex",
        "rotate",
        "--exclude-method",
        "DELETE",
        "--no-color",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=240)
    report = out.decode(errors="replace")
    assert proc.returncode == 0, report[-6000:]
    assert " passed" in report, report[-2000:]


async def test_a_member_key_writes_only_time_and_only_its_own(platform: Platform) -> None:
    """Members act on their own time entries only: every other write is refused for the role,
    and writes of time are refused for not being theirs (this key acts as no member)."""
    a, http = platform.a, platform.http
    made = await http.post(
        "/v1/api-keys", json={"name": "worker", "role": "member"}, headers=auth(a.admin)
    )
    member = made.json()["key"]
    mine = {"member_id": a.ids["member_id"], "project_id": a.ids["project_id"]}
    started = (datetime.now(UTC) - timedelta(hours=30)).replace(microsecond=0).isoformat()
    own_time = {
        ("post", "/v1/time-entries"): {**mine, "started_at": started, "duration_minutes": 15},
        ("post", "/v1/timers"): mine,
    }
    walked = time_refused = 0
    for method, path, op in operations(platform.spec):
        if path == "/v1/tenants" or path.startswith("/v1/auth/") or path == WEBHOOK:
            continue
        extra = request_of(op, platform.spec)
        if (method, path) in own_time:
            extra["json"] = own_time[(method, path)]  # A's member: valid, but not this key's
        headers = {**auth(member), **extra.pop("headers")}
        params = required_query(op) if method == "get" else {}
        url = filled(path, a.ids)
        r = await http.request(method, url, params=params, headers=headers, **extra)
        walked += 1
        where = f"{method.upper()} {path}: {r.status_code} {r.text[:300]}"
        problem = r.json().get("type", "") if r.status_code >= 400 else ""
        if path.startswith(("/v1/api-keys", "/v1/users")):
            assert r.status_code == 403, where
        elif method == "get":
            assert r.status_code == 200, where
        elif ("{" in path and path.startswith(TIME_PATHS)) or (method, path) in own_time:
            # Let through for the role, then refused: A's entries and timers are not its own.
            assert r.status_code == 403, where
            assert problem.endswith("/not-your-time"), where
            time_refused += 1
        elif path.startswith(TIME_PATHS):
            assert r.status_code < 500, where  # an import of nothing: let through, no rows
            assert not problem.endswith("/forbidden"), where
        else:
            assert r.status_code == 403, where
            assert problem.endswith("/forbidden"), where
    assert walked >= 40
    assert time_refused >= 5


async def test_a_manager_key_does_everything_but_manage_keys_and_users(
    platform: Platform,
) -> None:
    a, http = platform.a, platform.http
    made = await http.post(
        "/v1/api-keys", json={"name": "lead", "role": "manager"}, headers=auth(a.admin)
    )
    manager = made.json()["key"]
    for method, path, op in operations(platform.spec):
        if path == "/v1/tenants" or path.startswith("/v1/auth/"):
            continue
        extra = request_of(op)
        headers = {**auth(manager), **extra.pop("headers")}
        params = required_query(op) if method == "get" else {}
        # Against ids of nothing (the catalog's deletes would spoil the other walks): what
        # matters is whether the role is let through, not what the route then finds.
        url = filled(path, dict.fromkeys(a.ids, str(uuid.uuid4())))
        r = await http.request(method, url, params=params, headers=headers, **extra)
        where = f"{method.upper()} {path}: {r.status_code} {r.text[:300]}"
        if path.startswith(("/v1/api-keys", "/v1/users")):
            assert r.status_code == 403, where
        else:
            assert r.status_code != 403, where
            assert r.status_code < 500, where


async def test_the_provider_webhook_is_documented_as_taking_no_key(platform: Platform) -> None:
    operation = platform.spec["paths"][WEBHOOK]["post"]
    assert operation["security"] == []
    assert {p["name"] for p in operation["parameters"]} >= {"tenant_id", "stripe-signature"}
    # Every other operation takes the API key (the document's default).
    assert platform.spec["security"] == [{"apiKey": []}]
    others = [
        (path, method)
        for method, path, op in operations(platform.spec)
        if "security" in op and path != WEBHOOK
    ]
    assert others == []
