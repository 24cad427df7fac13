"""A time entry through the gateway reaches invoicing's ledger exactly once, in one trace,
and becomes an invoice whose issue locks it in timecapture."""

from __future__ import annotations

import contextlib
import itertools
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import stripe
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway.app import define as define_gateway
from gateway.settings import GatewaySettings
from invoicing.app import define as define_invoicing
from invoicing.settings import InvoicingSettings
from payments.app import define as define_payments
from payments.settings import PaymentsSettings
from servicekit.service import Runtime, create_app
from servicekit.testing import Infra, eventually, read_topic, serve
from timecapture.app import define as define_timecapture
from timecapture.settings import TimecaptureSettings

DEV_KEY = "bsk_test_walking_skeleton"


@contextlib.asynccontextmanager
async def platform(infra: Infra, tenant_id: uuid.UUID) -> AsyncIterator[dict[str, Any]]:
    tc_app = create_app(define_timecapture(infra.settings(TimecaptureSettings)))
    inv_app = create_app(define_invoicing(infra.settings(InvoicingSettings)))
    pay_app = create_app(define_payments(infra.settings(PaymentsSettings)))
    async with serve(tc_app) as tc_url, serve(inv_app) as inv_url, serve(pay_app) as pay_url:
        gw_app = create_app(
            define_gateway(
                infra.settings(
                    GatewaySettings,
                    identity_private_key=infra.private_key,
                    dev_api_key=DEV_KEY,
                    dev_tenant_id=tenant_id,
                    timecapture_url=tc_url,
                    invoicing_url=inv_url,
                    payments_url=pay_url,
                )
            )
        )
        async with serve(gw_app) as gw_url:
            catalog = await seed_catalog(gw_url)
            yield {
                **catalog,
                "gateway": gw_url,
                "timecapture": tc_url,
                "invoicing": inv_url,
                "timecapture_runtime": tc_app.state.runtime,
                "invoicing_runtime": inv_app.state.runtime,
            }


async def seed_catalog(gateway: str) -> dict[str, str]:
    """A client, its project and a member, created through the gateway like any caller would."""
    auth = {"Authorization": f"Bearer {DEV_KEY}"}
    async with httpx.AsyncClient(base_url=gateway, headers=auth, timeout=10) as http:
        client = await http.post(
            "/v1/clients", json={"name": f"Acme {uuid.uuid4()}", "currency": "EUR"}
        )
        assert client.status_code == 201, client.text
        project = await http.post(
            "/v1/projects", json={"client_id": client.json()["id"], "name": "Website"}
        )
        assert project.status_code == 201, project.text
        member = await http.post(
            "/v1/members", json={"name": "Ada", "email": f"ada-{uuid.uuid4()}@example.com"}
        )
        assert member.status_code == 201, member.text
    return {"member_id": member.json()["id"], "project_id": project.json()["id"]}


_HOURS_BACK = itertools.count()


def entry_body(p: dict[str, Any]) -> dict[str, Any]:
    # Each 90-minute entry two hours before the last, so one member's entries never overlap.
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3 + 2 * next(_HOURS_BACK))
    return {
        "member_id": p["member_id"],
        "project_id": p["project_id"],
        "started_at": start.isoformat(),
        "ended_at": (start + timedelta(minutes=90)).isoformat(),
        "description": "walking skeleton",
    }


async def ledger_rows(infra: Infra, tenant_id: uuid.UUID) -> list[asyncpg.Record]:
    return await infra.fetch_as_tenant("invoicing", tenant_id, "SELECT * FROM ledger_entries")


