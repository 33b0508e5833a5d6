"""A labelled corpus for the detection benchmark: honest trade in three tiers and concealment
in six patterns, each in plain and harder forms.

Written from REFERENCE.md and trade knowledge (:mod:`bench.trade_figures`,
:mod:`bench.goods_catalogue`), never from the rule pack: the labels say what was put in, not
what any rule finds. Reproducible from the seed alone (``random.Random``, no clock).

Tiers (shares of the corpus):

* ``honest_ordinary`` (50 %): a wide mix of real goods as forwarders declare them, including
  the cover goods at their honest physics, declared in every unit they are declared in;
* ``honest_unusual`` (16 %): honest trade that looks odd: glass-bottled water, 20 mm porcelain
  pavers, fibreglass mannequins on metal stands, hub routing, newly registered consignors,
  controlled materials shipped with a licence;
* ``honest_hs_wording`` (10 %): honest goods described in the HS 2022 nomenclature's words;
* ``concealment`` (24 %): two cells (plain, harder) for each of the six patterns.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from bench.cover_goods import (
    MannequinDeclared,
    TileDeclared,
    WaterDeclared,
    controlled_item,
    honest_solder_item,
    mannequin_item,
    solder_item,
    tile_item,
    water_item,
)
from bench.goods_catalogue import ORDINARY, Goods
from bench.goods_lines import draw, licence_number, profile_item
from bench.hs_manifests import honest_manifest
from bench.hs_nomenclature import Subheading
from bench.shipping import (
    ESTABLISHED,
    NEWLY_REGISTERED,
    Route,
    case_style,
    destination,
    filed_at,
    hub_for,
    manifest,
    mode_for,
    party,
    port,
    region,
    route,
)
from bench.trade_figures import (
    CONTROLLED,
    COVER,
    THIRD_COUNTRIES,
    Controlled,
    Mode,
)

Json = dict[str, Any]
MannequinMaterial = Literal["plastic", "fibreglass", "unsaid"]
Tier = Literal["honest_ordinary", "honest_unusual", "honest_hs_wording", "concealment"]
Form = Literal["plain", "harder"]

PATTERNS = (
    "controlled_material",
    "false_declaration",
    "tile_blending",
    "mannequin_concealment",
    "bottled_water_concealment",
    "transshipment",
)
TIERS: tuple[Tier, ...] = ("honest_ordinary", "honest_unusual", "honest_hs_wording", "concealment")
TIER_SHARES: dict[Tier, float] = {
    "honest_ordinary": 0.50,
    "honest_unusual": 0.16,
    "honest_hs_wording": 0.10,
    "concealment": 0.24,
}
NEW_CONSIGNOR_HONEST = 0.08  # share of honest ordinary consignors registered within a year
NEW_CONSIGNOR_CONCEALMENT = 0.5  # REF §5 "newly seen exporter" (GUESS): half, not all
EXTRA_LINES = 0.4  # share of manifests with honest lines beside the first


@dataclass(frozen=True)
class Label:
    """What a manifest of the corpus is: its tier, scenario and, for concealment, pattern."""

    manifest_id: str
    tier: Tier
    scenario: str
    pattern: str | None = None
    form: Form | None = None
    young_consignor: bool = False  # registered less than a year before the filing


@dataclass
class Draft:
    """What a scenario builds a manifest from."""

    rng: random.Random
    manifest_id: str
    subheadings: list[Subheading]
    seed: int


@dataclass(frozen=True)
class Scenario:
    key: str
    tier: Tier
    build: Callable[[Draft], Json]
    pattern: str | None = None
    form: Form | None = None


# ------------------------------------------------------------------- shared assembly


def _age(rng: random.Random, new_share: float) -> tuple[int, int]:
    return NEWLY_REGISTERED if rng.random() < new_share else ESTABLISHED


def _assemble(
    d: Draft,
    *,
    route_: Route,
    consignor_country: str,
    trade: str,
    age: tuple[int, int],
    lines: list[Json],
) -> Json:
    rng = d.rng
    filed = filed_at(rng)
    for number, line in enumerate(lines, start=1):
        line["line"] = number
    return manifest(
        rng,
        manifest_id=d.manifest_id,
        filed=filed,
        route_=route_,
        consignor=party(rng, consignor_country, trade, filed, age),
        consignee=party(
            rng,
            route_.destination,
            rng.choice(("IMPORTS", "DISTRIBUTION", "TRADING", "SUPPLY")),
            filed,
            ESTABLISHED,
        ),
        items=lines,
    )


def _ordinary_line(rng: random.Random, goods: Goods, origin: str, mode: Mode) -> Json:
    name = rng.choice(goods.names)
    if rng.random() < 0.6:
        name = f"{name} {rng.choice(goods.details)}"
    name = name.replace("{po}", str(rng.randint(1000, 99999)))
    if rng.random() < 0.08:
        name = f"STC {name}"  # "said to contain", as on bills of lading
    return profile_item(
        rng,
        line=0,
        hs=rng.choice(goods.hs),
        description=case_style(rng, name),
        origin=origin,
        profile=goods.profile,
        mode=mode,
    )


def _extra_lines(rng: random.Random, origin: str, mode: Mode, exclude: str = "") -> list[Json]:
    """0-3 honest lines of goods the origin makes and the mode carries, beside the first."""
    if rng.random() >= EXTRA_LINES:
        return []
    pool = [
        g
        for g in ORDINARY
        if origin in g.profile.origins and mode in g.profile.modes and g.key != exclude
    ]
    if not pool:
        return []
    return [_ordinary_line(rng, rng.choice(pool), origin, mode) for _ in range(rng.randint(1, 3))]


def _shuffled(rng: random.Random, first: Json, others: list[Json]) -> list[Json]:
    lines = [first, *others]
    rng.shuffle(lines)
    return lines


# ---------------------------------------------------------------- honest cover goods

WATER_ORIGINS = ("TH", "FR", "IT", "MX", "CN", "VN", "FJ", "NZ", "NO", "AE", "TR", "ES")
TILE_ORIGINS = ("CN", "CN", "ES", "IT", "IN", "IN", "TR", "VN", "BR", "MX", "PL")
MANNEQUIN_ORIGINS = ("CN", "CN", "CN", "IT", "TR", "IN", "VN")
SOLDER_ORIGINS = ("CN", "JP", "US", "DE", "KR", "TW", "MY", "SG")
TILE_THICKNESSES = ("8MM", "8.5MM", "9MM", "9.5MM", "10MM", "10MM", "10.5MM", "11MM", "12MM")
PAVER_THICKNESSES = ("20MM", "20MM", "2CM", "20 MM", "X20MM")


def _pet_kg_per_litre(rng: random.Random) -> float:
    return draw(rng, COVER["water.pet_kg_per_litre"].span)


def _honest_tile_kg(rng: random.Random, thickness: str | None) -> float:
    """Porcelain at 2.3-2.6 kg/m² per mm (REF §4), kept within 18-30 kg/m² (REF §4)."""
    mm = float(thickness.rstrip("M")) if thickness else rng.uniform(8.0, 12.0)
    low, high = COVER["tile.kg_per_m2"].span
    return min(high, max(low, mm * draw(rng, COVER["tile.kg_per_m2_per_mm"].span)))


# How honest cover goods are declared (GUESS: mostly in their natural unit).
WATER_DECLARED: tuple[WaterDeclared, ...] = (
    "litres",
    "litres",
    "litres",
    "bottles",
    "cartons",
)
TILE_DECLARED: tuple[TileDeclared, ...] = ("m2", "m2", "m2", "m2", "kg", "kg", "cartons")
MANNEQUIN_DECLARED: tuple[MannequinDeclared, ...] = ("pcs", "pcs", "pcs", "pcs", "kg", "packages")


def _honest_cover_line(rng: random.Random, kind: str, origin: str, mode: Mode) -> Json:
    if kind == "water":
        return water_item(
            rng,
            line=0,
            origin=origin,
            mode=mode,
            kg_per_litre=_pet_kg_per_litre(rng),
            declared=rng.choice(WATER_DECLARED),
        )
    if kind == "tiles":
        thickness = rng.choice(TILE_THICKNESSES) if rng.random() < 0.6 else None
        return tile_item(
            rng,
            line=0,
            origin=origin,
            mode=mode,
            kg_per_m2=_honest_tile_kg(rng, thickness),
            thickness=thickness,
            declared=rng.choice(TILE_DECLARED),
        )
    if kind == "mannequins":
        return mannequin_item(
            rng,
            line=0,
            origin=origin,
            mode=mode,
            kg_per_piece=draw(rng, COVER["mannequin.plastic_kg"].span),
            material=rng.choice(("plastic", "unsaid")),
            declared=rng.choice(MANNEQUIN_DECLARED),
        )
    return honest_solder_item(rng, line=0, origin=origin, mode=mode)


_COVER_KINDS: dict[str, tuple[tuple[str, ...], tuple[Mode, ...], str]] = {
    "water": (WATER_ORIGINS, ("sea",), "BEVERAGE"),
    "tiles": (TILE_ORIGINS, ("sea",), "CERAMICS"),
    "mannequins": (MANNEQUIN_ORIGINS, ("sea", "sea", "sea", "air"), "DISPLAY"),
    "solder": (SOLDER_ORIGINS, ("air", "air", "express", "sea"), "ELECTRONIC MATERIALS"),
}


def _cover_shipment(d: Draft, kind: str, new_share: float) -> Json:
    rng = d.rng
    origins, modes, trade = _COVER_KINDS[kind]
    origin = rng.choice(origins)
    dest = destination(rng, origin)
    mode = mode_for(rng, modes, origin, dest)
    first = _honest_cover_line(rng, kind, origin, mode)
    hub = hub_for(rng, origin, dest) if mode == "sea" and rng.random() < 0.1 else None
    return _assemble(
        d,
        route_=route(rng, mode, origin, dest, hub=hub),
        consignor_country=origin,
        trade=trade,
        age=_age(rng, new_share),
        lines=_shuffled(rng, first, _extra_lines(rng, origin, mode)),
    )


# ------------------------------------------------------------------- honest ordinary


def honest_ordinary(d: Draft) -> Json:
    """One of ~100 kinds of goods, or (one in nine) a cover good at honest physics."""
    rng = d.rng
    if rng.random() < 1 / 9:
        return _cover_shipment(d, rng.choice(sorted(_COVER_KINDS)), NEW_CONSIGNOR_HONEST)
    goods = rng.choice(ORDINARY)
    origin = rng.choice(goods.profile.origins)
    dest = destination(rng, origin)
    mode = mode_for(rng, goods.profile.modes, origin, dest)
    hub = hub_for(rng, origin, dest) if mode == "sea" and rng.random() < 0.1 else None
    first = _ordinary_line(rng, goods, origin, mode)
    return _assemble(
        d,
        route_=route(rng, mode, origin, dest, hub=hub),
        consignor_country=origin,
        trade=goods.trade,
        age=_age(rng, NEW_CONSIGNOR_HONEST),
        lines=_shuffled(rng, first, _extra_lines(rng, origin, mode, goods.key)),
    )


# -------------------------------------------------------------------- honest unusual

GLASS_WATER_ORIGINS = ("FR", "IT", "IT", "DE", "GE", "BE", "AT", "SK", "HR")
PAVER_ORIGINS = ("IT", "ES", "CN", "IN", "PL", "TR")
FIBREGLASS_ORIGINS = ("CN", "CN", "IT", "TR", "IN")
EU_ORIGINS = ("DE", "FR", "IT", "AT", "CZ", "PL", "ES")


def glass_water(d: Draft) -> Json:
    """Mineral water in glass bottles: 1.4-1.8 kg per litre (REF §7)."""
    rng = d.rng
    origin = rng.choice(GLASS_WATER_ORIGINS)
    dest = destination(rng, origin)
    mode = mode_for(rng, ("sea",), origin, dest)
    first = water_item(
        rng,
        line=0,
        origin=origin,
        mode=mode,
        glass=True,
        kg_per_litre=draw(rng, COVER["water.glass_kg_per_litre"].span),
        declared=rng.choice(WATER_DECLARED),
    )
    return _assemble(
        d,
        route_=route(rng, mode, origin, dest),
        consignor_country=origin,
        trade="MINERAL WATERS",
        age=ESTABLISHED,
        lines=_shuffled(rng, first, _extra_lines(rng, origin, mode)),
    )


def thick_pavers(d: Draft) -> Json:
    """20 mm porcelain pavers at 45-50 kg/m², the thickness in the description (REF §7)."""
    rng = d.rng
    origin = rng.choice(PAVER_ORIGINS)
    dest = destination(rng, origin)
    mode = mode_for(rng, ("sea",), origin, dest)
    first = tile_item(
        rng,
        line=0,
        origin=origin,
        mode=mode,
        paver=True,
        kg_per_m2=draw(rng, COVER["tile.paver_kg_per_m2"].span),
        thickness=rng.choice(PAVER_THICKNESSES).lstrip("X"),
        declared=rng.choice(("m2", "m2", "m2", "kg")),
    )
    return _assemble(
        d,
        route_=route(rng, mode, origin, dest),
        consignor_country=origin,
        trade="CERAMICHE" if origin == "IT" else "CERAMICS",
        age=ESTABLISHED,
        lines=[first],
    )


def fibreglass_mannequins(d: Draft) -> Json:
    """Fibreglass mannequins with metal stands: 13-16 kg a piece (REF §4, §7)."""
    rng = d.rng
    origin = rng.choice(FIBREGLASS_ORIGINS)
    dest = destination(rng, origin)
    mode = mode_for(rng, ("sea", "sea", "air"), origin, dest)
    first = mannequin_item(
        rng,
        line=0,
        origin=origin,
        mode=mode,
        material="fibreglass",
        kg_per_piece=draw(rng, COVER["mannequin.fibreglass_with_stand_kg"].span),
        declared=rng.choice(MANNEQUIN_DECLARED),
    )
    return _assemble(
        d,
        route_=route(rng, mode, origin, dest),
        consignor_country=origin,
        trade="DISPLAY",
        age=ESTABLISHED,
        lines=[first],
    )


def hub_routing(d: Draft) -> Json:
    """Ordinary goods through Singapore, Busan, Panama, Rotterdam, Dubai (REF §7) or Tanjung
    Pelepas; EU goods exported from Rotterdam or Antwerp; Chinese goods declared Chinese."""
    rng = d.rng
    goods = rng.choice([g for g in ORDINARY if "sea" in g.profile.modes])
    origin = rng.choice(goods.profile.origins)
    dest = destination(rng, origin)
    while region(dest) == region(origin):
        dest = destination(rng, origin)
    if rng.random() < 0.25:
        origin = rng.choice(EU_ORIGINS)
        goods = rng.choice([g for g in ORDINARY if "sea" in g.profile.modes])
        gateway = rng.choice(("NL", "BE"))
        dest = rng.choice(("US", "CA", "JP", "KR", "AU", "BR", "IN", "AE"))
        route_ = Route(
            mode="sea",
            export_country=gateway,
            destination=dest,
            first=origin,
            port_of_loading=port(rng, gateway, "sea"),
            port_of_discharge=port(rng, dest, "sea"),
        )
    else:
        hub = hub_for(rng, origin, dest)
        route_ = route(rng, "sea", origin, dest, hub=hub, show_routing=1.0)
    first = _ordinary_line(rng, goods, origin, "sea")
    return _assemble(
        d,
        route_=route_,
        consignor_country=origin,
        trade=goods.trade,
        age=ESTABLISHED,
        lines=_shuffled(rng, first, _extra_lines(rng, origin, "sea")),
    )


def new_consignor_ordinary(d: Draft) -> Json:
    """A business registered within the year shipping ordinary goods."""
    rng = d.rng
    goods = rng.choice(ORDINARY)
    origin = rng.choice(goods.profile.origins)
    dest = destination(rng, origin)
    mode = mode_for(rng, goods.profile.modes, origin, dest)
    first = _ordinary_line(rng, goods, origin, mode)
    return _assemble(
        d,
        route_=route(rng, mode, origin, dest),
        consignor_country=origin,
        trade=goods.trade,
        age=NEWLY_REGISTERED,
        lines=_shuffled(rng, first, _extra_lines(rng, origin, mode, goods.key)),
    )


def new_consignor_cover(d: Draft) -> Json:
    """A business registered within the year shipping cover goods honestly."""
    return _cover_shipment(d, d.rng.choice(sorted(_COVER_KINDS)), 1.0)


def licensed_controlled(d: Draft) -> Json:
    """A controlled material declared as what it is, with its export licence, from a producer."""
    rng = d.rng
    material = rng.choice(CONTROLLED)
    origin = rng.choice(material.producers)
    dest = destination(rng, origin)
    mode = mode_for(rng, ("sea", "air", "air", "express"), origin, dest)
    first = controlled_item(
        rng,
        line=0,
        material=material,
        origin=origin,
        mode=mode,
        licences=[licence_number(rng, origin)],
    )
    return _assemble(
        d,
        route_=route(rng, mode, origin, dest),
        consignor_country=origin,
        trade=rng.choice(("MATERIALS", "NEW MATERIALS", "METALS")),
        age=ESTABLISHED,
        lines=[first],
    )


# ---------------------------------------------------------------- honest HS wording


def hs_wording(d: Draft) -> Json:
    """Any HS 2022 subheading, described in the nomenclature's words (bench.hs_manifests)."""
    subheading = d.rng.choice(d.subheadings)
    return honest_manifest(subheading, seed=d.seed, manifest_id=d.manifest_id)


