"""Reading files in chunks with line numbers, and decoding one line into a record."""

from __future__ import annotations

import gzip

import pytest

from gre_ray.ingest.files import SourceFile, gzip_pieces, iter_blocks, piece_blocks, plan_chunks
from gre_ray.ingest.formats import RecordFormat, Syntax, decode_record, decode_text, parse_header
from gre_ray.ingest.records import RowError

JSON = RecordFormat(Syntax.JSON)


def _file(path, fmt=JSON) -> SourceFile:
    return SourceFile(0, "interactions", str(path), path.name, fmt, path.stat().st_size)


def _numbered(path, chunk_bytes: int, block_lines: int = 3) -> list[tuple[int, bytes]]:
    """(line number in the file, line) for every line, reading chunk by chunk like the stage."""
    out, offset = [], 0
    for chunk in plan_chunks(_file(path), chunk_bytes):
        count = 0
        for block in iter_blocks(chunk, block_lines):
            out.extend((offset + block.first_line + i, line) for i, line in enumerate(block.lines))
            count = block.first_line + len(block.lines) - 1
        offset += count
    return out


def test_byte_range_chunks_own_each_line_once(tmp_path):
    lines = [f"line {i} " + "x" * (i * 7 % 23) for i in range(1, 41)]
    path = tmp_path / "f.jsonl"
    path.write_bytes(("\n".join(lines)).encode())  # no newline after the last line
    expected = [(i + 1, line.encode()) for i, line in enumerate(lines)]
    for chunk_bytes in (1, 7, 16, 64, 1 << 20):
        assert _numbered(path, chunk_bytes) == expected, chunk_bytes


def test_chunk_starting_exactly_at_a_line_start(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_bytes(b"aaaa\nbbbb\ncccc\n")  # chunks of 5 bytes start exactly at each line
    assert _numbered(path, 5) == [(1, b"aaaa"), (2, b"bbbb"), (3, b"cccc")]


def test_gzip_members_and_truncation(tmp_path):
    path = tmp_path / "f.jsonl.gz"
    path.write_bytes(gzip.compress(b"a\nb\n") + gzip.compress(b"c\nd\n"))  # two gzip members
    blocks = list(iter_blocks(plan_chunks(_file(path), 1)[0], 10))
    assert [line for b in blocks for line in b.lines] == [b"a", b"b", b"c", b"d"]
    assert not any(b.damage for b in blocks)

    whole = gzip.compress(b"".join(b'{"n": %d, "pad": "%s"}\n' % (i, b"x" * (i % 5)) for i in range(200)))
    path.write_bytes(whole[: len(whole) // 2])
    blocks = list(iter_blocks(plan_chunks(_file(path), 1)[0], 50))
    assert blocks[-1].damage == "truncated_gzip"
    complete = [line for b in blocks[:-1] for line in b.lines]
    assert complete == [b'{"n": %d, "pad": "%s"}' % (i, b"x" * (i % 5)) for i in range(len(complete))]
    assert blocks[-1].first_line == len(complete) + 1


def _pieced(file: SourceFile, piece_bytes: int, block_lines: int = 2) -> list[tuple[int, bytes, str | None]]:
    """(line number in the file, line, damage) reading the .gz piece by piece, as the split ingest does."""
    out, offset = [], 0
    for piece in gzip_pieces(file, piece_bytes):
        count = 0
        for block in piece_blocks(piece, block_lines):
            out.extend((offset + block.first_line + i, line, block.damage) for i, line in enumerate(block.lines))
            count = block.first_line + len(block.lines) - 1
        offset += count
    return out


@pytest.mark.parametrize("piece_bytes", [1, 7, 20, 1000])
@pytest.mark.parametrize("cut", [0, 9])
def test_gzip_pieces_number_lines_like_one_stream(tmp_path, piece_bytes, cut):
    text = b"".join(b'{"n": %d}\n' % i for i in range(12)) + b"\n" + b'{"n": 99}'  # a blank line, no final newline
    data = gzip.compress(text[:70]) + gzip.compress(text[70:])  # two members
    path = tmp_path / "x.jsonl.gz"
    path.write_bytes(data[:-cut] if cut else data)
    file = _file(path)
    whole = [(block.first_line + i, line, block.damage) for block in iter_blocks(plan_chunks(file, 10**6)[0], 2)
             for i, line in enumerate(block.lines)]  # fmt: skip
    assert _pieced(file, piece_bytes) == whole
    if cut:
        assert whole[-1][2] == "truncated_gzip"
    else:
        assert len(whole) == 14 and whole[-1] == (14, b'{"n": 99}', None)


def test_gzip_is_judged_by_the_name_not_a_uri_query():
    """An object store URI ends in its query; the ``.gz`` before it still means gzip."""
    def is_gzip(uri):
        return SourceFile(0, "items", uri, "x", JSON, 1).gzip

    assert is_gzip("s3://bucket/raw/meta.jsonl.gz?endpoint_override=127.0.0.1:9000&scheme=http")
    assert is_gzip("/data/raw/meta.jsonl.gz")
    assert not is_gzip("s3://bucket/raw/meta.jsonl?scheme=http")
    assert not is_gzip("/data/raw/meta.jsonl")


def test_decode_errors_name_the_reason():
    assert decode_text(b"caf\xc3\xa9\r", "utf-8") == "café"
    with pytest.raises(RowError, match="invalid_utf8"):
        decode_text(b"caf\xe9", "utf-8")
    assert decode_text(b"caf\xe9", "latin-1") == "café"
    for text, reason in (('{"a": 1', "malformed_json"), ("[1, 2]", "not_an_object"), ("3", "not_an_object")):
        with pytest.raises(RowError, match=reason):
            decode_record(text, JSON, ())
    literal = RecordFormat(Syntax.PYLITERAL)
    assert decode_record("{'a': True, 'b': [1]}", literal, ()) == {"a": True, "b": [1]}
    with pytest.raises(RowError, match="malformed_literal"):
        decode_record("{'a': __import__('os')}", literal, ())


def test_delimited_lines_and_typed_headers():
    csv_fmt = RecordFormat(Syntax.DELIMITED, header=True)
    assert decode_record('1,"a, b",3', csv_fmt, ("x", "y", "z")) == {"x": "1", "y": "a, b", "z": "3"}
    with pytest.raises(RowError, match="wrong_column_count"):
        decode_record("1,2", csv_fmt, ("x", "y", "z"))
    with pytest.raises(RowError, match="malformed_csv"):
        decode_record('1,"open,3', csv_fmt, ("x", "y", "z"))
    dat = RecordFormat(Syntax.DELIMITED, delimiter="::", quoting=False, columns=("a", "b"))
    assert decode_record('1::"quoted" title', dat, dat.columns) == {"a": "1", "b": '"quoted" title'}
    atomic = RecordFormat(Syntax.DELIMITED, delimiter="\t", header=True, quoting=False, typed_header=True)
    assert parse_header(b"\xef\xbb\xbfuser_id:token\titem_id:token\trating:float", atomic) == ("user_id", "item_id", "rating")
    with pytest.raises(RowError, match="malformed_header"):
        parse_header(b"a,a", csv_fmt)
