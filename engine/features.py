"""Enrichment: the plain views rules read, with derived features computed at most once.

A manifest becomes one manifest view and one view per goods item: plain dicts keyed by
the catalogue's keys (:mod:`engine.fields`). Text is normalised (:func:`engine.text.normalise`),
numbers are floats, sets are frozensets, and anything unknown is ``None`` — a missing
field, a ratio whose divisor is missing or zero, a currency the pack has no rate for.

Only what is read is computed: an item's derived features are computed on first read
(:class:`ItemView`), manifest feature groups a ruleset does not use are skipped, free-text
party fields are normalised only when a rule reads them, and the text work on a description
(normalising, keyword groups, thickness) is cached per distinct description.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

from assay.engine.contracts import GoodsItem, Manifest, Party
from assay.engine.fields import BY_PATH
from assay.engine.text import bottle_litres, normalise, pieces_written, thickness_mm

if TYPE_CHECKING:
    from assay.engine.ruleset import RuleSet

View = dict[str, Any]
_TEXT_CACHE_LIMIT = 200_000
_NO_TERMS: frozenset[str] = frozenset()


def _age(party: Party | None, on: date) -> float | None:
    if party is None or party.established_on is None:
        return None
    return float((on - party.established_on).days)


_PARTY_TEXT = ("name", "address", "identifier")


class Enricher:
    """Builds views for one ruleset: its reference data and the fields its rules read."""

    def __init__(self, ruleset: RuleSet, reads: Iterable[str] | None = None) -> None:
        """Views for the ruleset's rules; or, given ``reads``, for conditions that read
        exactly those field paths (the correlation rules' ``each``)."""
        reference = ruleset.reference
        self._fx = reference.fx_usd
        self._usual = reference.usual_usd_per_kg
        self._terms = reference.terms
        if reads is None:
            groups = ruleset.groups
            reads = {path for rule in ruleset.rules for path in rule.reads}
        else:
            reads = set(reads)
            groups = frozenset(BY_PATH[path].group for path in reads)
        self._want_terms = "terms" in groups
        self._thickness = "thickness" in groups
        self._routing = "routing" in groups
        self._total_value = "manifest.total_value_usd" in reads
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
        if self._total_value:  # reads every item's value, so only when a rule needs it
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
        view = ItemView(item.__dict__)  # the validated fields, copied at C speed
        for key in _RAW:  # these are only read normalised, computed on demand
            del view[key]
        # Every item's description and keyword groups are read (the index routes on them):
        # one cache lookup gives all three text features.
        view["description"], view["terms"], view["thickness_mm"] = self._text(item.description)
        view.source = item
        view.fx = self._fx
        view.usual = self._usual
        view.export = export
        view.routing = routing
        return view


class ItemView(dict[str, Any]):
    """A goods item's view: declared fields up front, the rest computed on first read.

    Most items reach one or two rules, which read a few features; computing every derived
    feature of every item would cost more than evaluating them. A read of a key that is not
    there computes it from the declared fields (``__missing__``) and keeps it. Evaluators,
    the explainer and the rete fact writer read with ``view[key]``.
    """

    __slots__ = ("export", "fx", "routing", "source", "usual")
    source: GoodsItem
    fx: Mapping[str, float]
    usual: Mapping[str, float]
    export: str
    routing: tuple[str, ...]

    def __missing__(self, key: str) -> Any:
        compute = _DERIVED.get(key)
        if compute is None:
            raise KeyError(key)
        value = compute(self)
        self[key] = value
        return value


_RAW = ("quantity_unit", "containers", "licences")


def _finite(value: float) -> float | None:
    return value if -_INF < value < _INF else None


_INF = math.inf


def _per_unit(v: ItemView, unit: str) -> float | None:
    quantity = v.source.quantity
    if v.source.quantity_unit != unit or not quantity:
        return None
    return _finite(v.source.gross_mass_kg / quantity)


def _kg_per_litre(v: ItemView) -> float | None:
    """Per litre declared, else per litre written: bottles (unit PCS) of the size in the
    description, or packages of ``24X500ML``."""
    declared = _per_unit(v, "l")
    if declared is not None or v.source.quantity_unit == "l":
        return declared
    size, per_pack = bottle_litres(v["description"])
    if size is None:
        return None
    if v.source.quantity_unit == "pcs" and per_pack is None and v.source.quantity:
        return _finite(v.source.gross_mass_kg / (v.source.quantity * size))
    if per_pack is not None and v.source.packages and v.source.quantity_unit != "pcs":
        return _finite(v.source.gross_mass_kg / (v.source.packages * per_pack * size))
    return None


def _kg_per_piece(v: ItemView) -> float | None:
    """Per piece declared, else per piece written: ``481 PCS``, or ``2PC/CTN`` x packages."""
    declared = _per_unit(v, "pcs")
    if declared is not None or v.source.quantity_unit == "pcs":
        return declared
    total, per_package = pieces_written(v["description"])
    if total is not None:
        return _finite(v.source.gross_mass_kg / total)
    if per_package is not None and v.source.packages:
        return _finite(v.source.gross_mass_kg / (v.source.packages * per_package))
    return None


def _kg_per_package(v: ItemView) -> float | None:
    packages = v.source.packages
    return _finite(v.source.gross_mass_kg / packages) if packages else None


def _density(v: ItemView) -> float | None:
    volume = v.source.volume_m3
    return _finite(v.source.gross_mass_kg / (volume * 1000.0)) if volume else None


def _net_share(v: ItemView) -> float | None:
    net = v.source.net_mass_kg
    return net / v.source.gross_mass_kg if net is not None else None


def _value_usd(v: ItemView) -> float | None:
    rate = v.fx.get(v.source.currency)
    value = v.source.value
    return _finite(value * rate) if value is not None and rate is not None else None


def _usd_per_kg(v: ItemView) -> float | None:
    value_usd = v["value_usd"]
    if value_usd is None:
        return None
    return _finite(value_usd / (v.source.net_mass_kg or v.source.gross_mass_kg))


def _usual_usd_per_kg(v: ItemView) -> float | None:
    code = v.source.hs_code
    return v.usual.get(code[:6]) or v.usual.get(code[:4])


def _licences(v: ItemView) -> frozenset[str]:
    licences = v.source.licences
    return frozenset(normalise(x) for x in licences) if licences else _NO_TERMS


def _routing_starts_outside_origin(v: ItemView) -> bool | None:
    return v.routing[0] != v.source.origin_country if v.routing else None


def _origin_in_routing(v: ItemView) -> bool | None:
    return v.source.origin_country in v.routing if v.routing else None


_DERIVED: dict[str, Any] = {
    "hs2": lambda v: v.source.hs_code[:2],
    "hs4": lambda v: v.source.hs_code[:4],
    "hs6": lambda v: v.source.hs_code[:6],
    "quantity_unit": lambda v: v.source.quantity_unit.upper() if v.source.quantity_unit else None,
    "containers": lambda v: frozenset(v.source.containers),
    "licences": _licences,
    "licence_count": lambda v: float(len(v["licences"])),
    "kg_per_litre": _kg_per_litre,
    "kg_per_m2": lambda v: _per_unit(v, "m2"),
    "kg_per_piece": _kg_per_piece,
    "kg_per_package": _kg_per_package,
    "density_kg_per_litre": _density,
    "net_share": _net_share,
    "value_usd": _value_usd,
    "usd_per_kg": _usd_per_kg,
    "usual_usd_per_kg": _usual_usd_per_kg,
    "origin_differs_from_export": lambda v: v.source.origin_country != v.export,
    "routing_starts_outside_origin": _routing_starts_outside_origin,
    "origin_in_routing": _origin_in_routing,
}
