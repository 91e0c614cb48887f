"""numpy arrays (and lists) accepted wherever the probe library takes tensors.

Users of scikit-learn hold numpy arrays; the probe's functions compute in torch.  Converting at
each public entry point (``lbfgs_search``, ``fit_logreg``, ``knn_scores``, ``FeatureSet``,
``sea_augment``) keeps a numpy caller from meeting ``'numpy.ndarray' object has no attribute
'to'`` deep inside.
"""

from __future__ import annotations

import numpy as np
import torch


def tensor(value) -> torch.Tensor:
    """``value`` as a tensor (a tensor is returned as it is; float64 stays float64)."""
    return value if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value))
