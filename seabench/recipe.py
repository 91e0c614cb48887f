"""Recipes: a TOML file naming backbones x datasets x methods x seeds, run as one grid.

What is already cached is not extracted again and what is already recorded (same features, same
probe options, same seed) is not probed again, so a recipe can be re-run after an interruption.
A failing cell is reported at the end; the other cells still run.

Backbones are plain names (``"efficientnet_lite0"``) or tables naming a checkpoint file::

    backbones = [{ name = "swav", arch = "resnet50", weights = "${CKPT_DIR}/swav.pth",
                   format = "swav" }]

Strings may use ``${VAR}`` or ``${VAR:-default}``: the environment wins, then the recipe's
``[vars]`` table, then the inline default; a variable with none of them is an error.
``augs`` may hold probe augmentations (``none``, ``sea``, ...), ``lbfgs`` (the classic L-BFGS
logistic regression, no augmentation), ``knn`` (the weighted k-NN classifier) and ``finetune``
(the fine-tuning baseline).

A ``[fewshot]`` table adds few-shot probes on the same features::

    [fewshot]
    shots = [1, 4, 16]        # training images per class
    draws = 3                 # random draws per shots value, the same for every method
    methods = ["none", "sea"] # default: every probe method of ``augs``
    # val_shots = 4           # val images per class (default min(shots, 4))
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from seabench.errors import SeabenchError
from seabench.options import BACKBONE_TABLE

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

KNOWN_KEYS = {
    "backbones",
    "datasets",
    "augs",
    "seeds",
    "extract",
    "probe",
    "finetune",
    "report",
    "data_root",
    "description",
    "vars",
    "fewshot",
}
BACKBONE_KEYS = set(BACKBONE_TABLE)
SPECIAL_METHODS = ("lbfgs", "knn", "finetune")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class BackboneSpec:
    """One backbone of a recipe: ``name`` labels its rows; ``arch`` and ``weights`` build it."""

    name: str
    arch: str
    weights: str | None = None
    format: str = "auto"
    pooling: str | None = None

    @classmethod
    def parse(cls, value, where: str) -> BackboneSpec:
        if isinstance(value, str) and value.strip():
            return cls(value.strip(), value.strip())
        if not isinstance(value, dict):
            raise SeabenchError(
                f"{where}: a backbone is a name or a table {{name, arch, weights, format}}"
            )
        unknown = set(value) - BACKBONE_KEYS
        if unknown:
            raise SeabenchError(
                f"{where}: unknown backbone keys {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(BACKBONE_KEYS))}"
            )
        name = value.get("name") or value.get("arch")
        if not isinstance(name, str) or not name:
            raise SeabenchError(f"{where}: a backbone table needs a 'name' (or an 'arch')")
        weights = value.get("weights")
        return cls(
            name,
            str(value.get("arch") or name),
            str(Path(weights).expanduser()) if weights else None,
            str(value.get("format", "auto")),
            value.get("pooling"),
        )


def expand(value, variables: dict[str, str], where: str):
    """``${VAR}`` / ``${VAR:-default}`` in every string of ``value`` (recursively)."""
    if isinstance(value, str):

        def sub(m: re.Match) -> str:
            name, default = m.group(1), m.group(2)
            if name in os.environ:
                return os.environ[name]
            if name in variables:
                return str(variables[name])
            if default is not None:
                return default
            raise SeabenchError(
                f"{where}: ${{{name}}} is not set; export {name}=... or give it "
                "a default in the recipe's [vars] table"
            )

        return _VAR.sub(sub, value)
    if isinstance(value, list):
        return [expand(v, variables, where) for v in value]
    if isinstance(value, dict):
        return {k: expand(v, variables, where) for k, v in value.items()}
    return value


def check_document(doc: dict) -> list[str]:
    """Every problem of a recipe document (after ``${VAR}`` expansion), one line each."""
    from seabench import options

    problems = options.validate_table(
        "", doc, options.RECIPE, known=KNOWN_KEYS - {"vars"}, unknown_label="keys"
    )
    for key in ("backbones", "datasets", "augs"):
        if key not in doc:
            example = options.RECIPE[key].example if key != "backbones" else "efficientnet_lite0"
            problems.append(f'{key!r} is missing: add {key} = ["{example}"]')
    backbones = doc.get("backbones")
    if "backbones" in doc and (not isinstance(backbones, list) or not backbones):
        problems.append(
            f"backbones = {options.toml_value(backbones)}: must be a non-empty list of names "
            'or tables {name, arch, weights, format}, e.g. backbones = ["efficientnet_lite0"]'
        )
    elif isinstance(backbones, list):
        names = []
        for i, b in enumerate(backbones):
            if isinstance(b, dict):
                problems += options.validate_table(
                    f"backbones[{i}]",
                    b,
                    options.BACKBONE_TABLE,
                    unknown_label="backbone keys",
                )
                if not (b.get("name") or b.get("arch")):
                    problems.append(f"backbones[{i}]: a backbone table needs a 'name' (or 'arch')")
                names.append(b.get("name") or b.get("arch"))
            elif isinstance(b, str) and b.strip():
                names.append(b.strip())
            else:
                problems.append(
                    f"backbones[{i}] = {options.toml_value(b)}: a backbone is a name or a "
                    "table {name, arch, weights, format}"
                )
        dup = next((n for n in names if n and names.count(n) > 1), None)
        if dup:
            problems.append(
                f"backbone name {dup!r} appears twice; give each backbone table its own 'name'"
            )
    for key, specs in (
        ("extract", options.EXTRACT),
        ("probe", options.PROBE),
        ("finetune", options.FINETUNE),
        ("report", options.REPORT),
        ("fewshot", options.FEWSHOT),
    ):
        value = doc.get(key, {})
        if not isinstance(value, dict):
            problems.append(f"{key} = {options.toml_value(value)}: [{key}] must be a table")
        else:
            problems += options.validate_table(f"[{key}]", value, specs)
    return problems


@dataclass
class Recipe:
    path: Path
    backbones: list[BackboneSpec]
    datasets: list[str]
    augs: list[str]
    seeds: int = 1
    extract: dict = field(default_factory=dict)
    probe: dict = field(default_factory=dict)
    finetune: dict = field(default_factory=dict)
    report: dict = field(default_factory=dict)
    data_root: str | None = None
    description: str = ""
    fewshot: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> Recipe:
        """Read and check the whole recipe against the option specs (``seabench.options``)
        before any work; every problem is one line of the error, naming table, key and the
        allowed values."""
        path = Path(path)
        if not path.is_file():
            raise SeabenchError(f"recipe {path} does not exist; see recipes/ for examples")
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SeabenchError(f"recipe {path} is not valid TOML: {exc}") from exc
        variables = doc.pop("vars", {})
        if not isinstance(variables, dict):
            raise SeabenchError(f'recipe {path}: [vars] must be a table of NAME = "value"')
        doc = expand(doc, variables, f"recipe {path}")
        problems = check_document(doc)
        if problems:
            raise SeabenchError("\n".join(f"recipe {path}: {p}" for p in problems))
        specs = [BackboneSpec.parse(b, f"recipe {path}") for b in doc["backbones"]]
        return cls(
            path,
            specs,
            doc["datasets"],
            doc["augs"],
            doc.get("seeds", 1),
            doc.get("extract", {}),
            doc.get("probe", {}),
            doc.get("finetune", {}),
            doc.get("report", {}),
            doc.get("data_root"),
            doc.get("description", ""),
            doc.get("fewshot", {}),
        )

    @property
    def backbone_names(self) -> list[str]:
        return [b.name for b in self.backbones]

    @property
    def probe_methods(self) -> list[str]:
        """The methods run on cached features (every aug but ``finetune``)."""
        return [a for a in self.augs if a != "finetune"]

    @property
    def fewshot_methods(self) -> list[str]:
        """The methods of the ``[fewshot]`` table (default: the probe methods); none without it.
        Their names and types were checked against ``options.FEWSHOT`` at load."""
        if not self.fewshot:
            return []
        return self.fewshot.get("methods", self.probe_methods)

    def fewshot_plan(self):
        """The checked FewShotPlan of the ``[fewshot]`` table, or None without one."""
        if not self.fewshot:
            return None
        from seabench.fewshot_plan import make_plan

        if "shots" not in self.fewshot:
            raise SeabenchError(f"recipe {self.path}: [fewshot] needs shots, e.g. [1, 4, 16]")
        shots = self.fewshot["shots"]
        return make_plan(
            shots if isinstance(shots, list) else [shots],
            self.fewshot.get("draws", 3),
            self.fewshot.get("val_shots"),
        )

    def cells(self) -> list[tuple[BackboneSpec, str]]:
        return [(b, d) for b in self.backbones for d in self.datasets]

    def finetune_options(self, seed: int):
        """FinetuneOptions from the [finetune] table (image size defaults to [extract]'s)."""
        from dataclasses import fields

        from seabench.finetune import FinetuneOptions

        known = {f.name for f in fields(FinetuneOptions)} - {"seed"}
        unknown = set(self.finetune) - known
        if unknown:
            raise SeabenchError(
                f"recipe {self.path}: unknown [finetune] settings "
                f"{', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}"
            )
        s = dict(self.finetune)
        for k in ("lr", "wd"):
            if k in s:
                s[k] = tuple(float(v) for v in (s[k] if isinstance(s[k], list) else [s[k]]))
        for k in ("image_size", "crop_pct", "subset"):
            if k not in s and k in self.extract:
                s[k] = self.extract[k]
        opts = FinetuneOptions(seed=seed, **s)
        opts.check()
        return opts
