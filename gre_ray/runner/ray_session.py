"""Start Ray locally (the embedded default) or join the cluster named by an address.

Kept apart from the pure core: this is the only place the runner imports Ray.
"""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger("gre_ray")


def start_ray(config: Any) -> None:
    """Initialise Ray once per process.

    ``config.run.ray_address`` (or the ``RAY_ADDRESS`` environment variable, which
    ``ray job submit`` sets) joins an existing cluster; without either, a private local
    Ray starts with ``config.run.num_cpus`` CPUs (all cores when unset).
    """
    import ray

    if ray.is_initialized():
        return
    address = config.run.ray_address or os.environ.get("RAY_ADDRESS") or None
    if address:
        log.info("joining the Ray cluster at %s", address)
        ray.init(address=address, log_to_driver=True)
        return
    log.info("starting a local Ray (num_cpus=%s)", config.run.num_cpus or "all")
    ray.init(
        address="local",
        num_cpus=config.run.num_cpus,
        include_dashboard=config.run.dashboard,
        logging_level=logging.WARNING,
        configure_logging=True,
    )
