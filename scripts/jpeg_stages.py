"""The JPEG half of scripts/bench_extract.py (``--jpeg``): per-stage throughput and the
extraction / forward-only ratio on an ImageFolder of real-size JPEGs (see jpeg_set.py).

Stages are timed in one process on a sample of the files, each the best of ``--repeats`` passes
(a shared CPU slows some passes; the best is the stage's own cost).  "share" is the stage's time
per image over the forward pass's: what the stage would add to each image if nothing overlapped.
The end-to-end extraction is the real ``extract_features`` over the whole set, bracketed by
forward-only passes (their mean is the reference), once per loader worker count asked for.
The forward-only reference runs whole batches of ``--batch-size``, as extraction does.

On a CPU the forward pass keeps every core busy, so decoding cannot overlap it without slowing
it: extraction costs forward + loader time per batch, and the ratio's ceiling, printed beside
it, is forward / (forward + loader) with the loader timed alone (on 1 thread, and on the pool of
torch's thread count that extraction uses when it has no loader workers).
"""

from __future__ import annotations

import io
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from unittest.mock import patch

import torch
from bench_extract import forward_only  # the same timing as the in-memory benchmark
from PIL import Image

from seabench.backbones import create_backbone
from seabench.data import get_dataset
from seabench.data.splits import SPLITS
from seabench.data.transforms import BatchNormalize, build_eval_transform, resize_side
from seabench.features import FeatureCache, extract_features
from seabench.features.extract import default_workers, plan_key
from seabench.features.loader import ManifestImages, batch_positions, make_loader
from seabench.home import Home

#: targets of issue 12: (device kind, backbone) -> minimum extraction / forward-only at 224 px
TARGETS = {("cpu", "efficientnet_lite0"): 0.9, ("cuda", "resnet50"): 0.8}


def best_of(fn: Callable[[], object], repeats: int, sync: bool = False) -> float:
    """The shortest of ``repeats`` timed calls, in seconds."""
    times = []
    for _ in range(repeats):
        if sync:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if sync:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return min(times)


def pil_decode(data: bytes, side: int | None) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    if side is not None:
        im.draft("RGB", (side, side))
    return im.convert("RGB")


