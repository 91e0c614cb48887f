"""`torchrun -m seabench extract` (gloo, 2 CPU processes) makes the single-process cache entry."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from seabench.features import FeatureCache
from seabench.home import Home


def test_two_ranks_shard_the_chunks_and_commit_the_single_process_entry(tiny_home, tmp_path):
    (single,) = FeatureCache(tiny_home.features).entries()  # one process, batches of 100
    home = Home.resolve(tmp_path / "home")
    torchrun = Path(sys.executable).parent / "torchrun"
    cmd = [
        str(torchrun),
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "seabench",
        "extract",
        "--dataset",
        "mnist5k",
        "--backbone",
        "efficientnet_lite0",
        "--device",
        "cpu",
        "--subset",
        "200",
        "--image-size",
        str(single.meta["inputs"]["transform"]["size"]),
        "--batch-size",
        "100",
        "--chunk-size",
        "100",
        "--home",
        str(home.root),
    ]
    env = {**os.environ, "SEABENCH_NO_PROGRESS": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("extracted 600 images") == 1  # rank 0 reports, once

    (multi,) = FeatureCache(home.features).entries()
    assert multi.key == single.key
    assert multi.meta["world_size"] == 2 and multi.meta["images_extracted"] == 600
    assert not list(home.features.glob("*.partial"))
    a, b = multi.load(), single.load()
    for split in ("train", "val", "test"):
        assert torch.equal(a[f"{split}_y"], b[f"{split}_y"])
        torch.testing.assert_close(
            a[f"{split}_x"].float(), b[f"{split}_x"].float(), atol=2e-3, rtol=1e-2
        )
