"""Multi-view probes: joint-label SLA against invariance-based training on all views."""

from __future__ import annotations

import pytest
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
    protos = F.normalize(torch.randn(2, 16, generator=torch.Generator().manual_seed(99)), dim=-1)
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    m = torch.arange(2)
    x = protos[(y[:, None] + m[None, :]) % 2] + 0.05 * torch.randn(n, 2, 16, generator=g)
    return F.normalize(x, dim=-1), y


def fit_score(mode: str, aug: str = "none") -> float:
    xtr, ytr = informative_views(200, 0)
    xte, yte = informative_views(200, 1)
    fx, fy = flatten(xtr, ytr, mode)
    c = output_classes(2, 2, mode)
    w = train_linear(
        fx,
        fy,
        num_classes=c,
        lr=torch.tensor([0.5]),
        wd=torch.tensor([1e-6]),
        strength=torch.tensor([0.1]),
        aug=aug,
        settings=TrainSettings(epochs=30, batch_size=64),
    )
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
    expected = torch.tensor(
        [[sum(logits[n * 4 + m, c * 4 + m] for m in range(4)) for c in range(3)] for n in range(3)]
    )
    assert torch.allclose(agg, expected)
    assert torch.allclose(
        aggregate(logits[:, :3], 4, "views"), logits[:, :3].reshape(3, 4, 3).mean(1)
    )


def _fs(n_views: int | None, seed: int = 0):
    from seabench.probe import FeatureSet

    def split(n, s):
        x, y = informative_views(n, s)
        return (x if n_views else x[:, 0]), y

    (xtr, ytr), (xva, yva), (xte, yte) = split(120, seed), split(60, seed + 1), split(60, seed + 2)
    return FeatureSet(xtr, ytr, xva, yva, xte, yte, num_classes=2, info={"views": "toy2"})


def test_protocol_runs_views_and_sla_with_selection_on_val():
    from seabench.probe import ProbeOptions, TrainSettings, run_probe

    settings = TrainSettings(epochs=15, batch_size=64)
    rows = {
        aug: run_probe(_fs(2), ProbeOptions(aug=aug, settings=settings, select="holdout"))[0]
        for aug in ("views", "sla", "sla+sea", "none")
    }
    assert rows["sla"]["test"] > 95 and rows["sla+sea"]["test"] > 95
    assert rows["views"]["test"] < 70
    for aug in ("views", "sla", "sla+sea"):
        r = rows[aug]
        assert r["selected_on"] == "val" and r["hparams"]["num_views"] == 2
        assert r["n_train"] == 120 and r["dim"] == 16
    assert "eta" in rows["sla+sea"]["hparams"] and "eta" not in rows["sla"]["hparams"]
    # a plain probe on multi-view features uses the reference (unaltered) view only
    assert rows["none"]["n_train"] == 120 and "num_views" not in rows["none"]["hparams"]


def test_view_modes_need_multiview_features():
    from seabench.errors import SeabenchError
    from seabench.probe import ProbeOptions, run_probe

    with pytest.raises(SeabenchError, match="--views"):
        run_probe(_fs(None), ProbeOptions(aug="sla"))
    with pytest.raises(SeabenchError, match="unknown augmentation"):
        ProbeOptions(aug="sla+nothing")
