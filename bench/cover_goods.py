"""Goods items for the cover goods of REF §3 (bottled water, ceramic tiles, mannequins, solder
paste) and for controlled materials, with their physics as parameters.

The same builders make honest lines (PET water at 1.03-1.12 kg per litre, 10 mm tiles at
18-30 kg/m²...) and concealment lines (water at 2.5 kg per litre, tiles at 60 kg/m²...): the
benchmark says which physics it passes, the builder writes the line a forwarder would file for
it, declared in litres, bottles or cartons, square metres or kilograms, pieces or packages.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Literal

from bench.goods_lines import draw, item
from bench.shipping import LOT_GROSS_KG, case_style, containers, currency_for
from bench.trade_figures import COVER, Controlled, Mode, Unit

Json = dict[str, Any]
WaterDeclared = Literal["litres", "bottles", "cartons"]
TileDeclared = Literal["m2", "kg", "cartons"]
MannequinDeclared = Literal["pcs", "kg", "packages"]


def _lot(rng: random.Random, mode: Mode) -> float:
    return draw(rng, LOT_GROSS_KG[mode])


# ------------------------------------------------------------------------------ water


@dataclass(frozen=True)
class Bottling:
    litres: float  # per bottle
    per_case: int
    label: str  # as written: 500ML, 1.5L, 75CL, 33CL


PET_BOTTLINGS = (
    Bottling(0.33, 24, "330ML"),
    Bottling(0.5, 24, "500ML"),
    Bottling(0.55, 24, "550ML"),
    Bottling(0.6, 24, "600ML"),
    Bottling(1.5, 12, "1.5L"),
    Bottling(1.5, 6, "1.5L"),
    Bottling(2.0, 6, "2L"),
    Bottling(5.0, 4, "5L"),
    Bottling(0.5, 20, "50CL"),
)
GLASS_BOTTLINGS = (
    Bottling(0.75, 12, "750ML"),
    Bottling(0.75, 12, "75CL"),
    Bottling(0.33, 24, "33CL"),
    Bottling(0.25, 24, "250ML"),
    Bottling(1.0, 6, "1L"),
    Bottling(0.5, 20, "500ML"),
)
_PET_NAMES = (
    "DRINKING WATER",
    "Natural mineral water",
    "PURIFIED DRINKING WATER",
    "SPRING WATER",
    "Bottled water still",
)
_GLASS_NAMES = (
    "NATURAL MINERAL WATER",
    "Sparkling mineral water",
    "MINERAL WATER STILL",
    "Carbonated natural mineral water",
)


def water_item(
    rng: random.Random,
    *,
    line: int,
    origin: str,
    mode: Mode,
    kg_per_litre: float,
    glass: bool = False,
    declared: WaterDeclared = "litres",
    usd_per_kg: float | None = None,
) -> Json:
    """Bottled water at ``kg_per_litre`` gross, declared in litres, in bottles (pieces) or
    in cartons only (the bottle size then only in the description)."""
    bottling = rng.choice(GLASS_BOTTLINGS if glass else PET_BOTTLINGS)
    cases = max(1, round(_lot(rng, mode) / (bottling.litres * bottling.per_case * kg_per_litre)))
    bottles = cases * bottling.per_case
    litres = bottles * bottling.litres
    gross = litres * kg_per_litre
    name = rng.choice(_GLASS_NAMES if glass else _PET_NAMES)
    material = "GLASS BOTTLES" if glass else rng.choice(("PET", "PET BOTTLES", "IN PET"))
    pack = rng.choice(
        (
            f"{bottling.per_case}X{bottling.label}",
            f"{bottling.label} X {bottling.per_case}",
            f"{bottling.label} {bottling.per_case} BOTTLES/CTN",
        )
    )
    description = case_style(rng, f"{name} {pack} {material}")
    hs = "220110" if glass or "MINERAL" in name.upper() else rng.choice(("220190", "220110"))
    # The cases take the room honest water would: volume from the bottles, not the mass.
    honest_kg = (
        litres
        * (COVER["water.glass_kg_per_litre"] if glass else COVER["water.pet_kg_per_litre"]).low
    )
    volume = honest_kg / draw(rng, COVER["water.stowage_kg_per_m3"].span)
    price = (
        usd_per_kg
        if usd_per_kg is not None
        else draw(
            rng, (COVER["water.glass_usd_per_kg"] if glass else COVER["water.usd_per_kg"]).span
        )
    )
    quantity: float | None = None
    unit: Unit | None = None
    if declared == "litres":
        quantity, unit = litres, "l"
    elif declared == "bottles":
        quantity, unit = float(bottles), "pcs"
    net = gross * rng.uniform(0.9, 0.97)
    return item(
        line=line,
        hs=hs,
        description=description,
        origin=origin,
        gross=gross,
        net=net,
        usd=net * price,
        currency=currency_for(rng, origin),
        quantity=quantity,
        unit=unit,
        packages=cases,
        package_type="CT",
        volume=volume,
        container_ids=containers(rng, mode, gross),
    )


# ------------------------------------------------------------------------------ tiles


@dataclass(frozen=True)
class TileFormat:
    label: str  # 600X600
    m2_per_piece: float
    pieces_per_carton: int  # at ~10 mm


TILE_FORMATS = (
    TileFormat("600X600", 0.36, 4),
    TileFormat("300X600", 0.18, 8),
    TileFormat("600X1200", 0.72, 2),
    TileFormat("800X800", 0.64, 3),
    TileFormat("300X300", 0.09, 11),
    TileFormat("400X400", 0.16, 6),
)
_TILE_NAMES = (
    ("PORCELAIN FLOOR TILES", "690721"),
    ("Polished porcelain tiles", "690721"),
    ("GLAZED PORCELAIN TILES", "690721"),
    ("CERAMIC WALL TILES", "690722"),
    ("Glazed ceramic floor tiles", "690722"),
    ("CERAMIC WALL TILES", "690723"),
)
_PAVER_NAMES = ("OUTDOOR PORCELAIN PAVERS", "Porcelain pavers R11", "PORCELAIN TILES OUTDOOR")


def tile_item(
    rng: random.Random,
    *,
    line: int,
    origin: str,
    mode: Mode,
    kg_per_m2: float,
    thickness: str | None,
    declared: TileDeclared = "m2",
    usd_per_kg: float | None = None,
    paver: bool = False,
    porcelain_kg_per_m2: float | None = None,
) -> Json:
    """Ceramic tiles at ``kg_per_m2`` gross, their thickness written as ``thickness`` ("10MM",
    "2CM") or not at all, declared in m², in kg, or in cartons only.

    ``porcelain_kg_per_m2`` is what plain porcelain of the tiles' real size weighs: the
    cartons take the room that sets (default ``kg_per_m2``: the tiles are what they seem)."""
    shape = rng.choice(TILE_FORMATS[:4] if paver else TILE_FORMATS)
    per_carton = max(1, shape.pieces_per_carton // 2) if paver else shape.pieces_per_carton
    m2_per_carton = shape.m2_per_piece * per_carton
    cartons = max(1, round(_lot(rng, mode) / (m2_per_carton * kg_per_m2)))
    m2 = cartons * m2_per_carton
    gross = m2 * kg_per_m2
    if paver:
        name, hs = rng.choice(_PAVER_NAMES), "690721"
    else:
        name, hs = rng.choice(_TILE_NAMES)
    size = rng.choice((f"{shape.label}MM", shape.label, f"{shape.label.replace('X', '*')}MM"))
    if thickness is not None:
        size = (
            f"{shape.label}X{thickness}"
            if rng.random() < 0.3 and thickness.endswith("MM")
            else f"{size} {thickness}"
        )
    packing = ""
    if declared != "m2" or rng.random() < 0.4:
        packing = f" {per_carton}PCS/CTN {m2_per_carton:.2f}SQM/CTN"
    description = case_style(rng, f"{name} {size}{packing}")
    price = usd_per_kg if usd_per_kg is not None else draw(rng, COVER["tile.usd_per_kg"].span)
    net = gross * rng.uniform(0.95, 0.985)
    quantity: float | None = None
    unit: Unit | None = None
    if declared == "m2":
        quantity, unit = m2, "m2"
    elif declared == "kg":
        quantity, unit = net, "kg"
    # Volume as the cartons take it: from the tiles' real thickness, not the mass they hide.
    seeming = porcelain_kg_per_m2 if porcelain_kg_per_m2 is not None else kg_per_m2
    volume = m2 * seeming / draw(rng, COVER["tile.stowage_kg_per_m3"].span)
    return item(
        line=line,
        hs=hs,
        description=description,
        origin=origin,
        gross=gross,
        net=net,
        usd=net * price,
        currency=currency_for(rng, origin),
        quantity=quantity,
        unit=unit,
        packages=cartons,
        package_type="CT",
        volume=volume,
        container_ids=containers(rng, mode, gross),
    )


# -------------------------------------------------------------------------- mannequins

_PLASTIC_MANNEQUINS = (
    "PLASTIC MANNEQUINS FULL BODY",
    "PP plastic mannequin female",
    "DISPLAY MANNEQUINS PLASTIC MALE",
    "Plastic dress forms",
    "CHILD MANNEQUINS PE",
)
_FIBREGLASS_MANNEQUINS = (
    "FIBERGLASS MANNEQUIN WITH METAL STAND",
    "Fibreglass female mannequin + chrome base",
    "FRP MANNEQUINS WITH STEEL BASE",
    "Fiberglass display mannequin with stand",
)
_ANY_MANNEQUINS = (
    "MANNEQUINS",
    "DISPLAY MANNEQUINS FULL BODY",
    "Shop window mannequins",
    "TAILOR DUMMIES",
)


def mannequin_item(
    rng: random.Random,
    *,
    line: int,
    origin: str,
    mode: Mode,
    kg_per_piece: float,
    material: Literal["plastic", "fibreglass", "unsaid"] = "plastic",
    declared: MannequinDeclared = "pcs",
    usd_per_kg: float | None = None,
) -> Json:
    """Mannequins at ``kg_per_piece`` gross, one or two a carton, declared in pieces, in kg
    (the count only in the packages or the description), or in packages only."""
    pieces = max(1, round(_lot(rng, mode) / kg_per_piece))
    per_carton = 1 if rng.random() < 0.75 else 2
    cartons = max(1, -(-pieces // per_carton))
    gross = pieces * kg_per_piece
    names = {
        "plastic": _PLASTIC_MANNEQUINS,
        "fibreglass": _FIBREGLASS_MANNEQUINS,
        "unsaid": _ANY_MANNEQUINS,
    }[material]
    note = rng.choice(("", f" {per_carton}PC/CTN", f" {pieces} PCS", " ASSORTED"))
    description = case_style(rng, f"{rng.choice(names)}{note}")
    price = usd_per_kg if usd_per_kg is not None else draw(rng, COVER["mannequin.usd_per_kg"].span)
    net = gross * rng.uniform(0.85, 0.93)
    quantity: float | None = None
    unit: Unit | None = None
    if declared == "pcs":
        quantity, unit = float(pieces), "pcs"
    elif declared == "kg":
        quantity, unit = net, "kg"
    volume = cartons * rng.uniform(0.12, 0.25) * per_carton
    return item(
        line=line,
        hs="961800",
        description=description,
        origin=origin,
        gross=gross,
        net=net,
        usd=net * price,
        currency=currency_for(rng, origin),
        quantity=quantity,
        unit=unit,
        packages=cartons,
        package_type="CT",
        volume=volume,
        container_ids=containers(rng, mode, gross),
    )


# ------------------------------------------------------------------------ solder paste

_SOLDER_NAMES = (
    "SOLDER PASTE",
    "Solder paste SAC305 T4",
    "LEAD FREE SOLDER PASTE",
    "No-clean solder paste Sn96.5Ag3Cu0.5",
    "SOLDER PASTE SN63PB37",
)


def solder_item(
    rng: random.Random,
    *,
    line: int,
    origin: str,
    mode: Mode,
    net_kg: float,
    package: str = "CT",
    per_package_kg: float = 10.0,
    kg_per_litre: float | None = None,
    usd_per_kg: float | None = None,
    jar_note: bool = True,
) -> Json:
    """Solder paste of ``net_kg``, in ``package``s of ``per_package_kg`` net (cartons of
    0.5 kg jars for honest paste), declared in kg, or in litres at ``kg_per_litre``."""
    jar = " 500G JAR" if jar_note and package == "CT" and rng.random() < 0.6 else ""
    description = case_style(rng, f"{rng.choice(_SOLDER_NAMES)}{jar}")
    packages = max(1, round(net_kg / per_package_kg))
    gross = net_kg * (rng.uniform(1.08, 1.2) if package == "CT" else rng.uniform(1.03, 1.07))
    price = usd_per_kg if usd_per_kg is not None else draw(rng, COVER["solder.usd_per_kg"].span)
    quantity: float = net_kg
    unit: Literal["kg", "l"] = "kg"
    if kg_per_litre is not None:
        quantity, unit = net_kg / kg_per_litre, "l"
    if package == "CT":
        volume = gross / rng.uniform(400.0, 700.0)
    else:  # a 200 l drum or a 20-30 l pail, each its own room
        volume = packages * (0.22 if package == "DR" else 0.03)
    return item(
        line=line,
        hs="381010",
        description=description,
        origin=origin,
        gross=gross,
        net=net_kg,
        usd=net_kg * price,
        currency=currency_for(rng, origin),
        quantity=quantity,
        unit=unit,
        packages=packages,
        package_type=package,
        volume=volume,
        container_ids=containers(rng, mode, gross),
    )


def honest_solder_item(rng: random.Random, *, line: int, origin: str, mode: Mode) -> Json:
    """Solder paste as electronics makers buy it: 0.5 kg jars, 10-40 a carton (REF §4)."""
    jars = max(2, round(_lot(rng, mode) / 0.6))
    jars = min(jars, 4000)
    in_litres = rng.random() < 0.1
    return solder_item(
        rng,
        line=line,
        origin=origin,
        mode=mode,
        net_kg=jars * 0.5,
        per_package_kg=0.5 * rng.randint(10, 40),
        kg_per_litre=draw(rng, COVER["solder.paste_kg_per_litre"].span) if in_litres else None,
    )


# ---------------------------------------------------------------- controlled materials


def controlled_item(
    rng: random.Random,
    *,
    line: int,
    material: Controlled,
    origin: str,
    mode: Mode,
    description: str | None = None,
    hs: str | None = None,
    usd_per_kg: float | None = None,
    licences: list[str] | None = None,
    max_gross: float | None = None,
) -> Json:
    """A line of a controlled material, described honestly unless ``description`` and ``hs``
    say otherwise."""
    gross = _lot(rng, mode)
    if max_gross is not None:
        gross = min(gross, max_gross)
    net = gross / rng.uniform(1.02, 1.08)
    price = usd_per_kg if usd_per_kg is not None else draw(rng, material.usd_per_kg)
    per_package = {
        "DR": 50.0 if price > 200 else 200.0,
        "BX": 20.0,
        "BG": 25.0,
        "JB": 1000.0,
        "PX": 1000.0,
        "CT": 20.0,
    }.get(material.package, 25.0)
    packages = max(1, round(gross / per_package))
    text = description if description is not None else case_style(rng, rng.choice(material.names))
    return item(
        line=line,
        hs=hs or material.hs,
        description=text,
        origin=origin,
        gross=gross,
        net=net,
        usd=net * price,
        currency=currency_for(rng, origin),
        quantity=net,
        unit="kg",
        packages=packages,
        package_type=material.package,
        volume=gross / rng.uniform(900.0, 2500.0),
        container_ids=containers(rng, mode, gross),
        licences=licences,
    )