async def test_entry_reaches_invoicing_ledger_once_in_one_trace(
    infra: Infra, tenant_id: uuid.UUID, span_exporter: InMemorySpanExporter
) -> None:
    async with platform(infra, tenant_id) as p, httpx.AsyncClient() as http:
        span_exporter.clear()
        r = await http.post(
            f"{p['gateway']}/v1/time-entries",
            json=entry_body(p),
            headers={"Authorization": f"Bearer {DEV_KEY}"},
        )
        assert r.status_code == 201, r.text
        entry_id = r.json()["id"]

        rows = await eventually(lambda: ledger_rows(infra, tenant_id), message="ledger row")
        assert [str(row["entry_id"]) for row in rows] == [entry_id]
        assert rows[0]["duration_seconds"] == 90 * 60

        spans = span_exporter.get_finished_spans()
        [gateway_span] = [
            s for s in spans if s.name == "POST /v1/{path:path}" and s.kind.name == "SERVER"
        ]
        trace_id = gateway_span.context.trace_id
        # The service's span, in the same trace, named after the route its router matched.
        [service_span] = [
            s
            for s in spans
            if s.kind.name == "SERVER" and s.context.trace_id == trace_id and s != gateway_span
        ]
        assert service_span.name == "POST /v1/time-entries"
        assert service_span.attributes is not None
        assert service_span.attributes["http.route"] == "/v1/time-entries"
        assert service_span.parent is not None
        # Spans of events left on the topic by other tests may be in the exporter too:
        # exactly one publish and one consume must belong to this request's trace.
        publish = [
            s
            for s in spans
            if s.name == "time-entry-logged publish" and s.context.trace_id == trace_id
        ]
        consume = [
            s
            for s in spans
            if s.name == "time-entry-logged process" and s.context.trace_id == trace_id
        ]
        assert len(publish) == 1
        assert len(consume) == 1
        assert consume[0].attributes is not None
        assert consume[0].attributes["messaging.consumer.group.name"] == "invoicing"

        tc_metrics = (await http.get(f"{p['timecapture']}/metrics")).text
        inv_metrics = (await http.get(f"{p['invoicing']}/metrics")).text
        assert (
            'http_requests_total{method="POST",route="/v1/time-entries",status="201"}' in tc_metrics
        )
        assert 'outbox_published_total{topic="time-entry-logged"}' in tc_metrics
        assert (
            'consumer_messages_total{consumer="invoicing.time-entry-logged",'
            'outcome="processed",topic="time-entry-logged"}'
        ) in inv_metrics


async def inbox_count(infra: Infra, event_ids: list[uuid.UUID]) -> int:
    conn = await asyncpg.connect(infra.dsn("invoicing"))
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM inbox WHERE event_id = ANY($1::uuid[])", event_ids
        )
        return count
    finally:
        await conn.close()


async def published_records(infra: Infra, entry_ids: set[str]) -> list[Any]:
    return await read_topic(
        infra.kafka.bootstrap_servers,
        "time-entry-logged",
        lambda r: r.key.decode() in entry_ids,
        expected=len(entry_ids),
    )


async def test_event_delivered_twice_is_applied_once(infra: Infra, tenant_id: uuid.UUID) -> None:
    from aiokafka import AIOKafkaProducer

    async with platform(infra, tenant_id) as p, httpx.AsyncClient() as http:
        r = await http.post(
            f"{p['gateway']}/v1/time-entries",
            json=entry_body(p),
            headers={"Authorization": f"Bearer {DEV_KEY}"},
        )
        assert r.status_code == 201, r.text
        entry_id = r.json()["id"]
        await eventually(lambda: ledger_rows(infra, tenant_id), message="ledger row")

        [record] = await published_records(infra, {entry_id})
        producer = AIOKafkaProducer(bootstrap_servers=infra.kafka.bootstrap_servers)
        await producer.start()
        try:
            await producer.send_and_wait(
                record.topic, record.value, key=record.key, headers=list(record.headers)
            )
        finally:
            await producer.stop()

        invoicing: Runtime = p["invoicing_runtime"]

        async def duplicate_seen() -> bool:
            text = (await http.get(f"{p['invoicing']}/metrics")).text
            return 'outcome="duplicate"' in text

        await eventually(duplicate_seen, message="duplicate absorbed")
        rows = await ledger_rows(infra, tenant_id)
        assert [str(row["entry_id"]) for row in rows] == [entry_id]
        event_id = uuid.UUID(dict(record.headers)["event_id"].decode())
        assert await inbox_count(infra, [event_id]) == 1
        assert invoicing.consumers, "invoicing consumes time-entry-logged"


async def test_consumer_restart_midway_loses_and_duplicates_nothing(
    infra: Infra, tenant_id: uuid.UUID
) -> None:
    async with platform(infra, tenant_id) as p, httpx.AsyncClient() as http:
        invoicing: Runtime = p["invoicing_runtime"]
        auth = {"Authorization": f"Bearer {DEV_KEY}"}

        async def post(n: int) -> list[str]:
            ids = []
            for _ in range(n):
                r = await http.post(
                    f"{p['gateway']}/v1/time-entries", json=entry_body(p), headers=auth
                )
                assert r.status_code == 201, r.text
                ids.append(r.json()["id"])
            return ids

        first = await post(10)
        await invoicing.stop_consumers()
        second = await post(10)
        await invoicing.start_consumers()
        third = await post(5)
        expected = set(first + second + third)

        async def all_arrived() -> bool:
            return len(await ledger_rows(infra, tenant_id)) >= len(expected)

        await eventually(all_arrived, timeout=30, message="all entries in the ledger")
        rows = await ledger_rows(infra, tenant_id)
        assert sorted(str(r["entry_id"]) for r in rows) == sorted(expected)
        records = await published_records(infra, expected)
        event_ids = list({uuid.UUID(dict(r.headers)["event_id"].decode()) for r in records})
        assert len(event_ids) == len(expected)
        assert await inbox_count(infra, event_ids) == len(expected)


