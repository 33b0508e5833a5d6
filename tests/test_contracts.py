"""The input contract: good manifests pass, bad ones fail with a message naming the field."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from assay.engine import Manifest
from assay.engine.contracts import iso6346_check_digit
from tests.conftest import BASE_MANIFEST, EXAMPLES, SHARED


def _with(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(BASE_MANIFEST)
    for dotted, value in changes.items():
        target: Any = doc
        parts = dotted.split("__")
        for part in parts[:-1]:
            target = target[int(part)] if part.isdigit() else target[part]
        last = parts[-1]
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value
    return doc


_DELETE = object()


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_shared_examples_are_valid(path: Any) -> None:
    manifest = Manifest.model_validate_json(path.read_bytes())
    assert manifest.items


def test_normalises_codes() -> None:
    manifest = Manifest.model_validate(
        _with(country_of_export="es", items__0__hs_code="9403.60", items__0__currency="eur")
    )
    assert manifest.country_of_export == "ES"
    assert manifest.items[0].hs_code == "940360"
    assert manifest.items[0].currency == "EUR"


def _error(doc: dict[str, Any]) -> tuple[str, str]:
    with pytest.raises(ValidationError) as caught:
        Manifest.model_validate(doc)
    first = caught.value.errors()[0]
    return ".".join(str(x) for x in first["loc"]), first["msg"]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"country_of_export": "XX"}, "country_of_export", "'XX' is not an ISO 3166-1 alpha-2"),
        ({"items__0__origin_country": "China"}, "items.0.origin_country", "'CHINA' is not an ISO"),
        ({"items__0__currency": "USX"}, "items.0.currency", "'USX' is not an ISO 4217 currency"),
        ({"items__0__hs_code": "85051"}, "items.0.hs_code", "'85051' is not an HS code"),
        ({"items__0__gross_mass_kg": 0}, "items.0.gross_mass_kg", "greater than 0"),
        ({"items__0__gross_mass_kg": _DELETE}, "items.0.gross_mass_kg", "Field required"),
        ({"items__0__quantity_unit": "tons"}, "items.0.quantity_unit", "'kg', 'l', 'm2', 'm3'"),
        ({"items__0__net_mass_kg": 2500}, "items.0.net_mass_kg", "(2500.0) is greater than gross"),
        ({"items__0__quantity": _DELETE}, "items.0", "quantity and quantity_unit go together"),
        ({"items__0__containers": ["MSCU1234567"]}, "items.0.containers.0", "check digit 7"),
        ({"items__0__containers": ["MSC1234566"]}, "items.0.containers.0", "not an ISO 6346"),
        ({"items__0__package_type": "CARTON"}, "items.0.package_type", "Recommendation 21"),
        ({"port_of_loading": "SHANGHAI"}, "port_of_loading", "is not a UN/LOCODE"),
        ({"transport_mode": "ship"}, "transport_mode", "'sea', 'air', 'road'"),
        ({"manifest_id": "has space"}, "manifest_id", "not a valid identifier"),
        ({"items": []}, "items", "at least 1 item"),
        ({"colour": "red"}, "colour", "Extra inputs are not permitted"),
        ({"items__0__weight": 5}, "items.0.weight", "Extra inputs are not permitted"),
        ({"consignor__established_on": "yesterday"}, "consignor.established_on", "valid date"),
        ({"items__0__description": ""}, "items.0.description", "at least 1 character"),
        ({"items__0__value": -1}, "items.0.value", "greater than or equal to 0"),
    ],
)
def test_bad_input_names_field_and_problem(
    changes: dict[str, Any], field: str, message: str
) -> None:
    where, msg = _error(_with(**changes))
    assert where == field
    assert message in msg


def test_duplicate_lines_are_rejected() -> None:
    doc = _with()
    doc["items"].append(copy.deepcopy(doc["items"][0]))
    where, message = _error(doc)
    assert where == "items"
    assert "goods item line 1 appears more than once" in message


def test_json_and_python_inputs_agree() -> None:
    raw = json.dumps(BASE_MANIFEST)
    assert Manifest.model_validate_json(raw) == Manifest.model_validate(BASE_MANIFEST)


@given(
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=3, max_size=3), st.integers(0, 999_999)
)
def test_iso6346_check_digit_accepts_exactly_one_digit(owner: str, serial: int) -> None:
    head = f"{owner}U{serial:06d}"
    digit = iso6346_check_digit(head)
    doc = _with(items__0__containers=[head + str(digit)])
    assert Manifest.model_validate(doc).items[0].containers == (head + str(digit),)
    wrong = _with(items__0__containers=[head + str((digit + 1) % 10)])
    with pytest.raises(ValidationError):
        Manifest.model_validate(wrong)


def test_packaged_samples_are_the_shared_examples() -> None:
    shared = SHARED / "examples"
    names = sorted(p.name for p in shared.glob("*.json"))
    assert names == sorted(p.name for p in EXAMPLES.glob("*.json")) and names
    for name in names:
        assert (EXAMPLES / name).read_bytes() == (shared / name).read_bytes()
