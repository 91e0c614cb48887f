"""`make bench` runs every scripts/bench_*.py with --quick (BENCH_ARGS): each runnable script must
take it, or the bench stops at an argparse error instead of measuring."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def runnable(path: Path) -> bool:
    return '__name__ == "__main__"' in path.read_text()


def test_make_bench_passes_quick():
    make = (ROOT / "Makefile").read_text()
    assert re.search(r"^BENCH_ARGS \?= --quick$", make, re.M)
    assert "$$s $(BENCH_ARGS) || exit 1" in make


def test_every_runnable_bench_script_takes_quick():
    scripts = [p for p in sorted((ROOT / "scripts").glob("bench_*.py")) if runnable(p)]
    assert len(scripts) >= 5
    for path in scripts:
        tree = ast.parse(path.read_text())
        flags = {
            arg.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument"
            for arg in node.args
            if isinstance(arg, ast.Constant)
        }
        assert "--quick" in flags, f"{path.name} does not take --quick"
        quick = next(
            n.value
            for n in tree.body
            if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "QUICK"
        )
        shown = ast.literal_eval(quick)
        assert all(f in flags for f in shown if f.startswith("--")), path.name
