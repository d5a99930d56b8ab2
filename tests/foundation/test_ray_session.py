"""The local Ray the runner starts: without the dashboard, Ray Train's placement-group
cleaner (which needs the dashboard's State API) is kept from warning every second."""

from __future__ import annotations

import importlib
import importlib.util
import logging
from types import SimpleNamespace

import pytest

from gre_ray.wiring import ray_session


@pytest.fixture
def init_calls(monkeypatch):
    import ray

    calls = []
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kw: calls.append(kw) or SimpleNamespace(dashboard_url="127.0.0.1:8265"))
    return calls


def _config(dashboard: bool):
    return SimpleNamespace(run=SimpleNamespace(ray_address=None, num_cpus=2, dashboard=dashboard))


def test_without_dashboard_workers_run_the_quieting_hook(init_calls):
    ray_session.start_ray(_config(dashboard=False))
    hook = init_calls[0]["runtime_env"]["worker_process_setup_hook"]
    module, _, name = hook.rpartition(".")
    logger = logging.getLogger(ray_session._TRAIN_CLEANER_LOGGER)
    before = logger.level
    try:
        getattr(importlib.import_module(module), name)()  # what a worker runs at start-up
        assert logger.getEffectiveLevel() == logging.ERROR
    finally:
        logger.setLevel(before)
    assert init_calls[0]["include_dashboard"] is False
    assert importlib.util.find_spec(ray_session._TRAIN_CLEANER_LOGGER), "Ray moved the cleaner: update the logger name"


def test_with_dashboard_the_cleaner_is_not_silenced(init_calls, caplog):
    with caplog.at_level(logging.INFO, logger="gre_ray"):
        ray_session.start_ray(_config(dashboard=True))
    hook = init_calls[0]["runtime_env"]["worker_process_setup_hook"]
    assert hook == "gre_ray.runner.quiet.quiet_worker", "only quiet mode's filters (gre_ray.runner.quiet)"
    assert init_calls[0]["include_dashboard"] is True
    assert "http://127.0.0.1:8265" in caplog.text
