"""Goods items (manifest lines) from trade figures: quantity, masses, value, packing, volume."""

from __future__ import annotations

import math
import random
from typing import Any

from bench.shipping import LOT_GROSS_KG, containers, currency_for, in_currency
from bench.trade_figures import PACKING, Mode, Span, TradeProfile, Unit

Json = dict[str, Any]


def draw(rng: random.Random, span: Span) -> float:
    """A value in ``span``: uniform, or uniform in the logarithm when the span covers more
    than a factor of five (prices of goods that range from cheap to precious)."""
    low, high = span
    if low > 0 and high / low > 5:
        return math.exp(rng.uniform(math.log(low), math.log(high)))
    return rng.uniform(low, high)


def mass(value: float) -> float:
    """A mass as declared: grams for parcels, tenths of a kilo above."""
    return round(value, 2) if value < 10 else round(value, 1)


def licence_number(rng: random.Random, country: str) -> str:
    """An export licence number (formats GUESS; the sample manifest uses CN-EXP-2026-118842)."""
    if country == "CN" and rng.random() < 0.5:
        return f"LZ{rng.randint(2025, 2026)}{rng.randint(10**7, 10**8 - 1)}"
    return f"{country}-EXP-2026-{rng.randint(100_000, 999_999)}"


def item(
    *,
    line: int,
    hs: str,
    description: str,
    origin: str,
    gross: float,
    net: float | None,
    usd: float | None,
    currency: str = "USD",
    quantity: float | None = None,
    unit: Unit | None = None,
    packages: int | None = None,
    package_type: str | None = None,
    volume: float | None = None,
    container_ids: list[str] | None = None,
    licences: list[str] | None = None,
) -> Json:
    """A goods item in the input contract, with the masses and money rounded as filed."""
    result: Json = {
        "line": line,
        "hs_code": hs,
        "description": description[:512],
        "origin_country": origin,
    }
    if quantity is not None and unit is not None:
        result["quantity"] = round(quantity, 3) if unit in ("m3", "kg") else round(quantity, 2)
        result["quantity_unit"] = unit
    if packages is not None:
        result["packages"] = max(1, packages)
        result["package_type"] = package_type or "CT"
    gross_mass = max(mass(gross), 0.01)
    result["gross_mass_kg"] = gross_mass
    if net is not None:
        result["net_mass_kg"] = min(max(mass(net), 0.01), gross_mass)
    if volume is not None:
        result["volume_m3"] = max(round(volume, 3), 0.001)
    if usd is not None:
        result["value"] = in_currency(usd, currency)
        result["currency"] = currency
    if container_ids:
        result["containers"] = container_ids
    if licences:
        result["licences"] = licences
    return result


def packing(
    rng: random.Random,
    package: str,
    gross: float,
    pieces: int | None,
    stowage: Span | None = None,
) -> tuple[int, float]:
    """How many packages of ``package`` a gross mass fills (never more than its pieces), and
    the volume it stows in (``stowage`` kg per m³, else the package type's)."""
    per_package, density = PACKING.get(package, PACKING["CT"])
    if package == "NE" and pieces is not None:
        count = pieces
    else:
        count = max(1, round(gross / draw(rng, per_package)))
        if pieces is not None:
            count = min(count, pieces)
    return count, gross / draw(rng, stowage or density)


def profile_item(
    rng: random.Random,
    *,
    line: int,
    hs: str,
    description: str,
    origin: str,
    profile: TradeProfile,
    mode: Mode,
    licences: list[str] | None = None,
) -> Json:
    """A goods item of typical size, mass and value for ``profile`` carried by ``mode``."""
    target = draw(rng, LOT_GROSS_KG[mode])
    per_unit = draw(rng, profile.kg_per_unit)
    pieces: int | None = None
    if profile.unit == "kg":
        gross = target
        net = gross / per_unit
        quantity = net
    else:
        quantity = target / per_unit
        if profile.unit == "pcs":
            pieces = max(1, round(quantity))
            quantity = float(pieces)
        elif profile.unit == "l":
            quantity = max(1.0, round(quantity))
        else:
            quantity = max(0.01, round(quantity, 2))
        gross = quantity * per_unit
        net = gross * rng.uniform(0.88, 0.97)
    usd = net * draw(rng, profile.usd_per_kg)
    packages, volume = packing(rng, profile.package, gross, pieces, profile.stowage_kg_per_m3)
    return item(
        line=line,
        hs=hs,
        description=description,
        origin=origin,
        gross=gross,
        net=net,
        usd=usd,
        currency=currency_for(rng, origin),
        quantity=quantity,
        unit=profile.unit,
        packages=packages,
        package_type=profile.package,
        volume=volume,
        container_ids=containers(rng, mode, gross),
        licences=licences,
    )
