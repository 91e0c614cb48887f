"""One fine-tuning run: SGD with Nesterov momentum and a cosine schedule over a step budget.

The run is checkpointed every ``checkpoint_every`` steps and when it is interrupted (Ctrl-C or an
exception), atomically, with the model, optimiser, schedule, step, data position and RNG state,
so running the same command again continues from the last checkpoint instead of starting over.
Ctrl-C takes effect between steps (:mod:`seabench.interrupts`), so what is checkpointed is the
state of a whole number of steps and the resumed run ends with the uninterrupted run's numbers.
"""

from __future__ import annotations

import copy
import random
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from seabench._io import atomic_write
from seabench.errors import SeabenchError, SeabenchWarning
from seabench.interrupts import DeferredInterrupt, ignore_interrupts_in_worker

#: progress(phase, step, total_steps, loss, images_per_second); scoring calls it per batch with
#: phase "<tag> scoring <split>", images done and in all, and a NaN loss (there is none).
Progress = Callable[[str, int, int, float, float], None]


class Diverged(SeabenchError):
    """The loss became NaN or infinite (the learning rate is too high for this run)."""


class ManifestImages(Dataset):
    """(image, label) pairs of manifest items, transformed, in the manifest's order."""

    def __init__(self, adapter, items: list, labels: torch.Tensor, transform):
        self.adapter, self.items, self.labels, self.transform = adapter, items, labels, transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        return self.transform(self.adapter.open(self.items[i])), self.labels[i]


class ResumableBatches(Sampler[list[int]]):
    """An endless stream of shuffled epochs cut into batches, starting at a given batch.

    Epoch ``e`` is a permutation drawn from ``seed`` and ``e`` alone, so the batches after a
    resume are exactly the ones the interrupted run would have seen.
    """

    def __init__(self, n: int, batch_size: int, seed: int, start_batch: int, total_batches: int):
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.start, self.total = start_batch, total_batches

    def __len__(self) -> int:
        return max(0, self.total - self.start)

    def __iter__(self) -> Iterator[list[int]]:
        pos = self.start * self.batch_size
        epoch, offset = divmod(pos, self.n)
        perm = self._perm(epoch)
        for _ in range(len(self)):
            batch = []
            while len(batch) < self.batch_size:
                if offset == self.n:
                    epoch, offset = epoch + 1, 0
                    perm = self._perm(epoch)
                take = min(self.batch_size - len(batch), self.n - offset)
                batch += perm[offset : offset + take]
                offset += take
            yield batch

    def _perm(self, epoch: int) -> list[int]:
        gen = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        return torch.randperm(self.n, generator=gen).tolist()


class Classifier(nn.Module):
    """The backbone's pooled features followed by a new linear head."""

    def __init__(self, features: nn.Module, dim: int, num_classes: int):
        super().__init__()
        self.features = features
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def build_model(features: nn.Module, dim: int, num_classes: int, seed: int) -> Classifier:
    torch.manual_seed(seed)
    model = Classifier(copy.deepcopy(features), dim, num_classes)
    for p in model.parameters():
        p.requires_grad_(True)
    return model


@dataclass
class RunSettings:
    lr: float
    wd: float
    steps: int
    batch_size: int
    momentum: float
    seed: int
    device: str
    workers: int
    checkpoint_every: int
    multilabel: bool


def _loss(logits: torch.Tensor, y: torch.Tensor, multilabel: bool) -> torch.Tensor:
    if multilabel:
        return F.binary_cross_entropy_with_logits(logits.float(), y.float())
    return F.cross_entropy(logits.float(), y)


