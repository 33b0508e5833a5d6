"""A rule pack's reference data: named lists and values rules cite as ``ref.<file>.<key>``.

Each YAML file under ``<pack>/reference/`` is one namespace. Two files have a fixed shape
because the enrichment step reads them: ``terms.yaml`` (keyword groups, any language) and
``fx.yaml`` (USD per unit of each currency). Every file carries its ``sources``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from assay.engine.errors import AssayError, Problem
from assay.engine.parse import YamlDocument
from assay.engine.text import Exclusions, TermMatcher, normalise

RefValue = float | str | bool | tuple[str, ...] | tuple[float, ...]


@dataclass(frozen=True)
class Reference:
    """Immutable reference data of one pack."""

    namespaces: Mapping[str, Any]
    fx_usd: Mapping[str, float]
    terms: TermMatcher
    # unit_values.yaml's usd_per_kg: HS subheading (6 digits) or heading (4) -> the top of
    # the usual declared USD per kg
    usual_usd_per_kg: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))

    def lookup(self, dotted: str) -> RefValue | Mapping[str, Any] | None:
        """The value at ``file.key.key``; None if absent. Lists come back as tuples."""
        parts = dotted.split(".")
        node: Any = self.namespaces
        for part in parts:
            if not isinstance(node, Mapping) or part not in node:
                return None
            node = node[part]
        return _freeze_scalar(node)

    def keys_at(self, dotted: str) -> list[str]:
        """Keys available under a dotted prefix (for 'did you mean' hints)."""
        node: Any = self.namespaces
        for part in [p for p in dotted.split(".") if p]:
            if not isinstance(node, Mapping) or part not in node:
                return []
            node = node[part]
        return sorted(str(k) for k in node) if isinstance(node, Mapping) else []


def _freeze_scalar(node: Any) -> RefValue | Mapping[str, Any] | None:
    if isinstance(node, bool | str):
        return node
    if isinstance(node, int | float):
        return float(node)
    if isinstance(node, list | tuple):
        if all(isinstance(x, str) for x in node):
            return tuple(node)
        if all(isinstance(x, int | float) and not isinstance(x, bool) for x in node):
            return tuple(float(x) for x in node)
        return None
    if isinstance(node, Mapping):
        return node
    return None


def _deep_freeze(node: Any) -> Any:
    if isinstance(node, Mapping):
        return MappingProxyType({str(k): _deep_freeze(v) for k, v in node.items()})
    if isinstance(node, list):
        return tuple(_deep_freeze(v) for v in node)
    return node


def build_reference(documents: Mapping[str, YamlDocument]) -> Reference:
    """Reference data from parsed ``reference/*.yaml`` documents keyed by namespace."""
    problems: list[Problem] = []
    namespaces: dict[str, Any] = {}
    for name, doc in documents.items():
        if not isinstance(doc.data, dict):
            problems.append(
                doc.problem("reference_data", "a reference file must be a mapping of keys", ())
            )
            continue
        if "sources" not in doc.data:
            problems.append(
                doc.problem(
                    "reference_data",
                    "a reference file must say where its data comes from",
                    (),
                    "add a 'sources:' list of citations",
                )
            )
        namespaces[name] = doc.data

    fx: dict[str, float] = {"USD": 1.0}
    fx_doc = documents.get("fx")
    if fx_doc is not None and isinstance(fx_doc.data, dict):
        rates = fx_doc.data.get("usd_per_unit")
        if not isinstance(rates, dict):
            problems.append(
                fx_doc.problem(
                    "reference_data",
                    "fx.yaml needs 'usd_per_unit': a mapping of currency code to USD per unit",
                    (),
                )
            )
        else:
            for code, rate in rates.items():
                if isinstance(rate, bool) or not isinstance(rate, int | float) or rate <= 0:
                    problems.append(
                        fx_doc.problem(
                            "reference_data",
                            f"the rate for {code} must be a positive number",
                            ("usd_per_unit", code),
                        )
                    )
                else:
                    fx[str(code).upper()] = float(rate)

    usual = _unit_values(documents.get("unit_values"), problems)
    groups: dict[str, list[str]] = {}
    exclusions = Exclusions()
    terms_doc = documents.get("terms")
    if terms_doc is not None and isinstance(terms_doc.data, dict):
        raw_groups = terms_doc.data.get("groups")
        if not isinstance(raw_groups, dict):
            problems.append(
                terms_doc.problem(
                    "reference_data",
                    "terms.yaml needs 'groups': a mapping of group name to phrases",
                    (),
                )
            )
        else:
            for group, phrases in raw_groups.items():
                flat = _phrases(phrases)
                if flat is None:
                    problems.append(
                        terms_doc.problem(
                            "reference_data",
                            f"group '{group}' must be a list of phrases or a mapping of "
                            "language to a list of phrases",
                            ("groups", group),
                        )
                    )
                else:
                    groups[normalise(str(group))] = flat
        exclusions = _exclusions(terms_doc, problems)
    if problems:
        raise AssayError(problems)
    return Reference(
        namespaces=_deep_freeze(namespaces),
        fx_usd=MappingProxyType(fx),
        terms=TermMatcher(groups, exclusions),
        usual_usd_per_kg=MappingProxyType(usual),
    )


def _unit_values(doc: YamlDocument | None, problems: list[Problem]) -> dict[str, float]:
    """``unit_values.yaml``'s ``usd_per_kg``: HS code (4 or 6 digits) -> a positive number."""
    if doc is None or not isinstance(doc.data, dict):
        return {}
    table = doc.data.get("usd_per_kg")
    if not isinstance(table, dict):
        problems.append(
            doc.problem(
                "reference_data",
                "unit_values.yaml needs 'usd_per_kg': a mapping of HS heading (4 digits) or "
                "subheading (6 digits), quoted, to USD per kg",
                (),
            )
        )
        return {}
    out: dict[str, float] = {}
    for code, value in table.items():
        text = str(code)
        if len(text) not in (4, 6) or not text.isdigit():
            problems.append(
                doc.problem(
                    "reference_data",
                    f"'{text}' is not an HS heading (4 digits) or subheading (6 digits)",
                    ("usd_per_kg", code),
                    'quote the code: "7404": 12',
                )
            )
        elif isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            problems.append(
                doc.problem(
                    "reference_data",
                    f"the value for {text} must be a positive number of USD per kg",
                    ("usd_per_kg", code),
                )
            )
        else:
            out[text] = float(value)
    return out


def _exclusions(doc: YamlDocument, problems: list[Problem]) -> Exclusions:
    """``terms.yaml``'s optional ``exclusions:`` (see :class:`engine.text.Exclusions`)."""
    node = doc.data.get("exclusions", {})
    if not isinstance(node, dict) or set(node) - {"before", "after", "products"}:
        problems.append(
            doc.problem(
                "reference_data",
                "'exclusions' must be a mapping with 'before', 'after' and 'products', each a "
                "list of phrases or a mapping of language to a list of phrases",
                ("exclusions",),
            )
        )
        return Exclusions()
    lists: dict[str, tuple[str, ...]] = {}
    for key in ("before", "after", "products"):
        flat = _phrases(node.get(key, []))
        if flat is None:
            problems.append(
                doc.problem(
                    "reference_data",
                    f"exclusions.{key} must be a list of phrases or a mapping of language to a "
                    "list of phrases",
                    ("exclusions", key),
                )
            )
            flat = []
        lists[key] = tuple(flat)
    return Exclusions(lists["before"], lists["after"], lists["products"])


def _phrases(node: Any) -> list[str] | None:
    if isinstance(node, list) and all(isinstance(x, str) for x in node):
        return list(node)
    if isinstance(node, dict):
        out: list[str] = []
        for value in node.values():
            sub = _phrases(value)
            if sub is None:
                return None
            out += sub
        return out
    return None
