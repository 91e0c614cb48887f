"""The probe's loss and its closed-form gradient with respect to the logits.

The classifier is linear and bias-free, so every gradient the trainer and SeA need follows from
``dL/dz`` (the residual ``p - target``): ``dL/dW = r^T x`` and ``dL/dx = r W``.  This is what lets
a whole hyperparameter grid train as one tensor program with no autograd.

Single-label: ``L = lamda * CE((z - delta * onehot(y)) / lamda, y)``, so ``dL/dz = softmax(.) - Y``.
Multi-label: ``L = lamda * BCE((z - delta * Y) / lamda, Y)`` summed over classes, so
``dL/dz = sigmoid(.) - Y``.  Both are averaged over the batch.
"""

from __future__ import annotations

import torch


def residual(
    z: torch.Tensor,
    targets: torch.Tensor,
    *,
    lamda: float,
    delta: float,
    multilabel: bool,
    hard: torch.Tensor | None = None,
) -> torch.Tensor:
    """``dL/dz`` times the batch size, for logits ``z`` (..., B, C) and soft/hard ``targets``.

    ``hard`` is the one-hot (or multi-hot) of the true labels that the margin is taken from; it
    defaults to ``targets`` (they differ only under mixup).
    """
    margin_on = targets if hard is None else hard
    if delta:
        z = z - delta * margin_on
    if multilabel:
        return torch.sigmoid(z / lamda) - targets
    return torch.softmax(z / lamda, dim=-1) - targets


def loss_value(
    z: torch.Tensor, targets: torch.Tensor, *, lamda: float, delta: float, multilabel: bool
) -> torch.Tensor:
    """Mean loss over the batch (last two dims B x C); used for logging and tests only."""
    if delta:
        z = z - delta * targets
    if multilabel:
        per = torch.nn.functional.binary_cross_entropy_with_logits(
            z / lamda, targets, reduction="none"
        ).sum(-1)
    else:
        per = -(targets * torch.log_softmax(z / lamda, dim=-1)).sum(-1)
    return lamda * per.mean(-1)
