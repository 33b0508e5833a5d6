"""/v1/keys: API keys, for administrators."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, field_validator

from assay.api.auth import require
from assay.api.bodies import ApiError, RecordId
from assay.api.service import Service, service
from assay.engine.store.keys import Identity
from assay.engine.store.people import MAX_NAME_CHARS, name_problem
from assay.engine.store.roles import Role

router = APIRouter(tags=["keys"])
Admin = Annotated[Identity, Depends(require("admin"))]


class NewKey(BaseModel):
    role: Role
    name: Annotated[
        str,
        Field(
            min_length=1,
            max_length=MAX_NAME_CHARS,
            description="Who holds it: a person's name (compared case- and space-insensitively "
            "for four-eyes review), without control or markup characters.",
        ),
    ]

    @field_validator("name")
    @classmethod
    def _holder(cls, name: str) -> str:
        problem = name_problem(name)
        if problem is not None:
            raise ValueError(problem)
        return name


class CreatedKey(BaseModel):
    key: str = Field(description="Shown once: store it now.")
    role: Role
    name: str


class KeyView(BaseModel):
    id: int
    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None


@router.get("/v1/keys", response_model=list[KeyView], summary="Every key (never the key itself)")
def keys(svc: Annotated[Service, Depends(service)], _: Admin) -> list[KeyView]:
    return [KeyView(**info.__dict__) for info in svc.keys.all()]


@router.post("/v1/keys", response_model=CreatedKey, status_code=201, summary="Create a key")
def create(new: NewKey, svc: Annotated[Service, Depends(service)], who: Admin) -> CreatedKey:
    key = svc.keys.create(new.role, new.name, by=who)
    return CreatedKey(key=key, role=new.role, name=new.name)


@router.delete("/v1/keys/{key_id}", status_code=204, summary="Revoke a key")
def revoke(key_id: RecordId, svc: Annotated[Service, Depends(service)], who: Admin) -> None:
    if not svc.keys.revoke(key_id, by=who):
        raise ApiError(404, f"no active key {key_id}")
