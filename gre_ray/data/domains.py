"""Domain roles: which domains feed training and which are held out for the benchmark.

The ``domains`` artifact (demo_data or ingest) gives each domain a role; the coreset and
pairs stages keep only ``train`` domains when asked, so no benchmark domain's texts or
pairs leak into GRE's training data.
"""

from __future__ import annotations

from gre_ray.data.storage import Location, read_table

TRAIN = "train"


def read_roles(loc: Location) -> dict[str, str]:
    """Domain → role, from the ``domains`` artifact at ``loc``."""
    table = read_table(loc, columns=["domain", "role"])
    return dict(zip(table.column("domain").to_pylist(), table.column("role").to_pylist()))


def train_domains(present: list[str], roles: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """The ``train`` domains among ``present`` (in order), and the others with their role.

    A domain the artifact does not list is skipped with role ``unknown``.
    """
    chosen = [d for d in present if roles.get(d) == TRAIN]
    skipped = {d: roles.get(d, "unknown") for d in present if roles.get(d) != TRAIN}
    return chosen, skipped