# ------------------------------------------------------- concealment: shared pieces

# HS subheadings a controlled material hides under (REF §3 cover goods; pigments, oxides and
# mineral substances n.e.c. that a fine powder passes for: GUESS).
COVER_HEADINGS = (
    "253090",
    "281820",
    "282110",
    "281700",
    "320649",
    "381010",
    "750400",
    "790111",
    "720529",
    "690721",
)
SMUGGLER_ORIGINS = ("CN", "CN", "CN", "HK")


def _smuggler(
    d: Draft,
    *,
    origin: str,
    mode: Mode,
    dest: str | None = None,
    first: str | None = None,
    route_: Route | None = None,
    lines: list[Json],
    extra_origin: str | None = None,
) -> Json:
    rng = d.rng
    dest = dest or destination(rng, origin)
    if route_ is None:
        route_ = route(rng, mode, origin, dest, first=first)
    others = _extra_lines(rng, extra_origin or origin, mode)
    return _assemble(
        d,
        route_=route_,
        consignor_country=route_.export_country,
        trade=rng.choice(("TRADING", "MATERIALS", "IMPORT EXPORT", "SUPPLY CHAIN")),
        age=_age(rng, NEW_CONSIGNOR_CONCEALMENT),
        lines=_shuffled(rng, lines[0], [*lines[1:], *others]),
    )


