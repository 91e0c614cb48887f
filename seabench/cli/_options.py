"""Click options built from the option specs of ``seabench.options``, and click's usage errors as
the project's one line (what is wrong and how to fix it)."""

from __future__ import annotations

import difflib
import math

import click

from seabench.options import Spec
from seabench.options.device import is_device


class FiniteFloatRange(click.FloatRange):
    """A float range that refuses ``nan`` and ``inf`` (click's FloatRange lets nan through: every
    comparison with it is false)."""

    def convert(self, value, param, ctx):
        rv = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return super().convert(rv, param, ctx)


class NameChoice(click.ParamType):
    """A choice among names read when a value is checked (``--aug``, ``--solver``: tables of
    names kept without torch), with the closest name in the error."""

    name = "choice"

    def __init__(self, spec: Spec) -> None:
        self.spec = spec

    def get_metavar(self, param, ctx=None) -> str:
        return "[" + "|".join(self.spec.allowed_choices()) + "]"

    def convert(self, value, param, ctx):
        choices = self.spec.allowed_choices()
        if value in choices:
            return value
        close = difflib.get_close_matches(str(value), choices, n=2, cutoff=0.6)
        near = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
        self.fail(f"{value!r} is not one of {', '.join(map(repr, choices))}{near}", param, ctx)


class DeviceType(click.ParamType):
    """A torch device string, checked without torch (``seabench.options.device``)."""

    name = "device"

    def convert(self, value, param, ctx):
        if is_device(value):
            return value
        self.fail(f"{value!r} is not a torch device", param, ctx)


class SpecOption(click.Option):
    """A click option that remembers its spec, so that a usage error can say how to fix it."""

    def __init__(self, *args, spec: Spec | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.spec = spec


def click_type(spec: Spec) -> click.ParamType:
    """The click type checking what the spec allows (for list specs: one element)."""
    bounds = dict(min=spec.min, max=spec.max, min_open=spec.min_open, max_open=spec.max_open)
    if spec.kind == "int":
        return click.IntRange(**bounds)
    if spec.kind == "float":
        return FiniteFloatRange(**bounds)
    if spec.kind == "bool":
        return click.BOOL
    if spec.kind == "device":
        return DeviceType()
    if spec.kind == "choice":
        return NameChoice(spec) if callable(spec.choices) else click.Choice(spec.allowed_choices())
    return click.STRING


def option(spec: Spec, *param_decls: str, **kwargs):
    """``click.option`` for ``spec``: flag ``--name-with-dashes`` unless ``param_decls`` are given,
    the spec's type, range and help unless overridden."""
    kwargs.setdefault("help", spec.help)
    if "type" not in kwargs and not kwargs.get("is_flag") and spec.kind != "bool":
        kwargs["type"] = click_type(spec)
    return click.option(*(param_decls or (spec.flag,)), cls=SpecOption, spec=spec, **kwargs)


def _param_name(param: click.Parameter | None) -> str:
    if param is None:
        return ""
    if isinstance(param, click.Option):
        return next((o for o in param.opts if o.startswith("--")), param.opts[0])
    return (param.human_readable_name or param.name or "").upper()


def _sentence(text: str) -> str:
    text = " ".join(text.split()).replace(". (", " (").rstrip(".")
    return text[:1].lower() + text[1:] if text[1:2].islower() or len(text) < 2 else text


def usage_line(exc: click.UsageError) -> str:
    """One line for a click usage error: what is wrong, how to fix it, where the help is.

    ``--image-size 0`` gives "--image-size 0 is not in the range 16<=x<=1024; pass a crop size
    in pixels, e.g. --image-size 224 (see seabench extract --help)".
    """
    ctx = exc.ctx
    path = ["seabench", *(ctx.command_path.split()[1:] if ctx is not None else [])]
    see = f"(see {' '.join(path)} --help)"
    param = getattr(exc, "param", None)
    name = _param_name(param)
    if isinstance(exc, click.MissingParameter):
        kind = "argument" if isinstance(param, click.Argument) else "option"
        what = f"missing {kind} {name}" if name else _sentence(exc.format_message())
    elif isinstance(exc, click.BadParameter) and name:
        msg = _sentence(exc.message)
        # "0 is not in the range ..." reads on from the flag; "Directory 'x' is a file" does not
        what = f"{name} {msg}" if msg[:1] in "'\"-+.0123456789" else f"{name}: {msg}"
    else:
        what = _sentence(exc.format_message())
    spec = getattr(param, "spec", None)
    if spec is not None:
        fix = f"pass {spec.hint}, e.g. {name} {spec.example}"
    elif isinstance(param, click.Argument):
        fix = f"give {name}"
    else:
        fix = ""
    return f"{what}; {fix} {see}" if fix else f"{what} {see}"
