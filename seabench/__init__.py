"""seabench: how good are a backbone's frozen features, and how much does SeA add?"""

from seabench._lazy import lazy_exports

__version__ = "0.1.0"

# Lazy, so `import seabench` stays cheap and the CLI starts fast.
__getattr__, _names = lazy_exports(
    __name__, {"SeAProbe": "seabench.estimator", "sea_augment": "seabench.probe.sea"}
)
__all__ = ["__version__", *_names]