AUTH = {"Authorization": f"Bearer {DEV_KEY}"}


async def test_logged_time_is_invoiced_locked_by_the_issue_and_unlocked_by_the_void(
    infra: Infra, tenant_id: uuid.UUID
) -> None:
    async with (
        platform(infra, tenant_id) as p,
        httpx.AsyncClient(base_url=p["gateway"], headers=AUTH, timeout=15) as http,
    ):
        entry = await http.post("/v1/time-entries", json=entry_body(p))
        assert entry.status_code == 201, entry.text
        client_id = (await http.get(f"/v1/projects/{p['project_id']}")).json()["client_id"]
        rule = {
            "kind": "hourly",
            "client_id": client_id,
            "currency": "EUR",
            "amount_minor": 12000,
            "effective_from": "2020-01-01",
        }

        async def ruled() -> httpx.Response | None:
            r = await http.post("/v1/rate-rules", json=rule)
            return r if r.status_code == 201 else None

        await eventually(ruled, message="client replicated to invoicing")

        async def drafted() -> dict[str, Any] | None:
            r = await http.post("/v1/invoices", json={"client_id": client_id})
            return r.json() if r.status_code == 201 else None

        draft = await eventually(drafted, message="entry in invoicing's ledger")
        assert [line["time_entry_ids"] for line in draft["lines"]] == [[entry.json()["id"]]]
        assert draft["total_minor"] == 18000  # 1.5 h at 120.00, no tax
        issued = await http.post(f"/v1/invoices/{draft['id']}/issue")
        assert issued.status_code == 200, issued.text
        entry_url = f"/v1/time-entries/{entry.json()['id']}"

        async def edit() -> httpx.Response:
            current = await http.get(entry_url)
            return await http.patch(
                entry_url,
                json={"description": "renamed"},
                headers={"If-Match": current.headers["ETag"]},
            )

        async def locked() -> httpx.Response | None:
            r = await edit()
            return r if r.status_code == 409 else None

        refused = await eventually(locked, message="entry locked by invoice-issued")
        assert refused.json()["type"].endswith("/time-entry-locked")
        voided = await http.post(f"/v1/invoices/{draft['id']}/void", json={"reason": "test"})
        assert voided.status_code == 200, voided.text

        async def unlocked() -> httpx.Response | None:
            r = await edit()
            return r if r.status_code == 200 else None

        await eventually(unlocked, message="entry unlocked by invoice-voided")
        pdf = await http.get(f"/v1/invoices/{draft['id']}/pdf")
        assert pdf.status_code == 200
        assert pdf.content.startswith(b"%PDF")


async def test_a_payment_through_the_gateway_makes_the_invoice_paid_and_a_refund_reopens_it(
    infra: Infra, tenant_id: uuid.UUID
) -> None:
    async with (
        platform(infra, tenant_id) as p,
        httpx.AsyncClient(base_url=p["gateway"], headers=AUTH, timeout=15) as http,
    ):
        client_id = (await http.get(f"/v1/projects/{p['project_id']}")).json()["client_id"]
        line = {"description": "Setup", "quantity": "1", "unit_amount_minor": 25000}

        async def drafted() -> dict[str, Any] | None:
            r = await http.post(
                "/v1/invoices",
                json={"client_id": client_id, "include_time": False, "lines": [line]},
            )
            return r.json() if r.status_code == 201 else None

        draft = await eventually(drafted, message="client replicated to invoicing")
        issued = (await http.post(f"/v1/invoices/{draft['id']}/issue")).json()
        body = {
            "invoice_id": issued["id"],
            "amount_minor": 25000,
            "currency": "EUR",
            "method": "bank_transfer",
        }

        async def paid_once() -> httpx.Response | None:
            r = await http.post(
                "/v1/payments", json=body, headers={"Idempotency-Key": f"pay-{issued['id']}"}
            )
            return r if r.status_code == 201 else None

        payment = (await eventually(paid_once, message="invoice reached payments")).json()
        replayed = await http.post(
            "/v1/payments", json=body, headers={"Idempotency-Key": f"pay-{issued['id']}"}
        )
        assert replayed.headers["Idempotent-Replayed"] == "true"
        assert replayed.json()["id"] == payment["id"]

        async def invoice_status(expected: str) -> dict[str, Any] | None:
            got: dict[str, Any] = (await http.get(f"/v1/invoices/{issued['id']}")).json()
            return got if got["payment_status"] == expected else None

        paid = await eventually(lambda: invoice_status("paid"), message="invoice paid")
        assert (paid["amount_paid_minor"], paid["balance_minor"]) == (25000, 0)
        refund = await http.post(
            f"/v1/payments/{payment['id']}/refunds", json={"amount_minor": 5000}
        )
        assert refund.status_code == 201, refund.text
        reopened = await eventually(
            lambda: invoice_status("partially_paid"), message="refund applied"
        )
        assert reopened["balance_minor"] == 5000


