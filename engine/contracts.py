"""Data contracts at Assay's boundaries: the manifest that comes in, the result that goes out.

Names follow the WCO data model and EU ICS2 where those have one. Everything is validated
here, once; the engine's hot loop works on the plain views built in :mod:`engine.features`.
Unknown fields are rejected; country and currency codes are checked against the ISO code
lists shipped with pycountry.
"""

from __future__ import annotations

import functools
import re
from datetime import date, datetime
from typing import Annotated, Any, Literal, TypeVar

import pycountry
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

COUNTRY_CODES: frozenset[str] = frozenset(c.alpha_2 for c in pycountry.countries)
CURRENCY_CODES: frozenset[str] = frozenset(c.alpha_3 for c in pycountry.currencies)
# UN/LOCODE uses XZ for installations in international waters.
LOCODE_COUNTRIES: frozenset[str] = COUNTRY_CODES | {"XZ"}

TransportMode = Literal["sea", "air", "road", "rail", "postal", "express"]
QuantityUnit = Literal["kg", "l", "m2", "m3", "pcs"]
Channel = Literal["green", "yellow", "red"]
Severity = Literal["low", "medium", "high", "critical"]
# A finding is about the goods themselves (their weight, value, name, heading, licence); an
# indicator is circumstantial (a young consignor, a hub in the routing, a vague description):
# it adds weight to findings and never decides a lane alone.
Role = Literal["finding", "indicator"]

_HS_RE = re.compile(r"^\d{6,10}$")
_LOCODE_RE = re.compile(r"^[A-Z]{2}[A-Z2-9]{3}$")
_CONTAINER_RE = re.compile(r"^[A-Z]{3}[UJZR]\d{7}$")
_PACKAGE_RE = re.compile(r"^[0-9A-Z]{2}$")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$")


# Validators of values that repeat across the goods items of a manifest and across
# manifests (containers, ports, package codes) are memoised: a hash lookup instead of a regex
# and, for containers, the check digit (13 % fewer instructions per manifest validated).
# Rejections raise, so they are never cached.
_remembered = functools.lru_cache(maxsize=65_536)


def _country(value: str) -> str:
    if value not in COUNTRY_CODES:
        value = value.upper()
    if value not in COUNTRY_CODES:
        raise PydanticCustomError(
            "country_code",
            "'{value}' is not an ISO 3166-1 alpha-2 country code (e.g. 'CN', 'TH', 'US')",
            {"value": value},
        )
    return value


def _currency(value: str) -> str:
    if value not in CURRENCY_CODES:
        value = value.upper()
    if value not in CURRENCY_CODES:
        raise PydanticCustomError(
            "currency_code",
            "'{value}' is not an ISO 4217 currency code (e.g. 'USD', 'EUR', 'CNY')",
            {"value": value},
        )
    return value


def _hs_code(value: str) -> str:
    if value.isdigit() and 6 <= len(value) <= 10:
        return value
    digits = value.replace(".", "").replace(" ", "")
    if not _HS_RE.match(digits):
        raise PydanticCustomError(
            "hs_code",
            "'{value}' is not an HS code: write 6 to 10 digits, e.g. '850511' or '8505.11'",
            {"value": value},
        )
    return digits


@_remembered
def _locode(value: str) -> str:
    value = value.upper()
    if not _LOCODE_RE.match(value) or value[:2] not in LOCODE_COUNTRIES:
        raise PydanticCustomError(
            "locode",
            "'{value}' is not a UN/LOCODE: a country code and three letters or digits 2-9, "
            "e.g. 'CNSGH'",
            {"value": value},
        )
    return value


_ISO6346_VALUES = {
    **{digit: int(digit) for digit in "0123456789"},
    **dict(
        zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ", [n for n in range(10, 39) if n % 11 != 0], strict=True)
    ),
}


def iso6346_check_digit(owner_serial: str) -> int:
    """Check digit of the first ten characters of an ISO 6346 container number."""
    v = _ISO6346_VALUES
    c = owner_serial
    total = (
        v[c[0]]
        + 2 * v[c[1]]
        + 4 * v[c[2]]
        + 8 * v[c[3]]
        + 16 * v[c[4]]
        + 32 * v[c[5]]
        + 64 * v[c[6]]
        + 128 * v[c[7]]
        + 256 * v[c[8]]
        + 512 * v[c[9]]
    )
    return total % 11 % 10


