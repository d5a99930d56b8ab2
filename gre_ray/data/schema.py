"""The data contract: one Arrow schema per kind of table that stages exchange.

Every stage writes these schemas and every reading stage passes what it reads through
:func:`validate_table`, so a mismatch is reported once, at the boundary, naming the file
and the column, rather than deep inside a model as a dtype error.

Tables:

* **items** — one row per item: ``domain``, ``item_id``, the ``text`` built for embedding,
  and the raw fields the text was built from (``title`` and ``raw_json``, a JSON object
  of the source fields, so a different text template can be applied later without
  re-reading the raw files).
* **interactions** — ``domain``, ``user_id``, ``item_id``, ``timestamp`` (Unix seconds),
  ``rating`` (explicit feedback, nullable) and ``label`` (binary feedback, nullable).
* **embeddings** — ``item_id`` and ``embedding``, a ``fixed_size_list<float32>[dim]``
  (readable by any Arrow/Parquet reader, unlike Ray's tensor extension type).
* **pairs** — mined collaborative pairs with their scores and hard negatives.
* **quarantine** — rows set aside with the file, line and reason.

Ids are strings everywhere in the contract: sources use ASINs, hashes and integers alike,
and dense integer ids are a model-side concern.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from gre_ray.errors import DataError

ITEMS_SCHEMA = pa.schema(
    [
        pa.field("domain", pa.string(), nullable=False),
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("title", pa.string()),
        pa.field("raw_json", pa.string()),
    ]
)

INTERACTIONS_SCHEMA = pa.schema(
    [
        pa.field("domain", pa.string(), nullable=False),
        pa.field("user_id", pa.string(), nullable=False),
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("timestamp", pa.int64(), nullable=False),
        pa.field("rating", pa.float32()),
        pa.field("label", pa.int8()),
    ]
)

PAIRS_SCHEMA = pa.schema(
    [
        pa.field("domain", pa.string(), nullable=False),
        pa.field("item_a", pa.string(), nullable=False),
        pa.field("item_b", pa.string(), nullable=False),
        pa.field("text_a", pa.string(), nullable=False),
        pa.field("text_b", pa.string(), nullable=False),
        pa.field("cooc_score", pa.float32(), nullable=False),
        pa.field("text_sim", pa.float32()),
        pa.field("neg_item_ids", pa.list_(pa.string())),
        pa.field("neg_texts", pa.list_(pa.string())),
    ]
)

QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("file", pa.string(), nullable=False),
        pa.field("line", pa.int64()),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("raw", pa.string()),
    ]
)

EMBEDDING_COLUMN = "embedding"


def embeddings_schema(dim: int) -> pa.Schema:
    """Schema of an embeddings table whose vectors have ``dim`` float32 components."""
    if dim <= 0:
        raise ValueError(f"embedding dimension must be positive, got {dim}")
    return pa.schema(
        [
            pa.field("item_id", pa.string(), nullable=False),
            pa.field(EMBEDDING_COLUMN, pa.list_(pa.float32(), dim), nullable=False),
        ]
    )


@dataclass(frozen=True)
class Contract:
    """A named table kind: its schema and the columns whose values must be unique together."""

    name: str
    schema: pa.Schema
    unique_key: tuple[str, ...] = ()


ITEMS = Contract("items", ITEMS_SCHEMA, unique_key=("domain", "item_id"))
INTERACTIONS = Contract("interactions", INTERACTIONS_SCHEMA)
PAIRS = Contract("pairs", PAIRS_SCHEMA)
QUARANTINE = Contract("quarantine", QUARANTINE_SCHEMA)


def embeddings_contract(dim: int) -> Contract:
    """The contract of an embeddings table of dimension ``dim``."""
    return Contract("embeddings", embeddings_schema(dim), unique_key=("item_id",))


def embedding_dim(schema: pa.Schema, source: str = "<table>") -> int:
    """Dimension of the ``embedding`` column of ``schema``; a DataError if it is not fixed-size float32."""
    if EMBEDDING_COLUMN not in schema.names:
        raise DataError(f"{source}: no column {EMBEDDING_COLUMN!r} (columns: {', '.join(schema.names)})")
    typ = schema.field(EMBEDDING_COLUMN).type
    if not pa.types.is_fixed_size_list(typ) or typ.value_type != pa.float32():
        raise DataError(
            f"{source}: column {EMBEDDING_COLUMN!r} is {typ}, expected fixed_size_list<float32>[dim]"
        )
    return typ.list_size


def validate_table(table: pa.Table, contract: Contract, source: str = "<table>") -> pa.Table:
    """Check ``table`` against ``contract`` and return it in the contract's exact schema.

    Extra columns are dropped, columns are put in contract order, and safe casts are
    applied (``large_string`` → ``string``, ``int32`` → ``int64``, ...). A missing column,
    an unsafe type, a null in a non-nullable column or a duplicate key raises
    :class:`DataError` naming ``source`` and the column.

    Args:
        table: the table read from ``source``.
        contract: what the table must follow.
        source: file name or description used in error messages.

    Returns:
        The table cast to ``contract.schema``.
    """
    columns = []
    for field in contract.schema:
        if field.name not in table.column_names:
            raise DataError(
                f"{source}: missing column {field.name!r} required by the {contract.name} contract "
                f"(found: {', '.join(table.column_names) or 'no columns'})"
            )
        column = table.column(field.name)
        if column.type != field.type:
            try:
                column = column.cast(field.type, safe=True)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise DataError(
                    f"{source}: column {field.name!r} has type {column.type}, expected {field.type} "
                    f"({contract.name} contract): {exc}"
                ) from None
        if not field.nullable and column.null_count:
            raise DataError(
                f"{source}: column {field.name!r} has {column.null_count} null value(s) "
                f"but may not be null ({contract.name} contract)"
            )
        columns.append(column)
    result = pa.Table.from_arrays(columns, schema=contract.schema)
    if contract.unique_key:
        check_unique(result, contract.unique_key, source)
    return result


def check_unique(table: pa.Table, key: tuple[str, ...], source: str = "<table>") -> None:
    """Raise DataError naming an example if rows of ``table`` repeat a value of ``key``."""
    if table.num_rows == 0:
        return
    counts = table.group_by(list(key)).aggregate([([], "count_all")])
    dupes = counts.filter(pc.greater(counts["count_all"], 1))
    if dupes.num_rows:
        example = {name: dupes.column(name)[0].as_py() for name in key}
        raise DataError(
            f"{source}: {dupes.num_rows} duplicate value(s) of ({', '.join(key)}), e.g. {example}"
        )


def empty_table(contract: Contract) -> pa.Table:
    """A table with no rows in ``contract``'s schema."""
    return contract.schema.empty_table()
