"""An extraction killed (kill -9) or interrupted (Ctrl-C) resumes from its finished chunks and
ends with the same cache entry as an uninterrupted run."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import torch

from seabench import runner
from seabench.features import FeatureCache
from seabench.home import Home

# 64 px, so a run lasts seconds: a signal sent after a chunk lands well before the run ends
OPTS = {"subset": 100, "image_size": 64, "batch_size": 20, "chunk_size": 20}
TOTAL = 300  # 100 digits per split


def command(home: Home) -> list[str]:
    args = [
        sys.executable,
        "-m",
        "seabench",
        "extract",
        "--dataset",
        "mnist5k",
        "--backbone",
        "efficientnet_lite0",
        "--home",
        str(home.root),
    ]
    for k, v in OPTS.items():
        args += [f"--{k.replace('_', '-')}", str(v)]
    return args


def finished_chunks(home: Home) -> int:
    return sum(
        len([f for f in p.glob("*.safetensors") if not f.name.startswith(".")])
        for p in home.features.glob("*.partial")
    )


def start_and_stop(home: Home, sig: int, after_chunks: int) -> subprocess.CompletedProcess:
    """Start `seabench extract`, send ``sig`` once ``after_chunks`` chunks are on disk."""
    env = {**os.environ, "SEABENCH_NO_PROGRESS": "1"}
    proc = subprocess.Popen(
        command(home),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a shell that starts the tests in the background makes them ignore SIGINT, and Python
        # then installs no Ctrl-C handler: give the child the default, as a terminal would
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while finished_chunks(home) < after_chunks and proc.poll() is None:
        assert time.monotonic() < deadline, "extraction made no progress"
        time.sleep(0.005)
    proc.send_signal(sig)
    out, errs = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, errs)


def test_killed_and_interrupted_runs_resume_to_the_uninterrupted_entry(tmp_path):
    home = Home.resolve(tmp_path / "resumed")
    killed = start_and_stop(home, signal.SIGKILL, after_chunks=1)
    assert killed.returncode == -signal.SIGKILL
    assert FeatureCache(home.features).entries() == []  # nothing half-written is an entry
    first = finished_chunks(home)
    assert 1 <= first < TOTAL // OPTS["chunk_size"]

    stopped = start_and_stop(home, signal.SIGINT, after_chunks=first + 1)
    assert stopped.returncode == 130, stopped.stderr
    assert "run the same command again to resume" in stopped.stderr
    assert "Traceback" not in stopped.stderr
    assert FeatureCache(home.features).entries() == []
    second = finished_chunks(home)
    assert second > first

    done = subprocess.run(
        command(home),
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "SEABENCH_NO_PROGRESS": "1"},
    )
    assert done.returncode == 0, done.stderr
    extracted = int(re.search(r"extracted (\d+) images", done.stderr).group(1))
    resumed = int(re.search(r"resumed: (\d+) images", done.stderr).group(1))
    assert resumed >= second * OPTS["chunk_size"] and extracted == TOTAL - resumed
    assert not list(home.features.glob("*.partial"))

    fresh = Home.resolve(tmp_path / "fresh")
    straight = runner.extract(fresh, "mnist5k", "efficientnet_lite0", **OPTS)
    (entry,) = FeatureCache(home.features).entries()
    assert entry.key == straight.entry.key and entry.meta["images_resumed"] == resumed
    a, b = entry.load(), straight.entry.load()
    assert set(a) == set(b)
    for k in a:
        assert torch.equal(a[k], b[k]), k
