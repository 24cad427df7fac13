"""Dependencies of the gateway's own routes: they authenticate here, not through a token."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from gateway.domain.auth import api_key_from
from gateway.handlers import keys, limits
from servicekit.identity import Identity
from servicekit.problems import ForbiddenError
from servicekit.service import Runtime, get_runtime

RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def presented_key(
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    x_api_key: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> str:
    return api_key_from(authorization, x_api_key)


async def caller(request: Request, key: Annotated[str, Depends(presented_key)]) -> Identity:
    runtime = request.app.state.runtime
    identity = await keys.authenticate(runtime, key)
    limits.admit(runtime, identity)
    request.state.identity = identity
    return identity


async def admin(identity: Annotated[Identity, Depends(caller)]) -> Identity:
    if identity.role != "admin":
        raise ForbiddenError(
            f"role {identity.role!r} may not manage API keys; allowed: admin",
            required_roles=["admin"],
        )
    return identity


Admin = Annotated[Identity, Depends(admin)]
PresentedKey = Annotated[str, Depends(presented_key)]


async def operator(runtime: RuntimeDep, key: Annotated[str, Depends(presented_key)]) -> None:
    # A dependency, so a caller without the operator key learns nothing from body errors.
    keys.check_operator(runtime, key)


Operator = Annotated[None, Depends(operator)]
