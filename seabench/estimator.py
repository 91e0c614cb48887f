"""A scikit-learn-style estimator over the probe: the same methods, trainer and search as the CLI.

``SeAProbe(aug="sea").fit(X, y)`` chooses its hyperparameters on ``X_val, y_val`` (or on a
seeded stratified 20% of ``X`` when none is given; or, with ``select="kfold"``, and by default
where classes are small, by stratified k-fold over train+val, as ``seabench probe --select``
does), refits on train+val and keeps that classifier
for ``predict``/``predict_proba``.  ``aug="none"`` is the plain probe, ``solver="lbfgs"`` the
classic logistic regression.  It works inside scikit-learn's ``Pipeline``, ``clone`` and
``cross_val_score``; scikit-learn itself is optional.

>>> probe = SeAProbe(aug="sea", epochs=50).fit(X_train, y_train)   # doctest: +SKIP
>>> probe.score(X_test, y_test)                                     # doctest: +SKIP
"""

from __future__ import annotations

import inspect

import numpy as np
import torch

from seabench.errors import SeabenchError
from seabench.estimator_inputs import (
    EstimatorInputError,
    NotFittedError,
    check_lengths,
    features,
    labels,
)

try:  # scikit-learn's bases give clone/Pipeline/cross_val_score the tags they look for
    from sklearn.base import BaseEstimator as _Base
    from sklearn.base import ClassifierMixin as _Mixin

    _BASES: tuple = (_Mixin, _Base)
except ImportError:  # pragma: no cover - exercised only without scikit-learn

    class _Params:
        """get_params/set_params from the constructor's signature, as scikit-learn defines them."""

        def get_params(self, deep: bool = True) -> dict:
            names = inspect.signature(type(self).__init__).parameters
            return {n: getattr(self, n) for n in names if n != "self"}

        def set_params(self, **params):
            valid = self.get_params()
            for name, value in params.items():
                if name not in valid:
                    raise ValueError(f"invalid parameter {name!r} for {type(self).__name__}")
                setattr(self, name, value)
            return self

        def score(self, X, y) -> float:
            return float(np.mean(self.predict(X) == np.asarray(y)))

    _BASES = (_Params,)


