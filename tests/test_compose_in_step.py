"""docker-compose.yml stays in step with `make run` (servicekit.localinfra.catalog).

No Docker needed: the compose file is parsed as YAML and its `${VAR...}` references
are resolved here the way Compose would, with made-up values for the secrets.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from gateway.settings import GatewaySettings
from servicekit.localinfra.catalog import (
    BACKENDS,
    DATABASE,
    DATABASE_SERVICES,
    GATEWAY,
    SERVICES,
    ServiceEntry,
)
from servicekit.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
MAKE_ENV = ROOT / "deploy" / "compose" / "make_env.py"
BOOTSTRAP_MODULE = "servicekit.localinfra.bootstrap"
KAFKA = "kafka:9092"

_VAR = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:\?|:-|\?|-)(?P<arg>[^}]*))?\}")


def _required_vars(text: str) -> set[str]:
    return {m["name"] for m in _VAR.finditer(text) if m["op"] in (":?", "?")}


def _interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose-style `${VAR}`, `${VAR:-default}`, `${VAR:?error}` substitution."""
    if isinstance(value, dict):
        return {k: _interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match[str]) -> str:
        name, op, arg = m["name"], m["op"], m["arg"]
        if env.get(name):
            return env[name]
        if op in (":?", "?"):
            raise KeyError(f"required variable {name} unset: {arg}")
        return arg if op in (":-", "-") else ""

    return _VAR.sub(sub, value.replace("$$", "\0")).replace("\0", "$")


@pytest.fixture(scope="module")
def raw_text() -> str:
    return COMPOSE_FILE.read_text()


@pytest.fixture(scope="module")
def secrets_env(raw_text: str) -> dict[str, str]:
    """A distinct made-up value for every variable the compose file requires."""
    return {name: f"{name.lower().replace('_', '-')}-value" for name in _required_vars(raw_text)}


@pytest.fixture(scope="module")
def compose(raw_text: str, secrets_env: dict[str, str]) -> dict[str, Any]:
    parsed = yaml.safe_load(raw_text)
    assert isinstance(parsed, dict)
    resolved: dict[str, Any] = _interpolate(parsed, secrets_env)
    return resolved


def _service(compose: dict[str, Any], name: str) -> dict[str, Any]:
    services = compose["services"]
    assert name in services, f"docker-compose.yml has no service {name!r}"
    svc: dict[str, Any] = services[name]
    return svc


def _env(compose: dict[str, Any], name: str) -> dict[str, str]:
    env = _service(compose, name).get("environment", {})
    assert isinstance(env, dict), f"{name}: write environment as a mapping"
    return {k: str(v) for k, v in env.items()}


def _settings_class(entry: ServiceEntry) -> type[ServiceSettings]:
    module = importlib.import_module(f"{entry.name}.settings")
    found = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type)
        and issubclass(obj, ServiceSettings)
        and obj is not ServiceSettings
        and obj.__module__ == module.__name__
    ]
    assert len(found) == 1, f"{entry.name}.settings: expected one settings class, got {found}"
    return found[0]


def _depends(svc: dict[str, Any]) -> dict[str, str]:
    deps = svc.get("depends_on", {})
    assert isinstance(deps, dict), "write depends_on with conditions"
    return {name: spec.get("condition", "service_started") for name, spec in deps.items()}


def test_every_catalog_service_is_in_compose(compose: dict[str, Any]) -> None:
    names = {s.name for s in SERVICES}
    missing = names - set(compose["services"])
    assert not missing, f"in the catalog but not in docker-compose.yml: {sorted(missing)}"
    for entry in SERVICES:
        svc = _service(compose, entry.name)
        # ENTRYPOINT is `python -m`: the command names the module, as `make run` does.
        assert svc["command"][0] == entry.name


@pytest.mark.parametrize("entry", SERVICES, ids=lambda s: s.name)
def test_published_port_is_the_catalog_port(compose: dict[str, Any], entry: ServiceEntry) -> None:
    svc = _service(compose, entry.name)
    ports = svc.get("ports", [])
    assert len(ports) == 1, f"{entry.name}: publish exactly one port"
    # Short syntax HOST_IP:PUBLISHED:TARGET (also understood by older Compose releases).
    host_ip, published, target = str(ports[0]).rsplit(":", 2)
    assert host_ip, f"{entry.name}: publish on an explicit host address"
    assert int(published) == entry.default_port
    assert int(target) == entry.default_port
    env = _env(compose, entry.name)
    assert env[f"{entry.env_prefix}HTTP_PORT"] == str(entry.default_port)
    assert env[f"{entry.env_prefix}HTTP_HOST"] == "0.0.0.0"
    probe = " ".join(svc["healthcheck"]["test"])
    assert f"http://127.0.0.1:{entry.default_port}/readyz" in probe


