"""The HTML report renders in a real headless browser: no console errors, tables and plots drawn.

Skipped only where no Chromium/Chrome is installed (e.g. `apt-get install chromium`).
"""

from __future__ import annotations

import shutil
import subprocess

import pandas as pd
import pytest
from PIL import Image

from seabench.report import build_report, write_reports

BROWSERS = (
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
    "chrome-headless-shell",
)
BROWSER = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
SEA_BLUE = (0x1F, 0x77, 0xB4)  # linear+SeA bars
FT_RED = (0xD6, 0x27, 0x28)  # fine-tune bars


def _rows() -> pd.DataFrame:
    rows = []
    for d, (none, sea, ft) in {
        "cifar10": (90.1, 91.5, 97.0),
        "pets": (85.0, 87.2, 88.0),
        "dtd": (70.3, 73.0, 73.5),
    }.items():
        for aug, test in (("none", none), ("sea", sea), ("finetune", ft)):
            rows.append(
                {
                    "dataset": d,
                    "backbone": "resnet50",
                    "aug": aug,
                    "test": test,
                    "metric": "top1",
                    "seed": 0,
                    "selected_on": "val",
                    "val_source": "holdout20",
                    "manifest_hash": d,
                    "image_size": 224,
                    "solver": "finetune" if aug == "finetune" else "sgd",
                    "seconds": 2.0,
                    "search_seconds": 20.0,
                    "wall_seconds": 3000.0 if aug == "finetune" else None,
                }
            )
    return pd.DataFrame(rows)


def _browser(*args: str, cwd) -> subprocess.CompletedProcess:
    cmd = [
        BROWSER,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--disable-quic",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={cwd / 'chromium-profile'}",
        "--enable-logging=stderr",
        "--v=0",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.mark.skipif(BROWSER is None, reason="no Chromium or Chrome installed")
def test_html_report_renders_in_headless_chromium(tmp_path):
    [path] = write_reports(build_report(_rows()), tmp_path, ["html"])
    url = path.resolve().as_uri()

    dom = _browser("--dump-dom", url, cwd=tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "<table" in dom.stdout and "linear+SeA" in dom.stdout
    assert dom.stdout.count("<svg") >= 3  # grouped bars, delta chart, cost scatter
    assert "SeA within 1 point of fine-tuning (or above it) on 2 of 3 tasks" in dom.stdout
    console_errors = [
        ln
        for ln in dom.stderr.splitlines()
        if "CONSOLE" in ln and ("Error" in ln or "Uncaught" in ln)
    ]
    assert console_errors == []

    shot = tmp_path / "shot.png"
    r = _browser(f"--screenshot={shot}", "--window-size=1200,2400", url, cwd=tmp_path)
    assert r.returncode == 0 and shot.is_file(), r.stderr[-2000:]
    colors = {c for _, c in Image.open(shot).convert("RGB").getcolors(1 << 24)}

    def near(target):
        return any(all(abs(a - b) <= 6 for a, b in zip(c, target, strict=True)) for c in colors)

    assert near(SEA_BLUE) and near(FT_RED)  # the bars were actually drawn


MEASURE = """<script>
// each plot's rendered size against its own (SVG user units are points), and the tick labels
const out = [...document.querySelectorAll('figure.plot svg')].map(svg => {
  const box = svg.getBoundingClientRect();
  const texts = [...svg.querySelectorAll('text')];
  return {
    scale: box.width / svg.viewBox.baseVal.width,
    font: Math.max(...texts.map(t => parseFloat(getComputedStyle(t).fontSize))),
    labels: texts.map(t => t.textContent.trim()),
  };
});
document.body.insertAdjacentHTML('beforeend',
  '<pre id=measured>' + JSON.stringify(out).replace(/</g, '&lt;') + '</pre>');
</script>"""


def _measured(report, tmp_path, name: str) -> list[dict]:
    import html
    import json
    import re

    [path] = write_reports(report, tmp_path / name, ["html"])
    page = path.with_name("measure.html")
    page.write_text(path.read_text().replace("</body>", MEASURE + "</body>"))
    dom = _browser("--window-size=1200,2400", "--dump-dom", page.resolve().as_uri(), cwd=tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    found = re.search(r"<pre id=\"measured\">(.*?)</pre>", dom.stdout, re.S)
    assert found, dom.stdout[-2000:]
    return json.loads(html.unescape(found.group(1)))


@pytest.mark.skipif(BROWSER is None, reason="no Chromium or Chrome installed")
def test_plots_keep_their_font_size_and_the_time_axis_is_labelled(tmp_path):
    rows = _rows()
    many = pd.concat(
        [rows.assign(dataset=rows["dataset"] + f"_{i}", manifest_hash=f"m{i}") for i in range(4)]
    )  # 12 datasets
    few_plots = _measured(build_report(rows), tmp_path, "few")
    many_plots = _measured(build_report(many), tmp_path, "many")
    assert len(few_plots) == len(many_plots) == 3  # bars, deltas, cost
    for few, lots in zip(few_plots, many_plots, strict=True):
        # drawn at their own size (1 pt = 4/3 px), never scaled down to fit the page
        assert lots["scale"] == pytest.approx(4 / 3, rel=0.01)
        assert few["scale"] == pytest.approx(4 / 3, rel=0.01)
        assert lots["font"] == few["font"] > 0
    cost = many_plots[-1]["labels"]
    assert {"10 s", "1 min", "1 h"} <= set(cost), cost  # 22 s of probing, 50 min of fine-tuning
    assert any("log scale" in t for t in cost)
