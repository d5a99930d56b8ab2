"""Each loss against values computed by hand on tiny tensors; duplicate and guided masking."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from gre_ray.train.losses import BidirectionalInfoNCELoss, ContrastiveInputs, GISTLoss, GTEInfoNCELoss, build_loss

# Two pairs in 2-D: q0 = p0 exactly, q1 orthogonal to q0, p1 between them.
Q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
P = torch.tensor([[1.0, 0.0], [0.6, 0.8]])


def nll(positive: float, others: list[float]) -> float:
    """-log softmax of ``positive`` among itself and ``others`` (temperature 1)."""
    return -positive + math.log(math.exp(positive) + sum(math.exp(o) for o in others))


def test_infonce_matches_hand_computation():
    loss = BidirectionalInfoNCELoss(temperature=1.0).compute_loss_from_embeddings(ContrastiveInputs(Q, P))
    # q->p: rows of Q P^T = [[1, .6], [0, .8]]; p->q: rows of P Q^T = [[1, 0], [.6, .8]]
    qp = (nll(1.0, [0.6]) + nll(0.8, [0.0])) / 2
    pq = (nll(1.0, [0.0]) + nll(0.8, [0.6])) / 2
    assert loss.item() == pytest.approx((qp + pq) / 2, abs=1e-6)


def test_infonce_temperature_scales_logits():
    loss = BidirectionalInfoNCELoss(temperature=0.5).compute_loss_from_embeddings(ContrastiveInputs(Q, P))
    qp = (nll(2.0, [1.2]) + nll(1.6, [0.0])) / 2
    pq = (nll(2.0, [0.0]) + nll(1.6, [1.2])) / 2
    assert loss.item() == pytest.approx((qp + pq) / 2, abs=1e-6)


def test_gte_matches_hand_computation():
    loss = GTEInfoNCELoss(temperature=1.0).compute_loss_from_embeddings(ContrastiveInputs(Q, P))
    # anchor 0: s(q0,p1)=.6, s(q0,q1)=0, s(q1,p0)=0, s(p1,p0)=.6 ; positive s(q0,p0)=1
    # anchor 1: s(q1,p0)=0, s(q1,q0)=0, s(q0,p1)=.6, s(p0,p1)=.6 ; positive s(q1,p1)=.8
    expected = (nll(1.0, [0.6, 0.0, 0.0, 0.6]) + nll(0.8, [0.0, 0.0, 0.6, 0.6])) / 2
    assert loss.item() == pytest.approx(expected, abs=1e-6)


def test_hard_negatives_join_the_query_candidates():
    neg = torch.tensor([[[0.0, 1.0]], [[1.0, 0.0]]])  # (B=2, K=1, D=2)
    loss = BidirectionalInfoNCELoss(temperature=1.0).compute_loss_from_embeddings(ContrastiveInputs(Q, P, neg))
    # q0 candidates p0=1, p1=.6, n0=0, n1=1 ; q1: p0=0, p1=.8, n0=1, n1=0
    qp = (nll(1.0, [0.6, 0.0, 1.0]) + nll(0.8, [0.0, 1.0, 0.0])) / 2
    pq = (nll(1.0, [0.0]) + nll(0.8, [0.6])) / 2
    assert loss.item() == pytest.approx((qp + pq) / 2, abs=1e-6)


def test_duplicate_items_are_masked_as_false_negatives():
    # Rows 0 and 2 share the positive item 7: for anchor 0, p2 is no negative (and vice versa).
    q = F.normalize(torch.tensor([[1.0, 0.2], [0.1, 1.0], [0.9, -0.3]]), dim=-1)
    p = F.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]), dim=-1)
    ids_q, ids_p = torch.tensor([1, 2, 3]), torch.tensor([7, 8, 7])
    masked = BidirectionalInfoNCELoss(temperature=1.0).compute_loss_from_embeddings(ContrastiveInputs(q, p, None, ids_q, ids_p))
    s_qp, s_pq = q @ p.T, p @ q.T
    expected_qp = [
        nll(s_qp[0, 0].item(), [s_qp[0, 1].item()]),
        nll(s_qp[1, 1].item(), [s_qp[1, 0].item(), s_qp[1, 2].item()]),
        nll(s_qp[2, 2].item(), [s_qp[2, 1].item()]),
    ]
    expected_pq = [nll(s_pq[i, i].item(), [s_pq[i, j].item() for j in range(3) if j != i]) for i in range(3)]
    assert masked.item() == pytest.approx((sum(expected_qp) / 3 + sum(expected_pq) / 3) / 2, abs=1e-6)
    unmasked = BidirectionalInfoNCELoss(temperature=1.0, mask_duplicates=False).compute_loss_from_embeddings(
        ContrastiveInputs(q, p, None, ids_q, ids_p)
    )
    assert unmasked.item() > masked.item()


def test_a_pair_and_its_reverse_do_not_repel():
    # Row 1 is row 0 reversed: its query is row 0's positive item, so for anchor 0 both q1 and p1 are masked.
    q = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    p = torch.tensor([[0.6, 0.8], [1.0, 0.0], [-1.0, 0.0]])
    ids_q, ids_p = torch.tensor([1, 2, 3]), torch.tensor([2, 1, 4])
    loss = GTEInfoNCELoss(temperature=1.0).compute_loss_from_embeddings(ContrastiveInputs(q, p, None, ids_q, ids_p))
    # anchor 0 keeps only row 2's texts as negatives: s(q0,p2), s(q0,q2), s(q2,p0), s(p2,p0)
    a0 = nll(0.6, [-1.0, 0.0, 0.8, -0.6])
    a1 = nll(0.6, [-0.6, 0.8, 0.0, -1.0])
    a2 = nll(0.0, [0.8, 0.0, 0.0, 0.8, -1.0, -0.6, -0.6, -1.0])
    assert loss.item() == pytest.approx((a0 + a1 + a2) / 3, abs=1e-6)


def test_gist_masks_candidates_the_guide_rates_above_the_positive():
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    p = torch.tensor([[0.8, 0.6], [0.6, 0.8]])
    # The guide finds q0 closer to p1 (0.9) than to its own positive p0 (0.5): p1 is masked for anchor 0.
    guide = ContrastiveInputs(
        query=torch.tensor([[1.0, 0.0], [0.0, 1.0]]),
        positive=torch.tensor([[0.5, math.sqrt(0.75)], [0.9, math.sqrt(0.19)]]),
    )
    loss = GISTLoss(temperature=1.0).compute_loss_from_embeddings(ContrastiveInputs(q, p), guide)
    # anchor 0: qp [.8, (.6 masked)], qq [0 (guide s(q0,q1)=0 < .5)], pp [s(p0,p1)=.96: guide s(p0,p1)=.827 > .5 masked]
    # anchor 1: guide positive s(q1,p1)=.436; qp p0: guide .866 > .436 masked; qq q0: 0 kept; pp p0: guide .827 masked
    expected = (nll(0.8, [0.0]) + nll(0.8, [0.0])) / 2
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    unguided = GTEInfoNCELoss(temperature=1.0).compute_loss_from_embeddings(ContrastiveInputs(q, p))
    assert loss.item() < unguided.item()


def test_losses_accept_encoder_features_and_backpropagate():
    torch.manual_seed(0)
    encoder = torch.nn.Linear(4, 3)
    embed = lambda f: F.normalize(encoder(f["x"]), dim=-1)  # noqa: E731
    features = {"query": {"x": torch.randn(5, 4)}, "positive": {"x": torch.randn(5, 4)}}
    for name in ("infonce", "gte", "gist"):
        encoder.zero_grad()
        loss = build_loss(name, temperature=0.1, guide=embed)(embed, features)
        loss.backward()
        assert torch.isfinite(loss) and encoder.weight.grad.abs().sum() > 0
