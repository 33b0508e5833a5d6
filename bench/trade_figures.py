"""Reference figures the benchmark corpus and the honest-trade gate are built from.

Every figure says where it comes from: ``REF §n`` is ``shared/domain/REFERENCE.md`` section n;
``GUESS`` is general trade knowledge (prices of 2025-2026, packing as forwarders do it) that
no source here confirms. None of it is taken from the rule pack or the synthetic-corpus
generator: the point of these figures is to measure the rules from outside.

Three tables:

* cover-goods physics (water, tiles, mannequins, solder paste): :data:`COVER`;
* controlled materials (what China's export controls cover, their prices, producers and
  names in several languages): :data:`CONTROLLED`, and which HS 2022 subheadings are the
  controlled material itself (:data:`CONTROLLED_SUBHEADINGS`) or a broad heading the
  controlled material is a small part of (:data:`BROAD_CONTROLLED_SUBHEADINGS`);
* typical trade per HS chapter, heading and subheading (value per kg, declared unit, mass
  per unit, packing, transport, countries that make the goods): :func:`profile_for`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Literal

Unit = Literal["kg", "l", "m2", "m3", "pcs"]
Mode = Literal["sea", "air", "road", "rail", "postal", "express"]
Span = tuple[float, float]

GUESS = "trade knowledge, GUESS"

# ------------------------------------------------------------------ cover-goods physics


@dataclass(frozen=True)
class Figure:
    """A reference range and where it comes from."""

    low: float
    high: float
    source: str

    @property
    def span(self) -> Span:
        return (self.low, self.high)


COVER: dict[str, Figure] = {
    # Water: 0.5 L bottle ~1 lb, 24-bottle case ~11 kg, pallets add ~2 % (REF §4 [S40][S41]).
    "water.pet_kg_per_litre": Figure(1.03, 1.12, "REF §4 (README's PET figure), [S40][S41]"),
    "water.glass_kg_per_litre": Figure(1.4, 1.8, "REF §7 (750 ml glass bottle 0.4-0.6 kg)"),
    "water.usd_per_kg": Figure(0.1, 1.0, "REF §4, GUESS"),
    # glass-bottled mineral water sells dearer than PET (premium brands): GUESS
    "water.glass_usd_per_kg": Figure(0.4, 2.5, GUESS),
    # gross kg per m³ of declared volume: cases on pallets, ~1 t per 1.2-1.5 m³ pallet
    "water.stowage_kg_per_m3": Figure(600.0, 850.0, "REF §4 [S41] pallet ~1 t, GUESS volume"),
    # Porcelain ~2.5 kg/m² per mm of thickness (REF §4 [S32]); 8-12 mm floor/wall tiles
    # 18-30 kg/m² (REF §4 [S33][S34]); China exported tiles at ~$0.43/kg (REF §4 [S47]).
    "tile.kg_per_m2_per_mm": Figure(2.3, 2.6, "REF §4 [S32]"),
    "tile.kg_per_m2": Figure(18.0, 30.0, "REF §4 [S33][S34]"),
    "tile.paver_kg_per_m2": Figure(45.0, 50.0, "REF §7 (20 mm porcelain pavers)"),
    "tile.usd_per_kg": Figure(0.3, 0.8, "REF §4 [S47] ($0.43/kg mean)"),
    "tile.stowage_kg_per_m3": Figure(1400.0, 1900.0, "shared/examples/clean-tiles.json, GUESS"),
    # Mannequins: ~10 kg without stand, ~15 kg with (REF §4 [S42]); PE/PP plastic lighter.
    "mannequin.plastic_kg": Figure(6.0, 12.0, "REF §4 [S42][S43]"),
    "mannequin.fibreglass_with_stand_kg": Figure(13.0, 16.0, "REF §7, §4 [S42]"),
    "mannequin.usd_per_kg": Figure(3.0, 40.0, "REF §4 (GUESS from Rs 2,500-50,000 a unit)"),
    "mannequin.stowage_kg_per_m3": Figure(40.0, 90.0, "GUESS (one figure a carton, ~0.15 m³)"),
    # Solder paste: SG ~4.1 (REF §4 [S31]), sold in 0.5 kg jars (GUESS), $20-150/kg (REF §4).
    "solder.paste_kg_per_litre": Figure(3.9, 4.3, "REF §4 [S31][S30]"),
    "solder.usd_per_kg": Figure(20.0, 150.0, "REF §4, GUESS"),
    "solder.jar_kg": Figure(0.5, 0.5, GUESS),
    # Rare-earth oxide crystal densities (REF §4 [S35][S36]): what a blend is heavy with.
    "oxide.dy2o3_g_per_cm3": Figure(7.8, 7.8, "REF §4 [S35]"),
    "oxide.tb4o7_g_per_cm3": Figure(7.3, 7.91, "REF §4 [S36]"),
}

# Common metals, the real-world price a relabelled controlled metal is compared with.
COMMON_METAL_USD_PER_KG: dict[str, Figure] = {
    "zinc": Figure(2.6, 3.4, "GUESS (LME zinc ~$2,600-3,300/t, 2025)"),
    "iron_powder": Figure(0.9, 4.0, "GUESS (atomised/reduced iron powder)"),
    "nickel_powder": Figure(25.0, 60.0, "GUESS (LME nickel ~$15-18/kg; powder premium)"),
    "copper_scrap": Figure(7.0, 9.5, "GUESS (LME copper ~$9,500-11,000/t, 2025)"),
}

# ---------------------------------------------------------------- controlled materials


@dataclass(frozen=True)
class Controlled:
    """A material China's export controls cover (REF §1, §2), as it is traded."""

    key: str
    hs: str  # HS 2022 subheading it belongs in (REF §2)
    names: tuple[str, ...]  # honest English descriptions
    foreign: tuple[str, ...]  # the same in Chinese, German, French, Spanish, Russian
    formula: str  # how a description may name it by formula alone
    usd_per_kg: Span
    producers: tuple[str, ...]  # countries that make it (the honest origins)
    package: str  # UN/ECE Rec. 21: DR drum, BG bag, BX box, CT carton, JB jumbo bag
    source: str


_RE_PRODUCERS = ("CN", "CN", "CN", "MY")  # Lynas Malaysia separates heavy RE since 2025: GUESS

