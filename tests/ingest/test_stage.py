"""The ``ingest`` stage through the runner on Ray: equal to the single-process ingest, fully accounted."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from tests.ingest.conftest import write_all, write_ninerec, write_ninerec_behaviors, write_yelp
from gre_ray.cli import main
from gre_ray.config.loader import build
from gre_ray.data.schema import INTERACTIONS, ITEMS
from gre_ray.data.storage import Location, read_table
from gre_ray.errors import DataError
from gre_ray.ingest.config import IngestConfig
from gre_ray.ingest.local import ingest_locally
from gre_ray.pipeline import run_config
from gre_ray.root_config import load_config
from gre_ray.stages.ingest import IngestStage

ARTIFACTS = ("items", "interactions", "id_maps", "quarantine")


def _rows(folder, artifact: str) -> list[tuple]:
    return sorted(tuple(r.values()) for r in pq.read_table(folder / artifact).to_pylist())


def test_stage_equals_single_process_ingest_of_every_fixture(ray_session, tmp_path):
    sources = write_all(tmp_path / "raw")
    overrides = [
        "run.stages=[ingest]",
        f"run.root={tmp_path / 'run'}",
        f"ingest.data_root={tmp_path / 'raw'}",
        f"ingest.sources={json.dumps(sources)}",
        "ingest.chunk_mb=0.0002",  # ~200-byte chunks: plain files are read by several tasks
        "ingest.block_lines=2",
        "ingest.gzip_split=true",  # .gz files are cut into pieces that several tasks parse
    ]
    config = load_config(None, overrides)
    (outcome,) = run_config(config)
    assert outcome.status == "ran"
    stage_dir = tmp_path / "run" / "ingest"

    local = ingest_locally(build(IngestConfig, {"data_root": str(tmp_path / "raw"), "sources": sources}), str(tmp_path / "local"))
    for artifact in ARTIFACTS:
        assert _rows(stage_dir, artifact) == _rows(tmp_path / "local", artifact), artifact
    read_table(Location.of(stage_dir / "items"), ITEMS)
    read_table(Location.of(stage_dir / "interactions"), INTERACTIONS)

    manifest = outcome.manifest
    assert manifest["rows"]["in"] == sum(r.rows_in for r in local.values())
    assert manifest["rows"]["out"] == sum(r.rows_out for r in local.values())
    expected_reasons: dict[str, int] = {}
    for result in local.values():
        for reason, n in result.quarantined.items():
            expected_reasons[reason] = expected_reasons.get(reason, 0) + n
    assert manifest["rows"]["quarantined"] == {k: v for k, v in sorted(expected_reasons.items()) if v}
    assert manifest["rows"]["quarantined_total"] == len(_rows(stage_dir, "quarantine"))
    assert manifest["stats"]["datasets"]["Arts"]["table1"]["tokens_total"] > 0
    assert manifest["stats"]["datasets"]["Arts"]["table1"] == local["Arts"].stats["table1"]
    assert manifest["stats"]["filtered"]["duplicate_pair"] == 1
    assert any("goodreads_interactions_poetry.json.gz is damaged" in w for w in manifest["warnings"])
    assert "Arts:Arts.jsonl" in manifest["external_inputs"]
    domains = pq.read_table(stage_dir / "domains").to_pylist()
    assert {"domain": "Yelp", "scenario": "catering", "role": "benchmark"} in domains and len(domains) == len(sources)
    assert not (stage_dir / "_staging").exists()
    summary = IngestStage().summarize(manifest)
    assert summary[0].split() == ["dataset", "scenario", "role", "#users", "#items", "#inter.", "#tokens/item"]
    assert summary[1].split()[:6] == ["Arts", "e-commerce", "benchmark", "2", "2", "3"]

    (again,) = run_config(config)
    assert again.status == "skipped"
    before = IngestStage().external_inputs(config)
    (tmp_path / "raw" / "Arts.jsonl").write_bytes((tmp_path / "raw" / "Arts.jsonl").read_bytes() + b"\n")
    after = IngestStage().external_inputs(config)
    assert [k for k in before if before[k] != after[k]] == ["Arts:Arts.jsonl"]  # the next run would rerun the stage


def test_strict_mode_through_ray_names_file_and_line(ray_session, tmp_path):
    source = write_yelp(tmp_path)
    overrides = ["run.stages=[ingest]", f"run.root={tmp_path / 'run'}", f"ingest.data_root={tmp_path}",
                 f"ingest.sources={json.dumps([source])}", "ingest.strict=true"]  # fmt: skip
    with pytest.raises(DataError, match=r"^yelp_academic_dataset_review\.json:3: bad_timestamp:date \(ingest\.strict is on\)$"):
        run_config(load_config(None, overrides))
    assert not (tmp_path / "run" / "ingest").exists()


def test_registry_datasets_through_ray_are_checked_against_table1(ray_session, tmp_path, capsys):
    raw = tmp_path / "raw"
    raw.mkdir()
    write_ninerec(raw)  # 2 users, 2 items, 4 interactions: Table 1 below says 2 / 2 / 8
    write_ninerec_behaviors(raw)
    registry = tmp_path / "reg.yaml"
    registry.write_text(
        "datasets:\n  Food:\n    scenario: video\n    role: benchmark\n    adapter: ninerec\n    homepage: https://x\n"
        "    interactions: [Bili_Food_pair.csv]\n    items: [Bili_Food_item.csv]\n    table1: {users: 2, items: 2, interactions: 8}\n"
        "  QB:\n    scenario: video\n    role: benchmark\n    adapter: ninerec\n    homepage: https://x\n"
        "    interactions: [QB_behaviour.tsv]\n    items: [QB_item.csv]\n    table1: {users: 2, items: 2, interactions: 3}\n"
    )
    overrides = ["run.stages=[ingest]", f"run.root={tmp_path / 'run'}", f"ingest.data_root={raw}", f"ingest.registry={registry}",
                 "ingest.datasets=[Food,QB]", "ingest.token_tokenizer=''", "ingest.concurrent_datasets=2"]  # fmt: skip
    (outcome,) = run_config(load_config(None, overrides))
    warnings = [w for w in outcome.manifest["warnings"] if "Table 1" in w]
    assert warnings == [
        "ingest: Food: counts differ from GRE-B Table 1 beyond 5%: interactions 4 vs Table 1 8 (-50.0%); likely cause: "
        "a smaller release or subset, or a stronger filter than GRE-B's (check the registry's files and filters)"
    ]
    summary = IngestStage().summarize(outcome.manifest)
    assert "GRE-B Table 1: users 2 (+0.0%) items 2 (+0.0%) interactions 8 (-50.0%)  <- beyond 5%" in summary[2]
    assert main(["datasets", "--run", str(tmp_path / "run"), "--registry", str(registry), "--data-root", str(raw)]) == 0
    out = capsys.readouterr().out
    assert "ingested vs Table 1: users 2 vs 2 (+0.0%); items 2 vs 2 (+0.0%); interactions 4 vs 8 (-50.0%); BEYOND 5%" in out
    assert "ingested vs Table 1: users 2 vs 2 (+0.0%); items 2 vs 2 (+0.0%); interactions 3 vs 3 (+0.0%); within 5%" in out


def test_gzip_splitter_starts_no_piece_once_the_stop_marker_is_written(ray_session, tmp_path):
    """The strict-mode stop: a ``.gz`` splitter reads the marker before each piece (no ``ray.cancel``)."""
    from gre_ray.ingest.local import job_for
    from gre_ray.ingest.sources import plan, resolve
    from gre_ray.ingest.parse import parse_to_staging
    from gre_ray.wiring.ingest_tasks import split_gzip_to_staging
    from tests.ingest.conftest import write_amazon2018

    (tmp_path / "raw").mkdir()
    source = write_amazon2018(tmp_path / "raw")
    settings = build(IngestConfig, {"data_root": str(tmp_path / "raw"), "sources": [source]})
    (dataset,) = resolve(settings)
    (chunk,) = [c for c in plan(dataset, settings.chunk_bytes) if c.file.display == "Arts_2018.json.gz"]
    job = job_for(dataset, settings)
    stop = Location.of(tmp_path / "stop")

    whole, going = Location.of(tmp_path / "whole"), Location.of(tmp_path / "going")
    whole.mkdir()
    going.mkdir()
    rows = split_gzip_to_staging(chunk, job, going.uri, 64, 2, stop.uri)
    assert rows == parse_to_staging(chunk, job, whole.uri) > 0  # the same staging rows as one task reading it all
    assert list((tmp_path / "going").iterdir())

    stop.write_text("Yelp: review.json:3: bad_timestamp")
    stopped = Location.of(tmp_path / "stopped")
    stopped.mkdir()
    assert split_gzip_to_staging(chunk, job, stopped.uri, 64, 2, stop.uri) == 0
    assert list((tmp_path / "stopped").iterdir()) == []