@_remembered
def _container(value: str) -> str:
    value = value.upper()
    if not _CONTAINER_RE.match(value):
        raise PydanticCustomError(
            "container_id",
            "'{value}' is not an ISO 6346 container number: 3 owner letters, a category "
            "letter U/J/Z/R, 6 serial digits and a check digit, e.g. 'MSCU1234566'",
            {"value": value},
        )
    expected = iso6346_check_digit(value[:10])
    if int(value[10]) != expected:
        raise PydanticCustomError(
            "container_check_digit",
            "'{value}' has check digit {given}, but ISO 6346 gives {expected} for {prefix}",
            {"value": value, "given": value[10], "expected": expected, "prefix": value[:10]},
        )
    return value


@_remembered
def _package_type(value: str) -> str:
    value = value.upper()
    if not _PACKAGE_RE.match(value):
        raise PydanticCustomError(
            "package_type",
            "'{value}' is not a UN/ECE Recommendation 21 package code: two letters or digits, "
            "e.g. 'CT' carton, 'DR' drum, 'BG' bag, 'PL' pail, 'SA' sack",
            {"value": value},
        )
    return value


def _identifier(value: str) -> str:
    if not _ID_RE.match(value):
        raise PydanticCustomError(
            "identifier",
            "'{value}' is not a valid identifier: 1 to 64 letters, digits and . _ : / - "
            "starting with a letter or digit",
            {"value": value},
        )
    return value


# One Python check per code field (strings arrive stripped: str_strip_whitespace).
CountryCode = Annotated[str, AfterValidator(_country)]
CurrencyCode = Annotated[str, AfterValidator(_currency)]
HsCode = Annotated[str, AfterValidator(_hs_code)]
Locode = Annotated[str, AfterValidator(_locode)]
ContainerId = Annotated[str, AfterValidator(_container)]
PackageType = Annotated[str, AfterValidator(_package_type)]
Identifier = Annotated[str, AfterValidator(_identifier)]
Text = Annotated[str, Field(min_length=1)]

_STRICT = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Party(BaseModel):
    """A consignor, consignee or notify party."""

    model_config = _STRICT

    name: Annotated[str, Field(min_length=1, max_length=256)]
    address: Annotated[str, Field(max_length=512)] | None = None
    country: CountryCode
    identifier: Annotated[str, Field(max_length=64)] | None = None
    established_on: date | None = Field(
        default=None, description="Date the business was registered."
    )


class GoodsItem(BaseModel):
    """One goods item (house-consignment line) of a manifest."""

    model_config = _STRICT

    line: Annotated[int, Field(ge=1, le=9999)]
    hs_code: HsCode = Field(description="HS subheading, 6 to 10 digits (dots allowed).")
    description: Annotated[str, Field(min_length=1, max_length=512)]
    origin_country: CountryCode
    quantity: Annotated[float, Field(gt=0, le=1e12)] | None = None
    quantity_unit: QuantityUnit | None = None
    packages: Annotated[int, Field(ge=1, le=1_000_000_000)] | None = None
    package_type: PackageType | None = None
    gross_mass_kg: Annotated[float, Field(gt=0, le=1e9)]
    net_mass_kg: Annotated[float, Field(gt=0, le=1e9)] | None = None
    volume_m3: Annotated[float, Field(gt=0, le=1e7)] | None = None
    value: Annotated[float, Field(ge=0, le=1e15)] | None = None
    currency: CurrencyCode = "USD"
    containers: tuple[ContainerId, ...] = ()
    licences: tuple[Annotated[str, Field(min_length=1, max_length=64)], ...] = ()

    @field_validator("net_mass_kg")
    @classmethod
    def _net_within_gross(cls, net: float | None, info: ValidationInfo) -> float | None:
        gross = info.data.get("gross_mass_kg")
        if net is not None and gross is not None and net > gross:
            raise PydanticCustomError(
                "net_above_gross",
                "net_mass_kg ({net}) is greater than gross_mass_kg ({gross}); net mass "
                "excludes packaging, so it cannot exceed gross mass",
                {"net": net, "gross": gross},
            )
        return net

    @model_validator(mode="after")
    def _consistent(self) -> GoodsItem:
        if (self.quantity is None) != (self.quantity_unit is None):
            raise PydanticCustomError(
                "quantity_unit_pair",
                "quantity and quantity_unit go together: give both or neither",
            )
        return self


