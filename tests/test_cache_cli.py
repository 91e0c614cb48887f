"""`seabench cache ls | verify | prune` on a copy of a real cache."""

from __future__ import annotations

import json
import shutil
import time

import pytest
from click.testing import CliRunner

from seabench.cli import cli
from seabench.features import FeatureCache
from seabench.features.cache import seal
from seabench.home import Home


@pytest.fixture
def store(tiny_home, tmp_path):
    h = Home.resolve(tmp_path / "home")
    shutil.copytree(tiny_home.root, h.root)
    return FeatureCache(h.features)


def invoke(store, *args):
    return CliRunner().invoke(cli, ["cache", *args, "--home", str(store.directory.parent)])


def test_ls_shows_each_entry_with_its_key_inputs_and_unfinished_runs(store):
    (entry,) = store.entries()
    (store.directory / "abc123.partial").mkdir()
    (store.directory / "abc123.partial" / "train-000000000-000000100.safetensors").write_bytes(
        b"x" * 10
    )
    res = invoke(store, "ls")
    assert res.exit_code == 0, res.output
    row = next(line for line in res.output.splitlines() if entry.key in line)
    for field in (
        "mnist5k",
        "efficientnet_lite0",
        "32",
        "fp16",
        "200/200/200",
        entry.meta["created"][:10],
    ):
        assert field in row
    assert "unfinished abc123.partial: 1 finished chunk(s)" in res.output
    assert "1 entry" in res.output


def test_verify_passes_then_names_a_corrupted_entry_with_exit_2(store):
    (entry,) = store.entries()
    ok = invoke(store, "verify")
    assert ok.exit_code == 0 and f"ok {entry.key}" in ok.output
    tensors = entry.path / "features.safetensors"
    data = bytearray(tensors.read_bytes())
    data[-100] ^= 0xFF
    tensors.write_bytes(bytes(data))
    bad = invoke(store, "verify")
    assert bad.exit_code == 2
    assert f"CORRUPT {entry.key}" in bad.output and "1 corrupted cache entry" in bad.output
    assert "Traceback" not in bad.output


def test_prune_by_key_and_unknown_key(store):
    (entry,) = store.entries()
    unknown = invoke(store, "prune", "--key", "nosuchkey")
    assert unknown.exit_code == 2 and "no cache entry with key 'nosuchkey'" in unknown.output
    res = invoke(store, "prune", "--key", entry.key[:8])
    assert res.exit_code == 0 and f"removed {entry.key}" in res.output
    assert store.entries() == [] and not entry.path.exists()


def test_prune_by_age(store):
    (entry,) = store.entries()
    meta = json.loads((entry.path / "meta.json").read_text())
    meta["created_unix"] = time.time() - 10 * 86400  # ten days old
    (entry.path / "meta.json").write_text(json.dumps(seal(meta)))  # sealed: not tampering
    assert "0 removed" in invoke(store, "prune", "--older-than", "20").output
    assert [e.key for e in store.entries()] == [entry.key]
    res = invoke(store, "prune", "--older-than", "5")
    assert res.exit_code == 0 and f"removed {entry.key}" in res.output
    assert store.entries() == []


def test_plain_prune_drops_leftovers_but_no_entry_and_nothing_running(store):
    (entry,) = store.entries()
    for name in ("stale1.partial", "running1.partial", ".tmp-dead1.123"):
        (store.directory / name).mkdir()
    with store.lock("running1"):
        res = invoke(store, "prune")
    assert res.exit_code == 0, res.output
    assert "removed stale1.partial" in res.output and "removed .tmp-dead1.123" in res.output
    assert (store.directory / "running1.partial").is_dir()  # its extraction holds the lock
    assert [e.key for e in store.entries()] == [entry.key]
    assert not (store.directory / "stale1.partial").exists()
