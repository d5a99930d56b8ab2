"""The "train domains only" choice of the coreset and pairs stages, in one place."""

from __future__ import annotations

from gre_ray.data.domains import read_roles, train_domains
from gre_ray.runner.stage import StageContext


def choose_train_domains(ctx: StageContext, present: list[str], train_only: bool, what: str) -> list[str]:
    """The domains a stage works on: all ``present`` ones, or only role ``train`` when ``train_only``.

    Records the skipped domains and their roles in ``ctx.stats["skipped_domains"]``; warns
    and keeps every domain when no stage provides the ``domains`` artifact.

    Args:
        ctx: the running stage.
        present: the domains in the stage's input, in order.
        train_only: the stage's ``train_domains_only`` setting.
        what: how the warning names the stage, e.g. ``coreset``.
    """
    if not train_only:
        return present
    if not ctx.has_input("domains"):
        ctx.warn(f"{what}: train_domains_only is set but no stage provides 'domains'; using every domain")
        return present
    chosen, skipped = train_domains(present, read_roles(ctx.input("domains")))
    ctx.stats["skipped_domains"] = skipped
    return chosen
