"""Ensembles over backbones from the cache: concat and logits, and the shared-manifest check."""

from __future__ import annotations

import shutil

import pytest
import torch
from safetensors.torch import save_file

from seabench import runner
from seabench.errors import SeabenchError
from seabench.features import FeatureCache
from seabench.features.cache import cache_key
from seabench.home import Home
from seabench.probe import ProbeOptions, TrainSettings
from seabench.results import ResultsStore

FAST = TrainSettings(epochs=3, batch_size=64)


def _add_backbone(home: Home, name: str, transform, per_split: int | None = None) -> None:
    """A second cache entry: the real tiny features, transformed, under another backbone name."""
    cache = FeatureCache(home.features)
    base = cache.find("mnist5k", "efficientnet_lite0")
    tensors = base.load()
    manifest = base.manifest()
    if per_split is not None:
        manifest = manifest.subset(per_split)
        for split in ("train", "val", "test"):
            n = len(manifest.items(split))
            keep = [base.manifest().items(split).index(i) for i in manifest.items(split)]
            tensors[f"{split}_x"] = tensors[f"{split}_x"][keep]
            tensors[f"{split}_y"] = tensors[f"{split}_y"][keep]
            assert len(keep) == n
    for split in ("train", "val", "test"):
        tensors[f"{split}_x"] = transform(tensors[f"{split}_x"].float()).contiguous()
    path = home.root / f"{name}.safetensors"
    save_file(tensors, str(path))
    inputs = {**base.meta["inputs"], "backbone": {"name": name}, "manifest": manifest.hash}
    extra = {
        k: v
        for k, v in base.meta.items()
        if k not in ("key", "format", "inputs", "counts", "sha256", "created")
    }
    dim = tensors["train_x"].shape[-1]  # the sidecar's dim is checked against the tensors
    cache.commit(
        cache_key(inputs), inputs, manifest, path, {**extra, "backbone_name": name, "dim": dim}
    )


@pytest.fixture(scope="module")
def two_backbones(tiny_home, tmp_path_factory) -> Home:
    h = Home.resolve(tmp_path_factory.mktemp("ens") / "home")
    shutil.copytree(tiny_home.features, h.features)
    g = torch.Generator().manual_seed(0)
    proj = torch.randn(1280, 64, generator=g)
    _add_backbone(h, "proj64", lambda x: x @ proj)
    _add_backbone(h, "small", lambda x: x[:, :32], per_split=100)
    return h


OPTS = dict(aug="none", lr_grid=(0.8,), wd_grid=(1e-5, 1e-3), settings=FAST)


def test_concat_ensemble_row(two_backbones):
    rows = runner.probe_cached(
        two_backbones,
        "mnist5k",
        "efficientnet_lite0,proj64",
        ProbeOptions(**OPTS),
        ensemble="concat",
    )
    (r,) = rows
    assert r["backbone"] == "ens-concat(efficientnet_lite0+proj64)"
    assert r["dim"] == 1280 + 64 and r["ensemble"] == "concat"
    assert r["members"] == ["efficientnet_lite0", "proj64"]
    assert r["test"] > 30  # ten digit classes from real features
    recorded = ResultsStore(two_backbones.results).rows()
    assert any(x["backbone"] == r["backbone"] for x in recorded)


@pytest.mark.parametrize("solver", ["sgd", "lbfgs"])
def test_logits_ensemble_averages_member_probabilities(two_backbones, solver):
    opts = ProbeOptions(**OPTS, solver=solver, l2_grid=(1.0, 100.0))
    (r,) = runner.probe_cached(
        two_backbones, "mnist5k", "efficientnet_lite0,proj64", opts, ensemble="logits"
    )
    assert r["backbone"] == "ens-logits(efficientnet_lite0+proj64)"
    assert set(r["hparams"]["members"]) == {"efficientnet_lite0", "proj64"}
    assert r["configs_searched"] == 2 * 2 and r["solver"] == solver
    # each member searched on its own; the ensemble's scores are its own
    single = runner.probe_cached(two_backbones, "mnist5k", "efficientnet_lite0", opts)[0]
    assert r["hparams"]["members"]["efficientnet_lite0"] == single["hparams"]
    assert 0 < r["test"] <= 100


def test_members_from_different_manifests_are_refused(two_backbones):
    with pytest.raises(SeabenchError, match="different split manifests"):
        runner.probe_cached(
            two_backbones,
            "mnist5k",
            "efficientnet_lite0,small",
            ProbeOptions(**OPTS),
            ensemble="logits",
        )


def test_several_backbones_need_an_ensemble_mode(two_backbones):
    with pytest.raises(SeabenchError, match="--ensemble concat"):
        runner.probe_cached(
            two_backbones, "mnist5k", "efficientnet_lite0,proj64", ProbeOptions(**OPTS)
        )
