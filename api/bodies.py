"""Request bodies and error answers: 413, 415 and 422 with a JSON body that names the field.

Handlers read the raw body once and validate it with ``model_validate_json``: FastAPI's own
body-model path costs several times more (``docs/`` and the FastAPI field notes), and doing
it here keeps its error shape: ``{"detail": [{"type", "loc", "msg", "input"}]}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import orjson
from fastapi import Path, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.requests import ClientDisconnect

# A stored record's id in a path: bounded, so a huge number is a 422, not a database overflow.
RecordId = Annotated[int, Path(ge=1, le=2**53, description="The record's id.")]
# The HTTP status of each kind of GovernanceError, for the API's answers and the workbench's.
GOVERNANCE_STATUS = {"not_found": 404, "forbidden": 403, "conflict": 409, "invalid": 422}


class ApiError(Exception):
    """An error answer: HTTP status and a human ``detail``; for a 422, ``errors`` in
    FastAPI's shape (``type``, ``loc``, ``msg``) replace it, naming each field."""

    def __init__(
        self, status: int, detail: str, errors: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors

    @classmethod
    def invalid(cls, loc: list[str | int], message: str) -> ApiError:
        """A 422 about one field."""
        return cls(422, message, [{"type": "value_error", "loc": loc, "msg": message}])

    def body(self) -> dict[str, Any]:
        return {"detail": self.errors if self.errors is not None else self.detail}


def json_response(
    content: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(content), status, headers, media_type="application/json")


async def read_json_body(request: Request, limit: int) -> bytes:
    """The body, after checking it is JSON (415) and not larger than ``limit`` bytes (413)."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise ApiError(415, f"Content-Type must be application/json, not {media_type or 'none'!r}")
    declared = request.headers.get("content-length")
    try:
        if declared is not None and declared.isdigit():
            if int(declared) > limit:
                raise ApiError(413, f"the request body is larger than {limit} bytes")
            return await request.body()  # the server stops at Content-Length
        chunks: list[bytes] = []  # chunked: count while reading
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ApiError(413, f"the request body is larger than {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        # The client hung up, or the server closed a body that did not arrive in time: no one
        # reads an answer, and a traceback per such request would let anyone flood the log.
        raise ApiError(400, "the connection closed before the whole body arrived") from None
    return b"".join(chunks)


def _echo(value: Any) -> tuple[bool, Any]:
    """Whether to echo an invalid input back, and as what: small JSON values only."""
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("utf-8", errors="replace")
    try:
        encoded = orjson.dumps(value)
    except TypeError:
        return False, None
    return len(encoded) <= 256, value


def validation_detail(
    exc: ValidationError, prefix: tuple[str | int, ...] = ("body",)
) -> list[dict[str, Any]]:
    """Pydantic errors in FastAPI's 422 shape; large inputs are not echoed back."""
    detail = []
    for error in exc.errors(include_url=False):
        entry: dict[str, Any] = {
            "type": error["type"],
            "loc": [*prefix, *error["loc"]],
            "msg": error["msg"],
        }
        if "input" in error:
            echo, value = _echo(error["input"])
            if echo:
                entry["input"] = value
        if error.get("ctx"):
            entry["ctx"] = {k: str(v) for k, v in error["ctx"].items()}
        detail.append(entry)
    return detail


def validation_response(exc: ValidationError) -> Response:
    return json_response({"detail": validation_detail(exc)}, 422)