def _material(rng: random.Random, keys: tuple[str, ...] = ()) -> Controlled:
    pool = [m for m in CONTROLLED if not keys or m.key in keys]
    return rng.choice(pool)


def _smuggle_mode(rng: random.Random) -> Mode:
    return rng.choice(("sea", "air", "air", "express"))


# ------------------------------------------------------------ controlled_material


def cm_declared_without_licence(d: Draft) -> Json:
    """A controlled material under its own HS code and name, no licence."""
    rng = d.rng
    material = _material(rng)
    origin = rng.choice(SMUGGLER_ORIGINS)
    mode = _smuggle_mode(rng)
    line = controlled_item(rng, line=0, material=material, origin="CN", mode=mode)
    return _smuggler(d, origin=origin, mode=mode, lines=[line], extra_origin="CN")


def _cover_price(rng: random.Random, material: Controlled) -> float:
    """What a hidden controlled material is valued at: its price, or the cover's (half each)."""
    return draw(rng, material.usd_per_kg) if rng.random() < 0.5 else rng.uniform(1.0, 30.0)


def cm_named_under_cover_heading(d: Draft) -> Json:
    """A controlled material named in English under a cover heading, no licence."""
    rng = d.rng
    material = _material(rng)
    mode = _smuggle_mode(rng)
    line = controlled_item(
        rng,
        line=0,
        material=material,
        origin="CN",
        mode=mode,
        hs=rng.choice(COVER_HEADINGS),
        usd_per_kg=_cover_price(rng, material),
    )
    return _smuggler(
        d, origin=rng.choice(SMUGGLER_ORIGINS), mode=mode, lines=[line], extra_origin="CN"
    )


