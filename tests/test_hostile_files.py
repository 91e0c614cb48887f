"""Hostile files: a planted CIFAR batch must never run code, through any command that reads it."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from seabench.cli import cli
from seabench.data import get_dataset, safe_pickle
from seabench.errors import SeabenchError


class _Planted:
    """Unpickles as a call of os.system: what a hostile batch carries."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


SYSTEM = f"{os.system.__module__}.system"  # posix.system: the global the pickle names


def genuine_batch(n: int = 10, seed: int = 0, *, bytes_keys: bool = True, protocol: int = 2):
    rng = np.random.default_rng(seed)
    entry = {
        "batch_label": "training batch 1 of 5",
        "labels": [i % 10 for i in range(n)],
        "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        "filenames": [f"img_{i}.png" for i in range(n)],
    }
    if bytes_keys:
        entry = {k.encode(): v for k, v in entry.items()}
        entry[b"batch_label"] = entry[b"batch_label"].encode()
    return pickle.dumps(entry, protocol=protocol)


def cifar_root(tmp_path: Path, first_batch: bytes) -> Path:
    root = tmp_path / "data"
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    for i, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        (d / name).write_bytes(first_batch if i == 0 else genuine_batch(seed=i))
    return root


@pytest.fixture
def planted(tmp_path):
    marker = tmp_path / "PWNED"
    root = cifar_root(tmp_path, pickle.dumps({"data": _Planted(marker), "labels": [0]}, 2))
    return root, marker


def test_planted_batch_refused_by_extract(tmp_path, planted):
    root, marker = planted
    result = CliRunner().invoke(
        cli,
        ["extract", "--dataset", "cifar10", "--backbone", "efficientnet_lite0"]
        + ["--data-root", str(root), "--home", str(tmp_path / "home")],
    )
    assert result.exit_code == 2, result.output
    assert not marker.exists()
    out = " ".join(result.output.split())
    assert SYSTEM in out and "data_batch_1" in out and "not a genuine CIFAR batch" in out
    assert "download" in out and "Traceback" not in out


def test_planted_batch_refused_by_run_dry_run(tmp_path, planted):
    root, marker = planted
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        f'backbones = ["efficientnet_lite0"]\ndatasets = ["cifar10"]\naugs = ["none"]\n'
        f'data_root = "{root}"\n'
    )
    for extra in (["--dry-run"], []):
        result = CliRunner().invoke(
            cli, ["run", str(recipe), "--home", str(tmp_path / "home"), *extra]
        )
        assert result.exit_code == 2, result.output
        assert SYSTEM in " ".join(result.output.split())
        assert not marker.exists()


@pytest.mark.parametrize(
    "payload",
    [
        (eval, ("1",)),
        (getattr, (1, "real")),
        (np.load, ("x.npy",)),
        (__import__("codecs").encode, ("x", "rot13")),
    ],
    ids=["eval", "getattr", "numpy.load", "codecs.encode-rot13"],
)
def test_every_other_global_or_codec_is_refused(payload):
    class Evil:
        def __reduce__(self):
            return payload

    with pytest.raises(pickle.UnpicklingError):
        safe_pickle.load(io.BytesIO(pickle.dumps({"data": Evil()}, protocol=2)))


@pytest.mark.parametrize(
    "bytes_keys,protocol",
    [(True, 2), (False, 2), (True, pickle.DEFAULT_PROTOCOL), (True, 5)],
    ids=["bytes-keys-p2", "str-keys-p2", "numpy2-default", "numpy2-p5"],
)
def test_genuine_batches_still_load(tmp_path, bytes_keys, protocol):
    batch = genuine_batch(seed=7, bytes_keys=bytes_keys, protocol=protocol)
    a = get_dataset("cifar10", cifar_root(tmp_path, batch))
    m = a.manifest()
    assert sum(m.counts().values()) == 60
    entry = pickle.loads(batch)
    pixels = np.asarray(entry[b"data" if bytes_keys else "data"]).reshape(-1, 3, 32, 32)
    assert np.array_equal(np.asarray(a.open("train/00003")), pixels[3].transpose(1, 2, 0))


def test_python2_original_globals_load():
    """The published batches were pickled by Python 2 and numpy 1 (numpy.core.multiarray)."""
    data = genuine_batch(bytes_keys=False, protocol=2)
    old = data.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    assert old != data
    entry = safe_pickle.load(io.BytesIO(old))
    assert entry["data"].dtype == np.uint8 and entry["data"].shape == (10, 3072)


def test_not_a_batch_is_one_clear_error(tmp_path):
    a = get_dataset("cifar10", cifar_root(tmp_path, pickle.dumps([1, 2, 3], protocol=2)))
    with pytest.raises(SeabenchError, match="not a CIFAR batch.*download the python version"):
        a.manifest()


def test_planted_torchvision_hub_weights_are_refused_not_run(tmp_path, monkeypatch):
    """torchvision reads its cache with weights_only=False; seabench forces weights-only."""
    import torch
    import torchvision

    from seabench.backbones import create_backbone

    hub = tmp_path / "torch-hub"
    url = torchvision.models.get_model_weights("resnet18").DEFAULT.url
    (hub / "checkpoints").mkdir(parents=True)
    marker = tmp_path / "PWNED"
    torch.save({"fc.weight": _Planted(marker)}, hub / "checkpoints" / url.rsplit("/", 1)[1])
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    monkeypatch.delenv("TORCH_FORCE_WEIGHTS_ONLY_LOAD", raising=False)
    with pytest.raises(SeabenchError, match="not plain weights.*refused, nothing was run"):
        create_backbone("torchvision:resnet18")
    assert not marker.exists()
    assert "TORCH_FORCE_WEIGHTS_ONLY_LOAD" not in os.environ  # restored
