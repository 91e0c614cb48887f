"""CIFAR ResNets: torchvision/timm ResNets with a 3 x 3 stride-1 stem and no max-pool.

The small-image ResNet of the self-supervised CIFAR / STL-10 literature (AugSelf's
``cifar_resnet18``: torchvision's resnet18 with ``conv1 = Conv2d(3, 64, 3, 1, 1)`` and
``maxpool = Identity``).  Its keys are torchvision's, so a file of it loads into a plain resnet18
only where the conv1 shape is checked; the missing max-pool shows in no key at all.  Registered
in timm as ``cifar_resnet18`` / ``cifar_resnet50`` so every seabench path (names, checkpoints,
pooling) handles it like any timm model; no pretrained weights.
"""

from __future__ import annotations

from timm.models import build_model_with_cfg, register_model
from timm.models.resnet import BasicBlock, Bottleneck, ResNet
from torch import nn

default_cfgs = {
    name: {
        "url": "",
        "num_classes": 1000,
        "input_size": (3, 32, 32),
        "pool_size": (4, 4),
        "crop_pct": 1.0,
        "interpolation": "bicubic",
        "mean": (0.485, 0.456, 0.406),
        "std": (0.229, 0.224, 0.225),
        "first_conv": "conv1",
        "classifier": "fc",
    }
    for name in ("cifar_resnet18", "cifar_resnet50")
}


class CifarResNet(ResNet):
    """timm's ResNet with the CIFAR stem: one 3 x 3 stride-1 conv, no max-pool."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        width = self.conv1.out_channels
        self.conv1 = nn.Conv2d(3, width, kernel_size=3, stride=1, padding=1, bias=False)
        self.maxpool = nn.Identity()
        self.feature_info[0]["reduction"] = 1
        for info in self.feature_info[1:]:
            info["reduction"] //= 4


def _create(variant: str, pretrained: bool, **kwargs) -> ResNet:
    return build_model_with_cfg(CifarResNet, variant, pretrained, **kwargs)


@register_model
def cifar_resnet18(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-18 with the CIFAR stem (AugSelf's cifar_resnet18)."""
    return _create("cifar_resnet18", pretrained, block=BasicBlock, layers=(2, 2, 2, 2), **kwargs)


@register_model
def cifar_resnet50(pretrained: bool = False, **kwargs) -> ResNet:
    """ResNet-50 with the CIFAR stem."""
    return _create("cifar_resnet50", pretrained, block=Bottleneck, layers=(3, 4, 6, 3), **kwargs)
