"""The probe methods, one module each; importing this package registers them all.

Registration order (the order of ``--solver`` choices) is that of ``seabench.probe.names.METHODS``
(the names checked without torch), then any other module of this package by name.
"""

import importlib
import pkgutil

from seabench.probe.names import METHODS

ORDER = tuple(METHODS)

_names = [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
for _name in [*(n for n in ORDER if n in _names), *sorted(set(_names) - set(ORDER))]:
    importlib.import_module(f"{__name__}.{_name}")
