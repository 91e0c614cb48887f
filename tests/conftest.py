"""Shared fixtures: a temporary home and a tiny, real, cached slice of the embedded default."""

from __future__ import annotations

import pytest

from seabench.home import Home

TINY = {"subset": 200, "image_size": 32, "batch_size": 100}


@pytest.fixture
def home(tmp_path) -> Home:
    return Home.resolve(tmp_path / "home")


@pytest.fixture(scope="session")
def tiny_home(tmp_path_factory) -> Home:
    """A home with real EfficientNet-Lite0 features of 200 MNIST digits per split (32 px).

    Read-only for tests: copy it (``shutil.copytree``) before writing into it.
    """
    from seabench import runner

    h = Home.resolve(tmp_path_factory.mktemp("tiny") / "home")
    runner.extract(h, "mnist5k", "efficientnet_lite0", **TINY)
    return h


@pytest.fixture
def tiny_run_settings():
    """One fine-tuning run of 6 steps on CPU, for the tests of the training loop itself."""
    from seabench.finetune.loop import RunSettings

    return RunSettings(
        lr=0.05,
        wd=1e-4,
        steps=6,
        batch_size=4,
        momentum=0.9,
        seed=3,
        device="cpu",
        workers=0,
        checkpoint_every=100,
        multilabel=False,
    )
