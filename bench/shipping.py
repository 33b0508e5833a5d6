"""The parts of a manifest around its goods: parties, ports, routes, documents, dates, money.

Everything draws from the ``random.Random`` it is given (never the clock), so a seed gives the
same manifests on every machine. Ports are UN/LOCODEs checked against geoapify/un-locode's
per-country files (UNECE data); hubs are the ordinary ones of REF §7 (Singapore, Busan,
Panama, Rotterdam, Dubai) plus Tanjung Pelepas and Colombo.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from assay.engine.contracts import iso6346_check_digit
from bench.trade_figures import HOME_CURRENCY, PER_USD, Mode

Json = dict[str, Any]

# Seaports and airports by country (UN/LOCODE; "Pt" entries where the city code is an airport).
SEA_PORTS: dict[str, tuple[str, ...]] = {
    "CN": ("CNSGH", "CNNBG", "CNSHK", "CNNSA", "CNTXG", "CNQDG", "CNXMG", "CNDAG", "CNLYG"),
    "HK": ("HKHKG",),
    "TW": ("TWKHH",),
    "JP": ("JPTYO", "JPYOK", "JPUKB", "JPOSA"),
    "KR": ("KRPUS", "KRINC"),
    "TH": ("THLCH", "THBKK"),
    "VN": ("VNHPH", "VNCLI", "VNDAD"),
    "MY": ("MYPKG", "MYTPP", "MYPEN"),
    "ID": ("IDTPP", "IDSUB"),
    "SG": ("SGSIN",),
    "PH": ("PHMNL",),
    "KH": ("KHKOS",),
    "IN": ("INNSA", "INMUN", "INMAA"),
    "PK": ("PKKHI",),
    "BD": ("BDCGP",),
    "LK": ("LKCMB",),
    "AE": ("AEJEA",),
    "SA": ("SAJED",),
    "OM": ("OMSOH",),
    "QA": ("QAHMD",),
    "TR": ("TRMER", "TRAMB"),
    "EG": ("EGPSD",),
    "MA": ("MAPTM",),
    "DE": ("DEHAM", "DEBRV"),
    "NL": ("NLRTM", "NLAMS"),
    "BE": ("BEANR",),
    "FR": ("FRLEH", "FRMRS"),
    "ES": ("ESVLC", "ESBCN", "ESALG"),
    "IT": ("ITGOA", "ITSPE"),
    "PT": ("PTSIE", "PTLEI"),
    "GB": ("GBFXT", "GBSOU"),
    "IE": ("IEDUB",),
    "PL": ("PLGDN",),
    "SE": ("SEGOT",),
    "FI": ("FIHEL",),
    "DK": ("DKAAR",),
    "GR": ("GRPIR",),
    "NO": ("NOOSL",),
    "US": ("USLAX", "USLGB", "USNYC", "USSAV", "USHOU", "USSEA", "USORF", "USCHS"),
    "CA": ("CAVAN", "CAMTR"),
    "MX": ("MXZLO", "MXLZC", "MXVER", "MXATM"),
    "PA": ("PABLB", "PAMIT"),
    "BR": ("BRSSZ", "BRRIG"),
    "AR": ("ARBUE",),
    "CL": ("CLSAI", "CLVAP"),
    "PE": ("PECLL",),
    "EC": ("ECGYE",),
    "CO": ("COCTG",),
    "CR": ("CRLIO",),
    "GT": ("GTPBR",),
    "AU": ("AUSYD", "AUMEL", "AUBNE"),
    "NZ": ("NZAKL",),
    "ZA": ("ZADUR",),
    "MZ": ("MZMPM", "MZBEW", "MZMNC"),
    "MG": ("MGTMM",),
    "KE": ("KEMBA",),
    "TZ": ("TZDAR",),
    "NG": ("NGAPP",),
    "GH": ("GHTEM",),
    "CI": ("CIABJ",),
}
AIR_PORTS: dict[str, tuple[str, ...]] = {
    "CN": ("CNPVG", "CNCAN", "CNSZX", "CNCTU", "CNCGO", "CNHGH"),
    "HK": ("HKHKG",),
    "JP": ("JPNRT",),
    "KR": ("KRICN",),
    "TW": ("TWTPE",),
    "TH": ("THBKK",),
    "SG": ("SGSIN",),
    "IN": ("INDEL", "INBOM"),
    "AE": ("AEDXB",),
    "DE": ("DEFRA", "DELEJ"),
    "NL": ("NLAMS",),
    "BE": ("BEBRU",),
    "FR": ("FRCDG",),
    "GB": ("GBLHR",),
    "IT": ("ITMIL",),
    "CH": ("CHBSL",),
    "US": ("USJFK", "USORD", "USLAX", "USMIA", "USMEM"),
    "CA": ("CAYYZ",),
    "MX": ("MXMEX",),
    "BR": ("BRGRU",),
    "AU": ("AUSYD",),
    "ZA": ("ZAJNB",),
    "KE": ("KEMBA",),
    "CO": ("COCTG",),
}

# Where goods go (weights: GUESS from the largest importers).
DESTINATIONS: tuple[tuple[str, int], ...] = (
    ("US", 28),
    ("DE", 8),
    ("NL", 6),
    ("GB", 6),
    ("FR", 5),
    ("JP", 6),
    ("KR", 4),
    ("CA", 4),
    ("IT", 3),
    ("ES", 3),
    ("BE", 2),
    ("PL", 2),
    ("AU", 3),
    ("MX", 3),
    ("IN", 2),
    ("AE", 2),
    ("BR", 2),
    ("TR", 2),
    ("SA", 1),
    ("ZA", 1),
    ("CL", 1),
)
# Regions, for hubs that lie on the way (GUESS from the main container services).
_REGIONS: dict[str, str] = {
    **dict.fromkeys(("CN", "HK", "TW", "JP", "KR"), "east_asia"),
    **dict.fromkeys(("TH", "VN", "MY", "ID", "SG", "PH", "KH", "MM", "LA"), "south_east_asia"),
    **dict.fromkeys(("IN", "PK", "BD", "LK"), "south_asia"),
    **dict.fromkeys(("AE", "SA", "OM", "QA", "TR", "EG", "IL"), "middle_east"),
    **dict.fromkeys(("US", "CA", "MX"), "north_america"),
    **dict.fromkeys(
        ("BR", "AR", "CL", "PE", "EC", "CO", "CR", "GT", "HN", "PA", "BO"), "latin_america"
    ),
    **dict.fromkeys(("AU", "NZ", "FJ"), "oceania"),
    **dict.fromkeys(
        (
            "ZA",
            "MZ",
            "MG",
            "KE",
            "TZ",
            "NG",
            "GH",
            "CI",
            "ET",
            "MA",
            "CD",
            "ZM",
            "RW",
            "GN",
            "SN",
            "NA",
            "ZW",
            "SD",
            "GA",
        ),
        "africa",
    ),
}
_HUBS_BY_REGIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("east_asia", "north_america"): ("KR", "PA"),
    ("east_asia", "latin_america"): ("KR", "PA", "SG"),
    ("east_asia", "europe"): ("SG", "MY", "LK", "AE"),
    ("south_east_asia", "north_america"): ("SG", "KR", "PA"),
    ("south_east_asia", "europe"): ("SG", "MY", "LK", "AE"),
    ("south_asia", "north_america"): ("LK", "SG", "AE"),
    ("south_asia", "europe"): ("LK", "AE"),
    ("europe", "north_america"): ("NL",),
    ("europe", "latin_america"): ("NL", "PA"),
    ("europe", "east_asia"): ("NL", "AE", "SG"),
    ("north_america", "east_asia"): ("PA", "KR"),
    ("north_america", "europe"): ("NL",),
    ("latin_america", "europe"): ("PA", "NL"),
    ("latin_america", "north_america"): ("PA",),
    ("latin_america", "east_asia"): ("PA", "KR"),
}


def region(country: str) -> str:
    return _REGIONS.get(country, "europe")


def hub_for(rng: random.Random, origin: str, dest: str) -> str:
    """An ordinary hub on the way from ``origin`` to ``dest`` (REF §7: Singapore, Busan,
    Panama, Rotterdam, Dubai...)."""
    leg = (region(origin), region(dest))
    fallback = {
        "east_asia": ("SG", "KR"),
        "south_east_asia": ("SG", "MY"),
        "south_asia": ("LK", "AE"),
        "middle_east": ("AE",),
        "europe": ("NL", "AE"),
        "north_america": ("PA",),
        "latin_america": ("PA",),
        "oceania": ("SG",),
        "africa": ("AE", "SG"),
    }[leg[0]]
    choices = [h for h in _HUBS_BY_REGIONS.get(leg, fallback) if h not in (origin, dest)]
    return rng.choice(choices or ["SG" if "SG" not in (origin, dest) else "AE"])


# Neighbours that trade by road (GUESS); China-Europe trains for rail.
ROAD_PARTNERS: frozenset[frozenset[str]] = frozenset(
    frozenset(pair)
    for pair in (
        ("MX", "US"),
        ("CA", "US"),
        ("DE", "FR"),
        ("DE", "NL"),
        ("DE", "PL"),
        ("DE", "BE"),
        ("DE", "IT"),
        ("DE", "AT"),
        ("FR", "ES"),
        ("FR", "IT"),
        ("ES", "PT"),
        ("NL", "BE"),
        ("TR", "DE"),
        ("PL", "CZ"),
        ("TH", "MY"),
        ("CN", "VN"),
        ("IT", "AT"),
    )
)
RAIL_ROUTES: frozenset[tuple[str, str]] = frozenset(
    {("CN", "DE"), ("CN", "PL"), ("CN", "NL"), ("CN", "IT"), ("CN", "KZ")}
)

_SUFFIXES: dict[str, tuple[str, ...]] = {
    "CN": ("CO., LTD.", "CO LTD", "IMP & EXP CO LTD", "INDUSTRIAL CO., LTD", "TRADING CO LTD"),
    "HK": ("LIMITED", "CO LTD", "HOLDINGS LTD"),
    "TW": ("CO LTD", "CORP"),
    "DE": ("GMBH", "GMBH & CO. KG", "AG"),
    "AT": ("GMBH",),
    "CH": ("AG", "SA"),
    "US": ("INC", "LLC", "CORP"),
    "CA": ("INC", "LTD"),
    "GB": ("LTD", "PLC"),
    "IE": ("LTD",),
    "FR": ("SAS", "SA", "SARL"),
    "IT": ("S.R.L.", "SPA"),
    "ES": ("SA", "SL"),
    "PT": ("LDA", "SA"),
    "NL": ("B.V.",),
    "BE": ("NV", "BV"),
    "JP": ("CO., LTD.", "CORPORATION"),
    "KR": ("CO., LTD.", "CORP"),
    "IN": ("PVT LTD", "LIMITED"),
    "TH": ("CO., LTD.", "PCL"),
    "MX": ("S.A. DE C.V.", "S. DE R.L. DE C.V."),
    "MY": ("SDN BHD",),
    "SG": ("PTE LTD",),
    "ID": ("PT", "TBK"),
    "VN": ("CO., LTD", "JSC"),
    "BR": ("LTDA", "S.A."),
    "AR": ("S.A.",),
    "CL": ("S.A.", "SPA"),
    "PE": ("S.A.C.",),
    "AU": ("PTY LTD",),
    "NZ": ("LTD",),
    "ZA": ("(PTY) LTD",),
    "TR": ("A.S.", "LTD STI"),
    "AE": ("LLC", "FZE", "FZCO"),
    "PL": ("SP. Z O.O.",),
    "SE": ("AB",),
    "FI": ("OY",),
    "DK": ("A/S",),
    "NO": ("AS",),
}
_PLACES: dict[str, tuple[str, ...]] = {
    "CN": (
        "NINGBO",
        "SHENZHEN",
        "XIAMEN",
        "QINGDAO",
        "FOSHAN",
        "YIWU",
        "GANZHOU",
        "BAOTOU",
        "ZHEJIANG",
        "GUANGDONG",
        "JIANGSU",
        "HUNAN",
        "SHANGHAI",
        "TIANJIN",
    ),
    "DE": ("RHEIN", "BAYERN", "HANSA", "NORD", "SCHWABEN"),
    "US": ("PACIFIC", "ATLANTIC", "MIDWEST", "LONE STAR", "GREAT LAKES"),
    "TH": ("SIAM", "CHONBURI", "RAYONG", "BANGKOK"),
    "MX": ("AZTECA", "DEL BAJIO", "MONTERREY", "JALISCO"),
    "VN": ("SAIGON", "HAI PHONG", "MEKONG", "DONG NAI"),
    "IT": ("EMILIA", "VENETA", "TOSCANA", "LOMBARDA"),
    "ES": ("LEVANTE", "DEL TURIA", "IBERICA", "CASTELLON"),
    "JP": ("NIPPON", "TOKAI", "KANSAI", "OSAKA"),
    "KR": ("HANKOOK", "DAEHAN", "SEOUL", "BUSAN"),
    "IN": ("BHARAT", "GUJARAT", "MAHARASHTRA", "DECCAN"),
}
_WORDS = (
    "GLOBAL",
    "UNITED",
    "SUNRISE",
    "GOLDEN",
    "EVERBRIGHT",
    "PRIME",
    "ORIENT",
    "STAR",
    "NOVA",
    "ATLAS",
    "PIONEER",
    "CRESCENT",
    "SUMMIT",
    "HARBOR",
    "CONTINENTAL",
    "ROYAL",
)

_SCAC = {
    "MSC": "MEDU",
    "MAERSK": "MAEU",
    "CMA CGM": "CMDU",
    "COSCO": "COSU",
    "EVERGREEN": "EGLV",
    "HAPAG-LLOYD": "HLCU",
    "ONE": "ONEY",
    "YANG MING": "YMLU",
    "HMM": "HDMU",
    "ZIM": "ZIMU",
}
_CONTAINER_OWNERS = (
    "MSCU",
    "MSKU",
    "CMAU",
    "CSNU",
    "EGHU",
    "HLXU",
    "ONEU",
    "TGHU",
    "TCLU",
    "FCIU",
    "BMOU",
    "SEGU",
)
_AIRLINES = {
    "LUFTHANSA CARGO": "020",
    "CATHAY PACIFIC": "160",
    "EMIRATES": "176",
    "KOREAN AIR": "180",
    "QATAR AIRWAYS": "157",
    "CHINA SOUTHERN": "784",
    "CARGOLUX": "172",
    "FEDEX": "023",
}
_EXPRESS = ("DHL EXPRESS", "FEDEX", "UPS", "SF EXPRESS")


def weighted(rng: random.Random, choices: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([c for c, _ in choices], [w for _, w in choices])[0]


def filed_at(rng: random.Random) -> datetime:
    """A filing time in 2026 (the year the corpus describes), to the minute."""
    start = datetime(2026, 1, 5, 0, 0)
    return start + timedelta(days=rng.randint(0, 320), minutes=rng.randint(0, 24 * 60 - 1))


def company_name(rng: random.Random, country: str, trade: str) -> str:
    """A company name as forwarders write it: a place or word, a trade, a legal form."""
    first = rng.choice(_PLACES.get(country, _WORDS) + _WORDS[:4])
    suffix = rng.choice(_SUFFIXES.get(country, ("LTD", "CO")))
    if country == "ID" and suffix == "PT":
        return f"PT {first} {trade}"
    return f"{first} {trade} {suffix}"


def party(
    rng: random.Random,
    country: str,
    trade: str,
    filed: datetime,
    age_days: tuple[int, int],
) -> Json:
    """A consignor or consignee registered ``age_days`` before the filing."""
    established = filed.date() - timedelta(days=rng.randint(*age_days))
    result: Json = {"name": company_name(rng, country, trade), "country": country}
    if rng.random() < 0.7:
        result["address"] = f"{rng.randint(1, 999)} {rng.choice(_STREETS)}"
    result["established_on"] = established.isoformat()
    return result


_STREETS = (
    "INDUSTRIAL PARK RD",
    "HARBOUR ROAD",
    "MAIN STREET",
    "LOGISTICS AVE",
    "EXPORT ZONE 3",
    "TECHNOLOGY RD",
    "FREE TRADE ZONE BLDG 2",
    "COMMERCE DR",
)

ESTABLISHED = (3 * 365, 40 * 365)  # most traders were registered years ago: GUESS
NEWLY_REGISTERED = (20, 330)  # under a year before the filing


def destination(rng: random.Random, origin: str) -> str:
    while True:
        country = weighted(rng, DESTINATIONS)
        if country != origin:
            return country


def mode_for(rng: random.Random, modes: tuple[Mode, ...], origin: str, dest: str) -> Mode:
    """A transport mode the goods travel by; road or rail only between partners that have it."""
    candidates = list(modes)
    if frozenset((origin, dest)) in ROAD_PARTNERS and rng.random() < 0.5:
        return "road"
    if (origin, dest) in RAIL_ROUTES and "sea" in candidates and rng.random() < 0.15:
        return "rail"
    candidates = [m for m in candidates if m not in ("road", "rail")] or ["sea"]
    return rng.choice(candidates)


@dataclass(frozen=True)
class Route:
    """How a consignment travels: where it is loaded, through which countries, and by what."""

    mode: Mode
    export_country: str
    destination: str
    via: tuple[str, ...] = ()  # countries between export and destination
    first: str | None = None  # a country before the export country (e.g. transshipment)
    port_of_loading: str | None = None
    port_of_discharge: str | None = None
    show_routing: bool = True

    def routing(self) -> list[str]:
        countries = [self.export_country, *self.via, self.destination]
        if self.first is not None:
            countries.insert(0, self.first)
        return countries


def port(rng: random.Random, country: str, mode: Mode) -> str | None:
    table = AIR_PORTS if mode in ("air", "express") else SEA_PORTS
    ports = table.get(country)
    if mode in ("road", "rail", "postal") or not ports:
        return None
    return rng.choice(ports)


def route(
    rng: random.Random,
    mode: Mode,
    export_country: str,
    dest: str,
    *,
    hub: str | None = None,
    first: str | None = None,
    loading_country: str | None = None,
    show_routing: float = 0.9,
) -> Route:
    """A route with ports for its mode; ``hub`` adds an ordinary transshipment country."""
    via = (hub,) if hub is not None and hub not in (export_country, dest) else ()
    return Route(
        mode=mode,
        export_country=export_country,
        destination=dest,
        via=via,
        first=first,
        port_of_loading=port(rng, loading_country or export_country, mode),
        port_of_discharge=port(rng, dest, mode),
        show_routing=rng.random() < show_routing,
    )


def transport_document(rng: random.Random, mode: Mode) -> tuple[str | None, str | None]:
    """The transport document number and carrier a forwarder files for the mode."""
    if mode == "sea":
        carrier = rng.choice(sorted(_SCAC))
        return f"{_SCAC[carrier]}{rng.randint(10**9, 10**10 - 1)}", carrier
    if mode == "air":
        carrier = rng.choice(sorted(_AIRLINES))
        serial = rng.randint(10**6, 10**7 - 1)
        return f"{_AIRLINES[carrier]}-{serial}{serial % 7}", carrier
    if mode == "express":
        return str(rng.randint(10**9, 10**10 - 1)), rng.choice(_EXPRESS)
    if mode == "road":
        return f"CMR{rng.randint(100000, 999999)}", None
    if mode == "rail":
        return f"CIM{rng.randint(1000000, 9999999)}", "CHINA RAILWAY EXPRESS"
    return None, None


def containers(rng: random.Random, mode: Mode, gross_kg: float) -> list[str]:
    """Container numbers (ISO 6346, check digit computed) for a full-container sea load."""
    if mode not in ("sea", "rail") or gross_kg < 6000:
        return []
    count = max(1, min(4, round(gross_kg / 20_000 + 0.4)))
    ids = []
    for _ in range(count):
        prefix = f"{rng.choice(_CONTAINER_OWNERS)}{rng.randint(0, 999_999):06d}"
        ids.append(f"{prefix}{iso6346_check_digit(prefix)}")
    return ids


# Gross mass of one goods line, by transport mode (GUESS: a 20-26 t container at most by sea,
# an air shipment of tens of kilos to a few tonnes, a parcel of a few kilos).
LOT_GROSS_KG: dict[Mode, tuple[float, float]] = {
    "sea": (1500.0, 24_000.0),
    "rail": (8000.0, 24_000.0),
    "road": (500.0, 22_000.0),
    "air": (40.0, 2500.0),
    "express": (0.5, 45.0),
    "postal": (0.2, 15.0),
}


def currency_for(rng: random.Random, origin: str) -> str:
    """USD mostly; a home currency sometimes (GUESS)."""
    home = HOME_CURRENCY.get(origin)
    if home is not None and rng.random() < 0.35:
        return home
    return "USD"


def in_currency(usd: float, currency: str) -> float:
    return round(usd * PER_USD[currency], 2)


def case_style(rng: random.Random, text: str) -> str:
    """Forwarders write descriptions in capitals mostly, sometimes as typed."""
    draw = rng.random()
    if draw < 0.7:
        return text.upper()
    if draw < 0.8:
        return text.lower()
    return text


def manifest(
    rng: random.Random,
    *,
    manifest_id: str,
    filed: datetime,
    route_: Route,
    consignor: Json,
    consignee: Json,
    items: list[Json],
) -> Json:
    """A manifest in the input contract (README "Input contract")."""
    document, carrier = transport_document(rng, route_.mode)
    result: Json = {"manifest_id": manifest_id, "transport_mode": route_.mode}
    if document is not None:
        result["transport_document"] = document
    if carrier is not None:
        result["carrier"] = carrier
    result["filed_at"] = filed.strftime("%Y-%m-%dT%H:%M:00Z")
    result["consignor"] = consignor
    result["consignee"] = consignee
    result["country_of_export"] = route_.export_country
    result["destination_country"] = route_.destination
    if route_.port_of_loading is not None:
        result["port_of_loading"] = route_.port_of_loading
    if route_.port_of_discharge is not None:
        result["port_of_discharge"] = route_.port_of_discharge
    if route_.show_routing:
        result["countries_of_routing"] = route_.routing()
    result["items"] = items
    return result


def today_of(filed: datetime) -> date:
    return filed.date()