CONTROLLED: tuple[Controlled, ...] = (
    Controlled(
        "dysprosium_oxide",
        "284690",
        ("DYSPROSIUM OXIDE DY2O3 99.5% MIN", "Dysprosium Oxide 99.9%", "DY2O3 POWDER 4N"),
        (
            "氧化镝",
            "氧化镝 99.5%",
            "Dysprosiumoxid",
            "oxyde de dysprosium",
            "óxido de disprosio",
            "оксид диспрозия",
        ),
        "DY2O3",
        (224.0, 1000.0),
        _RE_PRODUCERS,
        "DR",
        "REF §4 [S44][S45] ($224/kg volume-weighted, $700-1,000 Europe)",
    ),
    Controlled(
        "terbium_oxide",
        "284690",
        ("TERBIUM OXIDE TB4O7 99.99%", "Terbium oxide powder 4N"),
        ("氧化铽", "Terbiumoxid", "oxyde de terbium", "óxido de terbio", "оксид тербия"),
        "TB4O7",
        (930.0, 4000.0),
        _RE_PRODUCERS,
        "DR",
        "REF §4 [S44] ($930-1,000 Apr 2025, $2,000-4,000 May 2025)",
    ),
    Controlled(
        "dysprosium_metal",
        "280530",
        ("DYSPROSIUM METAL 99.5%", "Dysprosium metal lumps"),
        (
            "金属镝",
            "镝",
            "Dysprosium-Metall",
            "dysprosium métal",
            "disprosio metálico",
            "металлический диспрозий",
        ),
        "DY",
        (300.0, 1300.0),
        ("CN",),
        "BX",
        "GUESS (oxide price ×1.3 for reduction)",
    ),
    Controlled(
        "terbium_metal",
        "280530",
        ("TERBIUM METAL 99.9%", "Terbium metal ingot"),
        ("金属铽", "铽", "Terbium-Metall", "terbium métal", "terbio metálico", "тербий"),
        "TB",
        (1200.0, 5000.0),
        ("CN",),
        "BX",
        "GUESS (oxide price ×1.3)",
    ),
    Controlled(
        "gadolinium_oxide",
        "284690",
        ("GADOLINIUM OXIDE GD2O3 99.99%",),
        (
            "氧化钆",
            "Gadoliniumoxid",
            "oxyde de gadolinium",
            "óxido de gadolinio",
            "оксид гадолиния",
        ),
        "GD2O3",
        (25.0, 80.0),
        _RE_PRODUCERS,
        "DR",
        GUESS,
    ),
    Controlled(
        "lutetium_oxide",
        "284690",
        ("LUTETIUM OXIDE LU2O3 99.99%",),
        ("氧化镥", "Lutetiumoxid", "oxyde de lutécium", "óxido de lutecio", "оксид лютеция"),
        "LU2O3",
        (600.0, 1200.0),
        ("CN",),
        "BX",
        GUESS,
    ),
    Controlled(
        "scandium_oxide",
        "284690",
        ("SCANDIUM OXIDE SC2O3 99.99%",),
        ("氧化钪", "Scandiumoxid", "oxyde de scandium", "óxido de escandio", "оксид скандия"),
        "SC2O3",
        (700.0, 2000.0),
        ("CN", "CN", "PH"),  # Sumitomo's Philippine HPAL plant makes Sc oxide: GUESS
        "BX",
        GUESS,
    ),
    Controlled(
        "yttrium_oxide",
        "284690",
        ("YTTRIUM OXIDE Y2O3 99.999%", "Yttrium oxide powder 5N"),
        ("氧化钇", "Yttriumoxid", "oxyde d'yttrium", "óxido de itrio", "оксид иттрия"),
        "Y2O3",
        (6.0, 60.0),
        _RE_PRODUCERS,
        "DR",
        "REF §4 [S45] (~$6.5/kg volume-weighted), GUESS for 5N",
    ),
    Controlled(
        "samarium_cobalt_magnets",
        "850511",
        ("SMCO PERMANENT MAGNETS SM2CO17", "Samarium cobalt magnets"),
        (
            "钐钴磁铁",
            "钐钴永磁体",
            "Samarium-Kobalt-Magnete",
            "aimants samarium-cobalt",
            "imanes de samario-cobalto",
            "самарий-кобальтовые магниты",
        ),
        "SM2CO17",
        (60.0, 200.0),
        ("CN", "CN", "US", "DE", "JP"),
        "CT",
        GUESS,
    ),
    Controlled(
        "ndfeb_dy_magnets",
        "850511",
        ("SINTERED NDFEB MAGNETS N48H (DY-DIFFUSED)", "NdFeB magnets grade 42SH, Dy/Tb"),
        (
            "钕铁硼磁铁(含镝)",
            "烧结钕铁硼磁钢",
            "NdFeB-Magnete mit Dysprosium",
            "aimants NdFeB au dysprosium",
            "imanes NdFeB con disprosio",
            "магниты NdFeB с диспрозием",
        ),
        "NDFEB",
        (40.0, 120.0),
        ("CN", "CN", "CN", "JP", "DE", "VN"),
        "CT",
        "shared/examples/magnets-declared.json ($82/kg), GUESS",
    ),
    Controlled(
        "gallium_metal",
        "811292",
        ("GALLIUM METAL 99.99%", "Gallium ingots 4N", "GALLIUM 6N"),
        ("金属镓", "镓锭", "Gallium-Metall", "gallium métal", "galio metálico", "галлий"),
        "GA",
        (300.0, 900.0),
        ("CN", "CN", "CN", "JP", "KR", "DE"),
        "BX",
        "GUESS (Ga ~$300-700/kg 2024-2025)",
    ),
    Controlled(
        "germanium_metal",
        "811292",
        ("GERMANIUM INGOTS ZONE REFINED 50 OHM", "Germanium metal 5N"),
        (
            "锗锭",
            "区熔锗锭",
            "Germanium-Barren",
            "lingots de germanium",
            "lingotes de germanio",
            "слитки германия",
        ),
        "GE",
        (1500.0, 3500.0),
        ("CN", "CN", "BE", "CA", "US"),
        "BX",
        "GUESS (Ge ~$1,500-3,000/kg 2024-2025)",
    ),
    Controlled(
        "germanium_dioxide",
        "282560",
        ("GERMANIUM DIOXIDE GEO2 99.999%",),
        (
            "二氧化锗",
            "Germaniumdioxid",
            "dioxyde de germanium",
            "dióxido de germanio",
            "диоксид германия",
        ),
        "GEO2",
        (1000.0, 2500.0),
        ("CN", "CN", "BE"),
        "BX",
        GUESS,
    ),
    Controlled(
        "antimony_trioxide",
        "282580",
        ("ANTIMONY TRIOXIDE SB2O3 99.8%", "Antimony trioxide flame retardant grade"),
        (
            "三氧化二锑",
            "氧化锑",
            "Antimontrioxid",
            "trioxyde d'antimoine",
            "trióxido de antimonio",
            "триоксид сурьмы",
        ),
        "SB2O3",
        (15.0, 60.0),
        ("CN", "CN", "TJ", "OM", "BO"),
        "BG",
        "REF §4 [S46] (Sb metal ~$40/kg Rotterdam end 2024), GUESS for oxide",
    ),
    Controlled(
        "antimony_ingots",
        "811010",
        ("ANTIMONY INGOTS 99.65%", "Antimony metal ingot"),
        ("锑锭", "Antimonbarren", "lingots d'antimoine", "lingotes de antimonio", "слитки сурьмы"),
        "SB",
        (25.0, 60.0),
        ("CN", "CN", "TJ", "RU", "BO", "TR"),
        "PX",
        "REF §4 [S46]",
    ),
    Controlled(
        "antimony_concentrate",
        "261710",
        ("ANTIMONY ORE CONCENTRATE SB 50%",),
        (
            "锑精矿",
            "Antimonerzkonzentrat",
            "concentré d'antimoine",
            "concentrado de antimonio",
            "сурьмяный концентрат",
        ),
        "SB2S3",
        (5.0, 25.0),
        ("TJ", "RU", "BO", "TR", "AU", "CN"),
        "JB",
        GUESS,
    ),
    Controlled(
        "tungsten_apt",
        "284180",
        ("AMMONIUM PARATUNGSTATE APT 88.5% WO3",),
        (
            "仲钨酸铵",
            "Ammoniumparawolframat",
            "paratungstate d'ammonium",
            "paratungstato de amonio",
            "паравольфрамат аммония",
        ),
        "APT",
        (40.0, 100.0),
        ("CN", "CN", "VN", "AT"),
        "DR",
        "GUESS (APT $600-1,000 per mtu in 2025)",
    ),
    Controlled(
        "tungsten_bars",
        "810194",
        ("TUNGSTEN BARS 99.95%", "Tungsten rods sintered"),
        (
            "钨条",
            "钨棒",
            "Wolframstangen",
            "barres de tungstène",
            "barras de wolframio",
            "вольфрамовые прутки",
        ),
        "W",
        (45.0, 130.0),
        ("CN", "CN", "VN", "AT", "KR"),
        "BX",
        GUESS,
    ),
    Controlled(
        "tungsten_carbide_powder",
        "284990",
        ("TUNGSTEN CARBIDE POWDER WC 0.8UM",),
        (
            "碳化钨粉",
            "Wolframcarbidpulver",
            "poudre de carbure de tungstène",
            "polvo de carburo de wolframio",
            "порошок карбида вольфрама",
        ),
        "WC",
        (45.0, 100.0),
        ("CN", "CN", "AT", "DE", "US"),
        "DR",
        GUESS,
    ),
    Controlled(
        "flake_graphite",
        "250410",
        ("NATURAL FLAKE GRAPHITE +100 MESH 95% C", "Natural graphite flakes"),
        (
            "天然鳞片石墨",
            "Naturgraphit-Flocken",
            "graphite naturel en paillettes",
            "grafito natural en escamas",
            "природный чешуйчатый графит",
        ),
        "C",
        (0.5, 1.6),
        ("CN", "CN", "MZ", "MG", "BR", "IN", "TZ"),
        "JB",
        GUESS,
    ),
    Controlled(
        "spherical_graphite",
        "380190",
        ("SPHERICAL GRAPHITE SG17 ANODE MATERIAL",),
        (
            "球形石墨",
            "sphärischer Graphit",
            "graphite sphérique",
            "grafito esférico",
            "сферический графит",
        ),
        "C",
        (2.0, 6.0),
        ("CN", "CN", "CN", "JP", "KR"),
        "JB",
        GUESS,
    ),
    Controlled(
        "artificial_graphite",
        "380110",
        ("ARTIFICIAL GRAPHITE POWDER 99.95% C", "Synthetic graphite anode powder"),
        (
            "人造石墨",
            "synthetischer Graphit",
            "graphite artificiel",
            "grafito artificial",
            "искусственный графит",
        ),
        "C",
        (1.5, 6.0),
        ("CN", "CN", "CN", "JP", "DE", "US"),
        "JB",
        GUESS,
    ),
)


