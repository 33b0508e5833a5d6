"""The catalogue of names a condition can read: declared fields and derived features.

One table drives the type checker, the enrichment plan, the rete fact layout and the
documentation (``assay rules fields`` prints it; the README's table is tested against it).
Derived features are computed once per manifest and item, before any rule runs, by
:mod:`engine.features`; a feature whose inputs are missing or whose division has a zero
divisor is null.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from assay.engine.conditions import ValueType

Scope = Literal["item", "manifest"]
# Enrichment groups: a ruleset computes only the groups its rules read.
Group = Literal["declared", "hs", "ratios", "money", "text", "terms", "thickness", "routing"]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    path: str  # as written in a condition, e.g. "item.kg_per_litre"
    type: ValueType
    doc: str
    derived: bool = False
    group: Group = "declared"

    @property
    def scope(self) -> Scope:
        return "item" if self.path.startswith("item.") else "manifest"

    @property
    def key(self) -> str:
        """Key in the scope's view dict: the path without its scope prefix."""
        return self.path.split(".", 1)[1]


def _party(role: str, doc: str) -> list[FieldSpec]:
    return [
        FieldSpec(f"manifest.{role}.name", "text", f"{doc} name", group="text"),
        FieldSpec(f"manifest.{role}.address", "text", f"{doc} address", group="text"),
        FieldSpec(f"manifest.{role}.country", "text", f"{doc} country (ISO alpha-2)"),
        FieldSpec(
            f"manifest.{role}.identifier", "text", f"{doc} identifier (EORI, USCC...)", group="text"
        ),
    ]