async def test_a_stripe_delivery_pays_an_invoice_and_its_excess_pays_the_next_one(
    infra: Infra, tenant_id: uuid.UUID
) -> None:
    """Through the gateway: Stripe calls without our key, signed by the `stripe` library."""
    secret = "whsec_walkingSkeleton0001"
    async with (
        platform(infra, tenant_id) as p,
        httpx.AsyncClient(base_url=p["gateway"], headers=AUTH, timeout=15) as http,
        httpx.AsyncClient(base_url=p["gateway"], timeout=15) as stripe_side,
    ):
        configured = await http.put("/v1/providers/stripe", json={"webhook_secret": secret})
        assert configured.status_code == 200, configured.text
        client_id = (await http.get(f"/v1/projects/{p['project_id']}")).json()["client_id"]

        async def issued_for(amount: int) -> dict[str, Any]:
            line = {"description": "Setup", "quantity": "1", "unit_amount_minor": amount}

            async def drafted() -> dict[str, Any] | None:
                r = await http.post(
                    "/v1/invoices",
                    json={"client_id": client_id, "include_time": False, "lines": [line]},
                )
                return r.json() if r.status_code == 201 else None

            draft = await eventually(drafted, message="client replicated to invoicing")
            issued: dict[str, Any] = (await http.post(f"/v1/invoices/{draft['id']}/issue")).json()
            return issued

        first, second = await issued_for(10000), await issued_for(2000)
        payload = json.dumps(
            {
                "id": f"evt_{uuid.uuid4().hex[:24]}",
                "object": "event",
                "type": "payment_intent.succeeded",
                "created": int(datetime.now(UTC).timestamp()),
                "livemode": False,
                "data": {
                    "object": {
                        "id": f"pi_{uuid.uuid4().hex[:24]}",
                        "object": "payment_intent",
                        "amount_received": 12000,
                        "currency": "eur",
                        "metadata": {"billstream_invoice_id": first["id"]},
                        "payment_method_types": ["card"],
                    }
                },
            }
        )

        async def delivered() -> httpx.Response | None:
            signature = stripe.WebhookSignature.generate_signature_header(payload, secret)
            r = await stripe_side.post(
                "/v1/providers/stripe/webhook",
                params={"tenant_id": str(tenant_id)},
                content=payload,
                headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
            )
            # 404 until invoice-issued reached payments: Stripe would retry the same way.
            return r if r.status_code == 200 else None

        answer = (await eventually(delivered, message="invoice reached payments")).json()
        assert answer["event"]["outcome"] == "applied", answer

        async def invoice_status(invoice_id: str, expected: str) -> dict[str, Any] | None:
            got: dict[str, Any] = (await http.get(f"/v1/invoices/{invoice_id}")).json()
            return got if got["payment_status"] == expected else None

        await eventually(lambda: invoice_status(first["id"], "paid"), message="first paid")
        balance = (await http.get(f"/v1/clients/{client_id}/credit-balance")).json()
        assert balance["balances"][0]["balance_minor"] == 2000

        async def applied() -> httpx.Response | None:
            r = await http.post(
                f"/v1/clients/{client_id}/credit-balance/applications", json={"currency": "EUR"}
            )
            return r if r.status_code == 201 else None

        application = (await eventually(applied, message="second invoice in payments")).json()
        assert [x["invoice_id"] for x in application["payments"]] == [second["id"]]
        paid = await eventually(
            lambda: invoice_status(second["id"], "paid"), message="second paid from credit"
        )
        assert paid["amount_paid_minor"] == 2000
