"""NineRec (Zhang et al., TPAMI 2024): Bilibili, Douyin, Kuaishou, QQ Browser, Tencent News sets.

Published at https://github.com/westlake-repl/NineRec (a Google Drive archive its README
links). Each downstream set ``<Set>`` ships, all without a header row:

* ``<Set>_pair.csv``: one interaction per line. The repository's own reader
  (``get_behaviour.py``) reads it with ``header=None`` as ``video_id, user_id, timestamp``,
  while its README describes ``user id, item id, timestamp`` with ids like ``u14500`` and
  ``v17551``. The order is told from the first line's id prefixes (``u`` user, ``v``
  video), or set with option ``pair_columns`` (e.g. ``item_id,user_id,timestamp``). A pair
  file with a header row (an older layout) is read by its header instead;
* ``<Set>_behaviour.tsv``: ``user_id<TAB>item item item ...``, oldest first, as written by
  ``get_behaviour.py`` and read by the baselines (``data_utils/preprocess.py``,
  ``read_behaviors``). QB and TN ship no timestamps, only this file; its rows carry their
  position in the sequence as timestamp, which orders them and nothing more;
* ``<Set>_item.csv``: ``item_id, Chinese title, English title`` (``preprocess.py``,
  ``get_df``: ``header=None, usecols=[0, 1, 2]``); further columns are kept as
  ``extra_<n>``. Option ``item_columns`` renames or reorders them, ``item_header: true``
  reads a header.

The text uses the English title (option ``language: zh`` for the Chinese one); both are
kept in ``raw_json``. Which layout each file was read in is recorded in the manifest.
"""

from __future__ import annotations

import csv
from typing import Any

from gre_ray.ingest.adapters.base import (
    Adapter, Options, kept_fields, kind_of, one, timestamp_value, unexpected_release, unknown_format,
)  # fmt: skip
from gre_ray.ingest.formats import RecordFormat, Syntax
from gre_ray.ingest.records import Interaction, ItemRecord, RowError, get_id, optional_text

BEHAVIORS = RecordFormat(Syntax.DELIMITED, delimiter="\t", columns=("user_id", "item_sequence"), quoting=False)
OFFICIAL_PAIR = "video_id,user_id,timestamp (NineRec get_behaviour.py)"


def interactions_format(file_name: str, options: Options) -> RecordFormat:
    if kind_of(file_name) == ".csv":
        return _pair_format(options["pair_columns"]) if options["pair_columns"] != "auto" else RecordFormat(Syntax.DELIMITED, header=True)
    if kind_of(file_name) == ".tsv":
        return BEHAVIORS
    raise unknown_format(file_name, "ninerec", "a .csv pair file or a .tsv behaviour file")


def items_format(file_name: str, options: Options) -> RecordFormat:
    if kind_of(file_name) != ".csv":
        raise unknown_format(file_name, "ninerec", "a .csv title file")
    if options["item_header"].lower() == "true":
        return RecordFormat(Syntax.DELIMITED, header=True)
    return RecordFormat(Syntax.DELIMITED, columns=_names(options["item_columns"]))


def _names(spec: str) -> tuple[str, ...]:
    return tuple(c.strip() for c in spec.split(",") if c.strip())


def _pair_format(spec: str) -> RecordFormat:
    return RecordFormat(Syntax.DELIMITED, columns=tuple("item_id" if c == "video_id" else c for c in _names(spec)))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _fields(line: bytes) -> list[str]:
    text = line.decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r")
    return next(csv.reader([text]), [])


def inspect(file_name: str, role: str, line: bytes, fmt: RecordFormat, options: Options) -> tuple[RecordFormat, str]:
    """The layout of a NineRec file from its first line; ValueError for one in no known layout."""
    if fmt.columns == BEHAVIORS.columns:
        if b"\t" not in line:
            raise unexpected_release(file_name, "user_id<TAB>space-separated item ids (NineRec behaviour.tsv)", line)
        return fmt, "behaviour.tsv: user, item sequence; positions as timestamps"
    fields = _fields(line)
    if role == "items":
        return _title_layout(file_name, line, fields, fmt)
    if not fmt.header:  # the order set with option pair_columns
        if len(fields) != len(fmt.columns):
            raise unexpected_release(file_name, f"{len(fmt.columns)} columns {','.join(fmt.columns)} (option pair_columns)", line)
        return fmt, f"header-less pair file, columns {','.join(fmt.columns)} (option pair_columns)"
    if len(fields) == 3 and not _is_number(fields[2]):
        return fmt, f"pair file with header {','.join(fields)}"
    if len(fields) != 3:
        hint = "; this set ships no timestamps: list its <Set>_behaviour.tsv instead" if len(fields) == 2 else ""
        raise unexpected_release(file_name, f"3 columns {OFFICIAL_PAIR}{hint}", line)
    first, second = fields[0].strip().lower(), fields[1].strip().lower()
    for order in ("item_id,user_id,timestamp", "user_id,item_id,timestamp"):
        user_first = order.startswith("user")
        if (first, second)[not user_first].startswith("u") and (first, second)[user_first].startswith("v"):
            return _pair_format(order), f"header-less pair file, columns {order} (told by the u/v id prefixes)"
    raise unexpected_release(file_name, "ids like u14500 (user) and v17551 (video) to tell the column order, or option pair_columns", line)


def _title_layout(file_name: str, line: bytes, fields: list[str], fmt: RecordFormat) -> tuple[RecordFormat, str]:
    if fmt.header:
        return fmt, "title file with header"
    if len(fields) < len(fmt.columns):
        raise unexpected_release(file_name, f"{len(fmt.columns)} columns {','.join(fmt.columns)} (NineRec preprocess.py get_df)", line)
    extra = tuple(f"extra_{n}" for n in range(len(fmt.columns) + 1, len(fields) + 1))
    if extra:
        return RecordFormat(Syntax.DELIMITED, columns=fmt.columns + extra), f"header-less title file, {len(fields)} columns"
    return fmt, "header-less title file"


def interactions(record: dict[str, Any], options: Options) -> list[Interaction | RowError]:
    if "item_sequence" in record:
        user = get_id(record, "user_id")
        items = record["item_sequence"].split()
        if not items:
            raise RowError("missing_field:item_sequence")
        return [Interaction(user, item, position, None) for position, item in enumerate(items)]
    return one(
        Interaction(
            get_id(record, options["user_column"]),
            get_id(record, options["item_column"]),
            timestamp_value(record, options["time_column"], options["time_unit"]),
            None,
        )
    )


def item(record: dict[str, Any], options: Options) -> ItemRecord:
    item_id = get_id(record, "item_id")
    zh, en = optional_text(record, "title"), optional_text(record, "title_en")
    chosen = zh if options["language"] == "zh" else en
    fields = {**kept_fields(record, ("item_id", "title", "title_en")), "title": chosen, "title_zh": zh, "title_en": en}
    return ItemRecord(item_id, chosen, fields)


ADAPTER = Adapter(
    name="ninerec",
    homepage="https://github.com/westlake-repl/NineRec",
    interactions_format=interactions_format,
    items_format=items_format,
    interactions=interactions,
    item=item,
    text_fields=("title",),
    options={
        "pair_columns": "auto",
        "user_column": "user_id",
        "item_column": "item_id",
        "time_column": "timestamp",
        "time_unit": "s",
        "item_columns": "item_id,title,title_en",
        "item_header": "false",
        "language": "en",
    },
    inspect=inspect,
)
