"""What a run killed at an unlucky moment leaves behind is cleaned up by the next run of the same
command, and never changes what that run reads."""

from __future__ import annotations

import shutil

import torch
from conftest import TINY

from seabench import runner
from seabench.features import FeatureCache
from seabench.home import Home


def test_chunks_left_by_a_kill_after_the_commit_are_removed_by_the_next_run(tiny_home, tmp_path):
    home = Home.resolve(tmp_path / "home")
    shutil.copytree(tiny_home.root, home.root)
    cache = FeatureCache(home.features)
    (entry,) = cache.entries()
    before = entry.load()
    partial = cache.partial_path(entry.key)  # as `rmtree(partial)` killed halfway leaves it
    partial.mkdir()
    (partial / "train-000000000-000000100.safetensors").write_bytes(b"a finished chunk")

    again = runner.extract(home, "mnist5k", "efficientnet_lite0", **TINY)
    assert again.cached and again.entry.key == entry.key
    assert not partial.exists()
    after = again.entry.load()
    assert all(torch.equal(before[k], after[k]) for k in before)