def train(
    model: Classifier,
    data: Dataset,
    s: RunSettings,
    checkpoint: Path,
    phase: str,
    progress: Progress | None = None,
) -> dict:
    """Train ``model`` in place for ``s.steps`` steps, resuming from ``checkpoint`` if present.

    Returns the run's accumulated cost: wall and CPU seconds (over all resumed parts), steps.
    """
    device = torch.device(s.device)
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(
        params, lr=s.lr, momentum=s.momentum, nesterov=s.momentum > 0, weight_decay=s.wd
    )
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=s.steps)
    step, cost = 0, {"wall_seconds": 0.0, "cpu_seconds": 0.0}
    state = _read_checkpoint(checkpoint, device)
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        random.setstate(_python_rng(state["py_rng"]))
        step, cost = int(state["step"]), dict(state["cost"])
        np.random.seed((s.seed * 100_003 + step) % 2**32)
    else:
        seed_everything(s.seed)
    t_wall, t_cpu = time.perf_counter(), time.process_time()

    # the random state at the last step boundary: a batch being drawn when the run stops has
    # advanced it, and a checkpoint must hold the state the next step starts from
    boundary_rng = (torch.get_rng_state(), random.getstate())

    def save() -> None:
        now = {
            "wall_seconds": cost["wall_seconds"] + time.perf_counter() - t_wall,
            "cpu_seconds": cost["cpu_seconds"] + time.process_time() - t_cpu,
        }
        state = {
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
            "step": step,
            "rng": boundary_rng[0],
            "py_rng": list(boundary_rng[1][1]),
            "cost": now,
        }
        atomic_write(checkpoint, lambda p: torch.save(state, p))

    batches = ResumableBatches(len(data), s.batch_size, s.seed, step, s.steps)
    loader = DataLoader(
        data,
        batch_sampler=batches,
        num_workers=s.workers,
        # a private generator: creating the loader must not move the global RNG, so that a
        # resumed run (with workers=0) draws the same augmentations as an uninterrupted one
        generator=torch.Generator().manual_seed(s.seed + step),
        pin_memory=device.type == "cuda",
        persistent_workers=False,
        worker_init_fn=ignore_interrupts_in_worker if s.workers > 0 else None,
    )
    use_amp = device.type == "cuda"
    model.train()
    last_saved, loss_value, t_rate, n_rate = step, float("nan"), time.perf_counter(), 0
    # False from the forward pass (batch-norm statistics move) until the step is counted: a
    # failure in between leaves weights that belong to no step, which are never checkpointed
    at_boundary = True
    try:
        with DeferredInterrupt() as stop:  # Ctrl-C stops between steps, never inside one
            batches_left = iter(loader)
            while not stop.requested:
                batch = next(batches_left, None)
                if batch is None:
                    break
                images = batch[0].to(device, non_blocking=True)
                y = batch[1].to(device, non_blocking=True)
                at_boundary = False
                with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=use_amp):
                    logits = model(images)
                loss = _loss(logits, y, s.multilabel)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                step += 1
                boundary_rng = (torch.get_rng_state(), random.getstate())
                at_boundary = True
                n_rate += images.shape[0]
                if device.type != "cuda" or step % 10 == 0 or step == s.steps:
                    loss_value = loss.item()  # on a GPU, synchronise only every 10 steps
                    if loss_value != loss_value or abs(loss_value) == float("inf"):
                        raise Diverged(
                            f"fine-tuning diverged (loss {loss_value}) at lr {s.lr} step {step}; "
                            "use a smaller --lr"
                        )
                if step - last_saved >= s.checkpoint_every:
                    save()
                    last_saved = step
                if progress:
                    rate = n_rate / max(time.perf_counter() - t_rate, 1e-9)
                    progress(phase, step, s.steps, loss_value, rate)
            if stop.requested:
                raise KeyboardInterrupt
    except BaseException:
        if at_boundary and step > last_saved:
            save()  # Ctrl-C or a failure keeps the finished steps
        raise
    if step > last_saved:
        save()  # evaluation may still be interrupted; the trained weights are kept
    model.eval()
    return {
        "wall_seconds": cost["wall_seconds"] + time.perf_counter() - t_wall,
        "cpu_seconds": cost["cpu_seconds"] + time.process_time() - t_cpu,
        "steps": step,
    }


def _read_checkpoint(path: Path, device: torch.device) -> dict | None:
    """The state of an interrupted run, or None to start it over: a checkpoint that cannot be
    read (truncated, or not one of ours) is rebuilt by running again, never a failed command."""
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location=device, weights_only=True)
        if not isinstance(state, dict) or not state.keys() >= _CHECKPOINT_KEYS:
            raise ValueError("not a fine-tuning checkpoint")
        return state
    except Exception as exc:  # torch raises RuntimeError, UnpicklingError, EOFError ...
        warnings.warn(
            f"checkpoint {path} is damaged ({type(exc).__name__}); starting that run over",
            SeabenchWarning,
            stacklevel=2,
        )
        path.unlink(missing_ok=True)
        return None


_CHECKPOINT_KEYS = {"model", "optimizer", "scheduler", "step", "rng", "py_rng", "cost"}


def seed_everything(seed: int) -> None:
    """Seed every generator a run draws from: torch (model and transforms), Python's ``random``
    (timm's crop augmentation), numpy.  Loader workers are seeded by the loader's generator."""
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


def _python_rng(state: list[int]) -> tuple:
    """Python's ``random`` state from the list of ints kept in the checkpoint."""
    return (3, tuple(int(v) for v in state), None)


@torch.inference_mode()
def predict(
    model: nn.Module,
    data: Dataset,
    device: str,
    batch_size: int,
    workers: int,
    progress: Progress | None = None,
    phase: str = "scoring",
) -> torch.Tensor:
    """Logits of every item, in order, with the model in eval mode.

    Scoring a large test split takes a while on a CPU: ``progress`` hears of every batch."""
    model.to(device).eval()
    out = []
    use_amp = device.startswith("cuda")
    total, done, t0 = len(data), 0, time.perf_counter()
    for images, _ in DataLoader(data, batch_size=batch_size, num_workers=workers):
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=use_amp):
            out.append(model(images.to(device)).float().cpu())
        done += images.shape[0]
        if progress:
            progress(phase, done, total, float("nan"), done / max(time.perf_counter() - t0, 1e-9))
    return torch.cat(out)
