"""The feature cache: what goes into a key, the sidecar, integrity, reuse and the key's lock."""

from __future__ import annotations

import dataclasses
import json
import shutil
import threading

import pytest
import timm
import torch
from safetensors.torch import load_file, save_file

from seabench._io import file_sha256
from seabench.backbones import create_backbone
from seabench.data import get_dataset
from seabench.features import FeatureCache, extract_features
from seabench.features.cache import CorruptEntry
from seabench.features.extract import plan_key
from seabench.home import Home

SMALL = {"subset": 20, "image_size": 32, "batch_size": 10}


@pytest.fixture(scope="module")
def lite0():
    return create_backbone("efficientnet_lite0")


@pytest.fixture(scope="module")
def mnist():
    return get_dataset("mnist5k")


def flip_bytes(path, offset_from_end=64):
    data = bytearray(path.read_bytes())
    for i in range(8):
        data[-offset_from_end - i] ^= 0xFF
    path.write_bytes(bytes(data))


def test_key_changes_with_every_input_and_only_then(mnist, lite0):
    base = plan_key(mnist, lite0, image_size=32, subset=20).key
    assert (
        plan_key(
            get_dataset("mnist5k"), create_backbone("efficientnet_lite0"), image_size=32, subset=20
        ).key
        == base
    )  # rebuilt from scratch: same key
    changed = {
        "size": plan_key(mnist, lite0, image_size=48, subset=20).key,
        "crop": plan_key(mnist, lite0, image_size=32, crop_pct=1.0, subset=20).key,
        "dtype": plan_key(mnist, lite0, image_size=32, subset=20, dtype="fp32").key,
        "split manifest": plan_key(mnist, lite0, image_size=32, subset=21).key,
        "mean/std": plan_key(
            mnist,
            dataclasses.replace(
                lite0, data_config={**lite0.data_config, "mean": [0.485, 0.456, 0.406]}
            ),
            image_size=32,
            subset=20,
        ).key,
        "interpolation": plan_key(
            mnist,
            dataclasses.replace(
                lite0, data_config={**lite0.data_config, "interpolation": "bilinear"}
            ),
            image_size=32,
            subset=20,
        ).key,
        "layout": plan_key(
            mnist,
            dataclasses.replace(lite0, identity={**lite0.identity, "layout": "other"}),
            image_size=32,
            subset=20,
        ).key,
    }
    assert base not in changed.values()
    assert len(set(changed.values())) == len(changed)


