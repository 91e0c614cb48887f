"""Multi-view probes: joint-label SLA against invariance-based training on all views."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from seabench.probe.metrics import score
from seabench.probe.multiview import aggregate, flatten, output_classes
from seabench.probe.trainer import TrainSettings, predict, train_linear


def informative_views(n: int, seed: int):
    """Two classes, two views; view m of class c looks like prototype (c + m) mod 2.

    Each view alone is ambiguous and the set of views is the same for both classes, so a
    classifier that is invariant to the view cannot tell the classes apart; one that knows which
    view it looks at can.
    """
    g = torch.Generator().manual_seed(seed)
    protos = F.normalize(torch.randn(2, 16, generator=g), dim=-1)
    y = torch.arange(n) % 2
    m = torch.arange(2)
    x = protos[(y[:, None] + m[None, :]) % 2] + 0.05 * torch.randn(n, 2, 16, generator=g)
    return F.normalize(x, dim=-1), y


def fit_score(mode: str, aug: str = "none") -> float:
    xtr, ytr = informative_views(200, 0)
    xte, yte = informative_views(200, 1)
    fx, fy = flatten(xtr, ytr, mode)
    c = output_classes(2, 2, mode)
    w = train_linear(fx, fy, num_classes=c, lr=torch.tensor([0.5]), wd=torch.tensor([1e-6]),
                     strength=torch.tensor([0.1]), aug=aug,
                     settings=TrainSettings(epochs=30, batch_size=64))
    logits = aggregate(predict(xte.reshape(-1, 16), w), 2, mode)[0]
    return score("top1", logits, yte)


def test_sla_beats_invariance_when_the_view_is_informative():
    invariant = fit_score("views")
    sla = fit_score("sla")
    assert sla > 95.0
    assert invariant < 70.0
    assert fit_score("sla", aug="sea") > 95.0


def test_joint_labels_and_aggregation_follow_the_paper():
    x = torch.randn(3, 4, 5)
    y = torch.tensor([0, 2, 1])
    flat, joint = flatten(x, y, "sla")
    assert torch.equal(flat[5], x[1, 1])
    assert joint.tolist() == [0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7]
    logits = torch.randn(12, 12)  # 3 images x 4 views, 3 classes x 4 views
    agg = aggregate(logits, 4, "sla")
    expected = torch.tensor([[sum(logits[n * 4 + m, c * 4 + m] for m in range(4)) for c in range(3)]
                             for n in range(3)])
    assert torch.allclose(agg, expected)
    assert torch.allclose(aggregate(logits[:, :3], 4, "views"),
                          logits[:, :3].reshape(3, 4, 3).mean(1))