class Manifest(BaseModel):
    """A cargo manifest: one filing, one or more goods items."""

    model_config = _STRICT

    manifest_id: Identifier
    transport_mode: TransportMode
    transport_document: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    carrier: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    filed_at: datetime | None = None
    consignor: Party
    consignee: Party
    notify_party: Party | None = None
    country_of_export: CountryCode
    destination_country: CountryCode
    port_of_loading: Locode | None = None
    port_of_discharge: Locode | None = None
    countries_of_routing: Annotated[tuple[CountryCode, ...], Field(max_length=99)] = ()
    items: Annotated[tuple[GoodsItem, ...], Field(min_length=1, max_length=9999)]

    @field_validator("items")
    @classmethod
    def _unique_lines(cls, items: tuple[GoodsItem, ...]) -> tuple[GoodsItem, ...]:
        seen: set[int] = set()
        for item in items:
            if item.line in seen:
                raise PydanticCustomError(
                    "duplicate_line",
                    "goods item line {line} appears more than once; each line number must "
                    "be unique within the manifest",
                    {"line": item.line},
                )
            seen.add(item.line)
        return items


# ---------------------------------------------------------------------------- output

_Model = TypeVar("_Model", bound=BaseModel)


def trusted(cls: type[_Model], values: dict[str, Any]) -> _Model:
    """An instance from values the engine built itself, every field given, not re-validated.

    What ``model_construct`` does, without its per-field default and alias handling, which
    costs more than the screening of a goods item. Tests check the result equals a validated
    instance.
    """
    instance = cls.__new__(cls)
    object.__setattr__(instance, "__dict__", values)
    object.__setattr__(instance, "__pydantic_fields_set__", set(values))
    object.__setattr__(instance, "__pydantic_extra__", None)
    object.__setattr__(instance, "__pydantic_private__", None)
    return instance


class RulesetInfo(BaseModel):
    """Which ruleset produced a result."""

    model_config = ConfigDict(frozen=True)

    name: str
    version: str = Field(description="The pack's own version (pack.yaml); kept across edits.")
    sha256: str
    version_id: int | None = Field(
        default=None,
        description="The rule store's number of the governance version that screened "
        "(each activation is a new one); null for a pack not from the store (the CLI).",
    )


class Flag(BaseModel):
    """One rule that matched, with the reason in words and in data."""

    model_config = ConfigDict(frozen=True)

    rule_id: str
    title: str
    pattern: str
    severity: Severity
    score: int = Field(ge=0, le=100)
    role: Role = Field(
        "finding",
        description="finding: about the goods themselves; indicator: circumstantial, counted "
        "in the risk score only beside a finding.",
    )
    item_line: int | None = Field(description="Goods item line; null for manifest-level rules.")
    explanation: str = Field(description="One plain-language sentence an officer can read aloud.")
    evidence: dict[str, JsonValue] = Field(
        description="Field values and thresholds the rule used, by name."
    )


class ScreeningResult(BaseModel):
    """The outcome of screening one manifest."""

    model_config = ConfigDict(frozen=True)

    manifest_id: str
    channel: Channel = Field(description="Risk lane: green, yellow (documents) or red (physical).")
    risk_score: int = Field(ge=0, le=100)
    flags: list[Flag]
    ruleset: RulesetInfo
    elapsed_ms: float


class RecordError(BaseModel):
    """In batch output, a record that could not be screened, in the record's place."""

    model_config = ConfigDict(frozen=True)

    position: int = Field(description="1-based position of the record in the run's input.")
    file: str | None = Field(default=None, description="The input file ('-' for stdin).")
    line: int | None = Field(
        default=None,
        description="Where in the file: line (JSON Lines, CSV), element (array), row (Parquet).",
    )
    manifest_id: str | None = None
    reason: str
    errors: list[dict[str, JsonValue]] = Field(default_factory=list)


class ErrorLine(BaseModel):
    """The object written in place of a record that failed: ``{"error": {...}}``."""

    model_config = ConfigDict(frozen=True)

    error: RecordError
