"""``gre-ray bench --datasets X`` ingests X only: another configured dataset without raw files
does not stop it; an asked dataset without its raw files is one line naming them."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gre_ray.bench.scope import narrow_ingest, wanted_datasets
from gre_ray.commands.bench_run import bench
from gre_ray.errors import ConfigError, DataError
from gre_ray.ingest.config import IngestConfig, SourceSpec
from gre_ray.root_config import load_config
from tests.bench.fakes import keyed_trial

OPTIONS = {"user_column": "uid", "item_column": "iid", "time_column": "ts", "time_unit": "s", "rating_column": "",
           "item_id_column": "iid", "title_column": "name"}


def _write(root, name: str, n_users: int = 12, n_items: int = 10) -> dict:
    """A generic source: every user sees 5 items in time order, each item has a title."""
    rows = ["uid\tiid\tts"] + [f"u{u}\t{name}{(u + k) % n_items}\t{1_600_000_000 + k}"
                               for u in range(n_users) for k in range(5)]
    (root / f"{name}.tsv").write_text("\n".join(rows) + "\n")
    items = [f"{name}{i}" for i in range(n_items)]
    pq.write_table(pa.table({"iid": items, "name": [f"{name} thing number {i}" for i in range(n_items)]}),
                   root / f"{name}.parquet")
    return {"name": name, "adapter": "generic", "scenario": "e-commerce", "interactions": [f"{name}.tsv"],
            "items": [f"{name}.parquet"], "options": OPTIONS}


def _config(tmp_path, sources):
    import json

    return load_config("configs/demo.smoke.yaml", [
        f"run.root={tmp_path / 'run'}", "run.stages=[ingest, benchmark]",
        f"ingest.data_root={tmp_path / 'raw'}", f"ingest.sources={json.dumps(sources)}", "ingest.token_tokenizer=''",
        "benchmark.datasets=[]", "benchmark.models=[sasrec]", "benchmark.seeds=[0]",
        "benchmark.resources.max_concurrent_trials=1",
    ])


@pytest.fixture
def two_sources(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    sources = [_write(raw, "Shop"), _write(raw, "Toys")]
    (raw / "Toys.tsv").unlink()  # Toys is configured but its interactions were never downloaded
    return _config(tmp_path, sources)


def test_bench_of_one_dataset_runs_without_another_datasets_raw_files(ray_session, two_sources, tmp_path):
    run = bench(two_sources, ["minilm"], datasets=["Shop"], trial_fn=keyed_trial)
    assert set(run.results["dataset"]) == {"Shop"} and run.outcome.ran == 2  # ID-only + minilm
    assert set(run.zero_shot["dataset"]) == {"Shop"}
    manifest = (tmp_path / "run" / "ingest" / "manifest.json").read_text()
    assert '"Toys"' not in manifest
    with pytest.raises(DataError, match=r"^ingest: raw files missing under \S+: Toys: Toys\.tsv$"):
        bench(two_sources, ["minilm"], datasets=["Toys"], trial_fn=keyed_trial)


def test_narrowing_keeps_a_current_superset_and_names_unknown_datasets():
    settings = IngestConfig(datasets=["Arts", "Toys", "Cell"],
                            sources=[SourceSpec(name="Mine", adapter="generic", items=["x.parquet"])])
    assert wanted_datasets(settings, ["Toys", "Mine"], None) == ["Toys", "Mine"]
    assert wanted_datasets(settings, [], ["e-commerce"]) == ["Arts", "Cell"]  # Toys is a game dataset
    narrowed = narrow_ingest(settings, ["Toys"])
    assert narrowed.datasets == ["Toys"] and narrowed.sources == []
    assert narrow_ingest(settings, ["Toys"], previous=["Arts", "Toys"]).datasets == ["Arts", "Toys"]
    assert narrow_ingest(settings, ["Cell"], previous=["Arts", "Toys"]).datasets == ["Cell"]
    with pytest.raises(ConfigError, match="dataset\\(s\\) Books not listed in ingest.datasets"):
        wanted_datasets(settings, ["Books"], None)
