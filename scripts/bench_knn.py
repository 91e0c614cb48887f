"""Benchmark the k-NN probe against scikit-learn's KNeighborsClassifier on the same features.

Both sides run the same classifier, so the comparison is of implementations, not of protocols:
cosine similarity over the whole bank (scikit-learn: ``metric="cosine"``, ``algorithm="brute"``,
distance ``1 - sim``), the same k, and the same weighted vote, each neighbour weighted
``exp(sim / 0.07)`` (scikit-learn: ``weights=`` a callable of the distance).  Both are timed from
the raw features to the predictions (scikit-learn: ``fit`` + ``predict``; seabench: normalising,
the chunked search and the vote), with the same number of threads (torch's and, through
threadpoolctl, scikit-learn's BLAS), best of ``--repeat``.  Agreement is the fraction of equal
predictions; a disagreement where seabench's two best class scores are within 1e-4 of each other
is counted as a tie (the two libraries order equal votes differently).

Usage::

    .venv/bin/python scripts/bench_knn.py     # mnist5k features if cached, else synthetic
    .venv/bin/python scripts/bench_knn.py --data synthetic --threads 2
    .venv/bin/python scripts/bench_knn.py --large [--device cuda]   # 50,000 x 10,000 x 2,048
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import torch

from seabench.probe.knn import TEMPERATURE, knn_scores

#: `make bench` runs every script with --quick: the same measurement at a smaller size, so
#: the whole bench takes minutes on 2 cores (run without it for the sizes the targets assume)
QUICK = ["--repeat", "1"]


def synthetic(n_bank: int, n_query: int, dim: int, classes: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    means = torch.randn(classes, dim, generator=g)
    y = torch.randint(0, classes, (n_bank + n_query,), generator=g)
    x = 0.15 * means[y] + torch.randn(n_bank + n_query, dim, generator=g)
    return x[:n_bank], y[:n_bank], x[n_bank:], y[n_bank:], classes


def real(home: str | None):
    """mnist5k x efficientnet_lite0 from the cache: train+val (3,500) bank, test (1,500) queries."""
    from seabench import runner
    from seabench.features import FeatureCache
    from seabench.home import Home

    cache = FeatureCache(Home.resolve(home).features)
    fs = runner.feature_set(runner.find_features(cache, "mnist5k", "efficientnet_lite0", False, {}))

    def plain(x):
        return (x[:, fs.reference_view] if x.ndim == 3 else x).float()

    bank = plain(torch.cat([fs.train_x, fs.val_x]))
    return bank, torch.cat([fs.train_y, fs.val_y]), plain(fs.test_x), fs.test_y, fs.num_classes


def best_of(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", choices=["auto", "real", "synthetic"], default="auto")
    ap.add_argument("--home", default=None, help="seabench home with the cached mnist5k features")
    ap.add_argument("--k", type=int, default=20, help="neighbours (DINO's tables use 20)")
    ap.add_argument("--threads", type=int, default=None, help="threads for both (default torch's)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--large", action="store_true", help="50,000 bank x 10,000 queries x 2,048")
    ap.add_argument("--skip-sklearn", action="store_true")
    ap.add_argument(
        "--quick", action="store_true", help=f"a short run for `make bench`: {' '.join(QUICK)}"
    )
    args = ap.parse_args()
    if args.quick:  # `make bench`: short settings; options given explicitly still win
        args = ap.parse_args([*QUICK, *sys.argv[1:]])
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()

    if args.large:
        data, what = synthetic(50_000, 10_000, 2048, 100), "synthetic 50,000 x 10,000 x 2,048"
    elif args.data == "synthetic":
        data, what = synthetic(5_000, 2_000, 512, 10), "synthetic 5,000 x 2,000 x 512"
    else:
        try:
            data, what = real(args.home), "mnist5k x efficientnet_lite0 (cached)"
        except Exception as exc:  # noqa: BLE001 (no cache: fall back, say so)
            if args.data == "real":
                print(f"no cached features: {exc}", file=sys.stderr)
                return 2
            data, what = synthetic(5_000, 2_000, 512, 10), "synthetic 5,000 x 2,000 x 512"
    bank, bank_y, queries, query_y, classes = data
    k = args.k
    print(
        f"{what}: bank {tuple(bank.shape)}, queries {len(queries)}, {classes} classes, k={k}, "
        f"T={TEMPERATURE}, {threads} thread(s), seabench on {args.device}"
    )

    def ours():
        b, q = bank.to(args.device), queries.to(args.device)
        return knn_scores(b, bank_y.to(args.device), q, (k,), classes)[k].cpu()

    if args.device.startswith("cuda"):
        ours()  # warm-up (CUDA context, kernels)
        torch.cuda.reset_peak_memory_stats()
    t_ours, scores = best_of(ours, args.repeat)
    pred = scores.argmax(1)
    acc = (pred == query_y).float().mean().item() * 100
    mem = (
        f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB"
        if args.device.startswith("cuda")
        else f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB"
    )
    print(f"seabench knn : {t_ours:8.3f} s  top-1 {acc:.2f}  ({mem})")
    if args.skip_sklearn:
        return 0

    import numpy as np
    from sklearn.neighbors import KNeighborsClassifier
    from threadpoolctl import threadpool_limits

    def weights(dist):
        return np.exp((1.0 - dist) / TEMPERATURE)

    def theirs():
        clf = KNeighborsClassifier(
            n_neighbors=k, metric="cosine", algorithm="brute", weights=weights, n_jobs=1
        )
        with threadpool_limits(threads):
            return clf.fit(bank.numpy(), bank_y.numpy()).predict(queries.numpy())

    t_sk, sk_pred = best_of(theirs, args.repeat if not args.large else 1)
    sk_pred = torch.as_tensor(sk_pred)
    sk_acc = (sk_pred == query_y).float().mean().item() * 100
    print(f"scikit-learn : {t_sk:8.3f} s  top-1 {sk_acc:.2f}")
    differ = pred != sk_pred
    top2 = scores.topk(2, dim=1).values
    ties = differ & ((top2[:, 0] - top2[:, 1]) < 1e-4)
    print(
        f"speed-up {t_sk / t_ours:.1f}x; predictions agree on {100 * (~differ).float().mean():.2f}%"
        f" ({int(differ.sum())} differ, {int(ties.sum())} of them ties; "
        f"{100 * (~(differ & ~ties)).float().mean():.2f}% agree ties aside)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