def _codes(text: str) -> frozenset[str]:
    """HS codes written as one string, separated by spaces."""
    return frozenset(text.split())


# Subheadings that are the controlled material itself (REF §2): shipped honestly only with
# an export licence, from a country that makes it.
CONTROLLED_SUBHEADINGS = _codes(
    "280530 284690 850511 811292 811299 282560 261710 811010 811020 811090 282580 "
    "284180 284990 810194 810199 280450 810610 810690 810210 810294 810295 810296 "
    "810297 810299 250410 380110 380190 "
)  # REF §2
# Subheadings REF §2 names where the controlled material is a small part of broad trade
# (chemical preparations n.e.c., semiconductor-machine parts, silver, Li-ion cells,
# silicon wafers...): shipped honestly without a Chinese licence, from outside China. GUESS
# that this is how most of their trade moves; Li-ion cells' control is suspended (REF §1).
BROAD_CONTROLLED_SUBHEADINGS = _codes(
    "382499 848690 720299 382569 283090 293190 710691 710692 681519 850760 381800 "
    "285000 285390 282590 "
)  # REF §2, GUESS
# Cerium compounds (2846.10) share REF §2's row, but Ce is not one of Ann. 18's seven (REF §1).
UNCONTROLLED_RARE_EARTH_SUBHEADINGS: frozenset[str] = frozenset({"284610"})

# Producers per controlled subheading (for the honest, licensed shipments): GUESS.
PRODUCERS_BY_SUBHEADING: dict[str, tuple[str, ...]] = {
    "280530": ("CN",),
    "284690": _RE_PRODUCERS,
    "850511": ("CN", "CN", "JP", "DE", "VN"),
    "811292": ("CN", "CN", "JP", "BE", "CA"),
    "811299": ("CN", "US", "DE", "JP"),
    "282560": ("CN", "BE", "CA"),
    "261710": ("TJ", "RU", "BO", "TR", "AU"),
    "811010": ("CN", "TJ", "BO", "OM"),
    "811020": ("CN", "BE", "US"),
    "811090": ("CN", "BE"),
    "282580": ("CN", "TJ", "OM", "BO"),
    "284180": ("CN", "VN", "AT"),
    "284990": ("CN", "AT", "DE", "US"),
    "810194": ("CN", "VN", "AT", "KR"),
    "810199": ("CN", "AT", "DE", "US", "JP"),
    "280450": ("CN", "JP", "SE", "CA"),
    "810610": ("CN", "LA", "JP", "KR", "BO"),
    "810690": ("CN", "DE", "JP"),
    "810210": ("CN", "US", "CL", "DE", "AT"),
    "810294": ("CN", "CL", "US", "PE"),
    "810295": ("CN", "US", "AT", "DE"),
    "810296": ("CN", "US", "AT"),
    "810297": ("CN", "US", "DE"),
    "810299": ("CN", "US", "AT", "DE"),
    "250410": ("CN", "MZ", "MG", "BR", "IN"),
    "380110": ("CN", "JP", "DE", "US"),
    "380190": ("CN", "JP", "KR"),
}

# Countries a smuggler declares as origin (REF §5: Thailand, Mexico in the Reuters case;
# other ASEAN routes, GUESS) and which make none of the controlled materials above.
THIRD_COUNTRIES: tuple[str, ...] = ("TH", "TH", "MX", "MX", "KH", "ID", "AE", "VN", "MY")

# ----------------------------------------------------------------- currencies (GUESS)

# Units of each currency per US dollar, 2025-2026 averages (GUESS), and who invoices in which.
PER_USD: dict[str, float] = {
    "USD": 1.0,
    "EUR": 0.90,
    "GBP": 0.77,
    "JPY": 150.0,
    "CNY": 7.2,
    "KRW": 1380.0,
    "INR": 85.0,
    "CHF": 0.85,
    "AUD": 1.55,
    "CAD": 1.38,
    "MXN": 19.0,
    "THB": 34.0,
}
HOME_CURRENCY: dict[str, str] = {
    **dict.fromkeys(
        ("DE", "FR", "IT", "ES", "NL", "BE", "AT", "PT", "IE", "FI", "GR", "SK", "SI", "EE"),
        "EUR",
    ),
    "GB": "GBP",
    "JP": "JPY",
    "CN": "CNY",
    "KR": "KRW",
    "IN": "INR",
    "CH": "CHF",
    "AU": "AUD",
    "CA": "CAD",
    "MX": "MXN",
    "TH": "THB",
}

# --------------------------------------------------------------- trade per HS chapter


@dataclass(frozen=True)
class TradeProfile:
    """How goods of an HS chapter, heading or subheading typically move (all GUESS unless
    ``source`` says otherwise)."""

    usd_per_kg: Span  # declared value per kg of net mass
    unit: Unit = "kg"  # the quantity unit declared
    kg_per_unit: Span = (1.03, 1.12)  # gross kg per declared unit (for kg: gross / net)
    package: str = "CT"  # UN/ECE Rec. 21 code
    modes: tuple[Mode, ...] = ("sea", "sea", "sea", "air")
    origins: tuple[str, ...] = ("CN", "DE", "US")
    licensed: bool = False  # shipped with an export licence
    stowage_kg_per_m3: Span | None = None  # gross kg per m³ as packed (else by package type)
    source: str = GUESS


@dataclass(frozen=True)
class Adjust:
    """Fields a heading or subheading changes from its chapter's profile."""

    usd_per_kg: Span | None = None
    unit: Unit | None = None
    kg_per_unit: Span | None = None
    package: str | None = None
    modes: tuple[Mode, ...] | None = None
    origins: tuple[str, ...] | None = None
    licensed: bool | None = None
    stowage_kg_per_m3: Span | None = None
    source: str | None = None


SEA: tuple[Mode, ...] = ("sea",)
SEA_AIR: tuple[Mode, ...] = ("sea", "sea", "sea", "air")
AIR: tuple[Mode, ...] = ("air", "air", "express")
VALUABLE: tuple[Mode, ...] = ("air", "air", "express", "sea")
BULK_RATIO: Span = (1.0, 1.01)  # bulk or big bags: packaging next to nothing


def _c(
    usd: Span,
    origins: str,
    unit: Unit = "kg",
    kg_per_unit: Span = (1.03, 1.12),
    package: str = "CT",
    modes: tuple[Mode, ...] = SEA_AIR,
) -> TradeProfile:
    """A chapter's profile; ``origins`` are the countries that make its goods, by space."""
    return TradeProfile(usd, unit, kg_per_unit, package, modes, tuple(origins.split()))


