"""Names checked without torch (backbones against a shipped list; augmentations, methods and
their option checks as data) and the tests that keep each table equal to what it stands for."""

from __future__ import annotations

import json

import pytest

from seabench.backbones import names
from seabench.errors import SeabenchError


def test_the_shipped_list_is_the_installed_timm_and_torchvision():
    import sys

    sys.path.insert(0, str(names.LISTING.parents[2] / "scripts"))
    from make_backbone_names import listing

    assert names.LISTING.read_text() == listing(), (
        "seabench/backbones/model_names.txt is stale: run python scripts/make_backbone_names.py"
    )
    assert names.shipped()[0] == names.installed_versions()


def test_seabench_own_names_are_the_registered_ones():
    from seabench.backbones import cifar_resnet
    from seabench.backbones.registry import HUB_SOURCES, OFFLINE

    assert set(names.OFFLINE_NAMES) == set(OFFLINE)
    assert set(names.OWN_ARCHS) == set(cifar_resnet.default_cfgs)
    # every prefix the registry builds from is accepted by the check that runs before it
    assert set(HUB_SOURCES) <= set(names.PREFIXES)


@pytest.mark.parametrize(
    "name",
    [
        "resnet50",
        "resnet50.a1_in1k",
        "resnet50.tv_in1k",
        "vit_small_patch16_224.augreg_in21k",
        "mobilenet_v3_large",  # torchvision, no prefix
        "torchvision:resnet50",
        "efficientnet_lite0",
        "hf-hub:timm/vit_small_patch14_dinov2.lvd142m",  # the source checks its own names
        "open_clip:ViT-B-32/laion2b_s34b_b79k",
        "hf:facebook/dinov2-small",
    ],
)
def test_known_names_pass(name):
    names.check_name(name)


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("resnet_50", "unknown backbone 'resnet_50' (did you mean resnet50"),
        ("no_such_net", "unknown backbone 'no_such_net'; use an offline name"),
        ("torchvision:resnet_50", "did you mean torchvision:resnet50"),
        ("resnet50.a1_in22k", "timm has no pretrained weights 'resnet50.a1_in22k'"),
        ("foo:bar", "unknown backbone prefix 'foo:' in 'foo:bar'; known prefixes: torchvision:"),
        ("hf-hub:", "names no model"),
    ],
)
def test_unknown_names_are_refused_with_close_matches(name, fragment):
    with pytest.raises(SeabenchError) as exc:
        names.check_name(name)
    assert fragment in str(exc.value)
    assert "\n" not in str(exc.value)


def test_a_checkpoint_architecture_may_carry_any_tag_but_must_exist():
    names.check_name("cifar_resnet18", with_weights=True)
    names.check_name("resnet50.my_run", with_weights=True)
    with pytest.raises(SeabenchError, match="unknown architecture 'resnt50' for the checkpoint"):
        names.check_name("resnt50", with_weights=True)


def test_other_installed_versions_use_the_saved_list_or_pass(tmp_path, monkeypatch):
    """A timm newer than the list may know names the list lacks: those are not refused on the
    list's word, only on a list saved for the installed versions."""
    monkeypatch.setenv("SEABENCH_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(names, "installed_versions", lambda: "timm 9.9 torchvision 9.9")
    names.check_name("brand_new_net")  # nothing saved for 9.9: the builder decides
    names.check_name("resnet50")  # in the shipped list: known in any version
    names.names_file().write_text(json.dumps(["brand_new_net", "torchvision:resnet50"]))
    names.check_name("brand_new_net")
    with pytest.raises(SeabenchError, match="unknown backbone 'brand_new_nt'"):
        names.check_name("brand_new_nt")


def test_the_probe_name_tables_are_the_registered_implementations():
    """--aug and --solver are checked against seabench.probe.names without torch; every built-in
    augmentation and method is registered under a name listed there, in the same order."""
    import seabench.probe.methods  # noqa: F401
    from seabench.probe import names as probe_names
    from seabench.probe.augment import AUGMENTATIONS
    from seabench.probe.registry import METHODS
    from seabench.probe.settings import METHOD_CHECKS

    assert list(AUGMENTATIONS) == probe_names.AUGMENTATIONS
    assert list(METHODS) == probe_names.METHODS
    # the option checks run before torch loads are the ones the methods registered
    assert {n: m.check for n, m in METHODS.items()} == METHOD_CHECKS
