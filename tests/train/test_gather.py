"""Gathered negatives on 2 workers equal the single-process loss on the joined batch, gradients too.

Two local processes form a gloo group (torch.multiprocessing spawn). Each holds half of
the batch, computes the loss over its own anchors against the gathered candidates and
backpropagates. The mean of the two losses must equal the loss of one process on the
joined batch, and each worker's embedding gradients, divided by the number of workers
(what data-parallel averaging does), must equal the single-process gradients of its rows.
"""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from gre_ray.train.losses import ContrastiveInputs, build_loss

WORLD, B, K, D = 2, 3, 2, 4
NAMES = ("infonce", "gte", "gist")


def _batch(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    n = WORLD * B
    return {
        "q": F.normalize(torch.randn(n, D, generator=g), dim=-1),
        "p": F.normalize(torch.randn(n, D, generator=g), dim=-1),
        "n": F.normalize(torch.randn(n, K, D, generator=g), dim=-1),
        "gq": F.normalize(torch.randn(n, D, generator=g), dim=-1),
        "gp": F.normalize(torch.randn(n, D, generator=g), dim=-1),
        "gn": F.normalize(torch.randn(n, K, D, generator=g), dim=-1),
        # item 5 is the positive of a row on each worker: a duplicate across workers
        "q_ids": torch.tensor([0, 1, 2, 3, 4, 6]),
        "p_ids": torch.tensor([5, 7, 8, 5, 9, 2]),
        "n_ids": torch.arange(100, 100 + n * K).view(n, K),
    }


def _loss_and_grads(name: str, data: dict[str, torch.Tensor], rows: slice, gather: bool):
    q, p, n = (data[k][rows].clone().requires_grad_(True) for k in ("q", "p", "n"))
    inputs = ContrastiveInputs(q, p, n, data["q_ids"][rows], data["p_ids"][rows], data["n_ids"][rows])
    guide = ContrastiveInputs(data["gq"][rows], data["gp"][rows], data["gn"][rows])
    loss_fn = build_loss(name, temperature=0.2, gather_negatives=gather)
    loss = loss_fn.compute_loss_from_embeddings(inputs, guide) if name == "gist" else loss_fn.compute_loss_from_embeddings(inputs)
    loss.backward()
    return loss.detach(), q.grad, p.grad, n.grad


def _worker(rank: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    torch.set_num_threads(1)
    try:
        rows = slice(rank * B, (rank + 1) * B)
        results = {name: _loss_and_grads(name, _batch(), rows, gather=True) for name in NAMES}
        torch.save(results, f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_worker_results(tmp_path_factory):
    """Each loss on 2 gloo workers (one spawn for all losses: process start-up dominates)."""
    out = str(tmp_path_factory.mktemp("gather") / "result")
    mp.spawn(_worker, args=(_free_port(), out), nprocs=WORLD, join=True)
    return [torch.load(f"{out}.{r}") for r in range(WORLD)]


@pytest.mark.parametrize("name", NAMES)
def test_gathered_loss_and_gradients_equal_one_process(name, two_worker_results):
    parts = [result[name] for result in two_worker_results]
    loss, gq, gp, gn = _loss_and_grads(name, _batch(), slice(None), gather=False)
    assert torch.stack([p[0] for p in parts]).mean().item() == pytest.approx(loss.item(), abs=1e-6)
    for r, (_, q_grad, p_grad, n_grad) in enumerate(parts):
        rows = slice(r * B, (r + 1) * B)
        torch.testing.assert_close(q_grad / WORLD, gq[rows], atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(p_grad / WORLD, gp[rows], atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(n_grad / WORLD, gn[rows], atol=1e-6, rtol=1e-5)


def test_without_gathering_each_worker_sees_only_its_rows():
    data = _batch()
    local = _loss_and_grads("infonce", data, slice(0, B), gather=False)[0]
    joined = _loss_and_grads("infonce", data, slice(None), gather=False)[0]
    assert local.item() != pytest.approx(joined.item(), abs=1e-4)
