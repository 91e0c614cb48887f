"""seabench: how good are a backbone's frozen features, and how much does SeA add?"""

__version__ = "0.1.0"


def __getattr__(name: str):
    # Lazy, so `import seabench` stays cheap and the CLI starts fast.
    if name == "sea_augment":
        from seabench.probe.sea import sea_augment

        return sea_augment
    if name == "SeAProbe":
        from seabench.estimator import SeAProbe

        return SeAProbe
    raise AttributeError(name)


__all__ = ["SeAProbe", "__version__", "sea_augment"]