CHAPTERS: dict[int, TradeProfile] = {
    1: _c(
        (2.0, 8.0),
        "AU NL FR DE US BR NZ",
        unit="pcs",
        kg_per_unit=(250.0, 600.0),
        package="NE",
        modes=("sea", "air", "road"),
    ),
    2: _c((2.0, 12.0), "BR US AU AR NZ IE ES DK PL"),
    3: _c((2.0, 25.0), "NO CL VN EC IN CN US IS ID TH"),
    4: _c((2.0, 12.0), "NZ NL DE FR US IE DK PL"),
    5: _c((0.5, 30.0), "CN US IN DE NL BR", package="BG"),
    6: _c((1.0, 10.0), "NL CO EC KE ET DE", modes=("air", "air", "road")),
    7: _c((0.3, 3.0), "ES MX NL CN IN US EG TR", modes=("sea", "road")),
    8: _c((0.5, 8.0), "US ES MX CL PE ZA TR VN IN EC CR"),
    9: _c((2.0, 15.0), "BR VN CO IN LK ID ET KE CN", package="BG"),
    10: _c(
        (0.15, 0.8),
        "US AR UA BR CA AU IN TH VN FR",
        kg_per_unit=BULK_RATIO,
        package="BG",
        modes=SEA,
    ),
    11: _c((0.3, 1.5), "TR DE FR US CA TH", package="BG", modes=SEA),
    12: _c((0.3, 5.0), "US BR CA AR AU UA IN CN", package="BG"),
    13: _c((2.0, 30.0), "IN US FR SD CN", package="BG"),
    14: _c((0.5, 3.0), "ID IN CN VN", package="BL", modes=SEA),
    15: _c((0.8, 4.0), "ID MY AR BR US ES IT UA CA", package="DR", modes=SEA),
    16: _c((2.0, 12.0), "TH CN BR US DE PL EC", modes=SEA),
    17: _c((0.4, 3.0), "BR TH IN FR DE MX GT", package="BG", modes=SEA),
    18: _c((2.0, 12.0), "CI GH EC NL DE BE MY ID", package="BG", modes=SEA),
    19: _c((1.0, 6.0), "DE IT US FR MX CN BE", modes=SEA),
    20: _c((0.8, 5.0), "CN US IT ES NL TR BE", modes=SEA),
    21: _c((1.0, 15.0), "US DE NL FR CN TH", modes=SEA_AIR),
    22: _c((0.4, 3.0), "FR IT ES DE GB MX US NL CL", unit="l", kg_per_unit=(1.05, 1.5), modes=SEA),
    23: _c((0.15, 1.5), "US AR BR NL DE TH", package="BG", modes=SEA),
    24: _c((3.0, 30.0), "BR US ID ZW IN CN", modes=SEA),
    25: _c((0.03, 0.5), "CN DE US TR IN ES IT", kg_per_unit=BULK_RATIO, package="BG", modes=SEA),
    26: _c((0.05, 5.0), "AU BR CL PE ZA CA ID", kg_per_unit=BULK_RATIO, package="JB", modes=SEA),
    27: _c((0.05, 1.5), "SA US QA AU NO AE NG", kg_per_unit=BULK_RATIO, package="DR", modes=SEA),
    28: _c((0.2, 5.0), "CN US DE JP KR IN BE NL", package="DR"),
    29: _c((0.5, 20.0), "CN US DE IN BE JP IE SG", package="DR"),
    30: _c((10.0, 500.0), "DE CH US IE IN BE IT FR", modes=VALUABLE),
    31: _c((0.2, 0.8), "CA MA US CN SA EG", kg_per_unit=BULK_RATIO, package="BG", modes=SEA),
    32: _c((1.0, 15.0), "DE CN US IN JP CH BE", package="DR"),
    33: _c((1.0, 20.0), "FR US DE KR GB IT ES CN"),
    34: _c((0.8, 5.0), "DE US CN FR MY ID"),
    35: _c((1.0, 30.0), "US DE NL FR DK CN", package="DR"),
    36: _c((1.0, 10.0), "CN US DE SE NO", modes=SEA),
    37: _c((5.0, 60.0), "JP US DE CN BE"),
    38: _c((0.5, 30.0), "US DE CN NL JP BE FR", package="DR"),
    39: _c((1.0, 5.0), "CN US DE KR SA BE TW JP", package="BG"),
    40: _c((1.5, 6.0), "TH ID MY CN JP DE US VN"),
    41: _c((1.0, 20.0), "US BR IT AU DE", package="BL", modes=SEA),
    42: _c((10.0, 100.0), "CN IT FR VN IN"),
    43: _c((20.0, 500.0), "CN FI DK IT", modes=VALUABLE),
    44: _c((0.1, 3.0), "CA US SE FI DE BR ID MY NZ CL", package="BE", modes=SEA),
    45: _c((2.0, 10.0), "PT ES IT"),
    46: _c((2.0, 8.0), "CN VN ID PH", modes=SEA),
    47: _c((0.15, 1.0), "BR CA US FI SE CL ID", kg_per_unit=BULK_RATIO, package="BL", modes=SEA),
    48: _c((0.6, 3.0), "DE US CN FI SE IT CA", package="RO", modes=SEA),
    49: _c((3.0, 15.0), "US GB DE CN"),
    50: _c((20.0, 80.0), "CN IT IN", package="BL"),
    51: _c((3.0, 20.0), "AU NZ CN IT ZA", package="BL", modes=SEA),
    52: _c((1.5, 6.0), "US IN CN PK BR UZ TR", package="BL", modes=SEA),
    53: _c((0.5, 5.0), "IN BD BE FR CN", package="BL", modes=SEA),
    54: _c((1.5, 6.0), "CN KR TW IT DE IN", package="RO", modes=SEA),
    55: _c((1.2, 5.0), "CN IN ID TH TR", package="BL", modes=SEA),
    56: _c((1.5, 6.0), "CN DE US IT", modes=SEA),
    57: _c((2.0, 10.0), "IN TR CN BE NL", package="RO", modes=SEA),
    58: _c((4.0, 30.0), "CN IT FR KR", package="RO"),
    59: _c((2.0, 12.0), "CN DE US IT", package="RO", modes=SEA),
    60: _c((3.0, 10.0), "CN KR TW TR VN", package="RO", modes=SEA),
    61: _c((8.0, 40.0), "CN BD VN TR IN KH", unit="pcs", kg_per_unit=(0.15, 0.8)),
    62: _c((8.0, 50.0), "CN BD VN IT TR IN", unit="pcs", kg_per_unit=(0.2, 1.5)),
    63: _c((3.0, 15.0), "CN IN PK TR", package="BL", modes=SEA),
    64: _c((8.0, 60.0), "CN VN ID IT IN BR", unit="pcs", kg_per_unit=(0.6, 1.6)),
    65: _c((10.0, 50.0), "CN VN IT", unit="pcs", kg_per_unit=(0.1, 0.4)),
    66: _c((5.0, 20.0), "CN", unit="pcs", kg_per_unit=(0.3, 0.9), modes=SEA),
    67: _c((5.0, 40.0), "CN", modes=SEA_AIR),
    68: _c((0.1, 2.0), "CN IT IN TR BR ES", package="PX", modes=SEA),
    69: _c((0.3, 3.0), "CN ES IT IN TR", package="PX", modes=SEA),
    70: _c((0.5, 5.0), "CN DE US BE FR", package="CR", modes=SEA),
    71: _c(
        (500.0, 50_000.0),
        "IN BE AE CH HK US GB",
        package="BX",
        kg_per_unit=(1.05, 1.5),
        modes=("air", "express"),
    ),
    72: _c((0.5, 1.2), "CN JP KR DE IN TR BR", kg_per_unit=(1.0, 1.02), package="BE", modes=SEA),
    73: _c((1.0, 6.0), "CN DE IT US JP KR IN", package="PX", modes=SEA),
    74: _c((7.0, 12.0), "CL CN DE JP PE", kg_per_unit=(1.0, 1.03), package="PX", modes=SEA),
    75: _c((15.0, 30.0), "ID CA AU NO FI JP", kg_per_unit=(1.0, 1.03), package="DR", modes=SEA),
    76: _c((2.3, 6.0), "CA AE IN CN DE NO", kg_per_unit=(1.0, 1.03), package="PX", modes=SEA),
    78: _c((2.0, 3.5), "CN KR AU MX", kg_per_unit=(1.0, 1.02), package="PX", modes=SEA),
    79: _c((2.6, 5.0), "CN KR AU CA PE", kg_per_unit=(1.0, 1.02), package="PX", modes=SEA),
    80: _c((28.0, 40.0), "ID MY PE CN BO", kg_per_unit=(1.0, 1.02), package="PX", modes=SEA),
    81: _c((5.0, 80.0), "CN US DE JP", kg_per_unit=(1.02, 1.08), package="DR"),
    82: _c((3.0, 30.0), "CN DE US JP IT SE"),
    83: _c((2.0, 15.0), "CN DE IT US", modes=SEA),
    84: _c((5.0, 60.0), "CN DE US JP IT KR", unit="pcs", kg_per_unit=(3.0, 400.0), package="CS"),
    85: _c((5.0, 80.0), "CN US DE JP KR TW VN MY MX", unit="pcs", kg_per_unit=(0.3, 150.0)),
    86: _c(
        (3.0, 15.0),
        "CN DE FR",
        unit="pcs",
        kg_per_unit=(2000.0, 30_000.0),
        package="NE",
        modes=("sea", "rail"),
    ),
    87: _c((3.0, 15.0), "DE JP US MX KR CN", modes=SEA),
    88: _c(
        (50.0, 1000.0),
        "US FR DE GB",
        unit="pcs",
        kg_per_unit=(5.0, 500.0),
        package="CS",
        modes=("air", "sea"),
    ),
    89: _c(
        (2.0, 20.0),
        "KR CN JP IT NL",
        unit="pcs",
        kg_per_unit=(300.0, 8000.0),
        package="NE",
        modes=SEA,
    ),
    90: _c(
        (30.0, 500.0),
        "US DE JP CN CH IE",
        unit="pcs",
        kg_per_unit=(0.5, 80.0),
        modes=("sea", "air", "air", "express"),
    ),
    91: _c((50.0, 2000.0), "CH CN HK JP", unit="pcs", kg_per_unit=(0.08, 0.6), modes=VALUABLE),
    92: _c((10.0, 80.0), "CN JP DE US ID", unit="pcs", kg_per_unit=(0.5, 60.0)),
    93: _c(
        (30.0, 300.0),
        "US DE IT BE AT CZ",
        unit="pcs",
        kg_per_unit=(1.0, 15.0),
        package="CS",
        modes=("air", "sea"),
    ),
    94: _c((2.0, 15.0), "CN VN PL DE IT MY", unit="pcs", kg_per_unit=(2.0, 60.0), modes=SEA),
    95: _c((3.0, 30.0), "CN VN US DE", unit="pcs", kg_per_unit=(0.2, 20.0), modes=SEA_AIR),
    96: _c((2.0, 20.0), "CN DE US IT", modes=SEA),
    97: _c(
        (200.0, 20_000.0),
        "US GB FR CH IT",
        unit="pcs",
        kg_per_unit=(2.0, 60.0),
        package="CR",
        modes=("air", "air", "sea"),
    ),
}

