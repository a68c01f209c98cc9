"""``benchmarks/inference.py`` cannot rot: its ``--smoke`` mode runs every row (Lightning, Keras,
onnxruntime, g2p_en) on a tiny random model and 20 CMUdict test words, and these tests read the
result files it wrote."""

from __future__ import annotations

import json
from typing import Any

import pytest

from benchmarks import common, inference

SETTINGS = {(strategy, batch) for strategy, batch in inference.SETTINGS}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    results = tmp_path_factory.mktemp("inference-results")
    patch = pytest.MonkeyPatch()
    patch.setattr(common, "RESULTS", results)
    patch.setattr(inference, "RESULTS", results)
    try:
        path = inference.main(["--smoke", "--keras-backends", "torch", "--threads", "1"])
    finally:
        patch.undo()
    assert path == results / "inference_smoke.json"
    return json.loads(path.read_text()), (results / "inference_smoke.md").read_text()


def rows(data: dict[str, Any], runner: str) -> dict[tuple[str, int], dict[str, Any]]:
    return {(r["strategy"], r["batch_size"]): r for r in data["rows"] if r["runner"] == runner}


@pytest.mark.slow
def test_every_project_row_decodes_every_setting_of_the_same_words(smoke: tuple[dict[str, Any], str]) -> None:
    data, _ = smoke
    assert not [r for r in data["rows"] if "error" in r]
    for runner in ("lightning", "keras-torch", "onnxruntime"):
        measured = rows(data, runner)
        assert set(measured) == SETTINGS, runner
        for row in measured.values():
            assert row["words"] == 20 and row["words_per_s"] > 0 and 0 <= row["wer"] <= 100


def test_the_three_project_rows_load_one_model_and_agree(smoke: tuple[dict[str, Any], str]) -> None:
    data, _ = smoke
    lightning = rows(data, "lightning")
    for runner in ("keras-torch", "onnxruntime"):
        for key, row in rows(data, runner).items():
            assert row["wer"] == lightning[key]["wer"] and row["per"] == pytest.approx(lightning[key]["per"])
            if key[0] == "greedy":  # the same weights: the same argmax at every step
                assert row["differs_from_lightning"] == 0, (runner, key)
            assert row["speed_vs_lightning"] == pytest.approx(row["words_per_s"] / lightning[key]["words_per_s"])


def test_g2p_en_runs_its_network_greedy_at_batch_1_only(smoke: tuple[dict[str, Any], str]) -> None:
    data, table = smoke
    peer = rows(data, "g2p_en")
    assert set(peer) == SETTINGS
    assert {key for key, row in peer.items() if "na" in row} == SETTINGS - {("greedy", 1)}
    # its pretrained network, stress digits removed: far better than a random model, and scored
    # against stress-free references (with the digits left in, every word with a vowel would be wrong)
    assert peer[("greedy", 1)]["wer"] < 80
    assert "| g2p_en | greedy | 256 |  | n/a (no batching) |" in table
    assert data["meta"]["versions"]["g2p_en"]["g2p_en"] == "2.1.0"
    assert data["meta"]["versions"]["g2p_en"]["parameters"] == 834_890  # GRU 256, no attention


def test_results_name_threads_versions_and_sizes(smoke: tuple[dict[str, Any], str]) -> None:
    data, table = smoke
    meta = data["meta"]
    assert meta["threads"] == 1 and meta["test_words"] == 20
    versions = meta["versions"]
    assert versions["lightning"]["threads"] == versions["keras-torch"]["threads"] == 1
    assert versions["onnxruntime"]["onnxruntime"] and versions["lightning"]["torch"]
    assert versions["keras-torch"]["backend"] == "torch"
    assert meta["parameters"] > 0 and "parameters)" in table
    sizes = meta["sizes"]
    assert set(sizes["model"]["files"]) == {"config.json", "vocab.json", "tokenizer_config.json", "model.safetensors"}
    assert {"encoder.onnx", "decoder.onnx"} <= set(sizes["onnx_export"]["files"])
    assert "Sizes: model directory" in table and "onnxruntime is" in table


def test_spread_picks_words_across_the_alphabetical_list() -> None:
    assert inference.spread(12533, 3) == [0, 4177, 8355]
    assert inference.spread(5, 0) == inference.spread(5, 9) == [0, 1, 2, 3, 4]


def test_a_failed_row_is_kept_in_the_table_with_its_reason() -> None:
    failed = {"runner": "onnxruntime", "strategy": "greedy", "batch_size": 1, "error": "Traceback\nValueError: bad"}
    meta = {"device": "cpu", "tag": "t", "config": "c", "threads": 1, "test_words": 20}
    assert "| onnxruntime | greedy | 1 |  | failed: ValueError: bad |" in inference.results_table([failed], [], meta)
