"""OpenAPI that shows the real contracts, although handlers read raw bodies for speed.

Handlers validate bodies themselves (``model_validate_json``), so FastAPI does not see the
request models; this module declares them: the schemas go into ``components``, each route
names its request body and examples (the sample manifests shipped in ``fixtures/samples``).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from assay.engine.contracts import ErrorLine, Manifest, ScreeningResult
from assay.engine.inspections import Inspection

_REF = "#/components/schemas/{model}"


@cache
def sample_manifests() -> dict[str, dict[str, Any]]:
    """The shipped sample manifests, by file stem."""
    folder = resources.files("assay.fixtures").joinpath("samples")
    return {
        entry.name.removesuffix(".json"): json.loads(entry.read_text(encoding="utf-8"))
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".json")
    }


def json_body(schema: dict[str, Any], examples: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` for a route whose JSON request body is ``schema``."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": schema,
                    "examples": {name: {"value": value} for name, value in examples.items()},
                }
            },
        }
    }


def manifest_body() -> dict[str, Any]:
    return json_body({"$ref": _REF.format(model="Manifest")}, sample_manifests())


def batch_body(limit: int) -> dict[str, Any]:
    samples = list(sample_manifests().values())
    return json_body(
        {"type": "array", "items": {"$ref": _REF.format(model="Manifest")}, "maxItems": limit},
        {"samples": samples},
    )


def install(app: FastAPI) -> None:
    """Generate the schema once, with the contract models in ``components``."""
    models: list[tuple[type[BaseModel], Any]] = [
        (Manifest, "validation"),
        (ScreeningResult, "serialization"),
        (ErrorLine, "serialization"),
        (Inspection, "validation"),
    ]

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        _, definitions = models_json_schema(models, ref_template=_REF)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name, definition in definitions.get("$defs", {}).items():
            components.setdefault(name, definition)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
