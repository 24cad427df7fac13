"""Tenants and API keys: operator bootstrap, keys stored hashed, rotation, revocation, roles,
and the identity a key gives the services behind the gateway."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI, Request
from starlette.responses import JSONResponse

from gateway.app import define
from gateway.domain.openapi import dangling_refs
from gateway.settings import GatewaySettings
from servicekit.identity import IDENTITY_HEADER, Identity, IdentitySigner, IdentityVerifier
from servicekit.problems import PROBLEM_JSON
from servicekit.service import create_app
from servicekit.testing import Infra, serve
from timecapture.app import define as define_timecapture
from timecapture.settings import TimecaptureSettings

pytestmark = pytest.mark.integration

OPERATOR = "bso_test_operator_key"


@dataclass
class Gateway:
    url: str
    seen: list[Identity] = field(default_factory=list)


def whoami_app(verifier: IdentityVerifier, seen: list[Identity]) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/clients")
    async def clients(request: Request) -> JSONResponse:
        identity = verifier.verify(request.headers[IDENTITY_HEADER])
        seen.append(identity)
        return JSONResponse({"tenant_id": str(identity.tenant_id), "role": identity.role})

    return app


@pytest.fixture(scope="module")
async def gateway(infra: Infra) -> AsyncIterator[Gateway]:
    gw = Gateway("")
    async with serve(whoami_app(IdentityVerifier(infra.public_key), gw.seen)) as upstream:
        settings = infra.settings(
            GatewaySettings,
            identity_private_key=infra.private_key,
            operator_key=OPERATOR,
            timecapture_url=upstream,
        )
        async with serve(create_app(define(settings))) as url:
            gw.url = url
            yield gw


@pytest.fixture
async def http(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    gateway.seen.clear()
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        yield client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def new_tenant(http: httpx.AsyncClient, name: str = "Acme") -> dict[str, Any]:
    r = await http.post("/v1/tenants", json={"name": name}, headers=bearer(OPERATOR))
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def problem(r: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = r.json()
    assert body["type"] == f"https://billstream.dev/problems/{slug}"
    return body


async def test_operator_creates_a_tenant_whose_admin_key_reaches_the_services_as_its_admin(
    gateway: Gateway, http: httpx.AsyncClient, infra: Infra
) -> None:
    tenant = await new_tenant(http)
    key = tenant["api_key"]

    assert key["role"] == "admin"
    assert key["key"].startswith(f"bsk_{key['prefix']}_")
    r = await http.get("/v1/clients", headers=bearer(key["key"]))
    assert r.status_code == 200, r.text
    assert gateway.seen == [Identity(uuid.UUID(tenant["id"]), f"api-key:{key['id']}", "admin")]

    # Only the hash is stored.
    conn = await asyncpg.connect(infra.admin_dsn())
    try:
        stored = await conn.fetchrow(
            "SELECT prefix, secret_hash FROM gateway.api_keys WHERE id = $1", uuid.UUID(key["id"])
        )
    finally:
        await conn.close()
    assert stored["prefix"] == key["prefix"]
    assert bytes(stored["secret_hash"]) == hashlib.sha256(key["key"].encode()).digest()


@pytest.mark.parametrize("headers", [{}, bearer("wrong"), bearer("bsk_0123456789ab_nope")])
@pytest.mark.parametrize("body", [{"name": "Nope"}, {"name": ""}], ids=["valid", "invalid"])
async def test_tenants_are_created_only_with_the_operator_key(
    http: httpx.AsyncClient, headers: dict[str, str], body: dict[str, str]
) -> None:
    r = await http.post("/v1/tenants", json=body, headers=headers)

    # Checked before the body: without the key, not even its validation errors.
    problem(r, 401, "unauthorized")


async def test_tenant_admin_key_is_not_the_operator_key(http: httpx.AsyncClient) -> None:
    admin = (await new_tenant(http))["api_key"]["key"]

    r = await http.post("/v1/tenants", json={"name": "Nope"}, headers=bearer(admin))

    problem(r, 401, "unauthorized")


async def test_bad_tenant_body_is_422_naming_the_field(http: httpx.AsyncClient) -> None:
    r = await http.post("/v1/tenants", json={"name": ""}, headers=bearer(OPERATOR))

    body = problem(r, 422, "validation")
    assert [e["pointer"] for e in body["errors"]] == ["#/name"]


async def test_admin_creates_lists_and_revokes_keys_and_lists_never_show_a_secret(
    gateway: Gateway, http: httpx.AsyncClient
) -> None:
    admin = (await new_tenant(http))["api_key"]
    r = await http.post(
        "/v1/api-keys", json={"name": "ci", "role": "viewer"}, headers=bearer(admin["key"])
    )
    assert r.status_code == 201, r.text
    viewer = r.json()
    assert r.headers["location"] == f"/v1/api-keys/{viewer['id']}"
    assert r.headers["cache-control"] == "no-store"

    listed = await http.get("/v1/api-keys", params={"limit": 1}, headers=bearer(admin["key"]))
    assert listed.status_code == 200, listed.text
    first = listed.json()
    rest = await http.get(
        "/v1/api-keys",
        params={"limit": 1, "cursor": first["next_cursor"]},
        headers=bearer(admin["key"]),
    )
    items = first["items"] + rest.json()["items"]
    assert [k["id"] for k in items] == [admin["id"], viewer["id"]]
    assert rest.json()["next_cursor"] is None
    assert all("key" not in k for k in items)
    assert viewer["key"] not in listed.text + rest.text

    assert (await http.get("/v1/clients", headers=bearer(viewer["key"]))).status_code == 200
    assert gateway.seen[-1].role == "viewer"
    r = await http.delete(f"/v1/api-keys/{viewer['id']}", headers=bearer(admin["key"]))
    assert r.status_code == 204, r.text
    problem(await http.get("/v1/clients", headers=bearer(viewer["key"])), 401, "unauthorized")
    revoked = await http.get(f"/v1/api-keys/{viewer['id']}", headers=bearer(admin["key"]))
    assert revoked.json()["revoked_at"] is not None
    again = await http.delete(f"/v1/api-keys/{viewer['id']}", headers=bearer(admin["key"]))
    problem(again, 409, "api-key-revoked")
    rotated = await http.post(f"/v1/api-keys/{viewer['id']}/rotate", headers=bearer(admin["key"]))
    problem(rotated, 409, "api-key-revoked")


async def test_rotation_gives_a_new_key_with_the_same_role_and_ends_the_old_one(
    http: httpx.AsyncClient,
) -> None:
    admin = (await new_tenant(http))["api_key"]
    made = await http.post(
        "/v1/api-keys", json={"name": "deploy", "role": "manager"}, headers=bearer(admin["key"])
    )
    old = made.json()
    assert (await http.get("/v1/clients", headers=bearer(old["key"]))).status_code == 200

    r = await http.post(f"/v1/api-keys/{old['id']}/rotate", headers=bearer(admin["key"]))

    assert r.status_code == 201, r.text
    new = r.json()
    assert (new["name"], new["role"]) == ("deploy", "manager")
    assert new["key"] != old["key"]
    problem(await http.get("/v1/clients", headers=bearer(old["key"])), 401, "unauthorized")
    assert (await http.get("/v1/clients", headers=bearer(new["key"]))).status_code == 200
    before = await http.get(f"/v1/api-keys/{old['id']}", headers=bearer(admin["key"]))
    assert before.json()["replaced_by"] == new["id"]


@pytest.mark.parametrize("role", ["manager", "member", "viewer"])
async def test_only_admins_manage_keys(http: httpx.AsyncClient, role: str) -> None:
    admin = (await new_tenant(http))["api_key"]
    made = await http.post(
        "/v1/api-keys", json={"name": role, "role": role}, headers=bearer(admin["key"])
    )
    key = made.json()

    attempts = [
        await http.post(
            "/v1/api-keys", json={"name": "x", "role": "admin"}, headers=bearer(key["key"])
        ),
        await http.get("/v1/api-keys", headers=bearer(key["key"])),
        await http.post(f"/v1/api-keys/{key['id']}/rotate", headers=bearer(key["key"])),
        await http.delete(f"/v1/api-keys/{admin['id']}", headers=bearer(key["key"])),
    ]

    for r in attempts:
        problem(r, 403, "forbidden")
    assert (await http.get("/v1/clients", headers=bearer(admin["key"]))).status_code == 200


async def test_one_tenants_admin_cannot_see_or_touch_another_tenants_keys(
    http: httpx.AsyncClient,
) -> None:
    a = (await new_tenant(http, "A"))["api_key"]
    b = (await new_tenant(http, "B"))["api_key"]

    listed = await http.get("/v1/api-keys", headers=bearer(a["key"]))
    assert [k["id"] for k in listed.json()["items"]] == [a["id"]]
    for r in [
        await http.get(f"/v1/api-keys/{b['id']}", headers=bearer(a["key"])),
        await http.post(f"/v1/api-keys/{b['id']}/rotate", headers=bearer(a["key"])),
        await http.delete(f"/v1/api-keys/{b['id']}", headers=bearer(a["key"])),
    ]:
        problem(r, 404, "api-key-not-found")
    assert (await http.get("/v1/clients", headers=bearer(b["key"]))).status_code == 200


async def test_a_key_with_a_known_prefix_and_a_wrong_secret_is_401(
    http: httpx.AsyncClient,
) -> None:
    key = (await new_tenant(http))["api_key"]
    forged = f"bsk_{key['prefix']}_{'A' * 32}"

    problem(await http.get("/v1/clients", headers=bearer(forged)), 401, "unauthorized")


async def test_the_last_admin_key_cannot_be_revoked(http: httpx.AsyncClient) -> None:
    admin = (await new_tenant(http))["api_key"]

    r = await http.delete(f"/v1/api-keys/{admin['id']}", headers=bearer(admin["key"]))

    problem(r, 409, "last-admin-key")
    second = await http.post(
        "/v1/api-keys", json={"name": "second", "role": "admin"}, headers=bearer(admin["key"])
    )
    r = await http.delete(f"/v1/api-keys/{admin['id']}", headers=bearer(second.json()["key"]))
    assert r.status_code == 204, r.text


async def test_concurrent_rotations_of_one_key_make_one_new_key(http: httpx.AsyncClient) -> None:
    admin = (await new_tenant(http))["api_key"]
    made = await http.post(
        "/v1/api-keys", json={"name": "ci", "role": "member"}, headers=bearer(admin["key"])
    )
    target = made.json()

    results = await asyncio.gather(
        *(
            http.post(f"/v1/api-keys/{target['id']}/rotate", headers=bearer(admin["key"]))
            for _ in range(5)
        )
    )

    assert sorted(r.status_code for r in results) == [201, 409, 409, 409, 409]
    [new] = [r.json() for r in results if r.status_code == 201]
    listed = await http.get("/v1/api-keys", headers=bearer(admin["key"]))
    live = [k["id"] for k in listed.json()["items"] if k["revoked_at"] is None]
    assert live == [admin["id"], new["id"]]


async def test_the_dev_key_manages_keys_of_the_dev_tenant(infra: Infra) -> None:
    dev_tenant = uuid.uuid4()
    settings = infra.settings(
        GatewaySettings,
        identity_private_key=infra.private_key,
        dev_api_key="bsk_dev_gateway_keys_test",
        dev_tenant_id=dev_tenant,
    )
    async with (
        serve(create_app(define(settings))) as url,
        httpx.AsyncClient(base_url=url, headers=bearer("bsk_dev_gateway_keys_test")) as http,
    ):
        r = await http.post("/v1/api-keys", json={"name": "from dev", "role": "viewer"})
        assert r.status_code == 201, r.text
        listed = await http.get("/v1/api-keys")
    assert [k["name"] for k in listed.json()["items"]] == ["from dev"]


async def test_a_key_over_its_rate_limit_gets_429_with_retry_after(
    infra: Infra, gateway: Gateway
) -> None:
    settings = infra.settings(
        GatewaySettings,
        identity_private_key=infra.private_key,
        dev_api_key="bsk_dev_rate_limit_test",
        dev_tenant_id=uuid.uuid4(),
        timecapture_url=gateway.url,  # never reached: refused before forwarding
        rate_limit_key_per_s=0.01,
        rate_limit_key_burst=2,
    )
    async with (
        serve(create_app(define(settings))) as url,
        httpx.AsyncClient(base_url=url, headers=bearer("bsk_dev_rate_limit_test")) as http,
    ):
        first = [await http.get("/v1/api-keys") for _ in range(2)]
        limited = await http.get("/v1/api-keys")
        forwarded = await http.get("/v1/clients")

    assert [r.status_code for r in first] == [200, 200]
    for r in (limited, forwarded):
        body = problem(r, 429, "rate-limited")
        assert int(r.headers["retry-after"]) >= 1
        assert body["retry_after_s"] == int(r.headers["retry-after"])


async def test_cors_preflight_is_answered_for_configured_origins_only(infra: Infra) -> None:
    settings = infra.settings(
        GatewaySettings,
        identity_private_key=infra.private_key,
        cors_origins=["https://app.example.com"],
    )
    async with serve(create_app(define(settings))) as url, httpx.AsyncClient(base_url=url) as http:
        allowed = await http.options(
            "/v1/clients",
            headers={
                "Origin": "https://app.example.com",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        other = await http.options(
            "/v1/clients",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )

    assert allowed.status_code == 200, allowed.text
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "access-control-allow-origin" not in other.headers


async def test_openapi_holds_the_gateways_routes_and_each_reachable_services(
    infra: Infra,
) -> None:
    timecapture = create_app(
        define_timecapture(infra.settings(TimecaptureSettings, kafka_bootstrap_servers=None))
    )
    async with serve(timecapture) as tc_url:
        settings = infra.settings(
            GatewaySettings,
            identity_private_key=infra.private_key,
            timecapture_url=tc_url,
            invoicing_url="http://127.0.0.1:9",  # nothing listens there
        )
        async with (
            serve(create_app(define(settings))) as url,
            httpx.AsyncClient(base_url=url) as http,
        ):
            r = await http.get("/openapi.json")
            docs = await http.get("/docs")

    assert r.status_code == 200, r.text
    doc = r.json()
    assert {"/v1/tenants", "/v1/api-keys", "/v1/clients", "/v1/time-entries"} <= set(doc["paths"])
    assert not any(p.startswith("/v1/{path") for p in doc["paths"])
    assert dangling_refs(doc) == set()
    assert "invoicing" in doc["x-billstream-unavailable"]
    assert docs.status_code == 200
    assert "/openapi.json" in docs.text


async def test_a_user_logs_in_reaches_the_services_and_refreshes_once(
    gateway: Gateway, http: httpx.AsyncClient
) -> None:
    made = await new_tenant(http)
    admin = made["api_key"]["key"]
    r = await http.post(
        "/v1/users",
        json={
            "email": "Ada@Example.com",
            "name": "Ada",
            "password": "correct horse",
            "role": "member",
        },
        headers=bearer(admin),
    )
    assert r.status_code == 201, r.text
    user = r.json()
    assert "password" not in r.text
    assert "hash" not in r.text
    login = {"tenant_id": made["id"], "email": "ada@example.com", "password": "correct horse"}

    wrong = await http.post("/v1/auth/token", json={**login, "password": "wrong horse"})
    nobody = await http.post("/v1/auth/token", json={**login, "email": "nobody@example.com"})
    problem(wrong, 401, "unauthorized")
    problem(nobody, 401, "unauthorized")
    assert wrong.json()["detail"] == nobody.json()["detail"]

    tokens = await http.post("/v1/auth/token", json=login)
    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["expires_in"] == 900
    reached = await http.get("/v1/clients", headers=bearer(tokens.json()["access_token"]))
    assert reached.status_code == 200, reached.text
    assert gateway.seen[-1] == Identity(uuid.UUID(made["id"]), f"user:{user['id']}", "member")
    # A member manages no keys or users.
    members_only = await http.get("/v1/users", headers=bearer(tokens.json()["access_token"]))
    problem(members_only, 403, "forbidden")

    refreshed = await http.post(
        "/v1/auth/refresh", json={"refresh_token": tokens.json()["refresh_token"]}
    )
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["refresh_token"] != tokens.json()["refresh_token"]
    replayed = await http.post(
        "/v1/auth/refresh", json={"refresh_token": tokens.json()["refresh_token"]}
    )
    problem(replayed, 401, "unauthorized")
    assert (
        await http.get("/v1/clients", headers=bearer(refreshed.json()["access_token"]))
    ).status_code == 200


async def test_a_forged_or_foreign_access_token_is_401(
    infra: Infra, http: httpx.AsyncClient
) -> None:

    # An identity token the gateway signs for services is no access token at the gateway.
    identity_token = IdentitySigner(infra.private_key).sign(Identity(uuid.uuid4(), "x", "admin"))
    for token in (identity_token, "a.b.c"):
        problem(await http.get("/v1/clients", headers=bearer(token)), 401, "unauthorized")


async def test_a_users_email_is_unique_in_its_tenant(http: httpx.AsyncClient) -> None:
    admin = (await new_tenant(http))["api_key"]["key"]
    body = {
        "email": "bob@example.com",
        "name": "Bob",
        "password": "long enough pw",
        "role": "viewer",
    }
    assert (await http.post("/v1/users", json=body, headers=bearer(admin))).status_code == 201

    again = await http.post("/v1/users", json=body, headers=bearer(admin))
    short = await http.post(
        "/v1/users",
        json={**body, "email": "c@example.com", "password": "short"},
        headers=bearer(admin),
    )

    assert [e["pointer"] for e in problem(again, 409, "email-taken")["errors"]] == ["#/email"]
    assert [e["pointer"] for e in problem(short, 422, "validation")["errors"]] == ["#/password"]
    listed = await http.get("/v1/users", headers=bearer(admin))
    assert [u["email"] for u in listed.json()["items"]] == ["bob@example.com"]


async def test_password_guesses_are_limited_per_account_before_any_hashing(
    infra: Infra,
) -> None:
    settings = infra.settings(
        GatewaySettings,
        identity_private_key=infra.private_key,
        operator_key=OPERATOR,
        login_attempts_per_minute=2,
    )
    async with (
        serve(create_app(define(settings))) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as http,
    ):
        made = await new_tenant(http)
        guess = {"tenant_id": made["id"], "email": "eve@example.com", "password": "guess"}
        answers = [await http.post("/v1/auth/token", json=guess) for _ in range(3)]
        other = await http.post("/v1/auth/token", json={**guess, "email": "amy@example.com"})

    assert [r.status_code for r in answers] == [401, 401, 429]
    assert int(answers[2].headers["retry-after"]) >= 1
    problem(answers[2], 429, "rate-limited")
    assert other.status_code == 401  # another account has its own budget


async def test_concurrent_refreshes_of_one_token_let_exactly_one_through(
    http: httpx.AsyncClient,
) -> None:
    made = await new_tenant(http)
    body = {
        "email": "kai@example.com",
        "name": "Kai",
        "password": "twelve chars!",
        "role": "viewer",
    }
    created = await http.post("/v1/users", json=body, headers=bearer(made["api_key"]["key"]))
    assert created.status_code == 201, created.text
    login = {"tenant_id": made["id"], "email": body["email"], "password": body["password"]}
    refresh_token = (await http.post("/v1/auth/token", json=login)).json()["refresh_token"]

    answers = await asyncio.gather(
        *(http.post("/v1/auth/refresh", json={"refresh_token": refresh_token}) for _ in range(5))
    )

    assert sorted(r.status_code for r in answers) == [200, 401, 401, 401, 401]


async def _user_and_login(http: httpx.AsyncClient) -> tuple[str, dict[str, Any], dict[str, Any]]:
    made = await new_tenant(http)
    admin = made["api_key"]["key"]
    body = {
        "email": "lin@example.com",
        "name": "Lin",
        "password": "first password",
        "role": "member",
    }
    user = (await http.post("/v1/users", json=body, headers=bearer(admin))).json()
    login = {"tenant_id": made["id"], "email": body["email"], "password": body["password"]}
    return admin, user, login


async def test_a_replayed_refresh_token_revokes_its_whole_family(
    http: httpx.AsyncClient,
) -> None:
    _, _, login = await _user_and_login(http)
    stolen = (await http.post("/v1/auth/token", json=login)).json()["refresh_token"]
    other_login = (await http.post("/v1/auth/token", json=login)).json()["refresh_token"]
    owner = (await http.post("/v1/auth/refresh", json={"refresh_token": stolen})).json()
    # The thief replays the copied token: refused, and the owner's new one ends with it.
    replay = await http.post("/v1/auth/refresh", json={"refresh_token": stolen})
    owners_next = await http.post(
        "/v1/auth/refresh", json={"refresh_token": owner["refresh_token"]}
    )
    unrelated = await http.post("/v1/auth/refresh", json={"refresh_token": other_login})
    problem(replay, 401, "unauthorized")
    problem(owners_next, 401, "unauthorized")
    assert unrelated.status_code == 200  # another login's family is untouched


async def test_admins_rename_disable_and_reset_users_and_sessions_end(
    gateway: Gateway, http: httpx.AsyncClient
) -> None:
    admin, user, login = await _user_and_login(http)
    url = f"/v1/users/{user['id']}"
    first = (await http.post("/v1/auth/token", json=login)).json()
    refresh_token, access = first["refresh_token"], first["access_token"]
    as_member = await http.get("/v1/clients", headers=bearer(access))
    role_before = gateway.seen[-1].role
    got = await http.get(url, headers=bearer(admin))
    no_version = await http.patch(url, json={"disabled": True}, headers=bearer(admin))
    disabled = await http.patch(
        url, json={"disabled": True}, headers={**bearer(admin), "If-Match": got.headers["ETag"]}
    )
    refused_login = await http.post("/v1/auth/token", json=login)
    # The access token already out stops at once on this replica (others within seconds).
    disabled_access = await http.get("/v1/clients", headers=bearer(access))
    refused_refresh = await http.post("/v1/auth/refresh", json={"refresh_token": refresh_token})
    enabled = await http.patch(
        url,
        json={"disabled": False, "role": "viewer", "name": "Lin Y."},
        headers={**bearer(admin), "If-Match": disabled.headers["ETag"]},
    )
    back = await http.post("/v1/auth/token", json=login)
    as_viewer = await http.get("/v1/clients", headers=bearer(access))
    role_after = gateway.seen[-1].role
    reset = await http.patch(
        url,
        json={"password": "second password"},
        headers={**bearer(admin), "If-Match": enabled.headers["ETag"]},
    )
    old_password = await http.post("/v1/auth/token", json=login)
    old_session = await http.post(
        "/v1/auth/refresh", json={"refresh_token": back.json()["refresh_token"]}
    )
    new_password = await http.post("/v1/auth/token", json={**login, "password": "second password"})
    null_name = await http.patch(
        url, json={"name": None}, headers={**bearer(admin), "If-Match": reset.headers["ETag"]}
    )
    unknown = await http.get(f"/v1/users/{uuid.uuid4()}", headers=bearer(admin))
    assert got.status_code == 200
    problem(no_version, 428, "precondition-required")
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["disabled_at"] is not None
    problem(refused_login, 401, "unauthorized")
    problem(refused_refresh, 401, "unauthorized")
    assert (as_member.status_code, role_before) == (200, "member")
    problem(disabled_access, 401, "unauthorized")
    # The same old token now reaches the services with the role the user has today.
    assert (as_viewer.status_code, role_after) == (200, "viewer")
    assert (enabled.json()["disabled_at"], enabled.json()["role"]) == (None, "viewer")
    assert enabled.json()["name"] == "Lin Y."
    assert back.status_code == 200
    assert reset.status_code == 200
    assert "password" not in reset.text
    problem(old_password, 401, "unauthorized")
    problem(old_session, 401, "unauthorized")
    assert new_password.status_code == 200
    problem(null_name, 422, "invalid-field")
    problem(unknown, 404, "user-not-found")


async def test_a_token_of_a_family_with_a_revoked_token_is_refused(
    infra: Infra, http: httpx.AsyncClient
) -> None:
    # The state a refresh racing a replay leaves: its new token was written after the family
    # was revoked, so only that token is not revoked.
    _, _, login = await _user_and_login(http)
    first = (await http.post("/v1/auth/token", json=login)).json()["refresh_token"]
    second = (await http.post("/v1/auth/refresh", json={"refresh_token": first})).json()
    admin = await asyncpg.connect(infra.admin_dsn())
    try:
        await admin.execute(
            "UPDATE gateway.refresh_tokens SET revoked_at = now() WHERE token_hash = $1",
            hashlib.sha256(first.encode()).digest(),
        )
    finally:
        await admin.close()
    late = await http.post("/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    problem(late, 401, "unauthorized")
