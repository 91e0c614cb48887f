"""Checkpoint files as the original repositories write them (random weights, the same keys,
wrappers, heads and optimizer state): each loads into the architecture its method used, with
the preprocessing its method used, or is refused with one line; damaged files are refused.

The reference features are computed here from the weights' own model, built the way the
original repository builds it (MoCo v3's and DINO's ViTs, AugSelf's CIFAR ResNet, Barlow Twins'
torchvision ResNet-50), not from seabench's model.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import zipfile
from functools import partial
from pathlib import Path

import pytest
import timm
import torch
import torchvision
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from seabench.backbones import create_backbone
from seabench.backbones.layouts import IMAGENET_MEAN, IMAGENET_STD
from seabench.errors import SeabenchError

TOL = 1e-5
X = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
#: two blocks at 32 px: the heads, norms and pooling matter here, not the depth
SMALL = {"img_size": 32, "depth": 2}
#: timm resnet50 at 1/8 width: torchvision's key names and structure, small files
NARROW = {"channels": (8, 16, 32, 64)}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def randomise(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BN statistics and LayerNorm affine terms, so a wrong load would show."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d) and m.affine:
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
        if isinstance(m, nn.LayerNorm):
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
    return model.eval()


def prefixed(prefix: str, state: dict) -> dict:
    return {prefix + k: v for k, v in state.items()}


def optimizer_state() -> dict:
    return {
        "state": {0: {"momentum_buffer": torch.zeros(3)}},
        "param_groups": [{"lr": 0.03, "momentum": 0.9, "params": [0]}],
    }


def features(backbone, x=X) -> torch.Tensor:
    with torch.no_grad():
        return backbone.model(x)


# ---- ViTs built as moco-v3/vits.py and dino/vision_transformer.py build them ----------------
def moco_v3_vit_small(num_classes: int = 1000) -> VisionTransformer:
    """moco-v3 vits.vit_small: 384 wide, 12 heads, qkv bias, LayerNorm eps 1e-6, class token."""
    return randomise(
        VisionTransformer(
            img_size=32,
            patch_size=16,
            embed_dim=384,
            depth=2,
            num_heads=12,
            mlp_ratio=4,
            qkv_bias=True,
            norm_layer=partial(nn.LayerNorm, eps=1e-6),
            num_classes=num_classes,
        )
    )


def dino_vit_small(seed: int = 0) -> VisionTransformer:
    """dino vision_transformer.vit_small: 384 wide, 6 heads, LayerNorm eps 1e-6, no head."""
    return randomise(
        VisionTransformer(
            img_size=32,
            patch_size=16,
            embed_dim=384,
            depth=2,
            num_heads=6,
            mlp_ratio=4,
            qkv_bias=True,
            norm_layer=partial(nn.LayerNorm, eps=1e-6),
            num_classes=0,
        ),
        seed,
    )


def cls_token(model: VisionTransformer, x=X) -> torch.Tensor:
    with torch.no_grad():
        return model.forward_features(x)[:, 0]


def mlp(prefix: str, dims=(384, 64, 16)) -> dict:
    out = {}
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        out[f"{prefix}.{3 * i}.weight"] = torch.randn(b, a)
        out |= {f"{prefix}.{3 * i + 1}.{k}": torch.ones(b) for k in ("weight", "bias")}
    return out


@pytest.fixture(scope="module")
def moco_vit():
    return moco_v3_vit_small()


@pytest.fixture(scope="module")
def moco_lincls(moco_vit, tmp_path_factory) -> Path:
    """main_lincls.py's checkpoint: DDP-prefixed ViT keys + the 1000-way linear head."""
    path = tmp_path_factory.mktemp("mocov3") / "linear-vit-s-300ep.pth.tar"
    torch.save(
        {
            "epoch": 90,
            "arch": "vit_small",
            "state_dict": prefixed("module.", moco_vit.state_dict()),
            "best_acc1": torch.tensor(73.2),
            "optimizer": optimizer_state(),
        },
        path,
    )
    return path


@pytest.fixture(scope="module")
def moco_deit(moco_vit, tmp_path_factory) -> Path:
    """convert_to_deit.py's output: {'model': base encoder without the head}."""
    path = tmp_path_factory.mktemp("mocov3") / "vit-s-300ep-deit.pth"
    state = {k: v for k, v in moco_vit.state_dict().items() if not k.startswith("head.")}
    torch.save({"model": state}, path)
    return path