def stage_table(args, adapter, plan, model, device: str) -> tuple[float, list[torch.Tensor]]:
    """Print per-stage images/s on a sample; return forward-only images/s and its batches."""
    cuda = device.startswith("cuda")
    files = [adapter.path(i) for s in SPLITS for i in plan.manifest.items(s)]
    step = max(1, len(files) // args.stage_images)
    sample = files[::step][: args.stage_images]
    n, side, tcfg = len(sample), resize_side(plan.transform), plan.transform
    datas = [p.read_bytes() for p in sample]
    resize = build_eval_transform(tcfg, normalize=False).transforms[:-1]  # Resize, CenterCrop
    per_image = build_eval_transform(tcfg).transforms[-2:]  # ToTensor, Normalize
    to_uint8 = build_eval_transform(tcfg, normalize=False).transforms[-1]
    full = [pil_decode(d, None) for d in datas]
    draft = [pil_decode(d, side) for d in datas]
    crops = [_apply(resize, im) for im in draft]
    bs = args.batch_size
    u8 = [torch.stack([to_uint8(c) for c in crops[i : i + bs]]) for i in range(0, n, bs)]
    norm = BatchNormalize(tcfg)
    # the forward-only reference runs whole batches of --batch-size, as extraction does (a sample
    # smaller than a batch is repeated to fill one): the per-image cost depends on the batch size
    whole = -(-max(n, bs) // bs) * bs
    ref_u8 = torch.stack([to_uint8(crops[i % n]) for i in range(whole)])
    batches = [norm(b.to(device)) for b in ref_u8.split(bs)]
    if cuda:
        batches = [b.contiguous(memory_format=torch.channels_last) for b in batches]
    forward_only(model, batches[:1])  # warm up
    fwd = whole / best_of(lambda: forward_only(model, batches), args.repeats, cuda)
    rows: list[tuple[str, float]] = []

    def stage(name: str, fn: Callable[[], object], sync: bool = False) -> float:
        rows.append((name, n / best_of(fn, args.repeats, sync)))
        return rows[-1][1]

    stage("read file bytes", lambda: [p.read_bytes() for p in sample])
    stage("decode: PIL full size", lambda: [pil_decode(d, None) for d in datas])
    stage(f"decode: PIL draft >= {side} px (used)", lambda: [pil_decode(d, side) for d in datas])
    try:
        import simplejpeg

        stage("decode: simplejpeg full size", lambda: [simplejpeg.decode_jpeg(d) for d in datas])
        stage(
            f"decode: simplejpeg scaled >= {side} px",
            lambda: [simplejpeg.decode_jpeg(d, min_height=side, min_width=side) for d in datas],
        )
    except ImportError:
        rows.append(("decode: simplejpeg (not installed)", float("nan")))
    from torchvision.io import decode_jpeg

    raw = [torch.frombuffer(bytearray(d), dtype=torch.uint8) for d in datas]
    stage(
        f"decode: torchvision decode_jpeg cpu, batches of {bs}",
        lambda: [decode_jpeg(raw[i : i + bs]) for i in range(0, n, bs)],
    )
    if cuda:
        stage(
            f"decode: torchvision decode_jpeg cuda, batches of {bs}",
            lambda: [decode_jpeg(raw[i : i + bs], device=device) for i in range(0, n, bs)],
            sync=True,
        )
    from seabench.features.decode import DeviceDecoder

    dd = DeviceDecoder(tcfg, device)
    stage(
        f"decode+resize+crop on {device}: torchvision (--decode device)",
        lambda: [dd(raw[i : i + bs]) for i in range(0, n, bs)],
        sync=cuda,
    )
    stage("resize+crop: from full-size decode", lambda: [_apply(resize, im) for im in full])
    stage("resize+crop: from draft decode (used)", lambda: [_apply(resize, im) for im in draft])
    stage("normalise: per image ToTensor+Normalize", lambda: [_apply(per_image, c) for c in crops])

    def batch_normalise() -> None:
        for i in range(0, n, bs):
            norm(torch.stack([to_uint8(c) for c in crops[i : i + bs]]))

    stage("normalise: uint8 per image + batch (used)", batch_normalise)
    # the extraction's own loader (file -> draft decode -> resize/crop -> uint8 batch) and the
    # batch normalisation, on one thread (a DataLoader without workers) and on the pool of
    # torch's thread count that extraction uses between forward passes
    items = [i for s in SPLITS for i in plan.manifest.items(s)][::step][:n]
    images = ManifestImages(adapter, items, build_eval_transform(tcfg, normalize=False), side)
    positions = batch_positions([n], bs)
    threads = torch.get_num_threads()
    loaders = {1: make_loader(images, positions, None, 0, False, threads=1)}
    if threads > 1:
        loaders[threads] = make_loader(images, positions, None, 0, False, threads=threads)
    loader_ips = {}
    for t, loader in loaders.items():
        used = " (used)" if t == threads else ""
        loader_ips[t] = stage(
            f"loader: file to normalised batch, {t} thread(s){used}",
            lambda loader=loader: _drain(loader, norm),
        )
    if cuda:
        pinned = [b.pin_memory() for b in u8]
        floats = [norm(b) for b in u8]
        stage(
            "host-to-device: uint8 pinned non_blocking (used)",
            lambda: [b.to(device, non_blocking=True) for b in pinned],
            sync=True,
        )
        stage("host-to-device: float32 pageable", lambda: [b.to(device) for b in floats], True)
    else:
        rows.append(("host-to-device: none on cpu", float("nan")))
    rows.append(("forward only", fwd))
    print(f"stages on {n} images (best of {args.repeats}); share = stage time / forward time")
    for name, ips in rows:
        share = f"{fwd / ips:6.3f}" if ips == ips else "     -"
        rate = f"{ips:9.1f}" if ips == ips else "        -"
        print(f"  {name:52s} {rate} img/s  share {share}")
    return fwd, batches, loader_ips


def _drain(loader, norm) -> None:
    for batch in loader:
        norm(batch)


def ceilings(fwd: float, loader_ips: dict[int, float]) -> dict[int, float]:
    """The ratio extraction / forward-only reachable when each batch is decoded between two
    forward passes (on a CPU, where the forward pass keeps every core busy, decoding cannot
    overlap it without slowing it): forward time / (forward time + decode time)."""
    return {t: (1 / fwd) / (1 / fwd + 1 / ips) for t, ips in loader_ips.items()}


def _apply(transforms, x):
    for t in transforms:
        x = t(x)
    return x


def jpeg_main(args) -> None:
    from jpeg_set import build_jpeg_set

    home = Home.resolve(args.home)
    root = build_jpeg_set(home.root, args.images)
    adapter = get_dataset(f"imagefolder:{root}")
    backbone = create_backbone(args.backbone)
    device = args.device
    cuda = device.startswith("cuda")
    model = backbone.model.eval().to(device)
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    size = args.image_size or 224
    plan = plan_key(adapter, backbone, image_size=size, device=device)
    total = sum(len(plan.manifest.items(s)) for s in SPLITS)
    print(
        f"{args.backbone} on {total} JPEGs ({root}) at {size} px, batch {args.batch_size}, "
        f"torch threads {torch.get_num_threads()}, device {device}, "
        f"default loader workers {default_workers(device)}"
    )
    fwd, batches, loader_ips = stage_table(args, adapter, plan, model, device)
    ceiling = ceilings(fwd, loader_ips)
    if not cuda:
        print(
            "ceiling of the ratio with decoding between forward passes, forward / (forward + "
            "loader): " + ", ".join(f"{c:.3f} on {t} thread(s)" for t, c in ceiling.items())
        )
    workers = [default_workers(device)] if args.workers is None else args.workers
    ratios = {}
    with tempfile.TemporaryDirectory() as tmp:

        def extract(decode: str, w: int, subset: int | None = None, threads: int | None = None):
            t0 = time.perf_counter()
            # threads=1: the loader of earlier versions (a DataLoader decoding on one core)
            one = partial(make_loader, threads=threads)
            with patch("seabench.features.batch_loop.make_loader", one):
                r = extract_features(
                    adapter,
                    backbone,
                    FeatureCache(Path(tmp) / f"{decode}-{w}-{subset}-{threads}"),
                    image_size=size,
                    batch_size=args.batch_size,
                    device=device,
                    workers=w,
                    decode=decode,
                    subset=subset,
                )
            seconds = time.perf_counter() - t0
            return r, seconds

        _, overhead = extract("draft", workers[0], subset=1)
        print(f"fixed cost of one extract_features call (3 images): {overhead:.2f} s")
        print("end-to-end extraction (whole set, fresh cache each):")
        entries = {}
        runs = [("draft", w, None) for w in workers]
        if 0 in workers and torch.get_num_threads() > 1:  # the one-thread loader, for comparison
            runs.append(("draft", 0, 1))
        runs += [("full", workers[0], None), ("device", workers[0], None)]
        for decode, w, threads in runs:
            before = forward_only(model, batches)
            r, seconds = extract(decode, w, threads=threads)
            after = forward_only(model, batches)
            ips, ref = r.images / seconds, (before + after) / 2
            ratios[decode, w, threads] = ips / ref
            how = f"workers {w}" + (f", {threads} decode thread" if threads else "")
            print(
                f"  decode {decode:6s} {how}: extraction {ips:7.1f} img/s, forward-only "
                f"{before:.1f} / {after:.1f} img/s, ratio {ips / ref:.3f}"
            )
            entries.setdefault(decode, r.entry)
            if threads:  # the loaders differ in speed only: the features must be the same
                x, y = (e.load() for e in (entries[decode], r.entry))
                same = all(torch.equal(x[f"{s}_x"], y[f"{s}_x"]) for s in SPLITS)
                print(f"    features identical to the default loader's: {same}")
        b = entries["full"].load()
        top = max(b[f"{s}_x"].float().abs().max().item() for s in SPLITS)
        for other in ("draft", "device"):
            a = entries[other].load()
            x, y = (torch.cat([t[f"{s}_x"].float() for s in SPLITS]) for t in (a, b))
            d = (x - y).abs()
            cos = torch.nn.functional.cosine_similarity(x, y, dim=1)
            rel = ((x - y).norm(dim=1) / y.norm(dim=1)).max().item()
            print(
                f"{other} vs full-size PIL decode, features of all {total} images (stored fp16): "
                f"max abs diff {d.max().item():.4g}, mean abs diff {d.mean().item():.3g}, max abs "
                f"feature {top:.4g}; per image: min cosine {cos.min().item():.5f}, max relative "
                f"L2 {rel:.4f}"
            )
    print(f"forward only (sample, best of {args.repeats}): {fwd:.1f} img/s")
    ratio = ratios["draft", workers[0], None]
    kind = "cuda" if cuda else "cpu"
    target = TARGETS.get((kind, args.backbone)) if size == 224 else None
    limit = ""
    if not cuda and workers[0] == 0:
        limit = f" (ceiling with decoding between forward passes {max(ceiling.values()):.3f})"
    if target is None:
        print(
            f"ratio extraction / forward-only: {ratio:.3f}{limit} "
            "(no target for this configuration)"
        )
    else:
        verdict = "PASS" if ratio >= target else "FAIL"
        print(f"ratio extraction / forward-only: {ratio:.3f}{limit}; target >= {target}: {verdict}")