def cm_foreign_name_under_cover_heading(d: Draft) -> Json:
    """The name in Chinese, German, French, Spanish or Russian, under a cover heading."""
    rng = d.rng
    material = _material(rng)
    mode = _smuggle_mode(rng)
    name = rng.choice(material.foreign)
    if rng.random() < 0.4:
        name = f"{name} {rng.choice(('99.5%', '99.99%', '4N', '25KG', '粉末', 'POWDER'))}"
    line = controlled_item(
        rng,
        line=0,
        material=material,
        origin="CN",
        mode=mode,
        hs=rng.choice(COVER_HEADINGS),
        description=name,
        usd_per_kg=_cover_price(rng, material),
    )
    return _smuggler(
        d, origin=rng.choice(SMUGGLER_ORIGINS), mode=mode, lines=[line], extra_origin="CN"
    )


_FORMULA_MATERIALS = (
    "dysprosium_oxide",
    "terbium_oxide",
    "gadolinium_oxide",
    "lutetium_oxide",
    "scandium_oxide",
    "yttrium_oxide",
    "germanium_dioxide",
    "antimony_trioxide",
    "samarium_cobalt_magnets",
)


def cm_formula_under_cover_heading(d: Draft) -> Json:
    """Only the chemical formula names it ("DY2O3 99.5%"), under a cover heading."""
    rng = d.rng
    material = _material(rng, _FORMULA_MATERIALS)
    mode = _smuggle_mode(rng)
    text = f"{material.formula} {rng.choice(('99.5%', '99.9%', '4N', 'POWDER', 'MIN 99%'))}"
    line = controlled_item(
        rng,
        line=0,
        material=material,
        origin="CN",
        mode=mode,
        hs=rng.choice(COVER_HEADINGS),
        description=text,
        usd_per_kg=_cover_price(rng, material),
    )
    return _smuggler(
        d, origin=rng.choice(SMUGGLER_ORIGINS), mode=mode, lines=[line], extra_origin="CN"
    )


# --------------------------------------------------------------- false_declaration


def _solder_lot(rng: random.Random, mode: Mode) -> float:
    return {"express": rng.uniform(2.0, 40.0), "air": rng.uniform(50.0, 800.0)}.get(
        mode, rng.uniform(400.0, 8000.0)
    )


def fd_solder_bulk_drums(d: Draft) -> Json:
    """ "Solder paste" in 200-250 kg drums (shared/examples/solder-bulk.json)."""
    rng = d.rng
    mode: Mode = rng.choice(("sea", "air"))
    net = max(400.0, _solder_lot(rng, mode))
    line = solder_item(
        rng,
        line=0,
        origin="CN",
        mode=mode,
        net_kg=net,
        package="DR",
        per_package_kg=rng.uniform(200.0, 250.0),
        jar_note=False,
        usd_per_kg=rng.uniform(20.0, 80.0),
    )
    return _smuggler(
        d, origin=rng.choice(SMUGGLER_ORIGINS), mode=mode, lines=[line], extra_origin="CN"
    )


def fd_solder_denser_than_paste(d: Draft) -> Json:
    """ "Solder paste" declared in litres at 6-8 kg per litre (paste ~4.1, REF §4; Dy2O3 7.8)."""
    rng = d.rng
    mode = _smuggle_mode(rng)
    line = solder_item(
        rng,
        line=0,
        origin="CN",
        mode=mode,
        net_kg=_solder_lot(rng, mode),
        per_package_kg=rng.uniform(10.0, 25.0),
        kg_per_litre=rng.uniform(6.0, 8.0),
    )
    return _smuggler(
        d, origin=rng.choice(SMUGGLER_ORIGINS), mode=mode, lines=[line], extra_origin="CN"
    )