# Headings (4 digits) and subheadings (6 digits) that trade unlike their chapter.
ADJUST: dict[str, Adjust] = {
    # live animals, per head
    "0101": Adjust(usd_per_kg=(10.0, 200.0), kg_per_unit=(400.0, 650.0), modes=("air", "sea")),
    "0103": Adjust(kg_per_unit=(20.0, 120.0)),
    "0104": Adjust(kg_per_unit=(30.0, 70.0)),
    "0105": Adjust(kg_per_unit=(1.5, 4.0), package="CR", modes=("road", "air")),
    "010511": Adjust(usd_per_kg=(20.0, 60.0), kg_per_unit=(0.045, 0.07), modes=("air",)),
    "010512": Adjust(usd_per_kg=(20.0, 60.0), kg_per_unit=(0.06, 0.09), modes=("air",)),
    "010513": Adjust(usd_per_kg=(20.0, 60.0), kg_per_unit=(0.05, 0.08), modes=("air",)),
    "010514": Adjust(usd_per_kg=(20.0, 60.0), kg_per_unit=(0.1, 0.14), modes=("air",)),
    "010515": Adjust(usd_per_kg=(20.0, 60.0), kg_per_unit=(0.04, 0.06), modes=("air",)),
    "0106": Adjust(usd_per_kg=(10.0, 200.0), kg_per_unit=(0.2, 30.0), package="CR", modes=("air",)),
    "010641": Adjust(unit="kg", kg_per_unit=(1.3, 2.0), usd_per_kg=(30.0, 120.0)),
    "010649": Adjust(unit="kg", kg_per_unit=(1.5, 3.0), usd_per_kg=(50.0, 500.0)),
    # animal products, spices and seeds that sell by the gram
    "0501": Adjust(usd_per_kg=(20.0, 300.0), modes=AIR),
    "0510": Adjust(usd_per_kg=(50.0, 2000.0), modes=AIR),
    "0603": Adjust(usd_per_kg=(2.0, 10.0), modes=("air",)),
    "0905": Adjust(usd_per_kg=(80.0, 400.0), modes=("air", "sea")),
    "091020": Adjust(usd_per_kg=(1000.0, 5000.0), modes=AIR),
    "1209": Adjust(usd_per_kg=(2.0, 200.0), modes=SEA_AIR),
    "1211": Adjust(usd_per_kg=(2.0, 50.0)),
    # beverages, per litre (REF §4 for PET water; glass wine/spirits bottles GUESS)
    "2201": Adjust(
        usd_per_kg=COVER["water.usd_per_kg"].span,
        kg_per_unit=COVER["water.pet_kg_per_litre"].span,
        stowage_kg_per_m3=COVER["water.stowage_kg_per_m3"].span,
        source=COVER["water.pet_kg_per_litre"].source,
    ),
    "2202": Adjust(usd_per_kg=(0.4, 2.0), kg_per_unit=(1.05, 1.15)),
    "2203": Adjust(usd_per_kg=(0.8, 3.0), kg_per_unit=(1.1, 1.5)),
    "2204": Adjust(usd_per_kg=(2.0, 30.0), kg_per_unit=(1.3, 1.7)),
    "220430": Adjust(usd_per_kg=(0.5, 2.0), kg_per_unit=(1.0, 1.1), package="DR"),
    "2205": Adjust(usd_per_kg=(2.0, 10.0), kg_per_unit=(1.3, 1.7)),
    "2206": Adjust(usd_per_kg=(1.0, 5.0), kg_per_unit=(1.1, 1.5)),
    "2207": Adjust(usd_per_kg=(0.5, 1.2), kg_per_unit=(0.79, 0.83), package="DR"),
    "2208": Adjust(usd_per_kg=(3.0, 60.0), kg_per_unit=(1.3, 1.8)),
    "2209": Adjust(usd_per_kg=(0.5, 3.0), kg_per_unit=(1.05, 1.3)),
    "2402": Adjust(usd_per_kg=(15.0, 60.0)),
    # graphite: flake is controlled (REF §2); other natural graphite is not
    "2504": Adjust(usd_per_kg=(0.5, 2.0), origins=("CN", "MZ", "MG", "BR", "IN", "TZ")),
    # ores and concentrates, per metal content (GUESS from 2025 metal prices)
    "2601": Adjust(usd_per_kg=(0.08, 0.15)),
    "2603": Adjust(usd_per_kg=(2.0, 3.5), origins=("CL", "PE", "AU", "CA", "MX")),
    "2605": Adjust(usd_per_kg=(5.0, 15.0), origins=("CD", "ZM", "AU")),
    "2606": Adjust(usd_per_kg=(0.04, 0.09), origins=("AU", "GN", "BR", "ID")),
    "2608": Adjust(usd_per_kg=(1.0, 1.6), origins=("AU", "PE", "BO", "IN", "US")),
    "2609": Adjust(usd_per_kg=(10.0, 20.0), origins=("MM", "ID", "BO", "PE", "CD", "RW")),
    "2610": Adjust(usd_per_kg=(0.2, 0.4), origins=("ZA", "KZ", "TR", "IN")),
    "2611": Adjust(usd_per_kg=(10.0, 25.0), origins=("RW", "BO", "PT", "ES", "VN", "KR")),
    "2612": Adjust(usd_per_kg=(50.0, 200.0), origins=("KZ", "CA", "AU", "NA", "UZ"), package="DR"),
    "2613": Adjust(usd_per_kg=(20.0, 45.0), origins=("CL", "US", "PE", "MX")),
    "2614": Adjust(usd_per_kg=(0.2, 0.5), origins=("AU", "ZA", "MZ", "SN", "NO")),
    "261510": Adjust(usd_per_kg=(1.0, 2.5), origins=("AU", "ZA", "MZ", "SN")),
    "261590": Adjust(
        usd_per_kg=(20.0, 150.0), origins=("BR", "RW", "CD", "NG", "AU"), package="DR"
    ),
    "2616": Adjust(usd_per_kg=(5.0, 500.0), origins=("PE", "MX", "CL", "US", "CA")),
    "2617": Adjust(usd_per_kg=(1.0, 25.0), origins=("TJ", "RU", "BO", "TR", "AU")),
    "2618": Adjust(usd_per_kg=(0.02, 0.1)),
    "2619": Adjust(usd_per_kg=(0.02, 0.2)),
    "2620": Adjust(usd_per_kg=(0.2, 5.0), origins=("DE", "US", "BE", "JP", "KR")),
    "2621": Adjust(usd_per_kg=(0.01, 0.1)),
    "2716": Adjust(usd_per_kg=(0.05, 0.2), unit="kg", origins=("FR", "NO", "CA", "PY")),
    # inorganic chemicals that are rare, precious or controlled
    "280130": Adjust(usd_per_kg=(2.0, 8.0)),
    "280120": Adjust(usd_per_kg=(30.0, 80.0), origins=("CL", "JP", "US")),
    "2804": Adjust(usd_per_kg=(1.0, 20.0), package="CS"),
    "280450": Adjust(usd_per_kg=(50.0, 150.0)),
    "280490": Adjust(usd_per_kg=(15.0, 40.0), origins=("JP", "DE", "BE", "CN")),
    "2805": Adjust(usd_per_kg=(3.0, 150.0), origins=("CN", "US", "DE", "JP")),
    "280530": Adjust(usd_per_kg=(50.0, 1500.0)),
    "280540": Adjust(usd_per_kg=(50.0, 150.0), origins=("MX", "CN", "KG")),
    "2825": Adjust(usd_per_kg=(2.0, 40.0)),
    "282560": Adjust(usd_per_kg=(1000.0, 2500.0)),
    "282580": Adjust(usd_per_kg=(15.0, 60.0)),
    "283691": Adjust(usd_per_kg=(8.0, 25.0), origins=("CL", "AR", "CN", "AU")),
    "282520": Adjust(usd_per_kg=(8.0, 25.0), origins=("CN", "CL", "US")),
    "2841": Adjust(usd_per_kg=(1.0, 20.0)),
    "284180": Adjust(usd_per_kg=(40.0, 100.0)),
    "2843": Adjust(
        usd_per_kg=(500.0, 50_000.0),
        modes=AIR,
        package="BX",
        origins=("DE", "BE", "GB", "ZA", "US", "JP"),
    ),
    "2844": Adjust(
        usd_per_kg=(50.0, 10_000.0),
        package="DR",
        origins=("CA", "KZ", "FR", "US", "DE", "NL", "GB"),
    ),
    "2845": Adjust(
        usd_per_kg=(300.0, 20_000.0),
        package="CS",
        modes=AIR,
        origins=("US", "CA", "RU", "DE", "NL", "FR"),
    ),
    "284610": Adjust(usd_per_kg=(2.0, 10.0), origins=("CN", "CN", "MY", "EE")),
    "284690": Adjust(usd_per_kg=(10.0, 1000.0)),
    "284990": Adjust(usd_per_kg=(40.0, 100.0)),
    "2852": Adjust(usd_per_kg=(50.0, 200.0)),
    # organic chemicals and medicines that sell by the gram
    "2936": Adjust(usd_per_kg=(5.0, 100.0), modes=SEA_AIR),
    "2937": Adjust(usd_per_kg=(100.0, 50_000.0), modes=AIR, package="BX"),
    "2939": Adjust(usd_per_kg=(10.0, 5000.0), modes=SEA_AIR),
    "2941": Adjust(usd_per_kg=(20.0, 500.0), modes=SEA_AIR),
    "3002": Adjust(usd_per_kg=(100.0, 20_000.0), modes=AIR, package="BX"),
    "3006": Adjust(usd_per_kg=(5.0, 100.0), modes=SEA_AIR),
    "3213": Adjust(usd_per_kg=(5.0, 40.0)),
    "3301": Adjust(usd_per_kg=(10.0, 200.0), modes=SEA_AIR),
    "3303": Adjust(usd_per_kg=(20.0, 200.0), modes=SEA_AIR),
    "3304": Adjust(usd_per_kg=(5.0, 60.0), modes=SEA_AIR),
    "3507": Adjust(usd_per_kg=(5.0, 100.0)),
    "3601": Adjust(usd_per_kg=(2.0, 8.0)),
    # solder paste: small jars (REF §3, §4)
    "381010": Adjust(
        usd_per_kg=COVER["solder.usd_per_kg"].span,
        kg_per_unit=(1.08, 1.2),
        package="CT",
        stowage_kg_per_m3=(400.0, 700.0),
        modes=("air", "air", "express", "sea"),
        source="REF §3, §4",
    ),
    "3818": Adjust(
        usd_per_kg=(50.0, 2000.0),
        origins=("JP", "TW", "KR", "DE", "US", "MY"),
        modes=AIR,
        package="BX",
    ),
    "3915": Adjust(usd_per_kg=(0.2, 0.6), kg_per_unit=BULK_RATIO, package="BL"),
    "4011": Adjust(unit="pcs", kg_per_unit=(7.0, 60.0), usd_per_kg=(2.5, 5.0), package="NE"),
    "4015": Adjust(usd_per_kg=(2.5, 8.0)),
    "4403": Adjust(unit="m3", kg_per_unit=(550.0, 950.0), usd_per_kg=(0.1, 0.5), package="NE"),
    "4407": Adjust(unit="m3", kg_per_unit=(450.0, 800.0), usd_per_kg=(0.3, 1.5)),
    "4412": Adjust(unit="m3", kg_per_unit=(550.0, 720.0), usd_per_kg=(0.5, 1.2), package="PX"),
    "4420": Adjust(usd_per_kg=(3.0, 15.0), package="CT"),
    "4707": Adjust(usd_per_kg=(0.1, 0.3)),
    "4907": Adjust(usd_per_kg=(10.0, 500.0), modes=AIR, package="BX"),
    "5102": Adjust(usd_per_kg=(30.0, 150.0)),
    "6309": Adjust(usd_per_kg=(0.3, 1.5), package="BL"),
    "6310": Adjust(usd_per_kg=(0.2, 0.8), package="BL"),
    "6704": Adjust(usd_per_kg=(50.0, 500.0), modes=SEA_AIR, package="CT"),
    "6804": Adjust(usd_per_kg=(2.0, 10.0)),
    # ceramic tiles in m² (REF §4)
    "6907": Adjust(
        unit="m2",
        kg_per_unit=COVER["tile.kg_per_m2"].span,
        usd_per_kg=COVER["tile.usd_per_kg"].span,
        stowage_kg_per_m3=COVER["tile.stowage_kg_per_m3"].span,
        source="REF §4 [S33][S34][S47]",
    ),
    "6909": Adjust(usd_per_kg=(2.0, 20.0), package="CT"),
    "6911": Adjust(usd_per_kg=(1.5, 5.0), package="CT"),
    # precious stones and metals (GUESS: gold ~$100,000/kg, silver ~$1,000-1,600/kg 2025)
    "7101": Adjust(usd_per_kg=(200.0, 20_000.0)),
    "7102": Adjust(usd_per_kg=(50_000.0, 2_000_000.0), kg_per_unit=(1.5, 4.0)),
    "710221": Adjust(usd_per_kg=(2000.0, 20_000.0)),
    "710229": Adjust(usd_per_kg=(2000.0, 20_000.0)),
    "7103": Adjust(usd_per_kg=(1000.0, 500_000.0), kg_per_unit=(1.2, 3.0)),
    "7104": Adjust(usd_per_kg=(100.0, 50_000.0)),
    "7105": Adjust(usd_per_kg=(50.0, 2000.0)),
    "7106": Adjust(usd_per_kg=(800.0, 1600.0), origins=("MX", "PE", "PL", "CH", "GB", "AU")),
    "7107": Adjust(usd_per_kg=(400.0, 1000.0)),
    "7108": Adjust(usd_per_kg=(60_000.0, 110_000.0), origins=("CH", "GB", "AE", "AU", "ZA")),
    "7109": Adjust(usd_per_kg=(10_000.0, 60_000.0)),
    "7110": Adjust(usd_per_kg=(25_000.0, 80_000.0), origins=("ZA", "CH", "GB", "DE", "US")),
    "7111": Adjust(usd_per_kg=(5000.0, 60_000.0)),
    "7112": Adjust(usd_per_kg=(500.0, 20_000.0), kg_per_unit=(1.03, 1.2), modes=AIR),
    "7113": Adjust(usd_per_kg=(2000.0, 60_000.0)),
    "7114": Adjust(usd_per_kg=(1000.0, 20_000.0)),
    "7115": Adjust(usd_per_kg=(1000.0, 50_000.0)),
    "7116": Adjust(usd_per_kg=(100.0, 20_000.0)),
    "7117": Adjust(usd_per_kg=(10.0, 60.0), modes=SEA_AIR, package="CT"),
    "7118": Adjust(usd_per_kg=(1000.0, 100_000.0)),
    # iron and steel: ferro-alloys and stainless sell dearer than carbon steel
    "7201": Adjust(usd_per_kg=(0.35, 0.55), package="NE"),
    "7202": Adjust(usd_per_kg=(1.0, 3.0), package="JB"),
    "720270": Adjust(usd_per_kg=(25.0, 45.0), package="DR"),
    "720280": Adjust(usd_per_kg=(25.0, 50.0), package="DR"),
    "720291": Adjust(usd_per_kg=(4.0, 7.0)),
    "720292": Adjust(usd_per_kg=(20.0, 40.0), package="DR"),
    "720293": Adjust(usd_per_kg=(40.0, 55.0), package="DR", origins=("BR", "CA")),
    "720299": Adjust(usd_per_kg=(2.0, 30.0), package="DR"),
    "7204": Adjust(usd_per_kg=(0.25, 0.5), package="NE"),
    "7205": Adjust(usd_per_kg=(0.9, 12.0), package="BG"),
    "7218": Adjust(usd_per_kg=(2.0, 5.0)),
    "7219": Adjust(usd_per_kg=(2.0, 5.0)),
    "7220": Adjust(usd_per_kg=(2.0, 5.0)),
    "7221": Adjust(usd_per_kg=(2.0, 5.0)),
    "7222": Adjust(usd_per_kg=(2.0, 5.0)),
    "7223": Adjust(usd_per_kg=(2.0, 6.0)),
    "7401": Adjust(usd_per_kg=(3.0, 6.0)),
    "7404": Adjust(usd_per_kg=COMMON_METAL_USD_PER_KG["copper_scrap"].span, package="NE"),
    "7501": Adjust(usd_per_kg=(8.0, 14.0)),
    "7503": Adjust(usd_per_kg=(8.0, 14.0)),
    "7504": Adjust(usd_per_kg=COMMON_METAL_USD_PER_KG["nickel_powder"].span),
    "7602": Adjust(usd_per_kg=(1.5, 2.2), package="NE"),
    "7603": Adjust(usd_per_kg=(3.0, 8.0), package="DR"),
    "7902": Adjust(usd_per_kg=(1.8, 2.6)),
    "7903": Adjust(usd_per_kg=(3.0, 6.0), package="DR"),
    "8002": Adjust(usd_per_kg=(15.0, 25.0)),
    # other base metals, per metal (GUESS from 2024-2025 prices)
    "8101": Adjust(usd_per_kg=(35.0, 120.0), origins=("CN", "AT", "DE", "US", "VN", "JP")),
    "8102": Adjust(usd_per_kg=(40.0, 120.0), origins=("CN", "US", "CL", "AT", "DE")),
    "8103": Adjust(usd_per_kg=(250.0, 600.0), origins=("US", "DE", "CN", "KZ", "TH")),
    "8104": Adjust(usd_per_kg=(2.5, 6.0), origins=("CN", "IL", "US", "BR")),
    "8105": Adjust(usd_per_kg=(25.0, 60.0), origins=("FI", "BE", "NO", "CA", "JP", "CN")),
    "8106": Adjust(usd_per_kg=(8.0, 25.0)),
    "8108": Adjust(usd_per_kg=(5.0, 50.0), origins=("JP", "US", "KZ", "CN", "DE")),
    "8109": Adjust(usd_per_kg=(25.0, 80.0), origins=("US", "FR", "DE", "CN")),
    "8110": Adjust(usd_per_kg=(20.0, 60.0)),
    "8111": Adjust(usd_per_kg=(1.8, 4.0), origins=("ZA", "CN", "GA", "UA")),
    "81121": Adjust(usd_per_kg=(500.0, 1500.0), origins=("US", "KZ"), modes=AIR),
    "81122": Adjust(usd_per_kg=(10.0, 20.0), origins=("CN", "RU", "FR", "GB")),
    "81123": Adjust(usd_per_kg=(1500.0, 6000.0), origins=("FR", "US", "DE"), modes=AIR),
    "81124": Adjust(usd_per_kg=(1500.0, 4000.0), origins=("CL", "US", "PL", "DE"), modes=AIR),
    "81125": Adjust(usd_per_kg=(4000.0, 9000.0), origins=("DE", "US", "BE"), modes=AIR),
    "81126": Adjust(usd_per_kg=(2.0, 6.0), origins=("KR", "CN", "NL", "CA", "MX")),
    "811292": Adjust(usd_per_kg=(200.0, 2500.0), modes=AIR, package="BX"),
    "811299": Adjust(usd_per_kg=(100.0, 1500.0), modes=AIR, package="BX"),
    "8113": Adjust(usd_per_kg=(40.0, 150.0)),
    "8209": Adjust(usd_per_kg=(60.0, 400.0), modes=VALUABLE),
    # machinery and electronics that are light for their value, or heavy for their count
    "8407": Adjust(kg_per_unit=(30.0, 900.0)),
    "8415": Adjust(kg_per_unit=(25.0, 90.0), usd_per_kg=(5.0, 12.0)),
    "8418": Adjust(kg_per_unit=(35.0, 130.0), usd_per_kg=(3.0, 7.0)),
    "8450": Adjust(kg_per_unit=(50.0, 95.0), usd_per_kg=(3.0, 7.0)),
    "8411": Adjust(usd_per_kg=(200.0, 2000.0), kg_per_unit=(100.0, 3000.0)),
    "8429": Adjust(kg_per_unit=(2000.0, 30_000.0), usd_per_kg=(6.0, 20.0), package="NE"),
    "8471": Adjust(usd_per_kg=(50.0, 500.0), kg_per_unit=(1.5, 15.0), modes=SEA_AIR),
    "8473": Adjust(usd_per_kg=(30.0, 300.0), kg_per_unit=(0.1, 5.0), modes=SEA_AIR),
    "8486": Adjust(usd_per_kg=(50.0, 500.0), kg_per_unit=(5.0, 2000.0)),
    "8501": Adjust(kg_per_unit=(0.5, 500.0), usd_per_kg=(6.0, 20.0)),
    "8509": Adjust(kg_per_unit=(1.0, 8.0), usd_per_kg=(5.0, 15.0)),
    "8516": Adjust(kg_per_unit=(1.0, 40.0), usd_per_kg=(4.0, 15.0)),
    "8517": Adjust(usd_per_kg=(50.0, 1500.0), kg_per_unit=(0.3, 5.0), modes=VALUABLE),
    "8523": Adjust(usd_per_kg=(100.0, 3000.0), kg_per_unit=(0.02, 0.3), modes=VALUABLE),
    "8528": Adjust(kg_per_unit=(6.0, 35.0), usd_per_kg=(8.0, 25.0)),
    "8536": Adjust(kg_per_unit=(0.01, 1.0), usd_per_kg=(10.0, 60.0)),
    "8539": Adjust(kg_per_unit=(0.02, 0.3), usd_per_kg=(5.0, 40.0)),
    "8541": Adjust(usd_per_kg=(20.0, 2000.0), kg_per_unit=(0.05, 30.0)),
    "854143": Adjust(usd_per_kg=(2.0, 5.0), kg_per_unit=(20.0, 32.0), package="PX", modes=SEA),
    "8542": Adjust(
        usd_per_kg=(300.0, 20_000.0),
        kg_per_unit=(0.01, 0.5),
        modes=VALUABLE,
        origins=("TW", "KR", "MY", "CN", "US", "VN", "PH"),
    ),
    "8544": Adjust(usd_per_kg=(3.0, 15.0), unit="kg", kg_per_unit=(1.05, 1.2), package="RO"),
    "850760": Adjust(
        usd_per_kg=(10.0, 40.0),
        kg_per_unit=(5.0, 60.0),
        modes=SEA,
        origins=("CN", "KR", "JP", "PL", "HU", "US"),
    ),
    # vehicles, per vehicle (GUESS)
    "8701": Adjust(unit="pcs", kg_per_unit=(2000.0, 9000.0), usd_per_kg=(6.0, 15.0), package="NE"),
    "8702": Adjust(
        unit="pcs", kg_per_unit=(5000.0, 14_000.0), usd_per_kg=(8.0, 20.0), package="NE"
    ),
    "8703": Adjust(unit="pcs", kg_per_unit=(1100.0, 2600.0), usd_per_kg=(8.0, 40.0), package="NE"),
    "8704": Adjust(
        unit="pcs", kg_per_unit=(1500.0, 12_000.0), usd_per_kg=(5.0, 15.0), package="NE"
    ),
    "8705": Adjust(
        unit="pcs", kg_per_unit=(5000.0, 40_000.0), usd_per_kg=(8.0, 25.0), package="NE"
    ),
    "8706": Adjust(unit="pcs", kg_per_unit=(500.0, 5000.0)),
    "8707": Adjust(unit="pcs", kg_per_unit=(200.0, 2000.0)),
    "8711": Adjust(unit="pcs", kg_per_unit=(60.0, 300.0), usd_per_kg=(5.0, 30.0), package="CR"),
    "8712": Adjust(unit="pcs", kg_per_unit=(10.0, 20.0), usd_per_kg=(5.0, 40.0)),
    "8713": Adjust(unit="pcs", kg_per_unit=(12.0, 120.0), usd_per_kg=(5.0, 40.0)),
    "8716": Adjust(unit="pcs", kg_per_unit=(100.0, 8000.0), usd_per_kg=(2.0, 8.0), package="NE"),
    "8802": Adjust(kg_per_unit=(700.0, 60_000.0), usd_per_kg=(200.0, 3000.0), package="NE"),
    "8806": Adjust(
        kg_per_unit=(0.5, 30.0), usd_per_kg=(100.0, 1000.0), modes=SEA_AIR, package="CT"
    ),
    "880610": Adjust(kg_per_unit=(300.0, 1500.0)),
    "8901": Adjust(kg_per_unit=(20_000.0, 200_000.0)),
    "8903": Adjust(kg_per_unit=(50.0, 15_000.0), usd_per_kg=(5.0, 60.0)),
    "8908": Adjust(usd_per_kg=(0.2, 0.5), kg_per_unit=(1_000_000.0, 5_000_000.0)),
    "9001": Adjust(usd_per_kg=(20.0, 5000.0), kg_per_unit=(0.05, 20.0)),
    "9002": Adjust(usd_per_kg=(50.0, 5000.0), kg_per_unit=(0.05, 5.0)),
    "901813": Adjust(
        kg_per_unit=(3000.0, 10_000.0), usd_per_kg=(150.0, 600.0), package="CR", modes=SEA
    ),
    "9022": Adjust(kg_per_unit=(50.0, 3000.0), usd_per_kg=(50.0, 500.0), package="CR"),
    "9101": Adjust(usd_per_kg=(10_000.0, 100_000.0)),
    "9102": Adjust(usd_per_kg=(50.0, 2000.0)),
    "9306": Adjust(unit="kg", kg_per_unit=(1.1, 1.3), usd_per_kg=(10.0, 40.0)),
    "9403": Adjust(kg_per_unit=(8.0, 80.0), usd_per_kg=(2.0, 8.0)),
    "9405": Adjust(kg_per_unit=(0.5, 15.0), usd_per_kg=(5.0, 20.0)),
    "9406": Adjust(unit="kg", kg_per_unit=(1.0, 1.05), usd_per_kg=(1.0, 4.0), package="NE"),
    "9503": Adjust(usd_per_kg=(4.0, 15.0)),
    # mannequins, per piece (REF §4)
    "9618": Adjust(
        unit="pcs",
        kg_per_unit=COVER["mannequin.plastic_kg"].span,
        usd_per_kg=COVER["mannequin.usd_per_kg"].span,
        stowage_kg_per_m3=COVER["mannequin.stowage_kg_per_m3"].span,
        source="REF §4 [S42]",
    ),
    "9701": Adjust(usd_per_kg=(500.0, 50_000.0)),
    "9705": Adjust(usd_per_kg=(100.0, 10_000.0)),
}


