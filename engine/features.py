"""Enrichment: the plain views rules read, with derived features computed once.

A manifest becomes one manifest view and one view per goods item: plain dicts keyed by
the catalogue's keys (:mod:`engine.fields`). Text is normalised (:func:`engine.text.normalise`),
numbers are floats, sets are frozensets, and anything unknown is ``None`` — a missing
field, a ratio whose divisor is missing or zero, a currency the pack has no rate for.
Only the feature groups a ruleset reads are computed.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from datetime import date
from typing import Any

from engine.contracts import GoodsItem, Manifest, Party
from engine.fields import Group
from engine.reference import Reference
from engine.text import normalise, thickness_mm

View = dict[str, Any]


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator``, or None when either is missing, the divisor is zero,
    or the result is not a finite number."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    result = numerator / denominator
    return result if math.isfinite(result) else None


def _text(value: str | None) -> str | None:
    return None if value is None else normalise(value)


def _party(view: View, role: str, party: Party | None) -> None:
    if party is None:
        view[f"{role}.name"] = view[f"{role}.address"] = None
        view[f"{role}.country"] = view[f"{role}.identifier"] = None
        return
    view[f"{role}.name"] = normalise(party.name)
    view[f"{role}.address"] = _text(party.address)
    view[f"{role}.country"] = party.country
    view[f"{role}.identifier"] = _text(party.identifier)


def _age(party: Party | None, on: date) -> float | None:
    if party is None or party.established_on is None:
        return None
    return float((on - party.established_on).days)


class Enricher:
    """Builds views for one ruleset: its reference data and the feature groups it reads."""

    def __init__(self, reference: Reference, groups: Collection[Group]) -> None:
        self._reference = reference
        self._fx = reference.fx_usd
        self._terms = reference.terms
        self._groups = frozenset(groups)
        self._ratios = "ratios" in self._groups
        self._money = "money" in self._groups
        self._want_terms = "terms" in self._groups
        self._thickness = "thickness" in self._groups
        self._routing = "routing" in self._groups

    @property
    def groups(self) -> frozenset[Group]:
        return self._groups

    def enrich(self, manifest: Manifest, today: date) -> tuple[View, list[View]]:
        """The manifest view and the item views, in item order.

        ``today`` is the reference date for ages when the manifest has no ``filed_at``.
        """
        on = manifest.filed_at.date() if manifest.filed_at is not None else today
        routing = manifest.countries_of_routing
        m: View = {
            "manifest_id": manifest.manifest_id,
            "transport_mode": manifest.transport_mode.upper(),
            "transport_document": _text(manifest.transport_document),
            "carrier": _text(manifest.carrier),
            "country_of_export": manifest.country_of_export,
            "destination_country": manifest.destination_country,
            "port_of_loading": manifest.port_of_loading,
            "port_of_discharge": manifest.port_of_discharge,
            "countries_of_routing": frozenset(routing),
            "item_count": float(len(manifest.items)),
        }
        _party(m, "consignor", manifest.consignor)
        _party(m, "consignee", manifest.consignee)
        _party(m, "notify_party", manifest.notify_party)
        if self._routing:
            m["routing_first"] = routing[0] if routing else None
            m["routing_last"] = routing[-1] if routing else None
            m["routing_length"] = float(len(routing))
            m["consignor_age_days"] = _age(manifest.consignor, on)
            m["consignee_age_days"] = _age(manifest.consignee, on)
            pol = manifest.port_of_loading
            m["port_of_loading_country"] = pol[:2] if pol else None
        items = [self._item(item, manifest, routing) for item in manifest.items]
        total = 0.0
        for item in manifest.items:
            total += item.gross_mass_kg
        m["total_gross_mass_kg"] = total
        if self._money:
            values = [view["value_usd"] for view in items]
            m["total_value_usd"] = None if None in values else math.fsum(values)
        return m, items

    def _item(self, item: GoodsItem, manifest: Manifest, routing: tuple[str, ...]) -> View:
        gross = item.gross_mass_kg
        description = normalise(item.description)
        hs = item.hs_code
        unit = item.quantity_unit.upper() if item.quantity_unit is not None else None
        packages = float(item.packages) if item.packages is not None else None
        licences = frozenset(normalise(x) for x in item.licences) if item.licences else frozenset()
        v: View = {
            "line": float(item.line),
            "hs_code": hs,
            "hs2": hs[:2],
            "hs4": hs[:4],
            "hs6": hs[:6],
            "description": description,
            "origin_country": item.origin_country,
            "quantity": item.quantity,
            "quantity_unit": unit,
            "packages": packages,
            "package_type": item.package_type,
            "gross_mass_kg": gross,
            "net_mass_kg": item.net_mass_kg,
            "volume_m3": item.volume_m3,
            "value": item.value,
            "currency": item.currency,
            "containers": frozenset(item.containers),
            "licences": licences,
            "licence_count": float(len(licences)),
        }
        if self._ratios:
            quantity = item.quantity
            v["kg_per_litre"] = ratio(gross, quantity) if unit == "L" else None
            v["kg_per_m2"] = ratio(gross, quantity) if unit == "M2" else None
            v["kg_per_piece"] = ratio(gross, quantity) if unit == "PCS" else None
            v["kg_per_package"] = ratio(gross, packages)
            volume = item.volume_m3
            v["density_kg_per_litre"] = ratio(gross, volume * 1000.0) if volume else None
            v["net_share"] = ratio(item.net_mass_kg, gross)
        if self._money:
            rate = self._fx.get(item.currency)
            value_usd = item.value * rate if item.value is not None and rate is not None else None
            if value_usd is not None and not math.isfinite(value_usd):
                value_usd = None
            v["value_usd"] = value_usd
            v["usd_per_kg"] = ratio(value_usd, item.net_mass_kg or gross)
        if self._want_terms:
            v["terms"] = self._terms.match(description)
        if self._thickness:
            v["thickness_mm"] = thickness_mm(description)
        if self._routing:
            origin = item.origin_country
            v["origin_differs_from_export"] = origin != manifest.country_of_export
            v["routing_starts_outside_origin"] = routing[0] != origin if routing else None
            v["origin_in_routing"] = origin in routing if routing else None
        return v
