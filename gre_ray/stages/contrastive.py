"""Stage ``contrastive``: fine-tune the encoder on collaborative pairs; artifact ``model``.

Reads ``pairs`` (``PAIRS_SCHEMA``) and, when a ``mlm`` stage runs, its ``backbone``;
otherwise fine-tunes ``contrastive.model`` (default: the shipped all-MiniLM-L6-v2). The
``model`` artifact is a folder loadable by ``AutoModel`` and ``SentenceTransformer`` with
a model card (:mod:`gre_ray.train.export`).

With the held-out signal on, each training domain's held-out users and candidate pool are
written to ``signal/<domain>/`` of the stage's output (:mod:`gre_ray.train.signal_store`);
the driver keeps a reference per domain (counts and a URI) and at most 20,000 centering
texts, and the training workers and the WiSE-FT step read the signal from storage.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from gre_ray.data.schema import PAIRS
from gre_ray.data.shared import model_name, shared_uri
from gre_ray.data.storage import read_table
from gre_ray.embed.model_folder import model_fingerprint
from gre_ray.errors import DataError
from gre_ray.runner.resources import Need, training_needs
from gre_ray.runner.stage import Stage, StageContext
from gre_ray.stages import register
from gre_ray.tracking.check import check_tracking
from gre_ray.tracking.config import TRACKING_KEYS
from gre_ray.train.config import ContrastiveConfig, LossName, resolve_model
from gre_ray.train.row_summary import RowSummary
from gre_ray.train.signal import SIGNAL_K, SIGNAL_METRIC, measure
from gre_ray.train.signal_store import SignalRef, load_signals
from gre_ray.train.tasks import ContrastiveTask, check_encoder
from gre_ray.train.wise import wise_ft_folder
from gre_ray.stages.training import train_and_export
from gre_ray.wiring.train_rows import summarize_rows
from gre_ray.wiring.train_signal import center_texts, signal_domains

CENTER_TEXTS = 20_000  # item texts whose mean centering folds out, at most

OBJECTIVES = {
    LossName.INFONCE: "bidirectional InfoNCE (van den Oord et al. 2018; symmetric as in CLIP, Radford et al. 2021)",
    LossName.GTE: "GTE improved contrastive loss (Li et al. 2023): query-passage, query-query and "
    "passage-passage negatives",
    LossName.GIST: "GISTEmbed guided in-batch negatives (Solatorio 2024)",
}


@register
class ContrastiveStage(Stage):
    name = "contrastive"
    provides = ("model",)
    requires = ("pairs",)
    optional = ("backbone", "items", "interactions", "domains")
    uses_ray = True
    speed_settings = TRACKING_KEYS  # where the epochs' metrics are also logged changes no weights

    def preflight(self, config: Any) -> None:
        """Tracking reachable, and a named guide model loadable, before any stage embeds anything."""
        settings: ContrastiveConfig = config.contrastive
        check_tracking(settings.tracking, settings.tracking_uri, config.run.root, self.name)
        if settings.loss is LossName.GIST and settings.guide_model:
            check_encoder(resolve_model(settings.guide_model, "contrastive.guide_model"), "contrastive.guide_model")

    def needs(self, config: Any) -> list[Need]:
        return training_needs(config.contrastive, self.name)

    def external_inputs(self, config: Any) -> dict[str, str]:
        settings: ContrastiveConfig = config.contrastive
        out = {"model": model_fingerprint(resolve_model(settings.model, "contrastive.model"))}
        if settings.loss is LossName.GIST and settings.guide_model:
            out["guide_model"] = model_fingerprint(resolve_model(settings.guide_model, "contrastive.guide_model"))
        return out

    def run(self, ctx: StageContext) -> None:
        settings: ContrastiveConfig = ctx.settings
        # Names, not driver folders: each training worker resolves them on its own node.
        if ctx.has_input("backbone"):
            model = shared_uri(ctx.input("backbone"))
        else:
            model = model_name(settings.model, "contrastive.model")
        check_encoder(resolve_model(model, "contrastive.model"),
                      "contrastive.model" if not ctx.has_input("backbone") else "backbone")
        guide = model
        if settings.loss is LossName.GIST:
            guide = model_name(settings.guide_model, "contrastive.guide_model") if settings.guide_model else model
            check_encoder(resolve_model(guide, "contrastive.guide_model"), "contrastive.guide_model")
        source = ctx.input("pairs")
        # the pairs grow with the corpus: a task per file, the driver keeps counts and the held-out rows
        rows = summarize_rows(source, PAIRS, "pairs", settings.loop.heldout_fraction, settings.loop.seed,
                              hard_negatives=settings.hard_negatives, limit=settings.loop.heldout_max,
                              text_limit=CENTER_TEXTS if settings.center else 0)
        if rows.rows == 0:
            raise DataError(f"{source.uri}: the pairs table has no rows; nothing to fine-tune on")
        if settings.hard_negatives and not rows.n_train:
            raise DataError(
                f"{source.uri}: no pair has {settings.hard_negatives} hard negatives (contrastive.hard_negatives)"
            )
        signal = signal_inputs(ctx, rows.domains)
        task = ContrastiveTask(settings, model, guide, signal)
        finalize = None
        if (signal and settings.wise_alphas != [1.0]) or settings.center:
            texts = _center_texts(signal, rows) if settings.center else []
            finalize = partial(_finish, settings=settings, base=model, signal=signal, center_texts=texts)
        train_and_export(
            ctx,
            task,
            stage=self.name,
            kind="pairs",
            source=source,
            rows=rows,
            artifact="model",
            finalize=finalize,
            # scoring WiSE-FT's mixes embeds the pools once per alpha: on a training worker's device
            finalize_on_worker=bool(signal) and len(set(settings.wise_alphas)) > 1,
            card={
                "title": "GRE text embedding model",
                "base_model": model,
                "objective": OBJECTIVES[settings.loss] + f", temperature {settings.temperature}, "
                f"{settings.hard_negatives} hard negative(s) per pair",
                "pooling": settings.pooling.value,
                "notes": [
                    "Fine-tuned on collaborative item pairs (items users consume together), gathered negatives "
                    f"across {max(1, settings.scaling.num_workers)} worker(s), same-item duplicates masked: "
                    f"{settings.mask_duplicates}.",
                    "Recall@K: held-out pairs as text-to-text retrieval (item_a text -> item_b texts).",
                    "next_item_ndcg / pair_auc / unrelated_cosine: next-item retrieval on held-out users of the "
                    "training domains (never mined into pairs), the signal that selects the epoch and the WiSE-FT mix; "
                    f"each user's next item is ranked among the domain's items when it has at most "
                    f"{settings.signal_pool:,}, else among the held-out users' items plus a seeded uniform sample of "
                    f"{settings.signal_pool:,} (a sampled ranking).",
                ],
            },
        )

    def summarize_signal(self, stats: dict) -> list[str]:
        """The held-out users' signal before, per epoch and after WiSE-FT."""
        lines = []
        rows = [("before", stats.get("initial_metrics") or {})]
        rows += [(f"epoch {h['epoch']}", h) for h in stats.get("history") or []]
        for label, m in rows:
            if SIGNAL_METRIC in m:
                lines.append(f"{label}: held-out users next-item ndcg@10 {m[SIGNAL_METRIC]:.4f}, "
                             f"pair auc {m['pair_auc']:.4f}, unrelated cosine {m['unrelated_cosine']:.3f}")
        pools = stats.get("signal_pool") or {}
        if pools:
            whole = sorted(d for d, p in pools.items() if p["whole_catalogue"])
            sampled = [f"{d} {p['pool']:,} of {p['items']:,}" for d, p in sorted(pools.items()) if not p["whole_catalogue"]]
            lines.append("held-out users ranked against " + "; ".join(
                ([f"the whole catalogue ({len(whole)} domain(s))"] if whole else [])
                + ([f"a candidate pool (their items + a seeded sample: {', '.join(sampled)})"] if sampled else [])))
        wise = stats.get("wise_ft")
        if wise and len(wise["scores"]) > 1:
            chosen = next(r for r in wise["scores"] if r["alpha"] == wise["alpha"])
            lines.append(f"WiSE-FT alpha {wise['alpha']} (of {[r['alpha'] for r in wise['scores']]}): "
                         f"ndcg@10 {chosen[SIGNAL_METRIC]:.4f}, unrelated cosine {chosen['unrelated_cosine']:.3f}")
        if stats.get("centered"):
            lines.append(f"centered: the mean of {stats['centered']['texts']} training-domain texts folded out "
                         f"(norm {stats['centered']['mean_norm']})")
        return lines

    def summarize(self, manifest: dict) -> list[str]:
        stats = manifest.get("stats", {})
        lines = [f"pairs {stats.get('training_rows', 0):,} train / {stats.get('heldout_rows', 0):,} held out"]
        initial = stats.get("initial_metrics") or {}
        if initial:
            lines.append(
                f"before: recall@k {initial.get('recall_at_k', 0):.4f}, held-out loss {initial.get('heldout_loss', 0):.4f}"
            )
        for h in stats.get("history") or []:
            lines.append(
                f"epoch {h['epoch']}: train loss {h['train_loss']:.4f}, held-out loss {h['heldout_loss']:.4f}, "
                f"recall@k {h['recall_at_k']:.4f}"
            )
        return lines + self.summarize_signal(stats)


