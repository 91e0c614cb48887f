"""Checks of what the Python estimator is given, with scikit-learn's errors and wording.

A scikit-learn user catches ``ValueError`` (``NotFittedError`` before ``fit``) and tools such
as ``check_estimator`` match its messages ("Input X contains NaN", "Unknown label type", "X has 4
features, but SeAProbe is expecting 16 features as input"); the errors here are also
:class:`~seabench.errors.SeabenchError`, so the CLI's one-line handling applies to them too.
scikit-learn itself stays optional.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from seabench.errors import SeabenchError

try:
    from sklearn.exceptions import DataConversionWarning
    from sklearn.exceptions import NotFittedError as _NotFitted
except ImportError:  # pragma: no cover - exercised only without scikit-learn
    DataConversionWarning = UserWarning  # type: ignore[misc,assignment]

    class _NotFitted(ValueError, AttributeError):
        """scikit-learn's NotFittedError, where scikit-learn is not installed."""


class EstimatorInputError(SeabenchError, ValueError):
    """Bad input to the estimator: a ValueError, as scikit-learn's estimators raise."""


class EstimatorTypeError(SeabenchError, TypeError):
    """Input of a type the estimator cannot read (an object that is not a number)."""


class NotFittedError(SeabenchError, _NotFitted):
    """``predict`` before ``fit`` (scikit-learn's NotFittedError, itself a ValueError)."""


def _array(X, name: str) -> np.ndarray | torch.Tensor:
    """``X`` as a tensor or a numpy array, refusing what scikit-learn refuses."""
    if X is None:
        raise EstimatorInputError(f"requires {name} to be passed, but the target {name} is None")
    if hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse"):
        raise EstimatorInputError(
            f"{name} is a sparse matrix, which SeAProbe does not support; pass X.toarray()"
        )
    if isinstance(X, torch.Tensor):
        return X.detach().cpu()
    try:
        return np.asarray(X)
    except (TypeError, ValueError) as e:  # ragged lists
        raise EstimatorInputError(f"{name} is not an array of numbers: {e}") from e


def features(X, name: str = "X") -> torch.Tensor:
    """``X`` (samples x features) as float32, or a ValueError saying what is wrong with it."""
    x = _array(X, name)
    if x.dtype in (torch.complex64, torch.complex128) or np.iscomplexobj(x):
        raise EstimatorInputError(f"Complex data not supported: {name} holds complex numbers")
    if x.ndim != 2:
        hint = (
            ". Reshape your data either using X.reshape(-1, 1) if it has a single feature or "
            "X.reshape(1, -1) if it contains a single sample"
            if x.ndim == 1
            else ""
        )
        raise EstimatorInputError(
            f"{name} must be 2-d (samples x features), got shape {tuple(x.shape)}{hint}"
        )
    if isinstance(x, np.ndarray):
        try:
            x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        except ValueError as e:  # strings
            raise EstimatorInputError(f"{name} must hold numbers: {e}") from e
        except TypeError as e:  # other objects
            raise EstimatorTypeError(f"{name} must hold numbers: {e}") from e
    x = x.float()
    if x.shape[0] < 1:
        raise EstimatorInputError(
            f"Found array with 0 sample(s) (shape={tuple(x.shape)}) while a minimum of 1 is "
            f"required in {name}"
        )
    if x.shape[1] < 1:
        raise EstimatorInputError(
            f"Found array with 0 feature(s) (shape={tuple(x.shape)}) while a minimum of 1 is "
            f"required in {name}"
        )
    bad = ~torch.isfinite(x).all(dim=1)
    if bad.any():
        rows = bad.nonzero().flatten()[:5].tolist()
        more = " ..." if bad.sum() > 5 else ""
        raise EstimatorInputError(
            f"Input {name} contains NaN or infinity (rows {rows}{more}); drop or impute those rows"
        )
    return x


def labels(y, name: str = "y") -> np.ndarray:
    """``y`` as a 1-d numpy array of class labels (a column vector is flattened, as
    scikit-learn does); continuous or non-finite targets are a ValueError."""
    a = _array(y, name)
    a = a.numpy() if isinstance(a, torch.Tensor) else a
    if a.ndim == 2 and a.shape[1] == 1:
        warnings.warn(
            f"A column-vector {name} was passed when a 1d array was expected; flattened it "
            "(pass y.ravel() to silence this)",
            DataConversionWarning,
            stacklevel=3,
        )
        a = a.ravel()
    if a.ndim != 1:
        raise EstimatorInputError(f"{name} must be 1-d class labels, got shape {a.shape}")
    if a.dtype.kind == "f" or a.dtype.kind == "c":
        if not np.isfinite(a).all():
            raise EstimatorInputError(f"Input {name} contains NaN or infinity")
        if (a != np.round(a.real)).any():
            raise EstimatorInputError(
                f"Unknown label type: continuous. {name} holds non-integer numbers; a classifier "
                "needs class labels (integers or strings)"
            )
    if a.dtype.kind == "O":
        if any(v is None or (isinstance(v, float) and not np.isfinite(v)) for v in a):
            raise EstimatorInputError(f"Input {name} contains NaN or None")
        a = a.astype(str) if any(isinstance(v, str) for v in a) else a
    return a


def check_lengths(x: torch.Tensor, y: np.ndarray, xname: str, yname: str) -> None:
    if len(x) != len(y):
        raise EstimatorInputError(
            f"Found input variables with inconsistent numbers of samples: {xname} has "
            f"{len(x)} rows, {yname} has {len(y)} labels"
        )
