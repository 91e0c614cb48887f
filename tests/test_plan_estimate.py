"""`seabench run RECIPE --dry-run` says, per cell not cached yet, the images to extract and the
time they take at the throughput measured by earlier extractions on this machine."""

from __future__ import annotations

import json
import re
import shutil

from click.testing import CliRunner

from seabench.cli import cli
from seabench.features.estimate import (
    THROUGHPUT,
    measured,
    read_throughput,
    record_throughput,
)
from seabench.home import Home


def recipe(tmp_path, subset: int) -> str:
    path = tmp_path / f"r{subset}.toml"
    path.write_text(
        'backbones = ["efficientnet_lite0"]\ndatasets = ["mnist5k"]\naugs = ["none"]\n'
        f'[extract]\nimage_size = 32\nsubset = {subset}\ndevice = "cpu"\n'
    )
    return str(path)


def dry_run(tmp_path, home: Home, subset: int) -> str:
    res = CliRunner().invoke(
        cli, ["run", recipe(tmp_path, subset), "--dry-run", "--home", str(home.root)]
    )
    assert res.exit_code == 0, res.output
    return res.output


def test_without_a_measurement_the_plan_says_so(tmp_path, home):
    out = dry_run(tmp_path, home, 50)
    assert "efficientnet_lite0 / mnist5k: 150 images; no throughput measured yet for " in out
    assert "efficientnet_lite0 at 32 px on cpu" in out
    assert not home.features.exists()  # a dry run writes nothing


def test_after_an_extraction_the_plan_estimates_from_its_throughput(tmp_path, tiny_home):
    home = Home.resolve(tmp_path / "home")
    shutil.copytree(tiny_home.root, home.root)
    m = read_throughput(home.features)["efficientnet_lite0|32|cpu"]
    assert m["images"] == 600 and m["images_per_second"] > 0 and not m["default_size"]
    out = dry_run(tmp_path, home, 50)  # 50 per split: not the cached 200
    line = next(x for x in out.splitlines() if "efficientnet_lite0 / mnist5k:" in x)
    ips = m["images_per_second"]
    assert f"150 images, about {150 / ips:.0f} s at {ips:,.0f} img/s (measured on cpu)" in line
    assert re.search(r"total: 150 images to extract in 1 cell\(s\), about \d+ s", out)
    cached = dry_run(tmp_path, home, 200)  # the tiny home's own entry
    assert "total: 0 images to extract in 0 cell(s) (1 cached)" in cached


def test_throughput_records_are_per_backbone_size_and_device(tmp_path):
    d = tmp_path / "features"
    record_throughput(d, "resnet50", 224, "cpu", 100, 4.0, default_size=True)
    record_throughput(d, "resnet50", 96, "cpu", 100, 1.0, default_size=False)
    assert measured(d, "resnet50", 224, "cpu")["images_per_second"] == 25.0
    assert measured(d, "resnet50", None, "cpu")["image_size"] == 224  # the default size
    assert measured(d, "resnet50", 224, "cuda") is None
    assert measured(d, "vit_b16", 224, "cpu") is None
    record_throughput(d, "resnet50", 224, "cpu", 100, 16.0, default_size=True, views="rot4")
    assert measured(d, "resnet50", 224, "cpu", views="rot4")["images_per_second"] == 6.25
    assert measured(d, "resnet50", 224, "cpu")["images_per_second"] == 25.0  # views apart
    record_throughput(d, "resnet50", 224, "cpu", 0, 0.0, default_size=True)  # nothing measured
    assert measured(d, "resnet50", 224, "cpu")["images_per_second"] == 25.0
    keys = sorted(json.loads((d / THROUGHPUT).read_text()))
    assert keys == ["resnet50|224|cpu", "resnet50|224|cpu|rot4", "resnet50|96|cpu"]
    assert not [p for p in d.iterdir() if p.name.endswith(".tmp")]  # atomic: no temp left


def test_an_unwritable_features_folder_skips_the_record(tmp_path):
    blocker = tmp_path / "features"
    blocker.write_text("a file where the folder should be")
    record_throughput(blocker, "resnet50", 224, "cpu", 100, 4.0, default_size=True)  # no raise
    assert read_throughput(blocker) == {}