def signal_inputs(ctx: StageContext, pair_domains: list[str]) -> list[SignalRef]:
    """The held-out users of the domains the pairs came from, restricted to role ``train``.

    Reads ``items`` and ``interactions`` of those domains only, file by file on Ray
    (:mod:`gre_ray.wiring.train_signal`: the driver never holds either table, nor a pool's
    texts), and writes each domain's signal to ``signal/<domain>/`` of the stage's output;
    with a ``domains`` artifact, a domain whose role is not ``train`` is never read, even if
    pairs name it. Empty when ``heldout_signal`` is off, ``pairs.heldout_users`` is 0 or the
    inputs are absent.

    Returns:
        A reference per domain with held-out users (sorted by domain).

    Raises:
        DataError: a training domain whose interactions all belong to held-out users, or
            whose candidate pool holds fewer items than the signal's K.
    """
    settings: ContrastiveConfig = ctx.settings
    pairs_config = getattr(ctx.config, "pairs", None)  # the pairs stage's split of users
    if not settings.heldout_signal:
        return []
    fraction = pairs_config.heldout_users if pairs_config is not None else 0.0
    if fraction <= 0 or not (ctx.has_input("items") and ctx.has_input("interactions")):
        ctx.warn("contrastive: no held-out users (pairs.heldout_users is 0 or no items/interactions); "
                 "the held-out pairs' recall@k selects the epoch and WiSE-FT is skipped")
        return []
    domains = list(pair_domains)
    if ctx.has_input("domains"):
        roles = read_table(ctx.input("domains"), columns=["domain", "role"])
        role = dict(zip(roles.column("domain").to_pylist(), roles.column("role").to_pylist()))
        domains = [d for d in domains if role.get(d) == "train"]
    if not domains:
        return []
    refs, counts = signal_domains(ctx.input("items"), ctx.input("interactions"), domains, fraction,
                                  pairs_config.seed, settings.signal_max_users, settings.signal_pool,
                                  ctx.output / "signal")
    for domain, c in sorted(counts.items()):
        if c["rows"] and c["held"] == c["rows"]:
            raise DataError(f"contrastive: training domain {domain!r} has no interactions left after the held-out "
                            f"split (all {c['rows']} belong to held-out users); lower pairs.heldout_users")
    for r in refs:
        if r.users and r.pool < SIGNAL_K:
            raise DataError(f"contrastive: training domain {r.domain!r} has a held-out candidate pool of "
                            f"{r.pool} items, fewer than K={SIGNAL_K}; raise contrastive.signal_pool "
                            "or leave the domain out")
    ctx.stats["signal_domains"] = [r.domain for r in refs]
    ctx.stats["signal_users"] = int(sum(r.users for r in refs))
    ctx.stats["signal_pool"] = {r.domain: {"pool": r.pool, "items": r.catalogue,
                                           "whole_catalogue": r.whole_catalogue} for r in refs}
    return [r for r in refs if r.users]


