"""Enrichment: the plain views rules read, with derived features computed once.

A manifest becomes one manifest view and one view per goods item: plain dicts keyed by
the catalogue's keys (:mod:`engine.fields`). Text is normalised (:func:`engine.text.normalise`),
numbers are floats, sets are frozensets, and anything unknown is ``None`` — a missing
field, a ratio whose divisor is missing or zero, a currency the pack has no rate for.

Only what a ruleset reads is computed: feature groups it does not use are skipped, free-text
party fields are normalised only when a rule reads them, and the text work on a description
(normalising, keyword groups, thickness) is cached per distinct description.
"""

from __future__ import annotations

import math
from datetime import date
from typing import TYPE_CHECKING, Any

from engine.contracts import GoodsItem, Manifest, Party
from engine.fields import BY_PATH
from engine.text import normalise, thickness_mm

if TYPE_CHECKING:
    from engine.ruleset import RuleSet

View = dict[str, Any]
_TEXT_CACHE_LIMIT = 200_000
_NO_TERMS: frozenset[str] = frozenset()


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator``, or None when either is missing, the divisor is zero,
    or the result is not a finite number."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    result = numerator / denominator
    return result if math.isfinite(result) else None


def _age(party: Party | None, on: date) -> float | None:
    if party is None or party.established_on is None:
        return None
    return float((on - party.established_on).days)


_PARTY_TEXT = ("name", "address", "identifier")


class Enricher:
    """Builds views for one ruleset: its reference data and the fields its rules read."""

    def __init__(self, ruleset: RuleSet) -> None:
        reference = ruleset.reference
        self._fx = reference.fx_usd
        self._terms = reference.terms
        groups = ruleset.groups
        self._ratios = "ratios" in groups
        self._money = "money" in groups
        self._want_terms = "terms" in groups
        self._thickness = "thickness" in groups
        self._routing = "routing" in groups
        reads = {path for rule in ruleset.rules for path in rule.reads}
        # Free text on the manifest is normalised only when some rule reads it.
        self._manifest_text = tuple(
            BY_PATH[path].key
            for path in sorted(reads)
            if path.startswith("manifest.") and BY_PATH[path].group == "text"
        )
        self._texts: dict[str, tuple[str, frozenset[str], float | None]] = {}

    def _text(self, raw: str) -> tuple[str, frozenset[str], float | None]:
        """Normalised description, its keyword groups and its stated thickness (cached)."""
        found = self._texts.get(raw)
        if found is None:
            text = normalise(raw)
            found = (
                text,
                self._terms.match(text) if self._want_terms else _NO_TERMS,
                thickness_mm(text) if self._thickness else None,
            )
            if len(self._texts) >= _TEXT_CACHE_LIMIT:
                self._texts.clear()
            self._texts[raw] = found
        return found

    def enrich(self, manifest: Manifest, today: date) -> tuple[View, list[View]]:
        """The manifest view and the item views, in item order.

        ``today`` is the reference date for ages when the manifest has no ``filed_at``.
        """
        routing = manifest.countries_of_routing
        items = manifest.items
        consignor, consignee = manifest.consignor, manifest.consignee
        notify = manifest.notify_party
        m: View = {
            "manifest_id": manifest.manifest_id,
            "transport_mode": manifest.transport_mode.upper(),
            "country_of_export": manifest.country_of_export,
            "destination_country": manifest.destination_country,
            "port_of_loading": manifest.port_of_loading,
            "port_of_discharge": manifest.port_of_discharge,
            "countries_of_routing": frozenset(routing),
            "item_count": float(len(items)),
            "consignor.country": consignor.country,
            "consignee.country": consignee.country,
            "notify_party.country": notify.country if notify is not None else None,
        }
        for key in self._manifest_text:
            m[key] = self._manifest_free_text(manifest, key)
        if self._routing:
            on = manifest.filed_at.date() if manifest.filed_at is not None else today
            m["routing_first"] = routing[0] if routing else None
            m["routing_last"] = routing[-1] if routing else None
            m["routing_length"] = float(len(routing))
            m["consignor_age_days"] = _age(consignor, on)
            m["consignee_age_days"] = _age(consignee, on)
            pol = manifest.port_of_loading
            m["port_of_loading_country"] = pol[:2] if pol else None
        views = [self._item(item, manifest.country_of_export, routing) for item in items]
        total = 0.0
        for item in items:
            total += item.gross_mass_kg
        m["total_gross_mass_kg"] = total
        if self._money:
            values = [view["value_usd"] for view in views]
            m["total_value_usd"] = None if None in values else math.fsum(values)
        return m, views

    @staticmethod
    def _manifest_free_text(manifest: Manifest, key: str) -> str | None:
        if key in ("carrier", "transport_document"):
            raw = getattr(manifest, key)
        else:
            role, _, attribute = key.partition(".")
            party = getattr(manifest, role)
            raw = getattr(party, attribute) if party is not None else None
        return normalise(raw) if raw is not None else None

    def _item(self, item: GoodsItem, export: str, routing: tuple[str, ...]) -> View:
        # Start from the validated fields (a C-level dict copy), then normalise and derive.
        v: View = dict(item.__dict__)
        gross: float = v["gross_mass_kg"]
        description, terms, thickness = self._text(v["description"])
        hs: str = v["hs_code"]
        unit: str | None = v["quantity_unit"]
        packages = v["packages"]
        if packages is not None:
            packages = v["packages"] = float(packages)
        licences = v["licences"]
        licences = frozenset(normalise(x) for x in licences) if licences else _NO_TERMS
        containers = v["containers"]
        origin: str = v["origin_country"]
        v["line"] = float(v["line"])
        v["hs2"] = hs[:2]
        v["hs4"] = hs[:4]
        v["hs6"] = hs[:6]
        v["description"] = description
        v["quantity_unit"] = unit.upper() if unit is not None else None
        v["containers"] = frozenset(containers) if containers else _NO_TERMS
        v["licences"] = licences
        v["licence_count"] = float(len(licences))
        v["terms"] = terms
        v["thickness_mm"] = thickness
        if self._ratios:
            quantity = v["quantity"]
            per_unit = _finite(gross / quantity) if quantity else None
            v["kg_per_litre"] = per_unit if unit == "l" else None
            v["kg_per_m2"] = per_unit if unit == "m2" else None
            v["kg_per_piece"] = per_unit if unit == "pcs" else None
            v["kg_per_package"] = _finite(gross / packages) if packages else None
            volume = v["volume_m3"]
            v["density_kg_per_litre"] = _finite(gross / (volume * 1000.0)) if volume else None
            net = v["net_mass_kg"]
            v["net_share"] = net / gross if net is not None else None
        if self._money:
            rate = self._fx.get(v["currency"])
            value = v["value"]
            value_usd = _finite(value * rate) if value is not None and rate is not None else None
            v["value_usd"] = value_usd
            mass = v["net_mass_kg"] or gross
            v["usd_per_kg"] = _finite(value_usd / mass) if value_usd is not None else None
        if self._routing:
            v["origin_differs_from_export"] = origin != export
            v["routing_starts_outside_origin"] = routing[0] != origin if routing else None
            v["origin_in_routing"] = origin in routing if routing else None
        return v


def _finite(value: float) -> float | None:
    return value if -_INF < value < _INF else None


_INF = math.inf
