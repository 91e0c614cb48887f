"""Nothing computed is lost because it could not be stored: a full disk or a read-only home is one
line naming the path (exit 2), after the result is shown; extraction keeps its chunks and resumes;
a committed entry is reused from a read-only cache; a killed commit's leftovers are shown and
cleaned.

The I/O errors are raised in-process at the write mechanism (so the tests run anywhere, as any
user): ENOSPC from :func:`seabench._io.write_bytes`, EROFS from every os-level write under a
directory.
"""

from __future__ import annotations

import builtins
import errno
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import TINY

from seabench import _io
from seabench.cli import cli
from seabench.features import FeatureCache
from seabench.features.cache import TMP_PREFIX
from seabench.home import Home
from seabench.results import ResultsStore

SMALL = ["--subset", "20", "--image-size", "32", "--chunk-size", "10"]


@pytest.fixture
def home(tiny_home, tmp_path) -> Home:
    h = Home.resolve(tmp_path / "home")
    shutil.copytree(tiny_home.root, h.root)
    return h


def _cli(home: Home, *args):
    return CliRunner().invoke(cli, [*map(str, args), "--home", str(home.root)])


def disk_full_after(monkeypatch, writes: int, match: str = "") -> list[str]:
    """``write_bytes`` fails with ENOSPC (as a full disk does) once ``writes`` files whose name
    contains ``match`` have been written; returns the names written."""
    real, done = _io.write_bytes, []

    def write(path, data):
        if match in str(path):
            if len(done) >= writes:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            done.append(str(path))
        real(path, data)

    monkeypatch.setattr(_io, "write_bytes", write)
    return done


def read_only(monkeypatch, root: Path) -> None:
    """Every os-level write under ``root`` fails with EROFS, as on a read-only mount."""
    root = str(root)

    def under(path) -> bool:
        return str(os.path.abspath(os.fsdecode(path))).startswith(root)

    def refuse(path):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fsdecode(path))

    def guard(fn, writes=lambda *a, **k: True):
        def wrapped(path, *args, **kwargs):
            if under(path) and writes(*args, **kwargs):
                refuse(path)
            return fn(path, *args, **kwargs)

        return wrapped

    flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    monkeypatch.setattr(os, "open", guard(os.open, lambda f, *a, **k: bool(f & flags)))
    monkeypatch.setattr(
        builtins, "open", guard(builtins.open, lambda mode="r", *a, **k: mode[:1] in "wax+")
    )
    for name in ("mkdir", "rmdir", "unlink", "remove", "replace", "rename", "chmod"):
        monkeypatch.setattr(os, name, guard(getattr(os, name)))
    monkeypatch.setattr(tempfile, "mkstemp", guard(tempfile.mkstemp))


def _probe(home: Home, *extra):
    return _cli(
        home,
        "probe",
        "--dataset",
        "mnist5k",
        "--backbone",
        "efficientnet_lite0",
        "--aug",
        "none",
        "--no-search",
        "--epochs",
        "2",
        *extra,
    )


@pytest.mark.parametrize("cause", ["disk full", "read-only home"])
def test_probe_prints_its_rows_before_the_storage_error(home, monkeypatch, cause):
    if cause == "disk full":
        disk_full_after(monkeypatch, 0)
        said = "no space left on device"
    else:
        read_only(monkeypatch, home.root)
        said = "read-only file system"
    result = _probe(home, "--json", "--seeds", "2")
    assert result.exit_code == 2, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["seed"] for r in rows] == [0, 1] and all(r["test"] > 0 for r in rows)
    err = " ".join(result.stderr.split())
    assert "mnist5k / efficientnet_lite0 / none seed 0: val" in err  # the summary lines too
    assert f"2 result row(s) were not stored: {said} writing {home.results}" in err
    assert "Traceback" not in err and "internal error" not in err
    assert ResultsStore(home.results).files() == []


def test_extract_on_a_full_disk_keeps_its_chunks_and_resumes(home, monkeypatch):
    disk_full_after(monkeypatch, 2, match=".partial")  # room for two 10-image chunks
    extract = ["extract", "--dataset", "mnist5k", "--backbone", "efficientnet_lite0", *SMALL]
    full = _cli(home, *extract)
    assert full.exit_code == 2, full.output
    err = " ".join(full.stderr.split())
    assert "no space left on device: " in err and ".partial" in err
    assert "2 finished chunk(s) kept" in err and "free space and run the same command" in err
    assert "SafetensorError" not in err and "Traceback" not in err
    monkeypatch.undo()
    again = _cli(
        home, "extract", "--dataset", "mnist5k", "--backbone", "efficientnet_lite0", *SMALL
    )
    assert again.exit_code == 0, again.output
    assert "resumed: 20 images" in " ".join(again.stderr.split())


def test_committed_entry_is_reused_from_a_read_only_cache(home, monkeypatch):
    read_only(monkeypatch, home.root)
    args = ["extract", "--dataset", "mnist5k", "--backbone", "efficientnet_lite0"]
    tiny = [f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()]
    reused = _cli(home, *args, *tiny)
    assert reused.exit_code == 0, reused.output
    assert "cached:" in reused.stderr
    missing = _cli(home, *args, *SMALL)  # not committed: it would have to be written
    assert missing.exit_code == 2
    err = " ".join(missing.stderr.split())
    assert f"read-only file system: {home.features}" in err and "make it writable" in err
    assert "Traceback" not in err


def test_killed_commit_leftovers_are_listed_and_cleaned_on_the_next_build(home):
    from seabench import runner

    small = {"subset": 20, "image_size": 32, "chunk_size": 10}
    first = runner.extract(home, "mnist5k", "efficientnet_lite0", **small).entry
    cache = FeatureCache(home.features)
    leftover = home.features / f"{TMP_PREFIX}{first.key}.1700000000000000000"
    first.path.rename(leftover)  # killed between writing the copy and renaming it into place
    aside = home.features / f"{TMP_PREFIX}{first.key}.old.1700000000000000001"
    shutil.copytree(leftover, aside)  # a damaged entry moved aside, not yet deleted
    ls = _cli(home, "cache", "ls")
    assert ls.exit_code == 0
    flat = " ".join(ls.output.split())
    size_mb = sum(p.stat().st_size for p in leftover.iterdir()) / 1e6
    assert f"leftover {leftover.name}: {size_mb:.1f} MB" in flat and size_mb > 0.1
    assert f"leftover {aside.name}: " in flat

    rebuilt = runner.extract(home, "mnist5k", "efficientnet_lite0", **small)
    assert not rebuilt.cached and rebuilt.entry.key == first.key
    assert cache.temporaries() == []
    assert f"leftover {TMP_PREFIX}" not in _cli(home, "cache", "ls").output
    assert len(cache.entries()) == 2  # the tiny entry beside it is untouched


def test_report_on_a_read_only_home_prints_then_says_it_could_not_write(home, monkeypatch):
    assert _probe(home).exit_code == 0
    read_only(monkeypatch, home.root)
    result = _cli(home, "report", "--format", "markdown")
    assert result.exit_code == 2, result.output
    assert "mnist5k" in result.stdout  # the tables are shown
    err = " ".join(result.stderr.split())
    assert f"the report was printed but not written: read-only file system: {home.reports}" in err
    assert "or pass --out DIR" in err and "Traceback" not in err
