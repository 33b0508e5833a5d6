"""Hypothesis strategies: random manifests and random rules from the grammar.

Numbers and texts in rules and in manifests are drawn from shared pools, so generated
conditions hit their boundaries (equal values, texts that do contain the needle) often.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

from assay.engine.contracts import iso6346_check_digit

NUMBERS = [
    0.0,
    0.5,
    1.0,
    1.15,
    1.25,
    2.0,
    2.5,
    10.0,
    25.0,
    100.0,
    365.0,
    1e-07,
    3.5e-05,
    1e20,
    12345.678,
]
TEXTS = [
    "WATER",
    "GLASS",
    "SOLDER PASTE",
    "PASTE",
    "镝",
    "DISPROSIO",
    "63.5%",
    "A'B",
    "X/Y",
    "(1)",
    "[A]",
    "1+1",
    "Ü",
    "CN",
    "TH",
    "2805",
    "850511",
    "MM",
]
DESCRIPTION_PARTS = [
    *TEXTS,
    "DRINKING",
    "PET",
    "10MM",
    "2CM",
    "MANNEQUINS",
    "über",
    "agua",
    'QUOTE"D',
    "BACK\\SLASH",
    "TAB\tBED",
    "NUL\x00L",
    "  ",
    "水",
    "玻璃瓶",
    "ÓXIDO",
    "ﬁne",
    "DY2O3",
]
COUNTRIES = ["CN", "TH", "MX", "ES", "US", "SG", "VN"]
HS_CODES = ["280530", "284690", "850511", "381010", "690721", "220190", "961800", "2805301100"]
UNITS = ["kg", "l", "m2", "m3", "pcs"]

NUMBER_FIELDS = [
    "item.gross_mass_kg",
    "item.net_mass_kg",
    "item.quantity",
    "item.value",
    "item.volume_m3",
    "item.packages",
    "item.line",
    "item.kg_per_litre",
    "item.kg_per_package",
    "item.kg_per_m2",
    "item.usd_per_kg",
    "item.value_usd",
    "item.thickness_mm",
    "item.density_kg_per_litre",
    "item.licence_count",
    "manifest.consignor_age_days",
    "manifest.item_count",
    "manifest.total_value_usd",
    "manifest.routing_length",
]
TEXT_FIELDS = [
    "item.description",
    "item.hs6",
    "item.hs_code",
    "item.hs4",
    "item.origin_country",
    "item.quantity_unit",
    "item.package_type",
    "item.currency",
    "manifest.consignor.name",
    "manifest.consignor.country",
    "manifest.routing_first",
    "manifest.notify_party.name",
    "manifest.port_of_loading",
]
SET_FIELDS = ["item.terms", "manifest.countries_of_routing", "item.licences"]
SET_MEMBERS = [
    "WATER",
    "GLASS",
    "DYSPROSIUM",
    "MANNEQUIN",
    "SOLDER_PASTE",
    "CN",
    "TH",
    "ES",
    "LIC-1",
]
BOOL_FIELDS = [
    "item.origin_differs_from_export",
    "item.routing_starts_outside_origin",
    "item.origin_in_routing",
]


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _number(value: float) -> str:
    return repr(value)


# ------------------------------------------------------------------------------- rules


def number_values(depth: int = 0) -> st.SearchStrategy[str]:
    base = st.one_of(
        st.sampled_from(NUMBER_FIELDS),
        st.sampled_from(NUMBERS).map(_number),
    )
    if depth >= 1:
        return base
    return st.one_of(
        base,
        st.tuples(number_values(depth + 1), st.sampled_from("+-*/"), number_values(depth + 1)).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        number_values(depth + 1).map(lambda v: f"-{v}"),
    )


def _regex_atom() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from([*"ABWX0159 ", "\\.", "\\%", "\\(", "镝", "Ü", "'"]),
        st.just("."),
        st.sampled_from(["[A-Z]", "[0-9]", "[AEIOU]", "\\d", "\\w", "\\s", "[A-F0-3]"]),
    )


def _regex_piece() -> st.SearchStrategy[str]:
    quantifier = st.sampled_from(["", "", "*", "+", "?", "{2}", "{1,3}"])
    plain = st.tuples(_regex_atom(), quantifier).map("".join)
    group = st.tuples(st.lists(_regex_atom(), min_size=1, max_size=3).map("".join), quantifier).map(
        lambda t: f"({t[0]}){t[1]}"
    )
    return st.one_of(plain, plain, group)


def regexes() -> st.SearchStrategy[str]:
    body = st.one_of(
        st.lists(_regex_piece(), min_size=1, max_size=5).map("".join),
        st.sampled_from(TEXTS).map(
            lambda t: "".join("\\" + c if c in ".()[]+*?{}%" else c for c in t)
        ),
    )
    return st.tuples(st.sampled_from(["", "^"]), body, st.sampled_from(["", "$"])).map("".join)


def leaves() -> st.SearchStrategy[str]:
    compare_numbers = st.tuples(
        number_values(), st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), number_values()
    ).map(" ".join)
    compare_texts = st.tuples(
        st.sampled_from(TEXT_FIELDS),
        st.sampled_from(["==", "!="]),
        st.one_of(
            st.sampled_from(TEXTS + COUNTRIES + HS_CODES).map(_quote), st.sampled_from(TEXT_FIELDS)
        ),
    ).map(" ".join)
    text_lists = st.lists(
        st.sampled_from(TEXTS + COUNTRIES + HS_CODES), min_size=1, max_size=4
    ).map(lambda xs: "[" + ", ".join(_quote(x) for x in xs) + "]")
    number_lists = st.lists(st.sampled_from(NUMBERS), min_size=1, max_size=3).map(
        lambda xs: "[" + ", ".join(_number(x) for x in xs) + "]"
    )
    membership = st.one_of(
        st.tuples(st.sampled_from(TEXT_FIELDS), st.sampled_from(["in", "not in"]), text_lists).map(
            " ".join
        ),
        st.tuples(
            st.sampled_from(TEXT_FIELDS),
            st.sampled_from(["in", "not in"]),
            st.just("ref.lists.hs6"),
        ).map(" ".join),
        st.tuples(number_values(1), st.sampled_from(["in", "not in"]), number_lists).map(" ".join),
        st.tuples(
            st.sampled_from(SET_MEMBERS).map(_quote),
            st.sampled_from(["in", "not in"]),
            st.sampled_from(SET_FIELDS),
        ).map(" ".join),
    )
    text_ops = st.tuples(
        st.sampled_from(TEXT_FIELDS),
        st.sampled_from(
            ["contains", "starts with", "ends with", "contains any of", "starts with any of"]
        ),
        st.sampled_from(TEXTS + HS_CODES),
    ).map(
        lambda t: (
            f"{t[0]} {t[1]} " + (f'[{_quote(t[2])}, "ZZ"]' if "any of" in t[1] else _quote(t[2]))
        )
    )
    matches = st.tuples(st.sampled_from(TEXT_FIELDS), regexes()).map(
        lambda t: f"{t[0]} matches {_quote(t[1])}"
    )
    presence = st.tuples(
        st.sampled_from(NUMBER_FIELDS + TEXT_FIELDS + BOOL_FIELDS),
        st.sampled_from(["is present", "is missing"]),
    ).map(" ".join)
    truth = st.sampled_from(BOOL_FIELDS)
    return st.one_of(compare_numbers, compare_texts, membership, text_ops, matches, presence, truth)


def conditions(depth: int = 0) -> st.SearchStrategy[str]:
    if depth >= 2:
        return leaves()
    sub = conditions(depth + 1)
    return st.one_of(
        leaves(),
        st.tuples(sub, st.sampled_from(["and", "or"]), sub).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        sub.map(lambda x: f"not ({x})"),
    )


# --------------------------------------------------------------------------- manifests


def _container(owner: str, serial: int) -> str:
    head = f"{owner}U{serial:06d}"
    return head + str(iso6346_check_digit(head))


@st.composite
def items(draw: st.DrawFn, line: int) -> dict[str, Any]:
    number = st.one_of(st.sampled_from([x for x in NUMBERS if 0 < x <= 1e6]), st.floats(0.001, 1e6))
    item: dict[str, Any] = {
        "line": line,
        "hs_code": draw(st.sampled_from(HS_CODES)),
        "description": draw(
            st.lists(st.sampled_from(DESCRIPTION_PARTS), min_size=1, max_size=5)
            .map(" ".join)
            .filter(lambda s: s.strip() != "")
        ),
        "origin_country": draw(st.sampled_from(COUNTRIES)),
        "gross_mass_kg": draw(number),
    }
    if draw(st.booleans()):
        item["quantity"] = draw(number)
        item["quantity_unit"] = draw(st.sampled_from(UNITS))
    if draw(st.booleans()):
        item["net_mass_kg"] = item["gross_mass_kg"] * draw(st.sampled_from([1.0, 0.5, 0.9]))
    if draw(st.booleans()):
        item["volume_m3"] = draw(number)
    if draw(st.booleans()):
        item["value"] = draw(st.one_of(st.just(0.0), number))
        item["currency"] = draw(st.sampled_from(["USD", "EUR", "CNY", "JPY", "THB"]))
    if draw(st.booleans()):
        item["packages"] = draw(st.integers(1, 1000))
        item["package_type"] = draw(st.sampled_from(["CT", "DR", "BG", "PL"]))
    if draw(st.booleans()):
        item["licences"] = draw(
            st.lists(st.sampled_from(["LIC-1", "CN-EXP-2026-1", "x"]), max_size=2, unique=True)
        )
    if draw(st.booleans()):
        item["containers"] = [_container("MSC", draw(st.integers(0, 999_999)))]
    return item


@st.composite
def manifests(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(1, 4))
    lines = draw(st.permutations(list(range(1, count + 1))))
    manifest: dict[str, Any] = {
        "manifest_id": f"H-{draw(st.integers(0, 10**6))}",
        "transport_mode": draw(st.sampled_from(["sea", "air", "road", "express"])),
        "consignor": {
            "name": draw(st.sampled_from([*DESCRIPTION_PARTS, "ACME"])).strip() or "ACME",
            "country": draw(st.sampled_from(COUNTRIES)),
        },
        "consignee": {"name": "BUYER", "country": "US"},
        "country_of_export": draw(st.sampled_from(COUNTRIES)),
        "destination_country": "US",
        "items": [draw(items(line)) for line in lines],
    }
    if draw(st.booleans()):
        manifest["countries_of_routing"] = draw(st.lists(st.sampled_from(COUNTRIES), max_size=4))
    if draw(st.booleans()):
        manifest["filed_at"] = "2026-10-01T00:00:00Z"
        manifest["consignor"]["established_on"] = draw(
            st.sampled_from(["2026-10-01", "2025-10-01", "2000-01-01", "2026-09-30"])
        )
    if draw(st.booleans()):
        manifest["notify_party"] = {"name": draw(st.sampled_from(TEXTS)), "country": "SG"}
    if draw(st.booleans()):
        manifest["port_of_loading"] = draw(st.sampled_from(["CNSGH", "THLCH", "MXZLO"]))
    return copy.deepcopy(manifest)
