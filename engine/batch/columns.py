"""The flat layout of CSV and Parquet inputs: one row per goods item.

Manifest columns repeat on every row of a manifest; party fields are written
``consignor.name``; list fields (``countries_of_routing``, ``containers``, ``licences``) are
``;``-separated in CSV (Parquet may also use list columns). Consecutive rows with the same
``manifest_id`` are one manifest; an empty cell is a field not given. The column names come
from the contract models, so this layout cannot drift from them (README lists them; a test
checks the list).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from assay.engine.contracts import GoodsItem, Manifest, Party

PARTIES = ("consignor", "consignee", "notify_party")
LIST_COLUMNS = frozenset({"countries_of_routing", "containers", "licences"})

MANIFEST_COLUMNS: tuple[str, ...] = tuple(
    column
    for name in Manifest.model_fields
    if name != "items"
    for column in (
        [f"{name}.{field}" for field in Party.model_fields] if name in PARTIES else [name]
    )
)
ITEM_COLUMNS: tuple[str, ...] = tuple(GoodsItem.model_fields)
COLUMNS: tuple[str, ...] = MANIFEST_COLUMNS + ITEM_COLUMNS
_ITEM = frozenset(ITEM_COLUMNS)
_MANIFEST = frozenset(MANIFEST_COLUMNS)


def unknown_columns(header: Iterable[str]) -> list[str]:
    return [name for name in header if name not in _ITEM and name not in _MANIFEST]


def _value(column: str, value: Any) -> Any:
    """A cell's value for the contract; None when the cell is empty."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return None
        if column in LIST_COLUMNS:
            return [part.strip() for part in value.split(";") if part.strip()]
        return value
    if hasattr(value, "isoformat"):  # Parquet dates and timestamps
        return value.isoformat()
    return value


def _manifest_part(row: dict[str, Any]) -> dict[str, Any]:
    manifest: dict[str, Any] = {}
    for column in MANIFEST_COLUMNS:
        value = _value(column, row.get(column))
        if value is None:
            continue
        if "." in column:
            party, field = column.split(".", 1)
            manifest.setdefault(party, {})[field] = value
        else:
            manifest[column] = value
    return manifest


def _item_part(row: dict[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = {}
    for column in ITEM_COLUMNS:
        value = _value(column, row.get(column))
        if value is not None:
            item[column] = value
    return item


def group_rows(
    rows: Iterable[tuple[int, dict[str, Any]]],
) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """``(first line, manifest document, problem)`` per group of consecutive rows sharing a
    ``manifest_id``. ``problem`` says why a group is not one manifest (manifest columns that
    differ between its rows); the document is still returned, to name it in the error."""
    current_id: object = object()
    first_line = 0
    first_row: dict[str, Any] = {}
    manifest: dict[str, Any] | None = None
    items: list[dict[str, Any]] = []
    problem: str | None = None
    for line, row in rows:
        manifest_id = _value("manifest_id", row.get("manifest_id"))
        if manifest is not None and manifest_id is not None and manifest_id == current_id:
            items.append(_item_part(row))
            if problem is None:
                for column in MANIFEST_COLUMNS:
                    if _value(column, row.get(column)) != _value(column, first_row.get(column)):
                        problem = (
                            f"line {line}: column {column} is {row.get(column)!r}, but "
                            f"{first_row.get(column)!r} on this manifest's first row (line "
                            f"{first_line}); a manifest's columns must repeat unchanged"
                        )
                        break
            continue
        if manifest is not None:
            manifest["items"] = items
            yield first_line, manifest, problem
        current_id = manifest_id if manifest_id is not None else object()
        first_line, first_row, problem = line, row, None
        manifest = _manifest_part(row)
        items = [_item_part(row)]
    if manifest is not None:
        manifest["items"] = items
        yield first_line, manifest, problem


def manifest_rows(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The flat rows of one manifest document (the inverse of :func:`group_rows`): list
    fields joined with ``;``, absent fields as empty cells."""
    head: dict[str, Any] = {}
    for column in MANIFEST_COLUMNS:
        if "." in column:
            party, field = column.split(".", 1)
            value = (manifest.get(party) or {}).get(field)
        else:
            value = manifest.get(column)
        head[column] = _cell(column, value)
    return [
        {**head, **{column: _cell(column, item.get(column)) for column in ITEM_COLUMNS}}
        for item in manifest.get("items", [])
    ]


def _cell(column: str, value: Any) -> Any:
    if value is None:
        return ""
    if column in LIST_COLUMNS and isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    return value


def write_flat(path: Path, manifests: Iterable[dict[str, Any]], fmt: str) -> None:
    """Write manifest documents in the flat layout, as CSV or Parquet."""
    if fmt == "csv":
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, COLUMNS)
            writer.writeheader()
            for manifest in manifests:
                writer.writerows(manifest_rows(manifest))
        return
    import pyarrow as pa  # noqa: PLC0415 - only Parquet output pays for loading pyarrow
    import pyarrow.parquet as pq  # noqa: PLC0415

    schema = pa.schema([(column, pa.string()) for column in COLUMNS])
    parquet = pq.ParquetWriter(str(path), schema)
    rows: list[dict[str, Any]] = []
    for manifest in manifests:
        rows += [
            {k: None if v == "" else str(v) for k, v in r.items()} for r in manifest_rows(manifest)
        ]
        if len(rows) >= 50_000:
            parquet.write_table(pa.Table.from_pylist(rows, schema=schema))
            rows = []
    if rows:
        parquet.write_table(pa.Table.from_pylist(rows, schema=schema))
    parquet.close()
