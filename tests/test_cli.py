"""`python -m fashion_viz`: predict, evaluate, info, train, exit codes, no tracebacks."""

import json
import os
import subprocess
import sys
import pytest

import numpy as np
from conftest import ROOT, write_png

from fashion_viz import CLASS_NAMES


def in_process(capsys, *args) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``fashion_viz.cli.main(args)`` in this process: the same commands without
    the few seconds a new process spends importing TensorFlow (the subprocess tests check real exits and stderr)."""
    from fashion_viz.cli import main

    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_cli(*args, env=None, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "fashion_viz", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def test_predict_json_matches_the_model_on_test_pngs(tmp_path, fmnist, engine, capsys):
    indices = [0, 1, 2, 42, 999, 5000]
    paths = [write_png(tmp_path / f"test_{i}.png", fmnist.x_test[i]) for i in indices]
    bad = tmp_path / "broken.png"
    bad.write_text("not an image")
    code, out, err = in_process(capsys, "predict", "--json", *map(str, paths), str(bad))
    assert code == 1, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == len(indices) + 1
    expected = engine.probabilities(fmnist.x_test[indices])
    for line, probs in zip(lines, expected):
        assert line["index"] == int(probs.argmax()) and line["label"] == CLASS_NAMES[line["index"]]
        got = np.array([line["probabilities"][name] for name in CLASS_NAMES])
        assert np.allclose(got, probs, atol=1e-6)
    assert lines[-1]["path"] == str(bad) and "not an image" in lines[-1]["error"]


@pytest.mark.slow
def test_predict_all_good_exits_zero_and_usage_error_exits_two(tmp_path, sample):
    path = write_png(tmp_path / "boot.png", sample.images[-1])
    ok = run_cli("predict", str(path))
    assert ok.returncode == 0 and "Ankle boot" in ok.stdout
    assert run_cli("predict").returncode == 2
    assert run_cli("frobnicate").returncode == 2


def test_corrupt_model_is_one_sentence_not_a_traceback(tmp_path, model_copy, sample):
    data = bytearray(model_copy.read_bytes())
    data[1000] ^= 0xFF
    model_copy.write_bytes(bytes(data))
    path = write_png(tmp_path / "x.png", sample.images[0])
    result = run_cli("predict", "--model", str(model_copy), str(path))
    assert result.returncode == 1
    assert "does not match its model card" in result.stderr and "Traceback" not in result.stderr


def test_evaluate_json_reports_the_shipped_accuracy(fmnist, shipped, capsys):
    code, out, err = in_process(capsys, "evaluate", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["test_accuracy"] >= 0.925
    assert report["test_accuracy"] == shipped.card.test_accuracy
    assert set(report["per_class_accuracy"]) == set(CLASS_NAMES)


@pytest.mark.slow
def test_info_reports_data_and_models(fmnist):
    result = run_cli("info", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["dataset"]["verified"] is True
    assert any(m["path"].endswith("fashion_cnn.keras") and m["matches_card"] for m in info["models"])


@pytest.mark.slow
def test_info_agrees_with_the_loader_on_an_interrupted_save(tmp_path, model_copy):
    """A model renamed in before its card (a save killed in between) loads; info must not call it failing."""
    from fashion_viz.storage import card_path

    folder = model_copy.parent / "trained"
    folder.mkdir()
    path = folder / "fashion_cnn-x.keras"
    model_copy.rename(path)
    card_path(model_copy).rename(folder / f".{path.stem}.json.next.1-ab")
    result = run_cli("info", "--json", env={"FASHION_VIZ_MODELS_DIR": str(folder)})
    assert result.returncode == 0, result.stderr
    entry = [m for m in json.loads(result.stdout)["models"] if m["path"] == str(path.resolve())]
    assert entry, "the recoverable model is listed"
    assert entry[0]["matches_card"] is True and "error" not in entry[0]


@pytest.mark.slow
def test_train_writes_a_new_model_and_card(tmp_path, fmnist):
    out = tmp_path / "mini.keras"
    result = run_cli("train", "--epochs", "2", "--train-limit", "5000", "--weight-decay", "0.02", "--out", str(out), "--no-views")
    assert result.returncode == 0, result.stderr
    assert not out.with_suffix(".units.npz").exists(), "--no-views skips the Units/Map preparation"
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["epochs_run"] == 2 and 0.6 < card["test_accuracy"] < 1, "it learned (chance is 10 %)"
    assert card["config"]["weight_decay"] == 0.02 and "AdamW (decoupled weight decay 0.02)" in card["schedule"], "the override reaches the run"
    assert "Test accuracy" in result.stdout
    lines = result.stderr.splitlines()
    assert [line.split(":")[0] for line in lines if line.startswith("Epoch ")] == ["Epoch 1/2", "Epoch 2/2"], "one line per epoch in a log"
    assert "\r" not in result.stderr and "val_accuracy" in lines[-1]
