"""Does multi-layer extraction cost one forward pass?  Forward time of the backbone built with
``--layers last4 --pooling cls+avg`` (DINOv2's linear-eval features, read through timm's
``forward_intermediates``) over the default backbone (the class token of the last block), same
random-init ViT, same batches, same run.  Target: ratio <= 1.1.

    PYTHONPATH=. .venv/bin/python scripts/bench_layers.py [--backbone vit_small_patch16_224]
        [--image-size 224] [--batch-size 32] [--batches 4] [--rounds 3] [--device cpu]

Rounds alternate default / multi-layer / default, and the two defaults' mean is the round's
reference, so a shared machine whose speed drifts does not favour either side.  The median ratio
over rounds is printed.  On a GPU the forward runs under bf16 autocast, as extraction does.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from seabench.backbones import create_backbone

#: `make bench` runs every script with --quick: the same measurement at a smaller size, so
#: the whole bench takes minutes on 2 cores (run without it for the sizes the targets assume)
QUICK = ["--batch-size", "8", "--batches", "2"]


@torch.inference_mode()
def seconds(model: torch.nn.Module, batches: list[torch.Tensor]) -> float:
    cuda = batches[0].is_cuda
    if cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for x in batches:
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            model(x)
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backbone", default="vit_small_patch16_224")
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--batches", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--quick", action="store_true", help=f"a short run for `make bench`: {' '.join(QUICK)}"
    )
    args = ap.parse_args()
    if args.quick:  # `make bench`: short settings; options given explicitly still win
        args = ap.parse_args([*QUICK, *sys.argv[1:]])
    default = create_backbone(args.backbone, pretrained=False)
    multi = create_backbone(args.backbone, pretrained=False, layers="last4", pooling="cls+avg")
    models = {"default": default.model.to(args.device), "multi": multi.model.to(args.device)}
    g = torch.Generator().manual_seed(0)
    size = args.image_size
    batches = [
        torch.randn(args.batch_size, 3, size, size, generator=g).to(args.device)
        for _ in range(args.batches)
    ]
    for m in models.values():  # warm-up (allocator, kernels)
        seconds(m, batches[:1])
    ratios = []
    for r in range(args.rounds):
        before = seconds(models["default"], batches)
        multi_s = seconds(models["multi"], batches)
        after = seconds(models["default"], batches)
        ratio = multi_s / ((before + after) / 2)
        ratios.append(ratio)
        print(
            f"round {r + 1}: default {before:.2f} s / {after:.2f} s, "
            f"last4+cls+avg {multi_s:.2f} s, ratio {ratio:.3f}"
        )
    print(
        f"{args.backbone} {size}px batch {args.batch_size} x {args.batches} on {args.device}: "
        f"dims {default.dim} -> {multi.dim}; --layers last4 --pooling cls+avg / default "
        f"forward time = {statistics.median(ratios):.3f} (median of {args.rounds}; target <= 1.1)"
    )


if __name__ == "__main__":
    main()