def test_mocov3_linear_eval_file_loads_with_12_heads_and_imagenet_statistics(moco_lincls, moco_vit):
    for fmt in ("auto", "mocov3"):
        bb = create_backbone(
            "vit_small_patch16_224", weights=moco_lincls, weights_format=fmt, model_kwargs=SMALL
        )
        assert bb.identity["layout"] == "mocov3"
        assert bb.model.model.blocks[0].attn.num_heads == 12
        assert (features(bb) - cls_token(moco_vit)).abs().max() < TOL
        assert bb.data_config["mean"] == list(IMAGENET_MEAN)
        assert bb.data_config["std"] == list(IMAGENET_STD)
        assert bb.name == "vit_small_patch16_224@linear-vit-s-300ep"


def test_mocov3_deit_conversion_asks_under_auto_and_loads_under_mocov3(moco_deit, moco_vit):
    with pytest.raises(SeabenchError) as err:
        create_backbone("vit_small_patch16_224", weights=moco_deit, model_kwargs=SMALL)
    msg = str(err.value)
    assert "mocov3: num_heads=12" in msg and "timm:" in msg and "--weights-format" in msg
    bb = create_backbone(
        "vit_small_patch16_224", weights=moco_deit, weights_format="mocov3", model_kwargs=SMALL
    )
    assert (features(bb) - cls_token(moco_vit)).abs().max() < TOL


def test_a_file_saying_vit_small_refuses_an_architecture_with_other_heads(moco_lincls):
    # deit_small has the same keys and shapes as MoCo v3's ViT-S, but 6 heads
    with pytest.raises(SeabenchError, match="arch 'vit_small'.*vit_small_patch16_224|holds"):
        create_backbone("deit_small_patch16_224", weights=moco_lincls, model_kwargs=SMALL)
    with pytest.raises(SeabenchError, match="layout 'mocov3' holds"):
        create_backbone(
            "deit_small_patch16_224",
            weights=moco_lincls,
            weights_format="mocov3",
            model_kwargs=SMALL,
        )


def test_mocov3_conv_stem_vit_is_refused_with_one_line(moco_vit, tmp_path):
    path = tmp_path / "vit-conv-s.pth.tar"
    state = {k: v for k, v in moco_vit.state_dict().items() if not k.startswith("patch_embed.")} | {
        "patch_embed.proj.0.weight": torch.randn(24, 3, 3, 3)
    }
    torch.save({"arch": "vit_conv_small", "state_dict": prefixed("module.", state)}, path)
    with pytest.raises(SeabenchError, match="vit_conv_small .*convolutional stem"):
        create_backbone("vit_small_patch16_224", weights=path, model_kwargs=SMALL)


def test_dino_vit_plain_file_asks_and_loads_with_6_heads_under_dino(tmp_path):
    ref = dino_vit_small()
    path = tmp_path / "dino_deitsmall16_pretrain.pth"
    torch.save(ref.state_dict(), path)
    with pytest.raises(SeabenchError) as err:
        create_backbone("vit_small_patch16_224", weights=path, model_kwargs=SMALL)
    msg = str(err.value)
    assert "dino: bicubic" in msg and "timm: vit_small_patch16_224's own timm" in msg
    bb = create_backbone(
        "vit_small_patch16_224", weights=path, weights_format="dino", model_kwargs=SMALL
    )
    assert bb.model.model.blocks[0].attn.num_heads == 6
    assert (features(bb) - cls_token(ref)).abs().max() < TOL
    assert bb.data_config["mean"] == list(IMAGENET_MEAN)  # not timm's 0.5


def test_dino_full_vit_checkpoint_uses_its_args_and_teacher(tmp_path):
    ref = dino_vit_small()
    path = tmp_path / "checkpoint.pth"
    head = {"mlp.0.weight": torch.randn(16, 384), "last_layer.weight_g": torch.ones(8, 1)}
    torch.save(
        {
            "student": prefixed("module.backbone.", dino_vit_small(seed=1).state_dict())
            | prefixed("module.head.", head),
            "teacher": prefixed("backbone.", ref.state_dict()) | prefixed("head.", head),
            "optimizer": optimizer_state(),
            "epoch": 100,
            "args": argparse.Namespace(arch="vit_small", patch_size=16, out_dim=65536),
            "dino_loss": {"center": torch.zeros(1, 8)},
        },
        path,
    )
    bb = create_backbone("vit_small_patch16_224", weights=path, model_kwargs=SMALL)
    assert bb.identity["layout"] == "dino" and "model_kwargs" in bb.identity
    assert (features(bb) - cls_token(ref)).abs().max() < TOL


# ---- ResNet-50 files: Barlow Twins, plain torchvision-named files ------------------------------
@pytest.fixture(scope="module")
def resnet50():
    return randomise(timm.create_model("resnet50", num_classes=0, **NARROW))


def pooled(model, x=X):
    with torch.no_grad():
        return model(x)