@pytest.mark.parametrize("entry", SERVICES, ids=lambda s: s.name)
def test_env_uses_own_prefix_and_known_settings(
    compose: dict[str, Any], entry: ServiceEntry
) -> None:
    """Settings ignore unknown variables, so a typo here would pass silently at run time."""
    env = _env(compose, entry.name)
    fields = set(_settings_class(entry).model_fields)
    for key in env:
        assert key.startswith(entry.env_prefix), f"{entry.name}: {key} lacks {entry.env_prefix}"
        field = key.removeprefix(entry.env_prefix).lower()
        assert field in fields, f"{entry.name}: {key} sets no setting of {entry.name}"


@pytest.mark.parametrize("entry", BACKENDS, ids=lambda s: s.name)
def test_backend_connects_as_its_own_role(
    compose: dict[str, Any], secrets_env: dict[str, str], entry: ServiceEntry
) -> None:
    env = _env(compose, entry.name)
    p = entry.env_prefix
    if entry.database:
        url = urlsplit(env[f"{p}DATABASE_URL"])
        assert url.scheme == "postgresql"
        assert url.username == entry.name, f"{entry.name} must log in as its own role"
        assert url.password == secrets_env[f"BILLSTREAM_DB_PASSWORD_{entry.name.upper()}"]
        assert (url.hostname, url.port, url.path) == ("postgres", 5432, f"/{DATABASE}")
    else:
        assert f"{p}DATABASE_URL" not in env
    if entry.kafka:
        assert env[f"{p}KAFKA_BOOTSTRAP_SERVERS"] == KAFKA
    assert env[f"{p}IDENTITY_PUBLIC_KEY"] == secrets_env["IDENTITY_PUBLIC_KEY"]
    assert _depends(_service(compose, entry.name)) == {
        "bootstrap": "service_completed_successfully"
    }


def test_bootstrap_sets_the_passwords_the_services_use(
    compose: dict[str, Any], secrets_env: dict[str, str]
) -> None:
    svc = _service(compose, "bootstrap")
    cmd = svc["command"]
    assert cmd[0] == BOOTSTRAP_MODULE
    args = dict(zip(cmd[1::2], cmd[2::2], strict=True))
    admin = urlsplit(args["--admin-dsn"])
    assert (admin.username, admin.password) == ("postgres", secrets_env["POSTGRES_PASSWORD"])
    assert admin.hostname == "postgres"
    assert args["--database"] == DATABASE
    assert args["--kafka"] == KAFKA
    env = _env(compose, "bootstrap")
    for entry in DATABASE_SERVICES:
        var = f"BILLSTREAM_DB_PASSWORD_{entry.name.upper()}"
        assert env.get(var) == secrets_env[var], f"bootstrap must set {entry.name}'s password"
    assert _depends(svc) == {"postgres": "service_healthy", "kafka": "service_healthy"}


def test_gateway_routes_to_every_backend_by_service_name(
    compose: dict[str, Any], secrets_env: dict[str, str]
) -> None:
    env = _env(compose, GATEWAY.name)
    p = GATEWAY.env_prefix
    for backend in BACKENDS:
        key = f"{p}{backend.name.upper()}_URL"
        assert key in env, f"gateway has no {key}"
        assert env[key] == f"http://{backend.name}:{backend.default_port}"
        assert f"{backend.name}_url" in GatewaySettings.model_fields
    assert env[f"{p}IDENTITY_PRIVATE_KEY"] == secrets_env["IDENTITY_PRIVATE_KEY"]
    depends = _depends(_service(compose, GATEWAY.name))
    assert depends == {b.name: "service_healthy" for b in BACKENDS}


def test_secrets_are_required_and_make_env_provides_them(raw_text: str) -> None:
    required = _required_vars(raw_text)
    secrets = {
        "POSTGRES_PASSWORD",
        "IDENTITY_PRIVATE_KEY",
        "IDENTITY_PUBLIC_KEY",
        "DEV_API_KEY",
        "DEV_TENANT_ID",
        "OPERATOR_KEY",
        "PAYMENTS_SECRET_KEYS",
        *(f"BILLSTREAM_DB_PASSWORD_{s.name.upper()}" for s in DATABASE_SERVICES),
    }
    assert secrets <= required
    # No secret is ever read with a default or optionally.
    for m in _VAR.finditer(raw_text):
        if m["name"] in secrets:
            assert m["op"] == ":?", f"{m.group(0)[:60]}: a secret must be ${{VAR:?message}}"

    spec = importlib.util.spec_from_file_location("compose_make_env", MAKE_ENV)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written = {
        line.partition("=")[0]
        for line in module.render().splitlines()
        if line and not line.startswith("#")
    }
    assert required <= written, f"make_env.py misses {sorted(required - written)}"