def fd_solder_priced_like_rare_earth(d: Draft) -> Json:
    """ "Solder paste" in jars at $250-3,000/kg: a rare-earth oxide's price (REF §4)."""
    rng = d.rng
    mode = _smuggle_mode(rng)
    line = solder_item(
        rng,
        line=0,
        origin="CN",
        mode=mode,
        net_kg=_solder_lot(rng, mode),
        per_package_kg=0.5 * rng.randint(10, 40),
        usd_per_kg=draw(rng, (250.0, 3000.0)),
    )
    return _smuggler(
        d, origin=rng.choice(SMUGGLER_ORIGINS), mode=mode, lines=[line], extra_origin="CN"
    )


def _metal_line(
    rng: random.Random,
    *,
    hs: str,
    names: tuple[str, ...],
    package: str,
    mode: Mode,
    usd_per_kg: float,
    max_gross: float,
) -> Json:
    material = Controlled(
        key="relabelled",
        hs=hs,
        names=names,
        foreign=(),
        formula="",
        usd_per_kg=(usd_per_kg, usd_per_kg),
        producers=("CN",),
        package=package,
        source="",
    )
    return controlled_item(
        rng, line=0, material=material, origin="CN", mode=mode, max_gross=max_gross
    )


def fd_nickel_powder_express(d: Draft) -> Json:
    """ "Nickel powder" from China by express at rare-earth prices (REF §3 [S24])."""
    rng = d.rng
    mode: Mode = rng.choice(("express", "express", "air"))
    line = _metal_line(
        rng,
        hs="750400",
        names=("NICKEL POWDER", "Nickel powder 99.9%", "NI POWDER 200 MESH"),
        package="BX",
        mode=mode,
        usd_per_kg=draw(rng, (200.0, 3000.0)),
        max_gross=200.0,
    )
    return _smuggler(d, origin="CN", mode=mode, lines=[line])


_COMMON_COVERS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("790111", ("ZINC INGOTS", "Zinc ingot 99.995%"), "PX"),
    ("720529", ("IRON POWDER", "Reduced iron powder"), "BG"),
    ("750400", ("NICKEL POWDER", "Nickel powder"), "DR"),
    ("740400", ("COPPER SCRAP", "Copper wire scrap"), "JB"),
    ("760310", ("ALUMINIUM POWDER",), "DR"),
    ("321310", ("ART SUPPLIES - ARTISTS COLOURS SET",), "CT"),  # REF §3 [S26] "art supplies"
)


def fd_relabelled_common_metal(d: Draft) -> Json:
    """A controlled metal filed as a common one at $200-5,000/kg (zinc ~$3/kg, REF §3 [S26])."""
    rng = d.rng
    hs, names, package = rng.choice(_COMMON_COVERS)
    mode: Mode = rng.choice(("sea", "air", "air", "express"))
    line = _metal_line(
        rng,
        hs=hs,
        names=names,
        package=package,
        mode=mode,
        usd_per_kg=draw(rng, (200.0, 5000.0)),
        max_gross=3000.0,
    )
    return _smuggler(
        d, origin=rng.choice(SMUGGLER_ORIGINS), mode=mode, lines=[line], extra_origin="CN"
    )


def fd_nickel_powder_moderate(d: Draft) -> Json:
    """ "Nickel powder" at $90-200/kg: 2-4 times real powder (REF-independent, GUESS)."""
    rng = d.rng
    mode: Mode = rng.choice(("express", "air", "sea"))
    line = _metal_line(
        rng,
        hs="750400",
        names=("NICKEL POWDER", "Nickel powder fine"),
        package="DR",
        mode=mode,
        usd_per_kg=rng.uniform(90.0, 200.0),
        max_gross=2000.0,
    )
    return _smuggler(d, origin="CN", mode=mode, lines=[line])


def fd_solder_in_pails(d: Draft) -> Json:
    """ "Solder paste" in 20-30 kg pails: more than any jar or cartridge, less than a drum."""
    rng = d.rng
    mode: Mode = rng.choice(("sea", "air"))
    line = solder_item(
        rng,
        line=0,
        origin="CN",
        mode=mode,
        net_kg=max(100.0, _solder_lot(rng, mode)),
        package="PL",
        per_package_kg=rng.uniform(20.0, 30.0),
        jar_note=False,
        usd_per_kg=rng.uniform(20.0, 120.0),
    )
    return _smuggler(
        d, origin=rng.choice(SMUGGLER_ORIGINS), mode=mode, lines=[line], extra_origin="CN"
    )


# --------------------------------------------------------------------- tile_blending


def _tile_smuggle(
    d: Draft,
    *,
    kg_per_m2: float,
    thickness: str | None,
    declared: TileDeclared,
    usd_per_kg: float | None,
    porcelain_kg_per_m2: float,
    paver: bool = False,
) -> Json:
    rng = d.rng
    origin = rng.choice(("CN", "CN", "CN", "VN", "MY"))
    line = tile_item(
        rng,
        line=0,
        origin=origin,
        mode="sea",
        kg_per_m2=kg_per_m2,
        thickness=thickness,
        declared=declared,
        usd_per_kg=usd_per_kg,
        paver=paver,
        porcelain_kg_per_m2=porcelain_kg_per_m2,
    )
    return _smuggler(d, origin=origin, mode="sea", lines=[line])


def _tile_price(rng: random.Random, porcelain_kg: float, kg: float) -> float:
    """Per kg, what the tiles would fetch per m² spread over the heavier mass."""
    return draw(rng, COVER["tile.usd_per_kg"].span) * porcelain_kg / kg


def tb_heavy(d: Draft) -> Json:
    """Tiles at 38-70 kg/m² at 8-12 mm (or no thickness said); value per m² a tile's."""
    rng = d.rng
    kg = rng.uniform(38.0, 70.0)
    thickness = rng.choice(TILE_THICKNESSES) if rng.random() < 0.6 else None
    porcelain = _honest_tile_kg(rng, thickness)
    return _tile_smuggle(
        d,
        kg_per_m2=kg,
        thickness=thickness,
        declared="m2",
        usd_per_kg=_tile_price(rng, porcelain, kg),
        porcelain_kg_per_m2=porcelain,
    )