def _center_texts(signal: list[SignalRef], rows: RowSummary, limit: int = CENTER_TEXTS) -> list[str]:
    """Training-domain item texts whose mean is folded out: the held-out users' catalogues, else the pairs' texts.

    A stride of at most ``limit`` over the held-out users' pools joined in domain order (each
    sorted by item id), read from storage by a task per domain
    (:func:`gre_ray.wiring.train_signal.center_texts`): the same texts as striding the joined
    pools in one list, without the pools in the driver. Without a signal, the pairs' distinct
    texts when there are at most ``limit``, else the ``limit`` with the smallest hashes
    (a uniform sample, :attr:`gre_ray.train.row_summary.RowSummary.texts`), sorted.
    """
    if signal:
        return center_texts(signal, limit)
    return rows.texts[:limit]


def _finish(
    folder: str, *, settings: ContrastiveConfig, base: str, signal: list[SignalRef], center_texts: list[str]
) -> dict[str, Any]:
    """WiSE-FT (Wortsman et al. 2022) with the base, alpha chosen on the held-out users' candidate
    pools, then (``center``) the training-domain mean folded out of the last bias
    (:mod:`gre_ray.train.center`). Runs where it is called: this process, or a Ray task on a
    training worker's device (``base`` is a name or URI, resolved on that node; the signal is
    read from its URIs there, once)."""
    import torch
    from transformers import AutoTokenizer

    from gre_ray.train.center import fold_center, pooled_fn
    from gre_ray.train.pooling import TextEncoder, embed_texts

    tokenizer = AutoTokenizer.from_pretrained(folder)
    device = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    tasks: list = []  # the signal, read on the first score (none when there is one alpha)

    def score(backbone) -> dict[str, float]:
        if not signal:
            return {settings.select_metric: 0.0}
        tasks[:] = tasks or load_signals(signal)
        encoder = TextEncoder(backbone.to(device), settings.pooling).eval()

        def embed(texts: list[str]):
            found = embed_texts(encoder, tokenizer, texts, settings.max_length, 128, device)
            return found.numpy() if device.type == "cpu" else found.to(device)

        found = measure(tasks, embed)
        backbone.to("cpu")
        return {k: float(v) for k, v in found.items() if k != "heldout_users"}

    def center(backbone) -> dict[str, Any]:
        mean = fold_center(backbone, pooled_fn(backbone, tokenizer, settings.max_length), center_texts)
        return {"centered": {"texts": len(center_texts), "mean_norm": round(float(mean.norm()), 4)}}

    alphas = settings.wise_alphas if signal else [1.0]
    return wise_ft_folder(folder, resolve_model(base, "contrastive.model"), alphas, score, settings.select_metric,
                          post=center if settings.center else None)
