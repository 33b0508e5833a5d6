"""/v1/keys: API keys, for administrators."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from api.auth import require
from api.bodies import ApiError, RecordId
from api.service import Service, service
from engine.store.roles import Role

router = APIRouter(tags=["keys"], dependencies=[Depends(require("admin"))])


class NewKey(BaseModel):
    role: Role
    name: Annotated[str, Field(min_length=1, max_length=64, description="Who holds it.")]


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
def keys(svc: Annotated[Service, Depends(service)]) -> list[KeyView]:
    return [KeyView(**info.__dict__) for info in svc.keys.all()]


@router.post("/v1/keys", response_model=CreatedKey, status_code=201, summary="Create a key")
def create(new: NewKey, svc: Annotated[Service, Depends(service)]) -> CreatedKey:
    return CreatedKey(key=svc.keys.create(new.role, new.name), role=new.role, name=new.name)


@router.delete("/v1/keys/{key_id}", status_code=204, summary="Revoke a key")
def revoke(key_id: RecordId, svc: Annotated[Service, Depends(service)]) -> None:
    if not svc.keys.revoke(key_id):
        raise ApiError(404, f"no active key {key_id}")
