"""Is extraction limited by the backbone's forward pass?  images/s of the real extraction path
(decode + transform + forward + chunk writes + merge + commit) over images/s of the forward pass
alone on preloaded tensors, same images, same batch size, same run.  Target: ratio >= 0.9.

    .venv/bin/python scripts/bench_extract.py [--images 960] [--image-size 96] [--batch-size 64]
    python scripts/bench_extract.py --device cuda --images 9000 --image-size 224 --batch-size 256

With ``--jpeg`` it runs on real-size JPEGs instead of the embedded MNIST digits: an ImageFolder
of ``--images`` (default 2,000) photos at 500 x 375 and 1024 x 768, built once under
``<home>/bench/jpeg/``, with per-stage throughput (decode by each decoder, resize/crop,
normalise, host-to-device, forward), the end-to-end ratio per loader worker count, the feature
difference between reduced-scale (draft) and full-size decoding, and PASS/FAIL against the
targets (CPU efficientnet_lite0 >= 0.9, GPU resnet50 bf16 >= 0.8, both at 224 px):

    .venv/bin/python scripts/bench_extract.py --jpeg [--images 2000] [--workers 0,1]
    python scripts/bench_extract.py --jpeg --device cuda --backbone resnet50 --batch-size 256

On a GPU the forward-only baseline runs as extraction does (channels_last, bf16 autocast) on
batches already in GPU memory, so the ratio shows what decoding and the transforms cost.

The work is split into rounds; in each, the forward-only baseline is measured just before and
just after the extraction (their mean is the round's reference), so a machine whose speed drifts
during the run (a shared CPU) does not favour either side.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from seabench.backbones import create_backbone
from seabench.data import get_dataset
from seabench.data.splits import SPLITS
from seabench.data.transforms import build_eval_transform
from seabench.features import FeatureCache, extract_features
from seabench.features.extract import default_workers, plan_key

#: `make bench` runs every script with --quick: the same measurement at a smaller size, so
#: the whole bench takes minutes on 2 cores (run without it for the sizes the targets assume)
QUICK = ["--images", "240"]


@torch.inference_mode()
def forward_only(model: torch.nn.Module, batches: list[torch.Tensor]) -> float:
    """images/s of the model on tensors already in (device) memory."""
    cuda = batches[0].is_cuda
    amp = torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float16
    if cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for x in batches:
        with torch.autocast("cuda", dtype=amp, enabled=cuda):
            model(x)
    if cuda:
        torch.cuda.synchronize()
    return sum(len(x) for x in batches) / (time.perf_counter() - t0)


def to_device(batches: list[torch.Tensor], device: str) -> list[torch.Tensor]:
    if not device.startswith("cuda"):
        return batches
    return [b.to(device).contiguous(memory_format=torch.channels_last) for b in batches]


def round_batches(adapter, plan, transform, batch_size: int) -> list[torch.Tensor]:
    """The extraction's own batches for a plan: per split, in manifest order, preloaded."""
    batches = []
    for split in SPLITS:
        images = [transform(adapter.open(i)) for i in plan.manifest.items(split)]
        batches += [
            torch.stack(images[s : s + batch_size]) for s in range(0, len(images), batch_size)
        ]
    return batches


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--images", type=int, default=None, help="about this many (960; 2,000 with --jpeg)"
    )
    ap.add_argument("--rounds", type=int, default=3, help="forward / extract / forward rounds")
    ap.add_argument("--image-size", type=int, default=None, help="96 (224 with --jpeg)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--backbone", default="efficientnet_lite0")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--jpeg", action="store_true", help="real-size JPEGs instead of MNIST")
    ap.add_argument("--home", default=None, help="--jpeg: where the JPEG set is kept")
    ap.add_argument(
        "--workers",
        type=lambda v: [int(w) for w in v.split(",")],
        default=None,
        help="--jpeg: loader worker counts to compare, e.g. 0,1,2 (default: the default)",
    )
    ap.add_argument("--stage-images", type=int, default=256, help="--jpeg: stage sample")
    ap.add_argument("--repeats", type=int, default=3, help="--jpeg: passes per stage (best)")
    ap.add_argument(
        "--quick", action="store_true", help=f"a short run for `make bench`: {' '.join(QUICK)}"
    )
    args = ap.parse_args()
    if args.quick:  # `make bench`: short settings; options given explicitly still win
        args = ap.parse_args([*QUICK, *sys.argv[1:]])
    if args.jpeg:
        from jpeg_stages import jpeg_main

        args.images = args.images or 2000
        return jpeg_main(args)
    args.images = args.images or 960
    args.image_size = args.image_size or 96

    backbone = create_backbone(args.backbone)
    adapter = get_dataset("mnist5k")
    model = backbone.model.eval().to(args.device)
    if args.device.startswith("cuda"):
        model = model.to(memory_format=torch.channels_last)
    per_split = max(1, args.images // (3 * args.rounds))
    rounds = []  # each round its own subset, so its own cache key
    for r in range(args.rounds):
        plan = plan_key(adapter, backbone, image_size=args.image_size, subset=per_split + r)
        batches = round_batches(
            adapter, plan, build_eval_transform(plan.transform), args.batch_size
        )
        batches = to_device(batches, args.device)
        forward_only(model, list({len(b): b for b in batches}.values()))  # warm every shape
        rounds.append((per_split + r, batches))
    n = sum(len(b) for _, batches in rounds for b in batches)
    print(
        f"{args.backbone} on mnist5k, {n} images at {args.image_size} px in {args.rounds} "
        f"rounds, batch {args.batch_size}, torch threads {torch.get_num_threads()}, "
        f"loader workers {default_workers(args.device)} (default), device {args.device}"
    )
    ratios, t_fwd, t_ext = [], 0.0, 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for subset, batches in rounds:
            m = sum(len(b) for b in batches)
            before = forward_only(model, batches)
            t0 = time.perf_counter()
            result = extract_features(
                adapter,
                backbone,
                FeatureCache(Path(tmp)),
                image_size=args.image_size,
                subset=subset,
                batch_size=args.batch_size,
                device=args.device,
            )
            extract = result.images / (time.perf_counter() - t0)
            assert not result.cached and result.images == m
            after = forward_only(model, batches)
            reference = (before + after) / 2
            ratios.append(extract / reference)
            t_fwd += m / reference
            t_ext += m / extract
            print(
                f"  round of {m} images: forward-only {before:.1f} / {after:.1f} img/s, "
                f"extraction {extract:.1f} img/s, ratio {extract / reference:.3f}"
            )
    print(f"forward only  {n / t_fwd:8.1f} img/s (bracketing each extraction)")
    print(f"extraction    {n / t_ext:8.1f} img/s (whole extract_features calls)")
    print(
        f"ratio extraction / forward-only: {t_fwd / t_ext:.3f} overall, "
        f"median of rounds {statistics.median(ratios):.3f} (target >= 0.9)"
    )


if __name__ == "__main__":
    main()
