"""Checkpoint layouts: files in each real wrapper format load strictly and give the plain model's
features; auto-detection names the right layout; wrong files fail with the keys named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import timm
import torch
import torch.nn.functional as F
import torchvision
from safetensors.torch import save_file
from torch import nn

from seabench._io import file_sha256
from seabench.backbones import LAYOUTS, create_backbone
from seabench.backbones.checkpoints import read_checkpoint
from seabench.backbones.detection import detect_layout
from seabench.errors import SeabenchError

TOL = 1e-5
#: resnet18 with torchvision's names at 1/8 of the width: small files, fast tests
NARROW = {"channels": (8, 16, 32, 64)}
X = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: one intra-op thread avoids thread hand-offs that dominate on a busy CPU."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def randomise_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BN statistics, so a BN loaded from the wrong key would show."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return model.eval()


def features(backbone, x=X) -> torch.Tensor:
    with torch.no_grad():
        return backbone.model(x)


def pre_logits(model: nn.Module, x=X) -> torch.Tensor:
    with torch.no_grad():
        return model.forward_head(model.forward_features(x), pre_logits=True)


def mlp(prefix: str, dims=(64, 32, 16), bn: bool = True) -> dict:
    """A projector/predictor MLP's state dict under ``prefix`` (Linear [+ BN] ...)."""
    out, i = {}, 0
    for a, b in zip(dims[:-1], dims[1:], strict=True):
        out[f"{prefix}.{i}.weight"] = torch.randn(b, a)
        if bn:
            out |= {
                f"{prefix}.{i + 1}.{k}": torch.ones(b)
                for k in ("weight", "bias", "running_mean", "running_var")
            }
            out[f"{prefix}.{i + 1}.num_batches_tracked"] = torch.tensor(0)
        i += 3
    return out


def without_fc(state: dict) -> dict:
    return {k: v for k, v in state.items() if not k.startswith("fc.")}


def prefixed(prefix: str, state: dict) -> dict:
    return {prefix + k: v for k, v in state.items()}


def optimizer_state() -> dict:
    return {
        "state": {0: {"momentum_buffer": torch.zeros(3)}},
        "param_groups": [{"lr": 0.03, "momentum": 0.9, "params": [0]}],
    }


# Builders of the real wrapper formats, from a plain torchvision/timm ResNet state dict.
def moco_v2(sd):
    inner = prefixed("module.encoder_q.", without_fc(sd)) | mlp("module.encoder_q.fc", bn=False)
    inner |= prefixed("module.encoder_k.", without_fc(sd)) | mlp("module.encoder_k.fc", bn=False)
    inner |= {"module.queue": torch.randn(16, 4096), "module.queue_ptr": torch.zeros(1).long()}
    return {"epoch": 800, "arch": "resnet18", "state_dict": inner, "optimizer": optimizer_state()}


def moco_v3(sd):
    inner = prefixed("module.base_encoder.", without_fc(sd)) | mlp("module.base_encoder.fc")
    inner |= prefixed("module.momentum_encoder.", without_fc(sd))
    inner |= mlp("module.momentum_encoder.fc") | mlp("module.predictor", dims=(16, 64, 16))
    return {
        "epoch": 100,
        "arch": "resnet18",
        "state_dict": inner,
        "optimizer": optimizer_state(),
        "scaler": {
            "scale": 65536.0,
            "growth_factor": 2.0,
            "backoff_factor": 0.5,
            "growth_interval": 2000,
            "_growth_tracker": 10,
        },
    }


def swav(sd):
    return (
        prefixed("module.", without_fc(sd))
        | mlp("module.projection_head")
        | {"module.prototypes.weight": torch.randn(300, 16)}
    )


def augself(sd):
    return {
        "backbone": without_fc(sd),
        "projector": mlp("", dims=(64, 32)),
        "optimizer": optimizer_state(),
        "epoch": 500,
    }


