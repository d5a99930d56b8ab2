"""Two Ray Train workers give the same trained weights in two runs of the same settings.

The pairs are written as several Parquet files, so Ray Data reads several blocks and the
training split (``streaming_split``) has blocks to deal out: with ``preserve_order`` the
same rows reach the same worker in every run (:func:`gre_ray.wiring.train_driver.fit`).
"""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from gre_ray.data.storage import Location
from gre_ray.stages.contrastive import ContrastiveStage
from tests.train.data import contrastive_settings, planted_pairs, run_stage


def _weights(folder: Location) -> dict[str, np.ndarray]:
    from safetensors.numpy import load

    with folder.fs.open_input_stream((folder / "model.safetensors").path) as stream:
        return load(stream.read())


@pytest.mark.slow
def test_two_worker_training_gives_the_same_weights_twice(ray_session, tiny_bert_path, tmp_path):
    pairs = planted_pairs()
    (tmp_path / "pairs").mkdir()
    third = pairs.num_rows // 3
    for part, start in enumerate((0, third, 2 * third)):
        pq.write_table(pairs.slice(start, third if part < 2 else None), tmp_path / "pairs" / f"part-{part:05d}.parquet")
    settings = contrastive_settings(tiny_bert_path, scaling={"num_workers": 2}, loop={"epochs": 1})
    first = run_stage(ContrastiveStage(), settings, {"pairs": str(tmp_path / "pairs")}, tmp_path / "a")
    second = run_stage(ContrastiveStage(), settings, {"pairs": str(tmp_path / "pairs")}, tmp_path / "b")
    a, b = _weights(first.out("model")), _weights(second.out("model"))
    assert a.keys() == b.keys() and first.stats["training_rows"] == second.stats["training_rows"] > 0
    differ = {k: float(np.abs(a[k] - b[k]).max()) for k in a if not np.array_equal(a[k], b[k])}
    assert not differ, differ