def tb_valuable(d: Draft) -> Json:
    """Tiles of ordinary mass at $3-60/kg: the oxide in them is paid for (REF §4 rule idea)."""
    rng = d.rng
    thickness = rng.choice(TILE_THICKNESSES) if rng.random() < 0.6 else None
    porcelain = _honest_tile_kg(rng, thickness)
    return _tile_smuggle(
        d,
        kg_per_m2=porcelain,
        thickness=thickness,
        declared="m2",
        usd_per_kg=draw(rng, (3.0, 60.0)),
        porcelain_kg_per_m2=porcelain,
    )


def tb_by_weight(d: Draft) -> Json:
    """Tiles declared in kg or cartons, the m² only in the description, at 40-70 kg/m²."""
    rng = d.rng
    kg = rng.uniform(40.0, 70.0)
    thickness = rng.choice(TILE_THICKNESSES)
    porcelain = _honest_tile_kg(rng, thickness)
    return _tile_smuggle(
        d,
        kg_per_m2=kg,
        thickness=thickness,
        declared=rng.choice(("kg", "kg", "cartons")),
        usd_per_kg=_tile_price(rng, porcelain, kg),
        porcelain_kg_per_m2=porcelain,
    )


def tb_claimed_thick(d: Draft) -> Json:
    """ "20MM" pavers at 58-80 kg/m²: beyond what 20 mm porcelain weighs (REF §7: 45-50)."""
    rng = d.rng
    kg = rng.uniform(58.0, 80.0)
    porcelain = draw(rng, COVER["tile.paver_kg_per_m2"].span)
    return _tile_smuggle(
        d,
        kg_per_m2=kg,
        thickness=rng.choice(PAVER_THICKNESSES).lstrip("X"),
        declared="m2",
        paver=True,
        usd_per_kg=_tile_price(rng, porcelain, kg),
        porcelain_kg_per_m2=porcelain,
    )


def tb_modest_blend(d: Draft) -> Json:
    """Tiles said to be 8 mm at 32-42 kg/m² (8 mm porcelain weighs ~20, REF §4)."""
    rng = d.rng
    kg = rng.uniform(32.0, 42.0)
    thickness = rng.choice(("8MM", "7MM", "8.5MM"))
    porcelain = _honest_tile_kg(rng, thickness)
    return _tile_smuggle(
        d,
        kg_per_m2=kg,
        thickness=thickness,
        declared="m2",
        usd_per_kg=_tile_price(rng, porcelain, kg),
        porcelain_kg_per_m2=porcelain,
    )


# -------------------------------------------------------------- mannequin_concealment


def _mannequin_smuggle(
    d: Draft, *, kg: float, material: MannequinMaterial, declared: MannequinDeclared
) -> Json:
    rng = d.rng
    origin = rng.choice(("CN", "CN", "CN", "VN", "HK"))
    mode: Mode = rng.choice(("sea", "sea", "air"))
    line = mannequin_item(
        rng,
        line=0,
        origin=origin,
        mode=mode,
        kg_per_piece=kg,
        material=material,
        declared=declared,
        usd_per_kg=draw(rng, COVER["mannequin.usd_per_kg"].span) * 10.0 / kg,
    )
    return _smuggler(d, origin=origin, mode=mode, lines=[line])


def mc_heavy_pieces(d: Draft) -> Json:
    """Mannequins declared in pieces at 25-80 kg each (fibreglass with stand ~15, REF §4)."""
    rng = d.rng
    return _mannequin_smuggle(
        d, kg=rng.uniform(25.0, 80.0), material=rng.choice(("plastic", "unsaid")), declared="pcs"
    )


def mc_by_weight(d: Draft) -> Json:
    """Declared in kg, the piece count only in the packages or the description."""
    rng = d.rng
    return _mannequin_smuggle(
        d, kg=rng.uniform(25.0, 70.0), material=rng.choice(("plastic", "unsaid")), declared="kg"
    )


def mc_by_package(d: Draft) -> Json:
    """Declared in packages only, one or two a carton, 25-70 kg a piece."""
    rng = d.rng
    return _mannequin_smuggle(
        d,
        kg=rng.uniform(25.0, 70.0),
        material=rng.choice(("plastic", "unsaid")),
        declared="packages",
    )


def mc_plastic_moderately_heavy(d: Draft) -> Json:
    """Plastic mannequins at 18-25 kg a piece: heavier than any plastic one (6-12, REF §4)."""
    return _mannequin_smuggle(d, kg=d.rng.uniform(18.0, 25.0), material="plastic", declared="pcs")


# ---------------------------------------------------------- bottled_water_concealment


def _water_smuggle(d: Draft, *, kg_per_litre: float, declared: WaterDeclared) -> Json:
    rng = d.rng
    origin = rng.choice(("CN", "TH", "VN", "MY", "HK"))
    line = water_item(
        rng,
        line=0,
        origin=origin,
        mode="sea",
        kg_per_litre=kg_per_litre,
        declared=declared,
        usd_per_kg=draw(rng, COVER["water.usd_per_kg"].span) / kg_per_litre,
    )
    return _smuggler(d, origin=origin, mode="sea", lines=[line])


def bw_heavy_litres(d: Draft) -> Json:
    """PET water declared in litres at 1.9-3.5 kg per litre (water ~1.0; REF §4)."""
    return _water_smuggle(d, kg_per_litre=d.rng.uniform(1.9, 3.5), declared="litres")


def bw_heavy_bottles(d: Draft) -> Json:
    """Declared in bottles, the size only in the description, at 1.9-3.5 kg per litre."""
    return _water_smuggle(d, kg_per_litre=d.rng.uniform(1.9, 3.5), declared="bottles")


