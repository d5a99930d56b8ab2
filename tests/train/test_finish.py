"""WiSE-FT's finishing step in a Ray task: it reads the best model from the run's storage and its rewrite comes back."""

from __future__ import annotations

import os
import shutil

from gre_ray.data.storage import Location
from gre_ray.root_config import load_config
from gre_ray.wiring.train_driver import FitResult, finish


def _mark(folder: str) -> dict:
    """A finalize that rewrites the folder where it runs and says what it saw."""
    saw = sorted(os.listdir(folder))
    with open(os.path.join(folder, "finished.txt"), "w") as fh:
        fh.write("rewritten\n")
    return {"saw": saw, "pid": os.getpid()}


def test_finish_on_a_worker_replaces_the_local_model_with_the_rewritten_one(ray_session, tmp_path):
    stored = tmp_path / "run" / "checkpoint_epoch_0001" / "model"
    stored.mkdir(parents=True)
    (stored / "config.json").write_text("{}")
    local = tmp_path / "local-model"
    shutil.copytree(stored, local)
    result = FitResult(state={}, model_dir=str(local), run_dir=str(tmp_path / "run"), model_at=Location.of(str(stored)))
    settings = load_config("configs/gre.smoke.yaml").contrastive
    got = finish(_mark, result, settings, on_worker=True)
    assert got["saw"] == ["config.json"] and got["pid"] != os.getpid()  # ran in a Ray worker, on the stored copy
    assert (local / "finished.txt").read_text() == "rewritten\n" and (local / "config.json").exists()
    assert not (tmp_path / "run" / "finished-model").exists()  # the hand-over folder is gone
    assert not (stored / "finished.txt").exists()  # the checkpoint itself is untouched
    here = finish(_mark, result, settings, on_worker=False)
    assert here["pid"] == os.getpid()
