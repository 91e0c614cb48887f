"""Every sidecar field that drives a number is covered by a checksum: an edited meta.json is
reported as damaged by `cache verify` and `probe` (never used, never "no cached features"), and
`extract` rebuilds it under the same key."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner
from conftest import TINY

from seabench import runner
from seabench.cli import cli
from seabench.features import FeatureCache
from seabench.features.cache import META_HASH, CorruptEntry
from seabench.home import Home


@pytest.fixture
def home(tiny_home, tmp_path) -> Home:
    h = Home.resolve(tmp_path / "home")
    shutil.copytree(tiny_home.root, h.root)
    return h


def edit_meta(home: Home, **changes) -> str:
    (path,) = home.features.glob("*/meta.json")  # the one entry, damaged or not
    meta = json.loads(path.read_text())
    meta.update(changes)
    meta = {k: v for k, v in meta.items() if v is not None}
    path.write_text(json.dumps(meta, indent=2))
    return path.parent.name


def _cli(home: Home, *args):
    return CliRunner().invoke(cli, [*args, "--home", str(home.root)])


def _probe(home: Home, backbone: str = "efficientnet_lite0"):
    return _cli(
        home,
        "probe",
        "--dataset",
        "mnist5k",
        "--backbone",
        backbone,
        "--no-search",
        "--epochs",
        "1",
        "--aug",
        "none",
    )


@pytest.mark.parametrize(
    "field,value",
    [("metric", "mean_per_class"), ("backbone_name", "resnet50"), ("num_classes", 11)]
    + [("val_source", "official"), ("multilabel", True), ("dim", 1279)]
    + [("counts", {"train": 200, "val": 200, "test": 199})],
)
def test_edited_sidecar_is_corrupt_in_verify(home, field, value):
    key = edit_meta(home, **{field: value})
    result = _cli(home, "cache", "verify")
    assert result.exit_code == 2
    assert f"CORRUPT {key}: cache entry {key} has a damaged meta.json" in result.output
    assert "ok " not in result.output


@pytest.mark.parametrize("field,value", [("metric", "mean_per_class"), ("backbone_name", "x")])
def test_probe_on_an_edited_sidecar_says_damaged_and_how_to_rebuild(home, field, value):
    edit_meta(home, **{field: value})
    names = ["efficientnet_lite0"] + ([value] if field == "backbone_name" else [])
    for name in names:  # the real name and the forged one
        result = _probe(home, name)
        assert result.exit_code == 2, result.output
        flat = " ".join(result.output.split())
        assert "damaged meta.json" in flat and "no cached features" not in flat
        assert f"seabench extract --dataset mnist5k --backbone {name}" in flat
    assert not home.results.exists()  # no row recorded from it


def test_extract_rebuilds_an_edited_or_old_entry_under_the_same_key(home):
    key = edit_meta(home, metric="map11")
    with pytest.raises(CorruptEntry, match="damaged meta.json"):
        FeatureCache(home.features).get(key)
    # as an entry written before sidecar hashes looks: no hash; stale, rebuilt the same way
    edit_meta(home, **{META_HASH: None})
    with pytest.raises(CorruptEntry, match="written before sidecar checksums"):
        FeatureCache(home.features).get(key)
    assert _cli(home, "cache", "verify").exit_code == 2
    result = runner.extract(home, "mnist5k", "efficientnet_lite0", **TINY)
    assert not result.cached and result.entry.key == key
    assert result.entry.meta["metric"] == "top1" and META_HASH in result.entry.meta
    assert _cli(home, "cache", "verify").exit_code == 0
    assert _probe(home).exit_code == 0
