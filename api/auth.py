"""Who may call what: ``Authorization: Bearer KEY``, one role per key, checked per endpoint.

401 without a (valid) key, 403 with a key whose role the endpoint does not accept. Screening
may be left open to loopback clients (``ASSAY_OPEN_SCREENING_ON_LOOPBACK``, off by default),
for a border system on the same host.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.bodies import ApiError
from api.service import service
from engine.store.keys import Identity
from engine.store.roles import Role

# Declares the scheme in OpenAPI (the "Authorize" button in /docs); checking is done below.
SECURITY: list[dict[str, list[str]]] = [{"HTTPBearer": []}]
bearer = HTTPBearer(auto_error=False, description="An Assay API key: `assay keys create`")

_LOOPBACK = {"127.0.0.1", "::1", "localhost"}
_OPEN = Identity("loopback", "screening")


def identify(request: Request, roles: tuple[Role, ...]) -> Identity:
    svc = service(request)
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        if (
            "screening" in roles
            and svc.settings.open_screening_on_loopback
            and request.client is not None
            and request.client.host in _LOOPBACK
        ):
            return _OPEN
        raise ApiError(401, "an API key is required: send Authorization: Bearer KEY")
    identity = svc.keys.identify(key.strip())
    if identity is None:
        raise ApiError(401, "this API key is unknown or revoked")
    if identity.role not in roles:
        allowed = " or ".join(roles)
        raise ApiError(403, f"this needs a {allowed} key; yours is {identity.role}")
    return identity


def optional_caller(request: Request) -> Identity | None:
    """The identity of a valid key, if the request carries one; never an error (for open
    endpoints that tell administrators more)."""
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None
    return service(request).keys.identify(key.strip())


def require(*roles: Role) -> Callable[..., Coroutine[Any, Any, Identity]]:
    """A FastAPI dependency accepting keys with one of ``roles``."""

    async def dependency(
        request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]
    ) -> Identity:
        return identify(request, roles)

    dependency.__name__ = f"require_{'_or_'.join(roles)}"
    return dependency
