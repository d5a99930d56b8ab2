"""The library path of docs/recsys.md (raw files -> ingest_locally -> split -> train -> metrics) runs."""

from __future__ import annotations

import re
from pathlib import Path

from gre_ray.recsys import Stage, evaluate, popularity_baseline

ROOT = Path(__file__).parents[2]


def test_docs_library_path_runs_and_beats_popularity(monkeypatch, capsys):
    text = (ROOT / "docs" / "recsys.md").read_text()
    code = re.search(r"<!-- runnable: library path -->\n```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(ROOT)
    ns: dict = {}
    exec(compile(code, "docs/recsys.md", "exec"), ns)
    assert "masked=False: NDCG@10" in capsys.readouterr().out
    split, trained = ns["split"], ns["trained"]
    assert split.dataset == "ml-tiny" and split.n_users == 60 and trained.train_targets > split.n_users
    test = evaluate(trained.model, split, Stage.TEST, **trained.eval_kwargs)  # masked, like the baseline
    assert test["ndcg@10"] > 1.5 * popularity_baseline(split).test["ndcg@10"]