def test_barlow_twins_training_checkpoint_has_a_rule(resnet50, tmp_path):
    width = resnet50.num_features
    path = tmp_path / "checkpoint.pth"
    model = prefixed("module.backbone.", resnet50.state_dict())
    model |= {
        "module.projector.0.weight": torch.randn(32, width),
        "module.projector.1.weight": torch.ones(32),
        "module.projector.1.bias": torch.zeros(32),
        "module.projector.1.running_mean": torch.zeros(32),
        "module.projector.1.running_var": torch.ones(32),
        "module.projector.1.num_batches_tracked": torch.tensor(0),
        "module.projector.3.weight": torch.randn(32, 32),
        "module.bn.running_mean": torch.zeros(32),
        "module.bn.running_var": torch.ones(32),
        "module.bn.num_batches_tracked": torch.tensor(0),
    }
    torch.save({"epoch": 1000, "model": model, "optimizer": optimizer_state()}, path)
    bb = create_backbone("resnet50", weights=path, model_kwargs=NARROW)
    assert bb.identity["layout"] == "barlowtwins"
    assert (features(bb) - pooled(resnet50)).abs().max() < TOL
    assert bb.data_config["crop_pct"] == 1.0 and bb.data_config["interpolation"] == "bicubic"


def test_plain_torchvision_named_files_ask_naming_every_layout_and_protocol(resnet50, tmp_path):
    path = tmp_path / "resnet50.pth"
    torch.save(resnet50.state_dict(), path)  # Barlow Twins / DINO / torchvision all look so
    with pytest.raises(SeabenchError) as err:
        create_backbone("resnet50", weights=path, model_kwargs=NARROW)
    msg = str(err.value)
    for name in ("barlowtwins", "dino", "byol-converted", "swav", "timm", "torchvision"):
        assert name in msg
    assert "bilinear, crop 0.875" in msg and "ImageNet mean/std" in msg and "\n" not in msg
    # named, each protocol gets its own label: the two can never be reported as one
    barlow = create_backbone(
        "resnet50", weights=path, weights_format="barlowtwins", model_kwargs=NARROW
    )
    timm_pp = create_backbone("resnet50", weights=path, weights_format="timm", model_kwargs=NARROW)
    tv_pp = create_backbone(
        "resnet50", weights=path, weights_format="torchvision", model_kwargs=NARROW
    )
    assert barlow.name == "resnet50@resnet50"
    assert len({barlow.name, timm_pp.name, tv_pp.name}) == 3
    assert barlow.data_config["crop_pct"] == 1.0 and tv_pp.data_config["crop_pct"] == 0.875
    mine = create_backbone(
        "resnet50",
        weights=path,
        weights_format="barlowtwins",
        model_kwargs=NARROW,
        mean=(0.5,) * 3,
        std=(0.5,) * 3,
    )
    assert mine.name == "resnet50@resnet50[mean=0.5,0.5,0.5;std=0.5,0.5,0.5]"


def test_byol_converted_file_is_offered_every_layout_that_fits(resnet50, tmp_path):
    path = tmp_path / "pretrain_res50x1.pth.tar"
    torch.save({"state_dict": resnet50.state_dict()}, path)
    with pytest.raises(SeabenchError) as err:
        create_backbone("resnet50", weights=path, model_kwargs=NARROW)
    offered = str(err.value).split("differently: ")[1].split("; name one")[0]
    named = {n for part in offered.split(" | ") for n in part.split(": ")[0].split(", ")}
    assert {"byol-converted", "simclr", "timm", "barlowtwins", "dino", "swav"} <= named
    assert "mocov2" not in named and "augself" not in named


# ---- AugSelf's CIFAR ResNet-18 (models.load_backbone with a cifar_ model name) ---------------
def augself_cifar_resnet18() -> nn.Module:
    backbone = torchvision.models.resnet18(zero_init_residual=True)
    backbone.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    backbone.maxpool = nn.Identity()
    backbone.fc = nn.Identity()
    return randomise(backbone)


def test_augself_cifar_resnet18_loads_as_cifar_resnet18(tmp_path):
    ref = augself_cifar_resnet18()
    path = tmp_path / "ckpt-500.pth"
    torch.save(
        {
            "backbone": ref.state_dict(),
            "projector": mlp("", dims=(512, 64, 32)),
            "optimizers": [optimizer_state()],
        },
        path,
    )
    with pytest.raises(SeabenchError, match="conv1 is 3 x 3.*--backbone cifar_resnet18"):
        create_backbone("resnet18", weights=path)
    bb = create_backbone("cifar_resnet18", weights=path)
    assert bb.identity["layout"] == "augself" and bb.dim == 512
    assert (features(bb) - pooled(ref)).abs().max() < TOL
    # AugSelf evaluates its STL-10 models at 96 px with STL-10 statistics
    assert bb.data_config["input_size"] == [3, 96, 96]
    assert bb.data_config["mean"] == [0.43, 0.42, 0.39]


