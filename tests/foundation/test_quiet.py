"""Quiet mode hides third-party notices that say nothing about the run, and only those."""

from __future__ import annotations

import logging

import pytest

from gre_ray.runner import quiet

POOLER_ONLY = """BertModel LOAD REPORT from: runs/demo/contrastive/model
Key                 | Status  |
--------------------+---------+-
pooler.dense.weight | MISSING |
pooler.dense.bias   | MISSING |

Notes:
- MISSING:\tthose params were newly initialized because missing from the checkpoint."""


def _record(name: str, message: str) -> logging.LogRecord:
    return logging.LogRecord(name, logging.WARNING, __file__, 1, message, None, None)


def test_a_load_report_of_the_unused_pooler_only_is_dropped_and_any_other_kept():
    report = quiet.PoolerOnlyReport()
    assert not report.filter(_record("transformers.modeling_utils", POOLER_ONLY))
    real = POOLER_ONLY.replace("pooler.dense.bias   | MISSING |", "encoder.layer.0.attention.self.query.weight | MISSING |")
    assert report.filter(_record("transformers.modeling_utils", real)), "a missing encoder weight must still show"
    assert report.filter(_record("transformers.modeling_utils", "Some other warning"))


def test_deepspeeds_cpu_notice_is_dropped():
    notice = quiet.AcceleratorNotice()
    assert not notice.filter(_record("DeepSpeed", "Setting accelerator to CPU. If you have GPU or other accelerator, "
                                                  "we were unable to detect it."))
    assert notice.filter(_record("DeepSpeed", "DeepSpeed info: version=0.19.8"))


def test_loading_the_shipped_model_without_its_pooler_reports_nothing_in_quiet_mode(minilm_path, monkeypatch):
    """The real report transformers writes (the pooler's weights unused) does not get through."""
    from transformers import AutoModel

    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    target = logging.getLogger("transformers.modeling_utils")
    # a gre-ray command run in this process earlier may have installed the filter already
    monkeypatch.setattr(target, "filters", [f for f in target.filters if not isinstance(f, quiet.PoolerOnlyReport)])
    target.addHandler(handler)
    try:
        AutoModel.from_pretrained(minilm_path, add_pooling_layer=False)
        assert any("LOAD REPORT" in m for m in seen), "transformers reports the unused pooler weights"
        seen.clear()
        target.addFilter(quiet.PoolerOnlyReport())
        AutoModel.from_pretrained(minilm_path, add_pooling_layer=False)
        assert not any("LOAD REPORT" in m for m in seen)
    finally:
        target.removeHandler(handler)


@pytest.mark.parametrize("verbose", [True, False])
def test_verbose_keeps_everything_and_quiet_mode_is_passed_to_workers(verbose, monkeypatch):
    for key in (quiet.QUIET_ENV, "HF_HUB_DISABLE_PROGRESS_BARS", "RAY_AIR_NEW_OUTPUT"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(quiet, "install_filters", lambda: None)
    quiet.configure(verbose)
    assert quiet.is_quiet() is (not verbose)
    assert quiet.train_log_level() == ("INFO" if verbose else "WARNING")
    assert quiet.ray_log_level() == (logging.WARNING if verbose else logging.ERROR)
    import os

    assert ("HF_HUB_DISABLE_PROGRESS_BARS" in os.environ) is (not verbose)


def test_tunes_list_of_unfinished_trials_is_dropped():
    notice = quiet.TuneNotice()
    assert not notice.filter(_record("ray.tune.tune", "Trials did not complete: [kitchen-sasrec-id-s1]"))
    assert notice.filter(_record("ray.tune.tune", "Wrote the latest version of all result files"))


def test_ray_datas_notice_that_the_training_splits_bars_are_off_is_dropped():
    notice = quiet.RayDataNotice()
    assert not notice.filter(_record("ray.data._internal.progress", "Progress bars disabled. To enable, set ..."))
    assert notice.filter(_record("ray.data._internal.progress", "Operator MapBatches failed"))