def profile_for(code: str) -> TradeProfile:
    """The typical trade of a six-digit subheading: its chapter's profile, then what its
    heading and subheading change (longest prefix last), then the export-control status."""
    profile = CHAPTERS[int(code[:2])]
    for length in (4, 5, 6):
        adjust = ADJUST.get(code[:length])
        if adjust is not None:
            changes = {
                f.name: getattr(adjust, f.name)
                for f in fields(adjust)
                if getattr(adjust, f.name) is not None
            }
            profile = replace(profile, **changes)
    if code in CONTROLLED_SUBHEADINGS:
        profile = replace(
            profile,
            licensed=True,
            origins=PRODUCERS_BY_SUBHEADING.get(code, profile.origins),
            source=f"{profile.source}; licensed producer, REF §2",
        )
    elif code in BROAD_CONTROLLED_SUBHEADINGS:
        outside = tuple(c for c in profile.origins if c != "CN") or ("DE", "US", "JP")
        profile = replace(profile, origins=outside)
    return profile


# ------------------------------------------------------------------------- packing

# Gross kg per package and gross kg per m³ as stowed, by UN/ECE Rec. 21 package code: GUESS
# (a carton a person lifts, a 200 l drum, a 1 t jumbo bag, a pallet of 0.5-1.2 t...).
PACKING: dict[str, tuple[Span, Span]] = {
    "CT": ((6.0, 25.0), (150.0, 450.0)),  # carton
    "BX": ((3.0, 30.0), (200.0, 800.0)),  # box
    "BG": ((20.0, 50.0), (500.0, 900.0)),  # bag
    "SA": ((25.0, 50.0), (600.0, 1000.0)),  # sack
    "JB": ((500.0, 1200.0), (700.0, 1500.0)),  # jumbo bag
    "DR": ((150.0, 260.0), (600.0, 1100.0)),  # drum
    "PX": ((400.0, 1300.0), (600.0, 2000.0)),  # pallet
    "PL": ((5.0, 25.0), (500.0, 1000.0)),  # pail
    "BL": ((150.0, 250.0), (300.0, 600.0)),  # bale
    "RO": ((30.0, 600.0), (300.0, 700.0)),  # roll
    "CS": ((20.0, 400.0), (150.0, 400.0)),  # case
    "CR": ((20.0, 400.0), (100.0, 350.0)),  # crate
    "BE": ((800.0, 3000.0), (900.0, 3000.0)),  # bundle
    "NE": ((1.0, 1.0), (150.0, 500.0)),  # unpacked: one "package" a piece
    "VL": ((15_000.0, 24_000.0), (850.0, 950.0)),  # bulk liquid (flexitank, ISO tank)
}
