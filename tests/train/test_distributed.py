"""Two real Ray Train workers with DeepSpeed ZeRO-2 on CPU: learning and recovery from a failure.

One run covers both (each 2-worker run costs ~30 s of start-up on 2 cores): worker 0 raises
at global step 7 (in epoch 2) on the first attempt; ``FailureConfig(max_failures=1)``
restarts the worker group, which resumes from the epoch-1 checkpoint and completes.
"""

from __future__ import annotations

import os

from gre_ray.stages.contrastive import ContrastiveStage
from tests.train.data import contrastive_settings, planted_pairs, run_stage, write_parquet


def test_two_workers_learn_and_resume_after_a_worker_failure(ray_session, tiny_bert_path, tmp_path):
    pairs = write_parquet(planted_pairs(), tmp_path / "pairs")
    settings = contrastive_settings(
        tiny_bert_path,
        scaling={"num_workers": 2},
        deepspeed={"zero_stage": 2},
        loop={"epochs": 3, "fail_at_step": 7, "max_failures": 1, "keep_checkpoints": True},
    )
    ctx = run_stage(ContrastiveStage(), settings, {"pairs": pairs}, tmp_path)
    stats = ctx.stats
    assert stats["steps_per_epoch"] == 180 // (16 * 2)
    assert os.path.exists(os.path.join(stats["train_run"], "injected_failure.txt"))  # the failure happened
    assert stats["resumed_from_epoch"] == 1  # and the restart resumed after epoch 1
    history = stats["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert max(h["recall_at_k"] for h in history) > stats["initial_metrics"]["recall_at_k"] + 0.2
    assert ctx.out("model").exists()