def bw_heavy_cartons(d: Draft) -> Json:
    """Declared in cartons only ("24X500ML"), at 1.9-3.5 kg per litre."""
    return _water_smuggle(d, kg_per_litre=d.rng.uniform(1.9, 3.5), declared="cartons")


def bw_pet_as_heavy_as_glass(d: Draft) -> Json:
    """PET water at 1.3-1.8 kg per litre: glass-bottle weight, but the bottles are PET."""
    return _water_smuggle(d, kg_per_litre=d.rng.uniform(1.3, 1.8), declared="litres")


# --------------------------------------------------------------------- transshipment

_TS_MATERIALS = (
    "antimony_trioxide",
    "antimony_ingots",
    "gallium_metal",
    "germanium_metal",
    "tungsten_bars",
    "tungsten_apt",
    "dysprosium_oxide",
    "terbium_oxide",
    "ndfeb_dy_magnets",
    "flake_graphite",
    "spherical_graphite",
)
_TS_ORDINARY = (
    "solar_panels",
    "aluminium_profiles",
    "steel_pipes",
    "plywood",
    "wood_furniture",
    "tyres",
    "ebikes",
    "galvanised",
    "li_batteries",
)


def _third_country(rng: random.Random, material: Controlled | None = None) -> str:
    makers = set(material.producers) if material else set()
    return rng.choice([c for c in THIRD_COUNTRIES if c not in makers])


def _ts_goods(rng: random.Random, controlled: bool, mode: Mode) -> tuple[str, Json]:
    """A third-country origin and a line of goods declared of it: a controlled material
    (never of a country that makes it) or ordinary goods that are often transshipped."""
    if controlled:
        material = _material(rng, _TS_MATERIALS)
        origin = _third_country(rng, material)
        return origin, controlled_item(rng, line=0, material=material, origin=origin, mode=mode)
    key = rng.choice(_TS_ORDINARY)
    goods = next(g for g in ORDINARY if g.key == key)
    origin = _third_country(rng)
    return origin, _ordinary_line(rng, goods, origin, mode)


def ts_through_third_country(d: Draft) -> Json:
    """Declared of Thai, Mexican, Vietnamese... origin; the routing starts in China (REF §5)."""
    rng = d.rng
    controlled = rng.random() < 0.5
    mode: Mode = "sea" if not controlled else rng.choice(("sea", "air"))
    origin, line = _ts_goods(rng, controlled, mode)
    dest = destination(rng, origin)
    route_ = route(rng, mode, origin, dest, first="CN", show_routing=1.0)
    return _smuggler(d, origin=origin, mode=mode, route_=route_, lines=[line])


def ts_exported_from_china(d: Draft) -> Json:
    """Declared of a third country's origin, exported from and loaded in China."""
    rng = d.rng
    controlled = rng.random() < 0.5
    mode: Mode = "sea" if not controlled else rng.choice(("sea", "air"))
    _, line = _ts_goods(rng, controlled, mode)
    return _smuggler(d, origin="CN", mode=mode, dest=destination(rng, "CN"), lines=[line])


def ts_antimony_thai_mexican(d: Draft) -> Json:
    """Antimony declared of Thai or Mexican origin, shipped straight from there (REF §5:
    neither mines antimony; Reuters Jul 2025)."""
    rng = d.rng
    material = _material(rng, ("antimony_trioxide", "antimony_ingots"))
    origin = rng.choice(("TH", "MX"))
    dest = "US" if rng.random() < 0.7 else destination(rng, origin)
    mode = mode_for(rng, ("sea",), origin, dest)
    line = controlled_item(rng, line=0, material=material, origin=origin, mode=mode)
    return _smuggler(d, origin=origin, mode=mode, dest=dest, lines=[line])


def ts_routing_hidden(d: Draft) -> Json:
    """Third-country origin and exporter, no routing given; only the port of loading is
    Chinese."""
    rng = d.rng
    origin, line = _ts_goods(rng, rng.random() < 0.5, "sea")
    dest = destination(rng, origin)
    route_ = route(rng, "sea", origin, dest, loading_country="CN", show_routing=0.0)
    return _smuggler(d, origin=origin, mode="sea", route_=route_, lines=[line])


_IMPLAUSIBLE = (
    "gallium_metal",
    "germanium_metal",
    "germanium_dioxide",
    "dysprosium_oxide",
    "terbium_oxide",
    "lutetium_oxide",
    "tungsten_bars",
    "spherical_graphite",
    "samarium_cobalt_magnets",
)


def ts_implausible_origin(d: Draft) -> Json:
    """A controlled material of a country that makes none of it, shipped straight from there
    (REF §5: origin inconsistent with the country's capability)."""
    rng = d.rng
    material = _material(rng, _IMPLAUSIBLE)
    origin = _third_country(rng, material)
    dest = destination(rng, origin)
    mode = mode_for(rng, ("sea", "air", "air"), origin, dest)
    line = controlled_item(rng, line=0, material=material, origin=origin, mode=mode)
    return _smuggler(d, origin=origin, mode=mode, dest=dest, lines=[line])


# ----------------------------------------------------------------------- the corpus