class SeAProbe(*_BASES):
    """A linear probe on frozen features, with SeA (``aug="sea"``) or another augmentation.

    Parameters mirror ``seabench probe``: ``search`` runs the default grid (lr x wd x strength
    for ``solver="sgd"``, the L2 grid for ``"lbfgs"``), otherwise ``lr``, ``wd``, ``strength``
    (or ``l2``) are used as given.  ``seed`` fixes the initialisation and batch order.
    """

    def __init__(
        self,
        aug: str = "sea",
        *,
        solver: str = "sgd",
        search: bool = True,
        prune: bool = True,
        lr: float = 1.6,
        wd: float = 1e-6,
        strength: float | None = None,
        l2: float | None = None,
        epochs: int = 100,
        batch_size: int = 256,
        alpha: float = 0.01,
        lamda: float = 0.1,
        delta: float = 0.0,
        metric: str = "top1",
        seed: int = 0,
        device: str | None = None,
        select: str = "auto",
        folds: int = 5,
    ):
        self.aug = aug
        self.solver = solver
        self.search = search
        self.prune = prune
        self.lr = lr
        self.wd = wd
        self.strength = strength
        self.l2 = l2
        self.epochs = epochs
        self.batch_size = batch_size
        self.alpha = alpha
        self.lamda = lamda
        self.delta = delta
        self.metric = metric
        self.seed = seed
        self.device = device
        self.select = select
        self.folds = folds

    def _options(self):
        from seabench.probe.options import ProbeOptions
        from seabench.probe.trainer import TrainSettings

        settings = TrainSettings(
            epochs=self.epochs,
            batch_size=self.batch_size,
            alpha=self.alpha,
            lamda=self.lamda,
            delta=self.delta,
        )
        return ProbeOptions(
            aug=self.aug,
            search=self.search,
            prune=self.prune,
            lr=self.lr,
            wd=self.wd,
            strength=self.strength,
            settings=settings,
            first_seed=self.seed,
            device=self.device,
            solver=self.solver,
            l2=self.l2,
            select=self.select,
            folds=self.folds,
        )

    def _encode(self, y: np.ndarray, name: str) -> torch.Tensor:
        index = np.searchsorted(self.classes_, y)
        index = np.clip(index, 0, len(self.classes_) - 1)
        unknown = self.classes_[index] != y
        if unknown.any():
            unseen = sorted(set(y[unknown].tolist()))[:5]
            raise EstimatorInputError(f"{name} holds labels not in the training labels: {unseen}")
        return torch.as_tensor(index, dtype=torch.int64)

    def fit(self, X, y, X_val=None, y_val=None) -> SeAProbe:
        """Search on (X_val, y_val) or a seeded stratified 20% of X; refit on everything."""
        from seabench.probe.multiview import views_for
        from seabench.probe.protocol import fit
        from seabench.probe.splits import FeatureSet, prepare, resolve_device

        if (X_val is None) != (y_val is None):
            raise EstimatorInputError("pass X_val and y_val together, or neither")
        x, y_arr = features(X, "X"), labels(y, "y")
        check_lengths(x, y_arr, "X", "y")
        val_x = val_y = None
        if X_val is not None:
            val_x, val_y = features(X_val, "X_val"), labels(y_val, "y_val")
            check_lengths(val_x, val_y, "X_val", "y_val")
            if val_x.shape[1] != x.shape[1]:
                raise EstimatorInputError(
                    f"X_val has {val_x.shape[1]} features, but X has {x.shape[1]}"
                )
        try:
            self.classes_ = np.unique(y_arr)
        except TypeError as e:  # mixed strings and numbers
            raise EstimatorInputError(f"y mixes label types: {e}") from e
        if len(self.classes_) < 2:
            only = self.classes_[0].tolist()
            raise EstimatorInputError(
                f"y holds only one class ({only!r}); a classifier needs at least two"
            )
        self.n_features_in_ = x.shape[1]
        fs = FeatureSet(
            train_x=x,
            train_y=self._encode(y_arr, "y"),
            val_x=val_x,
            val_y=None if val_y is None else self._encode(val_y, "y_val"),
            # the protocol scores a test split once; the estimator has none, so the training
            # features stand in and that score is not kept
            test_x=x,
            test_y=self._encode(y_arr, "y"),
            num_classes=len(self.classes_),
            metric=self.metric,
            dataset="estimator",
            backbone="estimator",
        )
        try:
            opts = self._options()
            fs = views_for(fs, opts)
            result = fit(prepare(fs, resolve_device(opts.device)), fs, opts, self.seed)
        except SeabenchError as e:  # the CLI's checks of options and data, as a ValueError
            if isinstance(e, ValueError):
                raise
            raise EstimatorInputError(str(e)) from e
        if result.predict_proba is None:
            raise EstimatorInputError(f"solver {self.solver!r} keeps no classifier to predict with")
        self.predict_proba_ = result.predict_proba
        self.best_params_ = dict(result.hparams)
        self.best_score_ = result.val_score
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, one row per sample, columns in the order of ``classes_``."""
        if not hasattr(self, "predict_proba_"):
            raise NotFittedError(
                "This SeAProbe instance is not fitted yet; call fit(X, y) before predicting"
            )
        x = features(X, "X")
        if x.shape[1] != self.n_features_in_:
            raise EstimatorInputError(
                f"X has {x.shape[1]} features, but SeAProbe is expecting "
                f"{self.n_features_in_} features as input"
            )
        with torch.no_grad():
            return self.predict_proba_(x).cpu().double().numpy()

    def predict(self, X) -> np.ndarray:
        probs = self.predict_proba(X)
        return self.classes_[probs.argmax(axis=1)]


__all__ = ["SeAProbe"]
