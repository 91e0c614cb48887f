"""Weighted k-nearest-neighbour classification of frozen features (DINO, Caron et al. 2021).

Features are L2-normalised; a query's neighbours are the bank features of largest cosine
similarity, and each of the k nearest votes for its label with weight ``exp(sim / T)``,
``T = 0.07``.  The class scores are the summed weights divided by their total, so a row of scores
is a probability vector (single-label) or, with multi-hot labels, per-class scores in [0, 1] (the
weighted fraction of neighbours carrying the class), which is what mAP ranks.

The similarity matrix is never held whole: queries are taken in chunks and, when the bank is
large, the bank too, keeping a running top-k, so memory is bounded by ``max_elements`` floats
whatever the sizes (50,000 x 10,000 features of dimension 2,048 included).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from seabench.errors import SeabenchError
from seabench.probe.arrays import tensor

TEMPERATURE = 0.07
K_GRID = (10, 20, 50, 100, 200)
#: the most similarity entries held at once (2**26 floats = 256 MiB)
MAX_ELEMENTS = 2**26


def check_finite(name: str, x: torch.Tensor) -> None:
    """k-NN on NaN features would rank garbage silently: one line saying which rows."""
    bad = torch.nonzero(~torch.isfinite(x.reshape(len(x), -1)).all(dim=1)).flatten()
    if len(bad):
        shown = ", ".join(str(i) for i in bad[:5].tolist()) + (" ..." if len(bad) > 5 else "")
        raise SeabenchError(
            f"k-NN: {name} features contain NaN or inf in rows {shown}; "
            "re-extract them or drop those rows"
        )


def neighbours(
    bank: torch.Tensor,
    queries: torch.Tensor,
    k: int,
    max_elements: int = MAX_ELEMENTS,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(similarities, indices), each (Nq, k), of the k most cosine-similar bank rows per query,
    most similar first.  Inputs are normalised here; work happens on ``bank``'s device."""
    if not 1 <= k <= len(bank):
        raise SeabenchError(f"k-NN needs 1 <= k <= {len(bank)} (the bank size), got k={k}")
    device = bank.device
    bank = F.normalize(bank.float(), dim=-1)
    queries = F.normalize(queries.to(device).float(), dim=-1)
    bank_chunk = min(len(bank), max(k, max_elements))
    query_chunk = max(1, max_elements // bank_chunk)
    sims, idxs = [], []
    for q0 in range(0, len(queries), query_chunk):
        q = queries[q0 : q0 + query_chunk]
        best_s = torch.empty(len(q), 0, device=device)
        best_i = torch.empty(len(q), 0, dtype=torch.long, device=device)
        for b0 in range(0, len(bank), bank_chunk):
            s = q @ bank[b0 : b0 + bank_chunk].T
            top_s, top_i = s.topk(min(k, s.shape[1]), dim=1)
            cand_s = torch.cat([best_s, top_s], dim=1)
            cand_i = torch.cat([best_i, top_i + b0], dim=1)
            best_s, pos = cand_s.topk(min(k, cand_s.shape[1]), dim=1)
            best_i = cand_i.gather(1, pos)
        sims.append(best_s)
        idxs.append(best_i)
    return torch.cat(sims), torch.cat(idxs)


def vote(
    sims: torch.Tensor,
    idx: torch.Tensor,
    bank_y: torch.Tensor,
    num_classes: int,
    k: int,
    temperature: float = TEMPERATURE,
    max_elements: int = MAX_ELEMENTS,
) -> torch.Tensor:
    """(Nq, C) normalised class scores from the first ``k`` of sorted neighbours.

    Single-label votes are scattered into (Nq, C); multi-hot votes gather (chunk, k, C) label
    rows, so queries are taken in chunks of at most ``max_elements`` such entries."""
    w = (sims[:, :k] / temperature).exp()
    w = w / w.sum(dim=1, keepdim=True)
    nbr = idx[:, :k]
    if bank_y.ndim == 1:
        out = torch.zeros(len(w), num_classes, device=w.device)
        return out.scatter_add_(1, bank_y[nbr].long(), w)
    step = max(1, max_elements // (k * num_classes))
    return torch.cat(
        [
            torch.einsum("qk,qkc->qc", w[i : i + step], bank_y[nbr[i : i + step]].float())
            for i in range(0, len(w), step)
        ]
    )


def knn_scores(
    bank_x: torch.Tensor,
    bank_y: torch.Tensor,
    queries: torch.Tensor,
    ks: tuple[int, ...] | list[int],
    num_classes: int,
    temperature: float = TEMPERATURE,
    max_elements: int = MAX_ELEMENTS,
) -> dict[int, torch.Tensor]:
    """Class scores for each k in ``ks`` from one neighbour search (with the largest k)."""
    bank_x, bank_y, queries = tensor(bank_x), tensor(bank_y), tensor(queries)
    sims, idx = neighbours(bank_x, queries, max(ks), max_elements)
    bank_y = bank_y.to(sims.device)
    return {k: vote(sims, idx, bank_y, num_classes, k, temperature, max_elements) for k in ks}
