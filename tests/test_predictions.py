"""Each row keeps the test predictions it was scored from, beside the rows, with its test items."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seabench.predictions import PredictionStore, TestPredictions
from seabench.probe import ProbeOptions, run_probe
from seabench.results import ResultsStore
from tests.test_protocol import FAST, blobs


def test_probe_rows_store_predictions_that_rescore_to_the_row(tmp_path):
    opts = ProbeOptions(
        aug="none", lr_grid=(0.5,), wd_grid=(1e-4,), settings=FAST, seeds=2, bootstrap=500
    )
    rows = run_probe(blobs(), opts)
    store = ResultsStore(tmp_path / "results")
    store.append(rows)
    for r in rows:
        assert r["ci_low"] <= r["test"] <= r["ci_high"] and r["bootstrap"]["resamples"] == 500
        assert r["test_items"].startswith("tensors-")
        preds = store.predictions().read(r["row_id"])
        assert preds is not None
        assert 100 * preds.correct().mean() == pytest.approx(r["test"], abs=1e-3)
    assert rows[0]["test_items"] == rows[1]["test_items"]
    assert rows[0]["row_id"] != rows[1]["row_id"]
    stored = store.rows()
    assert {r["row_id"] for r in stored} == {r["row_id"] for r in rows}
    assert "predictions" not in stored[0]  # the JSON row names its file, never embeds it


def test_storage_rule_topk_float16_and_full_scores_for_multilabel(tmp_path):
    probs = torch.softmax(torch.randn(50, 40), -1)
    y = torch.randint(0, 40, (50,))
    p = TestPredictions.from_scores(probs, y)
    assert p.topk_values.shape == (50, 10) and p.topk_values.dtype == np.float16
    assert p.topk_indices.dtype == np.int16 and p.scores is None
    assert (p.pred == probs.argmax(-1).numpy()).all()
    multi = TestPredictions.from_scores(
        torch.rand(30, 5), (torch.rand(30, 5) > 0.5).to(torch.uint8)
    )
    assert multi.scores.dtype == np.float32 and multi.multilabel
    store = PredictionStore(tmp_path)
    store.write({"row_id": "abc", "test_items": "x", "metric": "top1"}, p)
    back = store.read("abc")
    assert (back.pred == p.pred).all() and (back.labels == p.labels).all()
    assert store.read("missing") is None
    store.path("bad").write_bytes(b"not safetensors")
    assert store.read("bad") is None  # a damaged file is never used


def test_feature_files_name_their_test_items(tmp_path):
    from seabench.probe.inputs import external_feature_set

    fs = blobs()
    for name, t in {
        "tr": fs.train_x, "try": fs.train_y, "te": fs.test_x, "tey": fs.test_y,
    }.items():  # fmt: skip
        torch.save(t, tmp_path / f"{name}.pt")
    a = external_feature_set(*(str(tmp_path / f"{n}.pt") for n in ("tr", "try", "te", "tey")))
    torch.save(fs.test_x + 1, tmp_path / "te2.pt")
    b = external_feature_set(*(str(tmp_path / f"{n}.pt") for n in ("tr", "try", "te2", "tey")))
    assert a.info["test_items"].startswith("files-")
    assert a.info["test_items"] != b.info["test_items"]
