"""Entity keys: who (or what) a correlation rule groups manifests by.

A party is its identifier when the manifest gives one, else its normalised name (upper case,
single spaces, NFKC) and country: ``CN/91310000MA1K4XYZ1Q`` or ``CN/name:ACME TRADING LTD``.
A route is ``<country of export>><destination country>``; an HS heading is its 4 digits. A key
of several parts joins them with ``;`` in the order the rule lists them, each as
``part=value``.
"""

from __future__ import annotations

from collections.abc import Sequence

from assay.engine.contracts import Manifest, Party
from assay.engine.correlation.language import KeyPart
from assay.engine.text import normalise


def party_key(party: Party) -> str:
    """A party's key: its identifier, else its normalised name, with its country."""
    if party.identifier:
        return f"{party.country}/{normalise(party.identifier)}"
    return f"{party.country}/name:{normalise(party.name)}"


def entity_key(
    parts: Sequence[KeyPart], manifest: Manifest, heading: str | None = None
) -> tuple[str, str]:
    """The key of ``manifest`` (and, for ``hs_heading``, the item's ``heading``) under
    ``parts``, and a name an officer can read aloud for it."""
    keys: list[str] = []
    names: list[str] = []
    for part in parts:
        if part in ("consignor", "consignee"):
            party = manifest.consignor if part == "consignor" else manifest.consignee
            keys.append(f"{part}={party_key(party)}")
            names.append(f"{part} {party.name} ({party.country})")
        elif part == "route":
            route = f"{manifest.country_of_export}>{manifest.destination_country}"
            keys.append(f"route={route}")
            names.append(
                f"the route {manifest.country_of_export} to {manifest.destination_country}"
            )
        else:
            keys.append(f"hs_heading={heading}")
            names.append(f"HS heading {heading}")
    return ";".join(keys), ", ".join(names)
