"""Fake datasets through real extraction, and the `seabench datasets` listing."""

from __future__ import annotations

from click.testing import CliRunner
from test_datasets import fake_cifar10, fake_folders

from seabench import runner
from seabench.cli import cli
from seabench.data import get_dataset


def test_imagefolder_through_real_extraction(tmp_path, home):
    path = fake_folders(tmp_path / "data" / "bugs")
    name = "imagefolder:" + str(path)
    manifest = get_dataset(name, tmp_path / "data").manifest()
    result = runner.extract(
        home, name, "efficientnet_lite0", image_size=32, data_root=tmp_path / "data", batch_size=8
    )
    entry = result.entry
    assert not result.cached and result.images == 21
    assert entry.meta["counts"] == {"train": 12, "val": 3, "test": 6} == manifest.counts()
    assert entry.dataset == name and entry.meta["val_source"] == "holdout20"
    assert entry.meta["num_classes"] == 3 and entry.meta["metric"] == "top1"
    t = entry.load()
    assert tuple(t["train_x"].shape) == (12, 1280)
    assert t["test_y"].tolist() == manifest.labels("test")
    # different images give different features (the grey and coloured fakes are not all equal)
    assert (t["test_x"][0] - t["test_x"][-1]).abs().max() > 0
    again = runner.extract(
        home, name, "efficientnet_lite0", image_size=32, data_root=tmp_path / "data", batch_size=8
    )
    assert again.cached and again.entry.key == entry.key


def test_datasets_command_lists_all_and_what_is_found(tmp_path):
    fake_cifar10(tmp_path)
    out = CliRunner().invoke(
        cli, ["datasets", "--data-root", str(tmp_path)], env={"COLUMNS": "200"}
    )
    assert out.exit_code == 0, out.output
    rows = {
        line.split("│")[1].strip(): line for line in out.output.splitlines() if line.count("│") > 3
    }
    for name in (
        "aircraft",
        "caltech101",
        "cars",
        "cifar10",
        "cifar100",
        "dtd",
        "flowers",
        "food",
        "pets",
        "sun397",
        "voc2007",
        "mit67",
        "imagefolder:PATH",
    ):
        assert name in rows, name
    assert "yes" in rows["cifar10"].split("│")[6] and "no" in rows["cifar100"].split("│")[6]
    assert "11-point mAP" in rows["voc2007"] and "mean per-class" in rows["pets"]
    assert "40,000 / 10,000 / 10,000" in rows["cifar10"]


def test_extract_of_a_missing_dataset_exits_2_with_the_layout(tmp_path):
    out = CliRunner().invoke(
        cli,
        [
            "extract",
            "--dataset",
            "sun397",
            "--backbone",
            "efficientnet_lite0",
            "--data-root",
            str(tmp_path),
            "--home",
            str(tmp_path / "home"),
        ],
    )
    assert out.exit_code == 2
    assert "SUN397/{ClassName.txt" in out.output and "Traceback" not in out.output