CATALOGUE: tuple[FieldSpec, ...] = (
    # --- manifest, declared
    FieldSpec("manifest.manifest_id", "text", "Filing identifier"),
    FieldSpec("manifest.transport_mode", "text", "SEA, AIR, ROAD, RAIL, POSTAL or EXPRESS"),
    FieldSpec(
        "manifest.transport_document", "text", "Bill of lading / air waybill number", group="text"
    ),
    FieldSpec("manifest.carrier", "text", "Carrier name", group="text"),
    *_party("consignor", "Consignor"),
    *_party("consignee", "Consignee"),
    *_party("notify_party", "Notify party"),
    FieldSpec("manifest.country_of_export", "text", "Country of export (alpha-2)"),
    FieldSpec("manifest.destination_country", "text", "Destination country (alpha-2)"),
    FieldSpec("manifest.port_of_loading", "text", "Port of loading (UN/LOCODE)"),
    FieldSpec("manifest.port_of_discharge", "text", "Port of discharge (UN/LOCODE)"),
    FieldSpec(
        "manifest.countries_of_routing", "set", "Countries of routing, as a set (membership)"
    ),
    # --- manifest, derived
    FieldSpec("manifest.item_count", "number", "Number of goods items", True),
    FieldSpec("manifest.total_gross_mass_kg", "number", "Sum of the items' gross mass (kg)", True),
    FieldSpec(
        "manifest.total_value_usd",
        "number",
        "Sum of the items' value in USD; null if any item's value is unknown",
        True,
        "money",
    ),
    FieldSpec(
        "manifest.routing_first",
        "text",
        "First country of routing (where it departed)",
        True,
        "routing",
    ),
    FieldSpec("manifest.routing_last", "text", "Last country of routing", True, "routing"),
    FieldSpec(
        "manifest.routing_length", "number", "Number of countries of routing", True, "routing"
    ),
    FieldSpec(
        "manifest.consignor_age_days",
        "number",
        "Days between the consignor's registration and the filing date (or today)",
        True,
        "routing",
    ),
    FieldSpec(
        "manifest.consignee_age_days",
        "number",
        "Days between the consignee's registration and the filing date (or today)",
        True,
        "routing",
    ),
    FieldSpec(
        "manifest.port_of_loading_country",
        "text",
        "Country part of the port of loading's UN/LOCODE",
        True,
        "routing",
    ),
    # --- item, declared
    FieldSpec("item.line", "number", "Goods item line number"),
    FieldSpec("item.hs_code", "text", "Declared HS code, 6 to 10 digits"),
    FieldSpec(
        "item.description", "text", "Description of goods (normalised upper case)", group="text"
    ),
    FieldSpec("item.origin_country", "text", "Declared country of origin (alpha-2)"),
    FieldSpec("item.quantity", "number", "Declared quantity"),
    FieldSpec("item.quantity_unit", "text", "KG, L, M2, M3 or PCS"),
    FieldSpec("item.packages", "number", "Number of packages"),
    FieldSpec("item.package_type", "text", "UN/ECE Rec. 21 package code (CT, DR, BG...)"),
    FieldSpec("item.gross_mass_kg", "number", "Gross mass (kg)"),
    FieldSpec("item.net_mass_kg", "number", "Net mass (kg)"),
    FieldSpec("item.volume_m3", "number", "Volume (m³)"),
    FieldSpec("item.value", "number", "Declared value, in the item's currency"),
    FieldSpec("item.currency", "text", "ISO 4217 currency of the value"),
    FieldSpec("item.containers", "set", "Container numbers (ISO 6346)"),
    FieldSpec("item.licences", "set", "Export licence / permit numbers declared"),
    # --- item, derived
    FieldSpec("item.hs2", "text", "HS chapter (first 2 digits)", True, "hs"),
    FieldSpec("item.hs4", "text", "HS heading (first 4 digits)", True, "hs"),
    FieldSpec("item.hs6", "text", "HS subheading (first 6 digits)", True, "hs"),
    FieldSpec("item.licence_count", "number", "Number of licences declared", True),
    FieldSpec(
        "item.kg_per_litre",
        "number",
        "Gross kg per litre: declared (unit L), else written (bottles of 500ML, 1.5L, 75CL in "
        "unit PCS; packages of 24X500ML)",
        True,
        "ratios",
    ),
    FieldSpec("item.kg_per_m2", "number", "Gross kg per declared m² (unit M2)", True, "ratios"),
    FieldSpec(
        "item.kg_per_piece",
        "number",
        "Gross kg per piece: declared (unit PCS), else written ('481 PCS', or '2PC/CTN' x "
        "packages)",
        True,
        "ratios",
    ),
    FieldSpec("item.kg_per_package", "number", "Gross kg per package", True, "ratios"),
    FieldSpec(
        "item.density_kg_per_litre",
        "number",
        "Shipping density: gross kg per litre of declared volume",
        True,
        "ratios",
    ),
    FieldSpec("item.net_share", "number", "Net mass as a share of gross mass", True, "ratios"),
    FieldSpec(
        "item.value_usd", "number", "Value in USD at the pack's reference rates", True, "money"
    ),
    FieldSpec(
        "item.usd_per_kg", "number", "Value in USD per kg (net mass, else gross)", True, "money"
    ),
    FieldSpec(
        "item.usual_usd_per_kg",
        "number",
        "Top of the usual declared USD per kg for the item's HS subheading or heading (the "
        "pack's reference/unit_values.yaml; missing when not listed)",
        True,
        "money",
    ),
    FieldSpec(
        "item.thickness_mm",
        "number",
        "Thickness written in the description (10MM, 2CM, 1.2 CM), in mm",
        True,
        "thickness",
    ),
    FieldSpec(
        "item.terms",
        "set",
        "Keyword groups found in the description, any language (the pack's terms.yaml)",
        True,
        "terms",
    ),
    FieldSpec(
        "item.origin_differs_from_export",
        "bool",
        "Declared origin differs from the country of export",
        True,
        "routing",
    ),
    FieldSpec(
        "item.routing_starts_outside_origin",
        "bool",
        "Routing starts in a country other than the declared origin (null: no routing)",
        True,
        "routing",
    ),
    FieldSpec(
        "item.origin_in_routing",
        "bool",
        "Declared origin is one of the countries of routing (null: no routing)",
        True,
        "routing",
    ),
)

BY_PATH: dict[str, FieldSpec] = {spec.path: spec for spec in CATALOGUE}
