"""WiSE-FT: interpolate the fine-tuned weights with the base model's, the mix chosen on held-out data.

Wortsman, Ilharco, Kim, Li, Kornblith, Roelofs, Gontijo-Lopes, Hajishirzi, Farhadi,
Namkoong & Schmidt 2022, "Robust fine-tuning of zero-shot models" (CVPR): the weights

    theta(alpha) = (1 - alpha) * theta_base + alpha * theta_fine-tuned

keep most of what fine-tuning learned while recovering the base model's behaviour off the
fine-tuning distribution. Here the off-distribution part is what contrastive steps on a
few thousand collaborative pairs flatten: the base model's spread of unrelated items
(GRE's unrelated-item cosine climbs from 0.32 to 0.71 on the demo). ``alpha`` is chosen
by the held-out signal of :mod:`gre_ray.train.signal` on the training domains' held-out
users, never on benchmark data. Non-float tensors (position ids) come from the fine-tuned
model unchanged. Pure torch.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from torch import Tensor


def interpolate(base: Mapping[str, Tensor], tuned: Mapping[str, Tensor], alpha: float) -> dict[str, Tensor]:
    """``(1 - alpha) * base + alpha * tuned`` for every float tensor (both must have the same keys).

    Raises:
        ValueError: ``alpha`` outside [0, 1], or the two state dicts differ in keys or shapes.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"WiSE-FT alpha must be in [0, 1], got {alpha}")
    if set(base) != set(tuned):
        missing = sorted(set(base) ^ set(tuned))[:3]
        raise ValueError(f"WiSE-FT needs the same weights in both models; differing keys, e.g. {missing}")
    out = {}
    for key, t in tuned.items():
        b = base[key]
        if b.shape != t.shape:
            raise ValueError(f"WiSE-FT: weight {key!r} has shape {tuple(b.shape)} in the base, {tuple(t.shape)} tuned")
        out[key] = (b.to(t.dtype) * (1.0 - alpha) + t * alpha) if t.is_floating_point() else t.clone()
    return out


def choose_alpha(
    alphas: Sequence[float], score: Callable[[float], dict[str, float]], metric: str
) -> tuple[float, list[dict[str, float]]]:
    """The alpha whose ``score(alpha)[metric]`` is highest (ties: the larger alpha), and every score.

    Returns:
        (best alpha, one dict per alpha with ``alpha`` and the metrics).
    """
    if not alphas:
        raise ValueError("WiSE-FT needs at least one alpha")
    rows = [{"alpha": float(a), **score(float(a))} for a in sorted(set(alphas))]
    best = max(rows, key=lambda r: (r[metric], r["alpha"]))
    return best["alpha"], rows


def wise_ft_folder(
    folder: str,
    base_path: str,
    alphas: Sequence[float],
    score: Callable[[Any], dict[str, float]],
    metric: str,
    post: Callable[[Any], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Rewrite the Hugging Face model in ``folder`` with the best WiSE-FT mix with ``base_path``.

    Args:
        folder: the fine-tuned model folder (``AutoModel`` weights; rewritten in place).
        base_path: the model fine-tuning started from (a local folder).
        alphas: the mixes to try (``[1.0]``: no mixing, only ``post``).
        score: metrics of a backbone (``AutoModel``) on held-out data.
        metric: the key of ``score``'s result to maximise.
        post: applied to every mixed backbone before it is scored and saved (centering,
            :mod:`gre_ray.train.center`); what it returns for the saved one is recorded.

    Returns:
        ``wise_ft`` (alpha, metric, the score of every alpha) and ``post`` results, for the
        stats and the model card.
    """
    from transformers import AutoModel

    model = AutoModel.from_pretrained(folder, add_pooling_layer=False).eval()
    tuned = {k: v.detach().clone() for k, v in model.state_dict().items()}
    base = AutoModel.from_pretrained(base_path, add_pooling_layer=False).state_dict() if alphas != [1.0] else tuned

    def mixed(alpha: float) -> dict[str, Any]:
        model.load_state_dict(interpolate(base, tuned, alpha))
        return post(model) if post is not None else {}

    def at(alpha: float) -> dict[str, float]:
        mixed(alpha)
        return score(model)

    if len(set(alphas)) == 1:  # nothing to choose: no scoring
        best, rows = float(alphas[0]), [{"alpha": float(alphas[0])}]
    else:
        best, rows = choose_alpha(alphas, at, metric)
    extra = mixed(best)
    model.save_pretrained(folder)
    rounded = [{k: round(v, 6) if isinstance(v, float) else v for k, v in r.items()} for r in rows]
    return {"wise_ft": {"alpha": best, "metric": metric, "scores": rounded}, **extra}
