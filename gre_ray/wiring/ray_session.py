"""Start Ray locally (the embedded default) or join the cluster named by an address.

Part of the Ray wiring: the pipeline, the benchmark stage and the commands call it to start
or join Ray before the first piece of work that needs it.
"""

from __future__ import annotations

import copy
import logging
import os
import socket
import tempfile
from typing import Any, Callable, Sequence

import ray
import yaml

from gre_ray.errors import UserError
from gre_ray.runner import interrupt, quiet
from gre_ray.runner.resources import Need
from gre_ray.runner.scaling import DEFAULT_WAIT_S
from gre_ray.wiring import autoscale

log = logging.getLogger("gre_ray")

_CONNECT_TIMEOUT_S = 5
RAY_DATA_LOGGING_CONFIG = "RAY_DATA_LOGGING_CONFIG"
# Ray Train's placement-group cleaner asks the State API, served by the dashboard, whether the
# Train controller is alive, and warns once a second when it cannot.
_TRAIN_CLEANER_LOGGER = "ray.train.v2._internal.execution.controller.placement_group_cleaner"


def quiet_train_cleaner() -> None:
    """Worker setup hook of a local Ray without dashboard: silence the cleaner's warnings.

    Without the dashboard there is no State API, so Ray Train's placement-group cleaner
    cannot check its controller and would log the same warning every second of every
    training run (its only job, freeing a crashed controller's placement group, matters on
    long-lived clusters, not in a private Ray that ends with the run).
    """
    logging.getLogger(_TRAIN_CLEANER_LOGGER).setLevel(logging.ERROR)
    quiet.quiet_worker()


def _after_init() -> None:
    """Take SIGTERM back from ``ray.init`` (:mod:`gre_ray.runner.interrupt`) and quiet Ray Data's console."""
    import ray.data  # noqa: F401 - installs Ray Data's log handlers, which quiet mode turns down

    interrupt.take_sigterm()
    quiet.quiet_ray_data()


def _quiet_ray_data_workers() -> None:
    """Quiet mode: Ray Data's console log at WARNING in the local Ray's workers too (Ray Train's
    split coordinator runs Ray Data in one), through Ray Data's own ``RAY_DATA_LOGGING_CONFIG``:
    its default config with the console handler at WARNING (and without the notice that the
    training split's progress bars are off), set before ``ray.init`` so the workers inherit
    it. A config the user set is kept."""
    if not quiet.is_quiet() or RAY_DATA_LOGGING_CONFIG in os.environ:
        return
    from ray.data._internal import logging as data_logging  # Ray Data's handlers: see _after_init

    config = copy.deepcopy(data_logging.DEFAULT_CONFIG)
    config["handlers"]["console"]["level"] = "WARNING"
    config["filters"]["gre_ray_quiet"] = {"()": f"{quiet.__name__}.{quiet.RayDataNotice.__name__}"}
    config["handlers"]["console"]["filters"] = [*config["handlers"]["console"].get("filters", []), "gre_ray_quiet"]
    path = os.path.join(tempfile.gettempdir(), f"gre_ray-ray-data-logging-{os.getuid()}.yaml")
    with tempfile.NamedTemporaryFile("w", dir=os.path.dirname(path), suffix=".yaml", delete=False) as handle:
        yaml.safe_dump(config, handle)
    os.replace(handle.name, path)  # whole, also when two runs start at once
    os.environ[RAY_DATA_LOGGING_CONFIG] = path
    data_logging.configure_logging()


def start_ray(config: Any, needs: Sequence[Need] = ()) -> None:
    """Initialise Ray once per process.

    ``config.run.ray_address`` (or the ``RAY_ADDRESS`` environment variable, which
    ``ray job submit`` sets) joins an existing cluster; without either, a private local
    Ray starts with ``config.run.num_cpus`` CPUs (all cores when unset).

    Raises:
        UserError: the cluster at the address cannot be reached or refuses the connection
            (``ray.init`` itself would retry for minutes).
    """
    if ray.is_initialized():
        return
    address = config.run.ray_address or os.environ.get("RAY_ADDRESS") or None
    if address:
        log.info("joining the Ray cluster at %s", address)
        _check_reachable(address)
        try:
            ray.init(address=address, log_to_driver=True)
        except (ConnectionError, ray.exceptions.AuthenticationError) as exc:
            raise UserError(f"cannot join the Ray cluster at {address}: {' '.join(str(exc).split())}") from None
        _check_autoscaling(config, needs)
        _after_init()
        return
    log.info("starting a local Ray (num_cpus=%s)", config.run.num_cpus or "all")
    _quiet_ray_data_workers()
    setup = f"{quiet.__name__}.quiet_worker" if config.run.dashboard else f"{__name__}.quiet_train_cleaner"
    hook = {"worker_process_setup_hook": setup}  # every worker: quiet mode's filters (gre_ray.runner.quiet)
    context = ray.init(
        address="local",
        num_cpus=config.run.num_cpus,
        include_dashboard=config.run.dashboard,
        logging_level=quiet.ray_log_level(),
        configure_logging=True,
        runtime_env=hook,
    )
    _after_init()
    if config.run.dashboard:
        log.info("Ray dashboard: %s", f"http://{context.dashboard_url}" if context.dashboard_url else "not started (see Ray's log)")


def _check_autoscaling(config: Any, needs: Sequence[Need]) -> None:
    """Set the autoscaler wait and refuse at once what the cluster's node types can never run."""
    autoscale.configure(getattr(config.run, "resource_wait_s", DEFAULT_WAIT_S))
    autoscale.check_needs(list(needs))


def _check_reachable(address: str) -> None:
    """Raise a one-line UserError unless a TCP connection to the cluster address opens."""
    if address in ("auto", "local"):
        return
    if address.startswith(("http://", "https://")):
        raise UserError(
            f"Ray address {address} is a dashboard (job server) address, which `ray job submit` takes; "
            "a driver joins the cluster's GCS address host:6379 (set by `ray job submit` inside a job)"
        )
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=_CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UserError(
            f"cannot reach the Ray cluster at {address} ({reason}); start it (`ray start --head`, `ray up`) "
            "or fix RAY_ADDRESS / run.ray_address"
        ) from None


def ensure_ray_for(config: Any) -> Callable[[], None]:
    """A function that starts (or joins) the Ray of ``config`` when first called; for work
    that needs Ray only when something is not cached."""

    def ensure() -> None:
        start_ray(config)

    return ensure
