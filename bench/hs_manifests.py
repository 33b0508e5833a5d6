"""An honest manifest for any HS 2022 subheading, described in the nomenclature's own words.

Used by the honest-trade gate (``tests/test_honest_gate.py``: one manifest per level-6
subheading) and by the detection benchmark's "HS 2022 wording" tier. The goods, their mass,
value, unit, packing, transport and origin come from :func:`bench.trade_figures.profile_for`
(typical trade of the chapter, heading and subheading); the consignor was registered years
ago; the route is direct or through an ordinary hub. Controlled materials (REF §2) travel with
an export licence from a country that makes them.
"""

from __future__ import annotations

import random
from typing import Any

from bench.goods_lines import licence_number, profile_item
from bench.hs_nomenclature import Subheading
from bench.shipping import (
    ESTABLISHED,
    destination,
    filed_at,
    hub_for,
    manifest,
    mode_for,
    party,
    route,
)
from bench.trade_figures import profile_for

Json = dict[str, Any]

# The trade a consignor's name carries, by HS section.
_TRADE_BY_SECTION: dict[str, str] = {
    "I": "LIVESTOCK",
    "II": "AGRO PRODUCTS",
    "III": "OILS",
    "IV": "FOODS",
    "V": "MINERALS",
    "VI": "CHEMICALS",
    "VII": "POLYMERS",
    "VIII": "LEATHER",
    "IX": "TIMBER",
    "X": "PAPER",
    "XI": "TEXTILES",
    "XII": "FOOTWEAR",
    "XIII": "BUILDING MATERIALS",
    "XIV": "PRECIOUS METALS",
    "XV": "METALS",
    "XVI": "MACHINERY",
    "XVII": "VEHICLES",
    "XVIII": "INSTRUMENTS",
    "XIX": "SPORTING ARMS",
    "XX": "HOME PRODUCTS",
    "XXI": "FINE ART",
}
HUB_SHARE = 0.15  # share of shipments through an ordinary hub: GUESS


def honest_manifest(subheading: Subheading, *, seed: int = 0, manifest_id: str = "") -> Json:
    """One honest single-item manifest declaring ``subheading`` in its official wording.

    Reproducible: the draws depend only on ``seed`` and the code."""
    rng = random.Random(f"hs-manifest:{seed}:{subheading.code}:{manifest_id}")
    profile = profile_for(subheading.code)
    origin = rng.choice(profile.origins)
    dest = destination(rng, origin)
    mode = mode_for(rng, profile.modes, origin, dest)
    hub = hub_for(rng, origin, dest) if mode == "sea" and rng.random() < HUB_SHARE else None
    filed = filed_at(rng)
    trade = _TRADE_BY_SECTION.get(subheading.section, "TRADING")
    licences = [licence_number(rng, origin)] if profile.licensed else None
    goods = profile_item(
        rng,
        line=1,
        hs=subheading.code,
        description=subheading.description,
        origin=origin,
        profile=profile,
        mode=mode,
        licences=licences,
    )
    return manifest(
        rng,
        manifest_id=manifest_id or f"HS-{subheading.code}",
        filed=filed,
        route_=route(rng, mode, origin, dest, hub=hub),
        consignor=party(rng, origin, trade, filed, ESTABLISHED),
        consignee=party(
            rng, dest, rng.choice(("IMPORTS", "DISTRIBUTION", "SUPPLY")), filed, ESTABLISHED
        ),
        items=[goods],
    )
