"""The probe methods, one module each; importing this package registers them all.

Registration order (the order of ``--solver`` choices) is that of ``ORDER``, then any other
module of this package by name, so a new method is one new file here.
"""

import importlib
import pkgutil

ORDER = ("sgd", "lbfgs")

_names = [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
for _name in [*(n for n in ORDER if n in _names), *sorted(set(_names) - set(ORDER))]:
    importlib.import_module(f"{__name__}.{_name}")