SCENARIOS: tuple[Scenario, ...] = (
    Scenario("ordinary", "honest_ordinary", honest_ordinary),
    Scenario("glass_bottled_water", "honest_unusual", glass_water),
    Scenario("porcelain_pavers_20mm", "honest_unusual", thick_pavers),
    Scenario("fibreglass_mannequins_stand", "honest_unusual", fibreglass_mannequins),
    Scenario("hub_routing", "honest_unusual", hub_routing),
    Scenario("new_consignor_ordinary", "honest_unusual", new_consignor_ordinary),
    Scenario("new_consignor_cover_goods", "honest_unusual", new_consignor_cover),
    Scenario("licensed_controlled", "honest_unusual", licensed_controlled),
    Scenario("hs_2022_wording", "honest_hs_wording", hs_wording),
    Scenario(
        "declared_without_licence",
        "concealment",
        cm_declared_without_licence,
        "controlled_material",
        "plain",
    ),
    Scenario(
        "named_under_cover_heading",
        "concealment",
        cm_named_under_cover_heading,
        "controlled_material",
        "plain",
    ),
    Scenario(
        "foreign_name_under_cover_heading",
        "concealment",
        cm_foreign_name_under_cover_heading,
        "controlled_material",
        "harder",
    ),
    Scenario(
        "formula_under_cover_heading",
        "concealment",
        cm_formula_under_cover_heading,
        "controlled_material",
        "harder",
    ),
    Scenario(
        "solder_bulk_drums", "concealment", fd_solder_bulk_drums, "false_declaration", "plain"
    ),
    Scenario(
        "solder_denser_than_paste",
        "concealment",
        fd_solder_denser_than_paste,
        "false_declaration",
        "plain",
    ),
    Scenario(
        "solder_priced_like_rare_earth",
        "concealment",
        fd_solder_priced_like_rare_earth,
        "false_declaration",
        "plain",
    ),
    Scenario(
        "nickel_powder_express",
        "concealment",
        fd_nickel_powder_express,
        "false_declaration",
        "plain",
    ),
    Scenario(
        "relabelled_common_metal",
        "concealment",
        fd_relabelled_common_metal,
        "false_declaration",
        "harder",
    ),
    Scenario(
        "nickel_powder_moderate_price",
        "concealment",
        fd_nickel_powder_moderate,
        "false_declaration",
        "harder",
    ),
    Scenario("solder_in_pails", "concealment", fd_solder_in_pails, "false_declaration", "harder"),
    Scenario("tiles_heavy", "concealment", tb_heavy, "tile_blending", "plain"),
    Scenario("tiles_valuable", "concealment", tb_valuable, "tile_blending", "plain"),
    Scenario("tiles_by_weight", "concealment", tb_by_weight, "tile_blending", "harder"),
    Scenario("tiles_claimed_20mm", "concealment", tb_claimed_thick, "tile_blending", "harder"),
    Scenario("tiles_modest_blend_8mm", "concealment", tb_modest_blend, "tile_blending", "harder"),
    Scenario(
        "mannequins_heavy_pieces", "concealment", mc_heavy_pieces, "mannequin_concealment", "plain"
    ),
    Scenario(
        "mannequins_by_weight", "concealment", mc_by_weight, "mannequin_concealment", "harder"
    ),
    Scenario(
        "mannequins_by_package", "concealment", mc_by_package, "mannequin_concealment", "harder"
    ),
    Scenario(
        "plastic_mannequins_18_25kg",
        "concealment",
        mc_plastic_moderately_heavy,
        "mannequin_concealment",
        "harder",
    ),
    Scenario(
        "water_heavy_litres", "concealment", bw_heavy_litres, "bottled_water_concealment", "plain"
    ),
    Scenario(
        "water_heavy_bottles",
        "concealment",
        bw_heavy_bottles,
        "bottled_water_concealment",
        "harder",
    ),
    Scenario(
        "water_heavy_cartons",
        "concealment",
        bw_heavy_cartons,
        "bottled_water_concealment",
        "harder",
    ),
    Scenario(
        "pet_water_glass_weight",
        "concealment",
        bw_pet_as_heavy_as_glass,
        "bottled_water_concealment",
        "harder",
    ),
    Scenario(
        "through_third_country", "concealment", ts_through_third_country, "transshipment", "plain"
    ),
    Scenario(
        "exported_from_china", "concealment", ts_exported_from_china, "transshipment", "plain"
    ),
    Scenario(
        "antimony_thai_mexican", "concealment", ts_antimony_thai_mexican, "transshipment", "plain"
    ),
    Scenario(
        "routing_hidden_chinese_port", "concealment", ts_routing_hidden, "transshipment", "harder"
    ),
    Scenario("implausible_origin", "concealment", ts_implausible_origin, "transshipment", "harder"),
)
SCENARIO_BY_KEY = {s.key: s for s in SCENARIOS}


def scenario_weights() -> dict[str, float]:
    """Each scenario's share of the corpus: its tier's share split evenly over the tier's
    scenarios; concealment split evenly over the twelve (pattern, form) cells first."""
    weights: dict[str, float] = {}
    for tier in TIERS:
        members = [s for s in SCENARIOS if s.tier == tier]
        if tier != "concealment":
            for s in members:
                weights[s.key] = TIER_SHARES[tier] / len(members)
            continue
        cells = sorted({(s.pattern, s.form) for s in members}, key=str)
        for cell in cells:
            in_cell = [s for s in members if (s.pattern, s.form) == cell]
            for s in in_cell:
                weights[s.key] = TIER_SHARES[tier] / len(cells) / len(in_cell)
    return weights


def allocate(total: int) -> dict[str, int]:
    """Whole manifest counts per scenario summing to ``total`` (largest remainders)."""
    weights = scenario_weights()
    exact = {key: weight * total for key, weight in weights.items()}
    counts = {key: int(value) for key, value in exact.items()}
    short = total - sum(counts.values())
    for key in sorted(exact, key=lambda k: (counts[k] - exact[k], k))[:short]:
        counts[key] += 1
    return counts


def generate(total: int, seed: int, subheadings: list[Subheading]) -> list[tuple[Json, Label]]:
    """``total`` manifests in shuffled order, each with its label. The same arguments give the
    same corpus, byte for byte, on any machine."""
    plan = [key for key, count in allocate(total).items() for _ in range(count)]
    random.Random(f"detection-order:{seed}").shuffle(plan)
    corpus: list[tuple[Json, Label]] = []
    for index, key in enumerate(plan):
        scenario = SCENARIO_BY_KEY[key]
        manifest_id = f"DET{seed}-{index + 1:06d}"
        draft = Draft(random.Random(f"detection:{seed}:{index}"), manifest_id, subheadings, seed)
        built = scenario.build(draft)
        label = Label(
            manifest_id,
            scenario.tier,
            key,
            scenario.pattern,
            scenario.form,
            young_consignor=_young(built),
        )
        corpus.append((built, label))
    return corpus


def _young(manifest: Json) -> bool:
    filed = date.fromisoformat(manifest["filed_at"][:10])
    established = date.fromisoformat(manifest["consignor"]["established_on"])
    return (filed - established).days < 365