def test_gpu_autocast_features_get_their_own_key(mnist, lite0, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    cpu = plan_key(mnist, lite0, image_size=32, subset=20)
    gpu = plan_key(mnist, lite0, image_size=32, subset=20, device="cuda")
    assert "autocast" not in cpu.inputs and gpu.inputs["autocast"] == "bf16"
    assert gpu.key != cpu.key
    # fp32 storage computes in full precision on a GPU too: the CPU's key
    fp32 = {
        d: plan_key(mnist, lite0, image_size=32, subset=20, dtype="fp32", device=d)
        for d in ("cpu", "cuda")
    }
    assert fp32["cpu"].key == fp32["cuda"].key


def test_key_changes_with_the_weights_file(tmp_path, mnist):
    state = timm.create_model("test_efficientnet").state_dict()
    save_file(state, str(tmp_path / "a.safetensors"))
    name = next(k for k, v in state.items() if v.dtype.is_floating_point)
    state[name] = state[name] + 1e-3
    save_file(state, str(tmp_path / "b.safetensors"))
    shutil.copy(tmp_path / "a.safetensors", tmp_path / "a_copy.safetensors")

    def key(file):
        return plan_key(
            mnist,
            create_backbone("test_efficientnet", weights=tmp_path / file),
            image_size=32,
            subset=20,
        ).key

    assert key("a.safetensors") != key("b.safetensors")
    assert key("a.safetensors") == key("a_copy.safetensors")  # content, not the path


def test_sidecar_holds_inputs_counts_checksum_version_and_time(tiny_home):
    (entry,) = FeatureCache(tiny_home.features).entries()
    meta = json.loads((entry.path / "meta.json").read_text())
    assert meta["key"] == entry.key == entry.path.name
    assert set(meta["inputs"]) == {"backbone", "transform", "dataset", "manifest", "dtype"}
    assert meta["inputs"]["backbone"]["weights_sha256"]
    assert meta["inputs"]["transform"]["size"] == 32
    assert meta["counts"] == {"train": 200, "val": 200, "test": 200}
    assert meta["sha256"] == file_sha256(entry.path / "features.safetensors")
    assert meta["seabench"] and meta["wall_seconds"] > 0 and meta["created"]
    assert entry.manifest().hash == meta["inputs"]["manifest"]
    t = entry.load()
    assert t["train_x"].dtype == torch.float16 and t["train_x"].shape == (200, 1280)
    assert t["train_y"].dtype == torch.int64 and t["train_y"].tolist() == entry.manifest().labels(
        "train"
    )


def test_fp32_storage_is_its_own_entry_and_matches_fp16(home, mnist, lite0):
    cache = FeatureCache(home.features)
    a = extract_features(mnist, lite0, cache, **SMALL)
    b = extract_features(mnist, lite0, cache, **SMALL, dtype="fp32")
    assert a.entry.key != b.entry.key and not a.cached and not b.cached
    xa, xb = a.entry.load()["val_x"], b.entry.load()["val_x"]
    assert xa.dtype == torch.float16 and xb.dtype == torch.float32
    torch.testing.assert_close(xa.float(), xb, atol=2e-3, rtol=2e-3)


class CountingModel(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model, self.calls = model, 0
        self._lock = threading.Lock()

    def forward(self, x):
        with self._lock:
            self.calls += 1
        return self.model(x)


def test_same_inputs_never_extract_again(home, mnist, lite0):
    counting = dataclasses.replace(lite0, model=CountingModel(lite0.model))
    cache = FeatureCache(home.features)
    first = extract_features(mnist, counting, cache, **SMALL)
    calls = counting.model.calls
    assert not first.cached and first.images == 60 and calls == 6
    again = extract_features(mnist, counting, cache, **SMALL, workers=0, chunk_size=7)
    assert again.cached and again.images == 0 and counting.model.calls == calls
    assert again.entry.key == first.entry.key


def test_corrupted_entry_is_detected_on_read_and_rebuilt(home, mnist, lite0):
    cache = FeatureCache(home.features)
    first = extract_features(mnist, lite0, cache, **SMALL)
    original = {k: v.clone() for k, v in first.entry.load().items()}  # not the mmap
    flip_bytes(first.entry.path / "features.safetensors")
    with pytest.raises(CorruptEntry, match="checksum"):
        cache.get(first.entry.key).load()
    rebuilt = extract_features(mnist, lite0, cache, **SMALL)
    assert not rebuilt.cached and rebuilt.images == 60
    fresh = rebuilt.entry.load()
    assert all(torch.equal(original[k], fresh[k]) for k in original)


def test_stale_or_truncated_entries_are_never_used(tiny_home, tmp_path):
    h = Home.resolve(tmp_path / "home")
    shutil.copytree(tiny_home.root, h.root)
    cache = FeatureCache(h.features)
    (entry,) = cache.entries()
    meta_path = entry.path / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["inputs"]["dtype"] = "fp32"  # a sidecar that no longer hashes to its key
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(CorruptEntry, match="stale"):
        cache.get(entry.key).load()
    meta_path.write_text("{ not json")
    with pytest.raises(CorruptEntry, match="meta.json"):
        cache.get(entry.key)
    assert cache.entries() == []  # and `find` does not pick it


def test_unfinished_and_temporary_directories_are_not_entries(tiny_home, tmp_path):
    h = Home.resolve(tmp_path / "home")
    shutil.copytree(tiny_home.root, h.root)
    cache = FeatureCache(h.features)
    (entry,) = cache.entries()
    shutil.copytree(entry.path, h.features / f"{entry.key}.partial")
    shutil.copytree(entry.path, h.features / f".tmp-{entry.key}.123")
    assert [e.key for e in cache.entries()] == [entry.key]
    assert cache.find("mnist5k", "efficientnet_lite0").path == entry.path


def test_damaged_chunk_of_an_unfinished_run_is_recomputed(home, mnist, lite0):
    cache = FeatureCache(home.features)
    plan = plan_key(mnist, lite0, **{k: SMALL[k] for k in ("subset", "image_size")})
    reference = extract_features(mnist, lite0, cache, **SMALL, chunk_size=10).entry.load()
    # Fake an interrupted run: the chunks of the train split exist, one of them damaged.
    cache.remove(plan.key)
    partial = cache.partial_path(plan.key)
    partial.mkdir(parents=True)
    from seabench.features.extract import Chunk, write_chunk

    for start in (0, 10):
        write_chunk(
            Chunk("train", start, start + 10).file(partial),
            reference["train_x"][start : start + 10],
            plan.key,
        )
    flip_bytes(Chunk("train", 10, 20).file(partial), offset_from_end=8)
    result = extract_features(mnist, lite0, cache, **SMALL, chunk_size=10)
    assert result.resumed == 10 and result.images == 50
    again = result.entry.load()
    assert all(torch.equal(reference[k], again[k]) for k in reference)
    assert not partial.exists()


def test_concurrent_extractions_of_one_key_compute_once(home, mnist, lite0):
    counting = dataclasses.replace(lite0, model=CountingModel(lite0.model))
    cache = FeatureCache(home.features)
    results, errors = [], []
    start = threading.Barrier(2)

    def work():
        try:
            start.wait()
            results.append(extract_features(mnist, counting, cache, **SMALL, workers=0))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(r.cached for r in results) == [False, True]
    assert counting.model.calls == 6  # 60 images in batches of 10, once
    assert results[0].entry.key == results[1].entry.key
    a, b = (r.entry.load() for r in results)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_chunk_files_hold_their_key_and_checksum(home, mnist, lite0):
    from seabench.features.extract import read_chunk, write_chunk

    x = torch.randn(5, 3).half()
    path = home.root / "c.safetensors"
    write_chunk(path, x, "k1")
    assert torch.equal(read_chunk(path, "k1", 5), x)
    assert read_chunk(path, "k2", 5) is None  # another key's chunk
    assert read_chunk(path, "k1", 4) is None  # another chunking
    assert set(load_file(str(path))) == {"x"}


def test_a_torchvision_only_name_is_found_under_either_spelling(home, mnist):
    """`regnet_y_400mf` and `torchvision:regnet_y_400mf` are one model and one cache key."""
    from seabench.backbones.names import spellings
    from seabench.backbones.torchvision_models import create_torchvision

    assert spellings("resnet50") == {"resnet50"}  # bare, it is timm's: never merged
    assert spellings("torchvision:resnet50") == {"torchvision:resnet50"}
    assert spellings("torchvision:regnet_y_400mf:IMAGENET1K_V2") == {
        "torchvision:regnet_y_400mf:IMAGENET1K_V2"
    }
    bare = create_torchvision("regnet_y_400mf", pretrained=False)
    prefixed = dataclasses.replace(bare, name="torchvision:regnet_y_400mf")
    cache = FeatureCache(home.features)
    first = extract_features(mnist, bare, cache, **SMALL)
    again = extract_features(mnist, prefixed, cache, **SMALL)
    assert again.cached and again.entry.key == first.entry.key
    for name in ("regnet_y_400mf", "torchvision:regnet_y_400mf"):
        assert cache.find("mnist5k", name).key == first.entry.key