# ---- damaged and hostile files -------------------------------------------------------------------
@pytest.fixture
def good_file(resnet50, tmp_path) -> Path:
    path = tmp_path / "moco_v2_800ep_pretrain.pth.tar"
    torch.save({"state_dict": prefixed("module.encoder_q.", resnet50.state_dict())}, path)
    return path


def test_the_weights_hash_is_the_files_sha256(good_file):
    bb = create_backbone("resnet50", weights=good_file, model_kwargs=NARROW)
    assert bb.identity["weights_sha256"] == hashlib.sha256(good_file.read_bytes()).hexdigest()


def test_overwritten_tensor_bytes_are_refused_as_damaged(good_file):
    data = bytearray(good_file.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as z:
        info = max(z.infolist(), key=lambda i: i.file_size)  # the largest tensor record
    assert info.file_size > 3 * 4096
    start = info.header_offset + 30 + len(info.filename.encode()) + info.file_size // 3
    data[start : start + 4096] = torch.randint(0, 256, (4096,), dtype=torch.uint8).numpy().tobytes()
    good_file.write_bytes(bytes(data))
    with pytest.raises(SeabenchError) as err:
        create_backbone("resnet50", weights=good_file, model_kwargs=NARROW)
    msg = str(err.value)
    assert "damaged" in msg and "download it again" in msg and "CRC" in msg


def test_a_corrupted_pickle_is_reported_as_damaged_not_as_weights_only(good_file, tmp_path):
    bad = tmp_path / "bad_pickle.pth"
    with zipfile.ZipFile(good_file) as zin, zipfile.ZipFile(bad, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith("data.pkl"):
                data = data[:2] + b"garbage" + data[9:]
            zout.writestr(info, data)  # CRC-32 recomputed: only the pickle is bad
    with pytest.raises(SeabenchError) as err:
        create_backbone("resnet50", weights=bad, model_kwargs=NARROW)
    msg = str(err.value)
    assert "damaged" in msg and "weights_only" not in msg and "weights-only" not in msg


class Payload:
    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return (Path.touch, (self.target,))


def test_a_hostile_pickle_names_the_global_and_gives_no_unsafe_advice(resnet50, tmp_path):
    target = tmp_path / "ran"
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": resnet50.state_dict(), "extra": Payload(target)}, path)
    with pytest.raises(SeabenchError) as err:
        create_backbone("resnet50", weights=path, weights_format="timm", model_kwargs=NARROW)
    msg = str(err.value)
    assert "getattr" in msg and "refused" in msg
    assert "weights_only=False" not in msg and "weights_only" not in msg
    assert not target.exists()


# ---- end to end: the cached features are the weights' own ----------------------------------
def test_extract_caches_the_mocov3_vits_own_features_and_says_its_preprocessing(tmp_path):
    from click.testing import CliRunner

    from seabench.cli import cli
    from seabench.data import get_dataset
    from seabench.data.transforms import build_eval_transform
    from seabench.features import FeatureCache

    ref = randomise(  # moco-v3 vits.vit_small at full depth and size, 1000-way linear head
        VisionTransformer(
            patch_size=16,
            embed_dim=384,
            depth=12,
            num_heads=12,
            mlp_ratio=4,
            qkv_bias=True,
            norm_layer=partial(nn.LayerNorm, eps=1e-6),
        )
    )
    path = tmp_path / "linear-vit-s-300ep.pth.tar"
    state = prefixed("module.", ref.state_dict())
    torch.save({"epoch": 90, "arch": "vit_small", "state_dict": state, "best_acc1": 1.0}, path)
    home = tmp_path / "home"
    args = ["extract", "--dataset", "mnist5k", "--subset", "4", "--workers", "0"]
    args += ["--dtype", "fp32", "--backbone", "vit_small_patch16_224", "--weights", str(path)]
    result = CliRunner().invoke(cli, [*args, "--home", str(home)])
    assert result.exit_code == 0, result.output
    assert "layout mocov3" in result.stderr
    assert "preprocessing: resize to 224 px (bicubic), center crop 224 px (crop 1)" in (
        result.stderr
    )
    assert "mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225)" in result.stderr
    (entry,) = FeatureCache(home / "features").entries()
    cached = entry.load()
    adapter = get_dataset("mnist5k")
    transform = build_eval_transform(entry.meta["inputs"]["transform"])
    manifest = adapter.manifest().subset(4)
    for split in ("train", "test"):
        x = torch.stack([transform(adapter.open(i)) for i in manifest.items(split)])
        assert (cached[f"{split}_x"] - cls_token(ref, x)).abs().max() < 1e-4