# format -> (builder, the layout auto-detection must choose, or the layouts it must offer where
# the file cannot tell: every layout whose rules fit the keys)
PLAIN = ("timm", "torchvision", "swav", "barlowtwins", "dino", "byol-converted")
WRAPPED = (*PLAIN, "mocov3", "simclr")
CASES = {
    "mocov2": (moco_v2, "mocov2"),
    "mocov3": (moco_v3, "mocov3"),
    "swav": (swav, "swav"),
    "augself": (augself, "augself"),
    "simclr": (lambda sd: {"state_dict": sd}, WRAPPED),
    "barlowtwins": (without_fc, PLAIN),
    "dino": (without_fc, PLAIN),
    "byol-converted": (lambda sd: sd, PLAIN),
    "torchvision": (lambda sd: sd, PLAIN),
    "timm": (lambda sd: {"state_dict": prefixed("module.", sd), "epoch": 3}, WRAPPED),
}


@pytest.fixture(scope="module")
def resnet18():
    return randomise_bn(timm.create_model("resnet18", num_classes=10, **NARROW))


@pytest.fixture(scope="module")
def files(resnet18, tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("ckpt")
    out = {}
    for fmt, (build, _) in CASES.items():
        out[fmt] = d / f"{fmt}_800ep.pth.tar"
        torch.save(build(resnet18.state_dict()), out[fmt])
    return out


@pytest.mark.parametrize("fmt", list(CASES))
def test_each_layout_gives_the_plain_models_features(fmt, files, resnet18):
    bb = create_backbone("resnet18", model_kwargs=NARROW, weights=files[fmt], weights_format=fmt)
    assert (features(bb) - pre_logits(resnet18)).abs().max() < TOL
    # the generic layouts' preprocessing is not the transfer protocol: the label says so
    suffix = {"timm": "[timm-preprocessing]", "torchvision": "[torchvision-preprocessing]"}
    assert bb.dim == 64 and bb.name == f"resnet18@{fmt}_800ep" + suffix.get(fmt, "")
    assert bb.identity == {
        "name": "resnet18",
        "weights_sha256": file_sha256(files[fmt]),
        "layout": fmt,
        "pooling": "avg",
        "model_kwargs": NARROW,
    }


@pytest.mark.parametrize("fmt", list(CASES))
def test_auto_detection_names_the_layout_or_asks(fmt, files):
    expected = CASES[fmt][1]
    if isinstance(expected, str):
        assert detect_layout(read_checkpoint(files[fmt])) == expected
        bb = create_backbone("resnet18", model_kwargs=NARROW, weights=files[fmt])
        assert bb.identity["layout"] == expected
        return
    with pytest.raises(SeabenchError) as err:
        create_backbone("resnet18", model_kwargs=NARROW, weights=files[fmt])
    msg = str(err.value)
    offered = re.search(r"build or preprocess differently: (.*); name one", msg).group(1)
    named = {n for part in offered.split(" | ") for n in part.split(": ")[0].split(", ")}
    assert named == set(expected), msg
    assert "--weights-format" in msg and f"fit {len(expected)} layouts" in msg


def test_auto_loading_names_the_layout_it_chose(files, resnet18):
    bb = create_backbone("resnet18", model_kwargs=NARROW, weights=files["swav"])
    assert bb.identity["layout"] == "swav"
    assert (features(bb) - pre_logits(resnet18)).abs().max() < TOL
    with pytest.raises(SeabenchError, match="simclr.*no mean/std normalisation"):
        create_backbone("resnet18", model_kwargs=NARROW, weights=files["simclr"])
    with pytest.raises(SeabenchError, match="layout 'timm \\(auto-detected\\)'"):
        create_backbone("resnet34", model_kwargs=NARROW, weights=files["byol-converted"])


def test_dino_full_checkpoint_uses_the_teacher(resnet18, tmp_path):
    import argparse

    sd = without_fc(resnet18.state_dict())
    path = tmp_path / "checkpoint.pth"
    torch.save(
        {
            "student": prefixed("module.backbone.", {k: v + 1 for k, v in sd.items()}),
            "teacher": prefixed("backbone.", sd) | mlp("head"),
            "epoch": 100,
            "args": argparse.Namespace(arch="resnet18", lr=0.0005),  # allowlisted, plain data
        },
        path,
    )
    bb = create_backbone("resnet18", model_kwargs=NARROW, weights=path)
    assert bb.identity["layout"] == "dino"
    assert (features(bb) - pre_logits(resnet18)).abs().max() < TOL


def test_detection_refuses_evidence_of_two_layouts():
    raw = {
        "state_dict": {
            "module.encoder_q.conv1.weight": torch.zeros(1),
            "module.base_encoder.conv1.weight": torch.zeros(1),
        }
    }
    with pytest.raises(SeabenchError, match="mocov2, mocov3"):
        detect_layout(raw)


def test_preprocessing_follows_the_layout_and_can_be_overridden(files):
    simclr = create_backbone(
        "resnet18", model_kwargs=NARROW, weights=files["simclr"], weights_format="simclr"
    )
    assert simclr.data_config["mean"] == [0.0] * 3 and simclr.data_config["std"] == [1.0] * 3
    moco = create_backbone("resnet18", model_kwargs=NARROW, weights=files["mocov2"])
    assert moco.data_config["std"] == [0.229, 0.224, 0.225]
    assert moco.data_config["crop_pct"] == 1.0 and moco.data_config["interpolation"] == "bicubic"
    timm_cfg = create_backbone(
        "resnet18", model_kwargs=NARROW, weights=files["timm"], weights_format="timm"
    ).data_config
    assert timm_cfg["crop_pct"] == timm.create_model("resnet18").pretrained_cfg["crop_pct"]
    mine = create_backbone(
        "resnet18", model_kwargs=NARROW, weights=files["mocov2"], mean=(0.5,) * 3, std=(0.25,) * 3
    )
    assert mine.data_config["mean"] == [0.5] * 3 and mine.data_config["std"] == [0.25] * 3
    with pytest.raises(SeabenchError, match="--std needs three numbers, all positive"):
        create_backbone(
            "resnet18", model_kwargs=NARROW, weights=files["mocov2"], std=(0.0, 1.0, 1.0)
        )


def test_wrong_prefix_names_the_unmatched_keys(resnet18, tmp_path):
    path = tmp_path / "lightning.ckpt"
    torch.save({"state_dict": prefixed("backbone.", resnet18.state_dict())}, path)
    with pytest.raises(SeabenchError) as err:
        create_backbone("resnet18", model_kwargs=NARROW, weights=path, weights_format="timm")
    msg = str(err.value)
    assert "layout 'timm'" in msg and "backbone.conv1.weight" in msg and "conv1.weight" in msg
    assert "missing keys" in msg and "unexpected keys" in msg and "\n" not in msg


def test_a_file_without_the_layouts_wrapper_says_what_it_holds(resnet18, tmp_path):
    path = tmp_path / "net.pth"
    torch.save({"net": resnet18.state_dict(), "epoch": 3}, path)
    with pytest.raises(
        SeabenchError,
        match="looks under 'state_dict' or 'model', and the file's top-level keys are epoch, net",
    ):
        create_backbone("resnet18", model_kwargs=NARROW, weights=path)


def test_a_layout_whose_prefix_is_absent_says_so(files):
    with pytest.raises(SeabenchError, match=r"keeps keys under module\.encoder_q\..*module\.conv1"):
        create_backbone(
            "resnet18", model_kwargs=NARROW, weights=files["swav"], weights_format="mocov2"
        )


def test_wrong_architecture_names_the_keys_and_shapes(files):
    with pytest.raises(
        SeabenchError,
        match=r"layout 'mocov2 \(auto-detected\)': missing keys: "
        r"layer1\.2\.",
    ):
        create_backbone("resnet34", model_kwargs=NARROW, weights=files["mocov2"])


class Payload:
    """An arbitrary object: unpickling it would run code (touch a file)."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return (Path.touch, (self.target,))


def test_pickled_objects_are_refused_not_run(resnet18, tmp_path):
    target = tmp_path / "ran"
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": resnet18.state_dict(), "extra": Payload(target)}, path)
    with pytest.raises(SeabenchError, match="pickled object .*refused"):
        create_backbone("resnet18", model_kwargs=NARROW, weights=path)
    assert not target.exists()


def test_safetensors_files_load(resnet18, tmp_path):
    path = tmp_path / "plain.safetensors"
    save_file({k: v.contiguous() for k, v in resnet18.state_dict().items()}, str(path))
    with pytest.raises(SeabenchError, match="fit 6 layouts"):  # plain names: it asks
        create_backbone("resnet18", model_kwargs=NARROW, weights=path)
    bb = create_backbone("resnet18", model_kwargs=NARROW, weights=path, weights_format="timm")
    assert bb.identity["layout"] == "timm"
    assert (features(bb) - pre_logits(resnet18)).abs().max() < TOL


def test_cnn_rejects_cls_pooling(files):
    with pytest.raises(SeabenchError, match="pooling 'cls' is not available for resnet18"):
        create_backbone("resnet18", model_kwargs=NARROW, weights=files["mocov2"], pooling="cls")
    with pytest.raises(SeabenchError, match="unknown pooling"):
        create_backbone("resnet18", model_kwargs=NARROW, weights=files["mocov2"], pooling="max")


# ---- SimCLR v2 converted (Separius/SimCLRv2-Pytorch names), built as that port builds it ----
def _bn_relu(c: int, relu: bool = True) -> nn.Sequential:
    return nn.Sequential(nn.BatchNorm2d(c), nn.ReLU() if relu else nn.Identity())


class _Projection(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.shortcut = nn.Conv2d(cin, cout, 1, stride, bias=False)
        self.bn = _bn_relu(cout, relu=False)

    def forward(self, x):
        return self.bn(self.shortcut(x))


class _Bottleneck(nn.Module):
    def __init__(self, cin, width, stride, project):
        super().__init__()
        self.projection = _Projection(cin, width * 4, stride) if project else nn.Identity()
        self.net = nn.Sequential(
            nn.Conv2d(cin, width, 1, bias=False),
            _bn_relu(width),
            nn.Conv2d(width, width, 3, stride, 1, bias=False),
            _bn_relu(width),
            nn.Conv2d(width, width * 4, 1, bias=False),
            _bn_relu(width * 4, relu=False),
        )

    def forward(self, x):
        return F.relu(self.projection(x) + self.net(x))


class _Blocks(nn.Module):
    def __init__(self, n, cin, width, stride):
        super().__init__()
        self.blocks = nn.ModuleList(
            [_Bottleneck(cin, width, stride, True)]
            + [_Bottleneck(width * 4, width, 1, False) for _ in range(n - 1)]
        )

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return x


class SimCLRv2ResNet50(nn.Module):
    """The port's r50_1x_sk0: stem width ``s``, stage widths w, 2w, 4w, 8w (real: 64, 64)."""

    def __init__(self, w: int = 64, s: int = 64):
        super().__init__()
        stem = nn.Sequential(
            nn.Conv2d(3, s, 7, 2, 3, bias=False), _bn_relu(s), nn.MaxPool2d(3, 2, 1)
        )
        self.net = nn.Sequential(
            stem,
            _Blocks(3, s, w, 1),
            _Blocks(4, 4 * w, 2 * w, 2),
            _Blocks(6, 8 * w, 4 * w, 2),
            _Blocks(3, 16 * w, 8 * w, 2),
        )
        self.fc = nn.Linear(32 * w, 1000)

    def forward(self, x):
        return self.net(x).mean(dim=[2, 3])


def test_simclr_v2_names_map_onto_resnet50(tmp_path):
    port = randomise_bn(SimCLRv2ResNet50(w=8))
    path = tmp_path / "r50_1x_sk0.pth"
    torch.save({"resnet": port.state_dict(), "head": mlp("layers", dims=(256, 256, 128))}, path)
    bb = create_backbone("resnet50", weights=path, model_kwargs=NARROW)
    assert bb.identity["layout"] == "simclr" and bb.data_config["std"] == [1.0] * 3
    with torch.no_grad():
        assert (features(bb) - port(X)).abs().max() < TOL


# ---- ViTs: MoCo v3 ViT-Small needs 12 heads; DINO ViT; class token vs averaged tokens ----
SMALL = {"img_size": 32, "depth": 2}  # two blocks at 32 px: the layouts, not the depth, matter


def vit(arch: str, **kwargs) -> nn.Module:
    return timm.create_model(arch, num_classes=0, **SMALL, **kwargs).eval()


def test_mocov3_vit_small_is_built_with_12_heads(tmp_path):
    ref = vit("vit_small_patch16_224", num_heads=12)
    inner = prefixed("module.base_encoder.", ref.state_dict())
    inner |= mlp("module.base_encoder.head", dims=(384, 64, 16))
    inner |= prefixed("module.momentum_encoder.", ref.state_dict())
    inner |= mlp("module.predictor", dims=(16, 64, 16))
    path = tmp_path / "vit-s-300ep.pth.tar"
    torch.save({"epoch": 300, "arch": "vit_small", "state_dict": inner}, path)
    bb = create_backbone("vit_small_patch16_224", weights=path, model_kwargs=SMALL)
    assert bb.identity["layout"] == "mocov3" and bb.identity["pooling"] == "cls"
    assert bb.identity["model_kwargs"] == {"depth": 2, "img_size": 32, "num_heads": 12}
    assert bb.model.model.blocks[0].attn.num_heads == 12 and bb.dim == 384
    assert (features(bb) - pre_logits(ref)).abs().max() < TOL
    six = vit("vit_small_patch16_224")  # timm's default: the same keys load, the outputs differ
    six.load_state_dict(ref.state_dict())
    assert (pre_logits(six) - pre_logits(ref)).abs().max() > 1e-3


def test_dino_vit_cls_and_avg_pooling(tmp_path):
    ref = vit("vit_tiny_patch16_224")
    path = tmp_path / "dino_deittiny16_pretrain.pth"
    torch.save(ref.state_dict(), path)
    kw = {"weights": path, "weights_format": "dino", "model_kwargs": SMALL}
    cls = create_backbone("vit_tiny_patch16_224", **kw)
    avg = create_backbone("vit_tiny_patch16_224", pooling="avg", **kw)
    with torch.no_grad():
        tokens = ref.forward_features(X)
    assert (features(cls) - tokens[:, 0]).abs().max() < TOL
    assert (features(avg) - tokens[:, ref.num_prefix_tokens :].mean(1)).abs().max() < TOL
    assert cls.identity["pooling"] == "cls" and avg.identity["pooling"] == "avg"
    assert cls.identity != avg.identity  # so they get different cache keys
    assert cls.data_config["input_size"] == [3, 32, 32]
    # a token model takes other input sizes too (position embedding resampled)
    assert features(cls, torch.randn(1, 3, 64, 64)).shape == (1, 192)
    with pytest.raises(
        SeabenchError,
        match=r"shape mismatch \(checkpoint vs model\): "
        r"blocks\.0\.attn\.proj\.bias \(192,\) vs \(384,\)",
    ):
        create_backbone("vit_small_patch16_224", **kw)


# ---- torchvision ----
def test_torchvision_checkpoint_features_before_the_last_linear(tmp_path):
    model = randomise_bn(torchvision.models.get_model("mobilenet_v3_small", weights=None))
    path = tmp_path / "mnv3.pth"
    torch.save(model.state_dict(), path)
    bb = create_backbone("mobilenet_v3_small", weights=path)
    assert bb.identity["layout"] == "torchvision" and bb.dim == 1024
    with torch.no_grad():
        expected = model.classifier[:3](torch.flatten(model.avgpool(model.features(X)), 1))
    assert (features(bb) - expected).abs().max() < TOL


def test_torchvision_prefix_forces_the_torchvision_model(tmp_path):
    model = randomise_bn(torchvision.models.get_model("resnet18", weights=None))
    path = tmp_path / "resnet18.pth"
    torch.save(model.state_dict(), path)
    with pytest.raises(SeabenchError, match="torchvision's ImageNet preprocessing"):
        create_backbone("torchvision:resnet18", weights=path)  # a plain file: it asks
    bb = create_backbone("torchvision:resnet18", weights=path, weights_format="torchvision")
    assert (
        isinstance(bb.model, torchvision.models.ResNet) and bb.identity["layout"] == "torchvision"
    )
    model.fc = nn.Identity()
    with torch.no_grad():
        assert (features(bb) - model(X)).abs().max() < TOL


def test_torchvision_download_failure_is_one_clear_error(monkeypatch):
    import urllib.error

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", offline)
    with pytest.raises(
        SeabenchError,
        match="could not download torchvision weights "
        r"MobileNet_V3_Small_Weights\.IMAGENET1K_V1.*--weights FILE",
    ):
        create_backbone("mobilenet_v3_small")


def test_unknown_names_and_formats(files):
    with pytest.raises(SeabenchError, match="unknown backbone 'no_such_net'"):
        create_backbone("no_such_net")
    with pytest.raises(SeabenchError, match="unknown --weights-format 'moco'.*mocov2"):
        create_backbone(
            "resnet18", model_kwargs=NARROW, weights=files["mocov2"], weights_format="moco"
        )
    with pytest.raises(SeabenchError, match="--weights-format mocov2 needs a checkpoint"):
        create_backbone("resnet18", weights_format="mocov2")
    with pytest.raises(SeabenchError, match="unknown architecture 'no_such_net'"):
        create_backbone("no_such_net", weights=files["mocov2"])
    assert set(LAYOUTS) >= {
        "timm",
        "torchvision",
        "mocov2",
        "mocov3",
        "simclr",
        "swav",
        "barlowtwins",
        "dino",
        "byol-converted",
        "augself",
    }


def test_offline_pretrained_weights_come_from_the_local_hub_cache_at_once(tmp_path, monkeypatch):
    from seabench.backbones import timm_models

    monkeypatch.setattr(timm_models, "hub_online", lambda timeout=2.0: False)
    monkeypatch.setattr(timm_models, "HF_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "torch-hub"))
    with pytest.raises(SeabenchError, match="not in the local Hugging Face or torch.hub cache"):
        timm_models.build_timm("test_efficientnet", pretrained=True)
    # a bare name says which weights it stands for (a bare resnet50 is timm's a1_in1k)
    with pytest.raises(SeabenchError, match=r"'resnet50' \(timm's resnet50\.a1_in1k, hub"):
        timm_models.build_timm("resnet50", pretrained=True)
    # the hub cache's on-disk layout: models--ORG--NAME/{refs/main, snapshots/REV/FILE}
    repo = tmp_path / "models--timm--test_efficientnet.r160_in1k"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0123abcd")
    (repo / "snapshots" / "0123abcd").mkdir(parents=True)
    state = timm.create_model("test_efficientnet").state_dict()
    save_file(state, str(repo / "snapshots" / "0123abcd" / "model.safetensors"))
    model = timm_models.build_timm("test_efficientnet", pretrained=True)
    for name, value in model.state_dict().items():
        assert torch.equal(value, state[name]), name
