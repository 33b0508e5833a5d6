"""What every kind of rule file holds in common: the id and pattern formats, the example
patches (a ``manifest`` and ``item``/``items`` over the pack's base manifest), and schema
errors turned into problems at file:line:col. Manifest rules (:mod:`engine.ruleset`) and
correlation rules (:mod:`engine.correlation.language`) both read their files with these.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assay.engine import limits
from assay.engine.errors import Problem
from assay.engine.parse import YamlDocument

RULE_ID = r"^[a-z0-9][a-z0-9-]{2,63}$"
PATTERN = r"^[a-z][a-z0-9_]{1,63}$"


class ExamplePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = None
    manifest: dict[str, Any] = Field(default_factory=dict)
    item: dict[str, Any] = Field(default_factory=dict)
    items: Annotated[list[dict[str, Any]], Field(max_length=limits.MAX_EXAMPLE_ITEMS)] | None = None


PATTERN_WORDS = {
    "id": "a rule id is 3 to 64 lower-case letters, digits and '-', e.g. 'water-pet-too-heavy'",
    "pattern": "a pattern is lower-case letters, digits and '_', e.g. 'tile_blending'",
    "name": "a pack name is lower-case letters, digits, '.', '_' and '-'",
    "window": "a duration is a whole number of hours or days, e.g. '48h' or '14d'",
    "baseline": "a duration is a whole number of hours or days, e.g. '90d'",
    "history": "a duration is a whole number of hours or days, e.g. '365d'",
    "warm_up": "a warm-up is a whole number of hours or days, e.g. '90d' (or '0d': none)",
}


_BOUNDS = {
    "hit": "MAX_EXAMPLES",
    "miss": "MAX_EXAMPLES",
    "items": "MAX_EXAMPLE_ITEMS",
    "manifests": "MAX_EXAMPLE_MANIFESTS",
}


def pydantic_problems(
    doc: YamlDocument, exc: ValidationError, prefix: tuple[str | int, ...] = ()
) -> list[Problem]:
    problems = []
    for error in exc.errors():
        loc = tuple(prefix) + tuple(error["loc"])
        where = ".".join(str(x) for x in loc) or "the file"
        if error["type"] == "extra_forbidden":
            key_path = (*loc, "__key__")
            message = f"unknown field '{loc[-1]}'"
            problems.append(
                doc.problem("rule_schema", message, key_path if key_path in doc.spans else loc)
            )
            continue
        message = f"{where}: {error['msg']}"
        if error["type"] == "too_long" and loc[-1] in _BOUNDS:
            bound = _BOUNDS[str(loc[-1])]
            problems.append(doc.problem("limit_exceeded", f"{message} ({bound})", loc))
            continue
        if error["type"] == "string_pattern_mismatch" and loc[-1] in PATTERN_WORDS:
            message = f"{where}: {PATTERN_WORDS[str(loc[-1])]}, not {error['input']!r}"
        if error["type"] == "missing":
            message = f"missing required field '{where}'"
        problems.append(doc.problem("rule_schema", message, loc))
    return problems


def deep_merge(base: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        elif value is None:
            out.pop(key, None)
        else:
            out[key] = copy.deepcopy(value)
    return out


def build_example_manifest(base: Mapping[str, Any], example: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest an example describes: ``manifest`` and ``item``/``items`` patches over
    the pack's base manifest (a ``null`` in a patch removes the field)."""
    manifest = deep_merge(dict(base), example.get("manifest") or {})
    base_item = dict(base["items"][0])
    if example.get("items"):
        manifest["items"] = [
            deep_merge(base_item, {"line": n, **patch})
            for n, patch in enumerate(example["items"], start=1)
        ]
    else:
        manifest["items"] = [deep_merge(base_item, example.get("item") or {})]
    return manifest


def example_path(
    where: tuple[str | int, ...], loc: tuple[str | int, ...], raw: Mapping[str, Any]
) -> tuple[str | int, ...]:
    if loc[:1] == ("items",) and len(loc) >= 2:
        rest = loc[2:]
        if raw.get("items"):
            return (*where, "items", loc[1], *rest)
        return (*where, "item", *rest)
    return (*where, "manifest", *loc)
