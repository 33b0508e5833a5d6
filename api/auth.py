"""Who may call what: ``Authorization: Bearer KEY``, one role per key, checked per endpoint.

401 without a (valid) key, 403 with a key whose role the endpoint does not accept (recorded
in the audit trail). Screening may be left open to loopback clients
(``ASSAY_OPEN_SCREENING_ON_LOOPBACK``, off by default), for a border system on the same host.
Keys are checked from a few-second cache on the event loop, or in a worker thread when the
database must be asked.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from assay.api.bodies import ApiError
from assay.api.service import service
from assay.engine.store.keys import Identity
from assay.engine.store.roles import Role

# Declares the scheme in OpenAPI (the "Authorize" button in /docs); checking is done below.
SECURITY: list[dict[str, list[str]]] = [{"HTTPBearer": []}]
bearer = HTTPBearer(auto_error=False, description="An Assay API key: `assay keys create`")

_LOOPBACK = {"127.0.0.1", "::1", "localhost"}
_OPEN = Identity("loopback", "screening")
_OPEN_PATHS = frozenset({"/v1/screen", "/v1/screen/batch"})


def _bearer(request: Request) -> str | None:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    key = key.strip()
    return key if scheme.lower() == "bearer" and key else None


async def authenticate(request: Request) -> Identity:
    """The caller's identity: 401 without a key or with an unknown or revoked one. Loopback
    clients may screen without a key when the service is configured so. A key is looked up
    in the few-second cache on the event loop, else in the database from a worker thread."""
    key = _bearer(request)
    svc = service(request)
    if key is None:
        if (
            svc.settings.open_screening_on_loopback
            and request.url.path in _OPEN_PATHS
            and request.client is not None
            and request.client.host in _LOOPBACK
        ):
            return _OPEN
        raise ApiError(401, "an API key is required: send Authorization: Bearer KEY")
    hit, identity = svc.keys.cached(key)
    if not hit:
        identity = await run_in_threadpool(svc.keys.identify, key)
    if identity is None:
        raise ApiError(401, "this API key is unknown or revoked")
    return identity


async def authorize(request: Request, roles: tuple[Role, ...]) -> Identity:
    """:func:`authenticate`, then 403 (recorded in the audit trail) for a role not in
    ``roles``. The identity a middleware already checked is reused."""
    identity: Identity | None = request.scope.get("assay.identity")
    if identity is None:
        identity = await authenticate(request)
    if identity.role in roles:
        return identity
    keys = service(request).keys
    await run_in_threadpool(keys.note_refusal, identity, request.method, request.url.path, roles)
    allowed = " or ".join(roles)
    raise ApiError(403, f"this needs a {allowed} key; yours is {identity.role}")


def optional_caller(request: Request) -> Identity | None:
    """The identity of a valid key, if the request carries one; never an error (for open
    endpoints that tell administrators more; call it from a worker thread)."""
    key = _bearer(request)
    return service(request).keys.identify(key) if key is not None else None


def require(*roles: Role) -> Callable[..., Coroutine[Any, Any, Identity]]:
    """A FastAPI dependency accepting keys with one of ``roles``."""

    async def dependency(
        request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]
    ) -> Identity:
        return await authorize(request, roles)

    dependency.__name__ = f"require_{'_or_'.join(roles)}"
    return dependency
