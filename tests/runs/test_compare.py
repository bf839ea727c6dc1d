"""fer_core.runs.compare on real tiny runs: the runs table, strategy table, confusion matrices, images, CSV."""
from __future__ import annotations

import io

import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from fer_core import runs
from fer_core.runs import compare
from fer_core.training.config import TrainConfig
from fer_core.data import load_dataset
from tests.conftest import train_here

TINY = dict(synthetic_size=300, epochs=1, input_size=24, device="cpu", batch_size=64)


@pytest.fixture(scope="module")
def runs_root(trained_run, tmp_path_factory) -> Path:
    """A checkpoints folder with the shared trained run plus tiny real runs: a second plain simple_cnn
    (same model x strategy pair), a focal one, a HOG+SVM baseline and one that failed (missing data)."""
    root = tmp_path_factory.mktemp("compare_runs")
    shutil.copytree(trained_run, root / trained_run.name)
    train_here(TrainConfig(**TINY), root=root)
    train_here(TrainConfig(**TINY, imbalance="focal", imbalance_options={"gamma": 1.0}), root=root)
    train_here(TrainConfig(synthetic_size=300, arch="hog_svm", classical_options={"svm_components": 100}),
                   root=root)
    train_here(TrainConfig(**{**TINY, "data": str(root / "gone" / "faces.zip")}), root=root)
    return root


@pytest.fixture(scope="module")
def records(runs_root):
    return runs.list_runs(runs_root)


def _by_state(records, state):
    return [r for r in records if r.state == state]


def test_the_fixture_runs_ended_as_expected(records):
    assert len(records) == 5
    assert len(_by_state(records, "completed")) == 4 and len(_by_state(records, "failed")) == 1


def test_runs_table_rows_and_per_class_f1_match_predictions_csv(records):
    table = compare.runs_table(records)
    assert list(table["run_id"]) == [r.run_id for r in records]  # one row per run, in the given order
    classes = _by_state(records, "completed")[0].evaluation["classes"]
    assert compare.f1_columns(table) == [f"f1_{c}" for c in classes]
    for record, (_, row) in zip(records, table.iterrows()):
        assert row["architecture"] == record.config["arch"] and row["status"] == record.state
        assert row["epochs"] == len(runs.read_metrics(record.run_dir))
        if record.state != "completed":
            continue
        preds = runs.read_predictions(record.run_dir)
        classes = compare.prediction_classes(preds)
        assert row["test_accuracy"] == pytest.approx((preds["label"] == preds["prediction"]).mean())
        expected = f1_score(preds["label"], preds["prediction"], labels=classes, average=None, zero_division=0)
        assert [row[f"f1_{c}"] for c in classes] == pytest.approx(expected.tolist(), abs=1e-9)
        assert row["macro_f1"] == pytest.approx(expected.mean())
        assert row["note"] == "" and row["duration_s"] > 0
    focal = table[table["run_id"].str.contains("focal")].iloc[0]
    assert focal["strategy"] == "focal (gamma=1.0)"
    assert table[table["architecture"] == "hog_svm"].iloc[0]["epochs"] == 1


def test_a_failed_run_has_no_scores_and_says_why_in_its_note(records):
    failed = _by_state(records, "failed")[0]
    row = compare.runs_table(records).set_index("run_id").loc[failed.run_id]
    assert math.isnan(row["test_accuracy"]) and math.isnan(row["f1_happy"])
    assert row["note"].startswith("failed: ") and "faces.zip" in row["note"]
    assert compare.status_note(failed)[0] == "error"


def test_status_notes_for_unfinished_runs(tmp_path, records):
    queued = runs.create_run(TrainConfig(**TINY), tmp_path)
    assert compare.status_note(runs.load_run(queued)) == ("info", "queued: waiting for a free slot to start")
    cancelled = runs.create_run(TrainConfig(**TINY), tmp_path)
    runs.write_status(cancelled, "cancelled", error="cancelled before it finished")
    assert compare.status_note(runs.load_run(cancelled))[0] == "warning"
    assert compare.status_note(_by_state(records, "completed")[0]) is None
    assert compare.runs_table([runs.load_run(queued)])["note"].iloc[0].startswith("queued")


def test_per_class_f1_table_has_one_column_per_evaluated_run(records):
    f1 = compare.per_class_f1(records)
    completed = _by_state(records, "completed")
    assert list(f1.columns) == [r.run_id for r in completed]
    assert list(f1.index) == completed[0].evaluation["classes"]
    for r in completed:
        assert f1[r.run_id].tolist() == pytest.approx([r.evaluation["per_class"][c]["f1"] for c in f1.index])


def test_confusion_matrix_counts_sum_to_the_test_predictions_and_rows_normalise(records):
    for record in _by_state(records, "completed"):
        preds = runs.read_predictions(record.run_dir)
        counts = compare.confusion_matrix(preds)
        assert counts.to_numpy().sum() == len(preds) == record.evaluation["n"]
        assert counts.to_numpy().tolist() == record.evaluation["confusion_matrix"]
        assert np.trace(counts.to_numpy()) == (preds["label"] == preds["prediction"]).sum()
        rates = compare.confusion_matrix(preds, normalise=True)
        assert rates.sum(axis=1).to_numpy() == pytest.approx(np.ones(len(rates)))


def test_a_class_without_test_images_gets_a_blank_normalised_row(records):
    preds = runs.read_predictions(_by_state(records, "completed")[0].run_dir)
    preds = preds[preds["label"] != "disgust"]
    rates = compare.confusion_matrix(preds, normalise=True)
    assert rates.loc["disgust"].isna().all()
    assert rates.drop(index="disgust").sum(axis=1).to_numpy() == pytest.approx(np.ones(len(rates) - 1))


def test_confusion_matrix_refuses_a_table_that_is_not_predictions():
    with pytest.raises(ValueError, match="not a predictions table"):
        compare.confusion_matrix(pd.DataFrame({"id": ["a"], "label": ["happy"]}))


def test_strategy_table_has_one_row_per_data_model_and_strategy(records):
    """The two plain simple_cnn runs learned from different synthetic sets (1,500 and 300 faces): their
    test sets differ, so they are two rows, never one pair ranked on validation."""
    table = compare.strategy_table(records)
    assert tuple(table.columns) == compare.STRATEGY_COLUMNS
    assert list(zip(table["data"], table["model"], table["strategy"])) == [
        ("SYNTHETIC (1500 faces)", "simple_cnn", "none"), ("SYNTHETIC (300 faces)", "hog_svm", "none"),
        ("SYNTHETIC (300 faces)", "simple_cnn", "focal (gamma=1.0)"), ("SYNTHETIC (300 faces)", "simple_cnn", "none")]
    plain = next(r for r in _by_state(records, "completed") if r.config["arch"] == "simple_cnn"
                 and r.config["imbalance"] == "none" and r.config["synthetic_size"] == 300)
    row = table.iloc[3]
    assert row["runs"] == 1 and row["run_id"] == plain.run_id
    assert row["best_val_score"] == plain.evaluation["best_val_score"]
    assert row["test_accuracy"] == plain.evaluation["accuracy"] and row["epochs"] == len(plain.metrics)
    svm = table.iloc[1]
    assert svm["val_metric"] == "val_acc" and 0 <= svm["best_val_score"] <= 1
    assert compare.strategy_table([]).empty


def test_repeats_that_differ_only_in_seed_give_mean_and_sd(trained_run, tmp_path):
    """Three seeds of one setting become one row with mean ± sd; another setting of the same pair
    with a better single test score but a worse val score does not replace them."""
    import json
    scores = {0: (0.60, 0.50, 0.70), 1: (0.64, 0.54, 0.72), 2: (0.62, 0.52, 0.71), 3: (0.99, 0.99, 0.10)}
    for seed, (acc, f1, val) in scores.items():
        run_dir = tmp_path / f"run-{seed}"
        shutil.copytree(trained_run, run_dir)
        config = json.loads((run_dir / "config.json").read_text())
        config.update(seed=seed, device="cpu" if seed else "auto", epochs=config["epochs"] + (seed == 3))
        (run_dir / "config.json").write_text(json.dumps(config))
        evaluation = json.loads((run_dir / "evaluation.json").read_text())
        evaluation.update(accuracy=acc, macro_f1=f1, best_val_score=val)
        (run_dir / "evaluation.json").write_text(json.dumps(evaluation))
    row = compare.strategy_table(runs.list_runs(tmp_path)).iloc[0]
    assert row["seeds"] == 3 and row["runs"] == 4 and row["run_id"] == "run-1"
    assert row["test_accuracy"] == pytest.approx(0.62) and row["test_accuracy_sd"] == pytest.approx(0.02)
    assert row["macro_f1"] == pytest.approx(0.52) and row["best_val_score"] == pytest.approx(0.71)
    assert compare.mean_sd_text(row["test_accuracy"], row["test_accuracy_sd"], percent=True) == "62.0% ± 2.0"
    assert compare.mean_sd_text(0.5, math.nan) == "0.500"


def test_misclassified_selection_returns_exactly_the_images_of_that_pair(records):
    record = next(r for r in records if "focal" in r.run_id)  # 1 epoch: plenty of mistakes
    preds = runs.read_predictions(record.run_dir)
    counts = compare.confusion_matrix(preds)
    true_class, predicted_class = compare.most_confused(counts)
    assert true_class != predicted_class and counts.loc[true_class, predicted_class] > 0
    rows = compare.select_predictions(preds, true_class, predicted_class)
    expected = preds[(preds["label"] == true_class) & (preds["prediction"] == predicted_class)]
    assert sorted(rows["id"]) == sorted(expected["id"]) and len(rows) == counts.loc[true_class, predicted_class]
    assert rows[f"prob_{predicted_class}"].is_monotonic_decreasing
    assert len(compare.select_predictions(preds, true_class, predicted_class, limit=1)) == 1

    images = compare.load_run_images(record.config)
    faces, missing = images.get(rows["id"].tolist(), rows["label"].tolist())
    assert missing == [] and faces.shape == (len(rows), 48, 48) and faces.dtype == np.uint8
    ds = load_dataset(None, synthetic_size=record.config["synthetic_size"], seed=record.config["seed"])
    position = {i: k for k, i in enumerate(ds.ids.tolist())}
    for face, image_id in zip(faces, rows["id"]):
        assert np.array_equal(face, ds.images[position[image_id]])


def test_select_predictions_refuses_unknown_classes(records):
    preds = runs.read_predictions(_by_state(records, "completed")[0].run_dir)
    with pytest.raises(ValueError, match="unknown predicted class 'joy'; valid: angry"):
        compare.select_predictions(preds, "happy", "joy")


def test_most_confused_is_none_for_a_perfect_matrix():
    perfect = pd.DataFrame(np.diag([3, 4]), index=["happy", "sad"], columns=["happy", "sad"])
    assert compare.most_confused(perfect) is None
    perfect.loc["sad", "happy"] = 1
    assert compare.most_confused(perfect) == ("sad", "happy")


def test_run_images_report_ids_that_are_gone_or_changed_class(records):
    record = _by_state(records, "completed")[0]
    images = compare.load_run_images(record.config)
    first, second = images.ids[:2]
    faces, missing = images.get([first, "no-such-id", second], [images.labels[0], "happy", "not-its-class"])
    assert len(faces) == 1 and missing == ["no-such-id", second]


def test_images_of_a_run_whose_data_is_gone_raise_a_clear_error(records):
    failed = _by_state(records, "failed")[0]
    with pytest.raises(compare.SourceUnavailable, match="faces.zip.*cannot be loaded"):
        compare.load_run_images(failed.config)


def test_upscale_keeps_pixels_crisp_and_refuses_bad_factors():
    img = np.arange(4, dtype=np.uint8).reshape(1, 2, 2)
    big = compare.upscale(img, 3)
    assert big.shape == (1, 6, 6) and (big[0, :3, :3] == 0).all() and (big[0, 3:, 3:] == 3).all()
    with pytest.raises(ValueError, match="whole number >= 1"):
        compare.upscale(img, 0)


def read_back(data: bytes) -> pd.DataFrame:
    """A downloaded table as a spreadsheet user reads it: missing scores NaN, empty notes empty strings."""
    table = pd.read_csv(io.BytesIO(data), keep_default_na=False, na_values=[""])
    for text in ("note", "name", "tags"):  # text columns: an empty cell is "" (not a missing number)
        if text in table.columns:
            table[text] = table[text].map(lambda v: "" if pd.isna(v) else str(v))
    return table


def test_comparison_csv_round_trips(records):
    table = compare.runs_table(records)
    pd.testing.assert_frame_equal(read_back(compare.to_csv_bytes(table)), table, check_dtype=False)
    strategies = compare.strategy_table(records)
    pd.testing.assert_frame_equal(read_back(compare.to_csv_bytes(strategies)), strategies, check_dtype=False)


def test_data_labels_mark_synthetic_data(records):
    assert compare.data_label(_by_state(records, "completed")[0].config).startswith("SYNTHETIC (")
    assert compare.data_label({"data": "/x/fer.zip", "class_set": "no_disgust"}) == "/x/fer.zip [no_disgust]"


def test_remap_rows_follows_the_selected_runs_when_the_listing_changes():
    old = ["run-c", "run-b", "run-a"]
    assert compare.remap_rows([0, 2], old, ["run-d", "run-c", "run-b", "run-a"]) == [1, 3]  # a new run on top
    assert compare.remap_rows([0, 1], old, ["run-c", "run-a"]) == [0]  # run-b was deleted
    assert compare.remap_rows([5], old, old) == []  # a stale position selects nothing


def test_the_strategy_table_gives_val_accuracy_and_val_macro_f1_their_own_columns_and_marks_the_best(trained_run):
    import copy

    from fer_core.runs import compare as cmp
    record = runs.load_run(trained_run)
    other = copy.deepcopy(record)
    other.config["imbalance"] = "focal"
    other.evaluation["selected_on"] = "val_macro_f1"  # selected on another metric than the first run
    other.evaluation["accuracy"] = record.evaluation["accuracy"] - 0.1
    table = cmp.strategy_table([record, other])
    kept = next(m for m in record.metrics if m["epoch"] == record.evaluation["best_epoch"])
    row = table[table["strategy"] == "none"].iloc[0]
    assert row["val_accuracy"] == pytest.approx(kept["val_acc"]) and row["val_macro_f1"] == pytest.approx(kept["val_macro_f1"])
    shown = cmp.strategy_display(table)
    assert "best_val_score" not in shown.columns and {"val_accuracy", "val_macro_f1", "val_metric"} <= set(shown.columns)
    assert "run_id" not in shown.columns and "run_id" in table.columns  # on the page it fits; the CSV has it
    best = cmp.best_in_column(table)
    assert best["test_accuracy"] == [int(table.index[table["strategy"] == "none"][0])]
    assert shown["val_accuracy"].iloc[0].endswith("%") and "." in shown["val_macro_f1"].iloc[0]  # as test's
    html = cmp.highlight_best(shown, table).to_html()
    assert html.count("font-weight: bold") >= 1


def test_config_differences_lists_only_the_settings_that_differ(trained_run):
    import copy

    from fer_core.runs import compare as cmp
    a = runs.load_run(trained_run)
    b = copy.deepcopy(a)
    b.run_dir = trained_run.parent / "other-run"
    b.config["lr"] = 0.01
    b.config.pop("seed")
    diff = cmp.config_differences([a, b]).set_index("setting")
    assert list(diff.index) == ["lr", "seed"]
    assert diff.loc["lr", "other-run"] == "0.01" and diff.loc["seed", "other-run"] == "(not set)"
    assert cmp.config_differences([a, copy.deepcopy(a)]).empty


def test_config_differences_name_the_data_and_show_no_raw_null(trained_run):
    """A synthetic run beside a FER2013 run: 'data' and 'synthetic_size' read as words, not JSON null."""
    import copy

    from fer_core.runs import compare as cmp
    synthetic = runs.load_run(trained_run)
    real = copy.deepcopy(synthetic)
    real.run_dir = trained_run.parent / "real-run"
    real.config.update(data="/data/fer2013.zip", synthetic_size=None)
    diff = cmp.config_differences([synthetic, real]).set_index("setting")
    assert diff.loc["data"].tolist() == ["synthetic faces", "/data/fer2013.zip"]
    assert diff.loc["synthetic_size", "real-run"] == "–"
    assert "null" not in diff.to_string()


def test_runs_on_different_data_are_never_ranked_against_each_other(trained_run, tmp_path):
    """The synthetic run's high score is not the green best over FER2013 runs, nor merged with the FER2013
    run of the same model and strategy: the best of each column is chosen among runs on the same data."""
    import json

    from fer_core.runs import compare as cmp
    for name, data, strategy, accuracy in (("synthetic", None, "none", 0.97), ("fer-none", "/data/fer2013.zip",
                                            "none", 0.60), ("fer-focal", "/data/fer2013.zip", "focal", 0.62)):
        run_dir = tmp_path / name
        shutil.copytree(trained_run, run_dir)
        config = json.loads((run_dir / "config.json").read_text())
        config.update(data=data, imbalance=strategy, synthetic_size=None if data else config["synthetic_size"])
        (run_dir / "config.json").write_text(json.dumps(config))
        evaluation = json.loads((run_dir / "evaluation.json").read_text())
        evaluation.update(accuracy=accuracy)
        (run_dir / "evaluation.json").write_text(json.dumps(evaluation))
    records = runs.list_runs(tmp_path)
    table = cmp.strategy_table(records)
    assert sorted(zip(table["data"], table["strategy"])) == [
        ("/data/fer2013.zip", "focal"), ("/data/fer2013.zip", "none"), ("SYNTHETIC (1500 faces)", "none")]
    focal = int(table.index[table["strategy"] == "focal"][0])
    assert cmp.best_in_column(table)["test_accuracy"] == [focal]  # not the synthetic 97%
    html = cmp.highlight_best(cmp.strategy_display(table), table).to_html()
    synthetic = int(table.index[table["data"].str.startswith("SYNTHETIC")][0])
    green = html.split("</style>")[0]  # the styled cells are listed in the style sheet
    assert f"_row{focal}_col" in green and f"_row{synthetic}_col" not in green


def test_tables_say_which_labels_a_run_is_scored_on():
    plain = {"data": "/d/fer2013.zip", "imbalance": "none"}
    fer2013 = {**plain, "votes": "/d/ferplus.csv", "label_mode": "fer2013"}
    majority = {**plain, "votes": "/d/ferplus.csv", "label_mode": "majority"}
    soft = {**plain, "votes": "/d/ferplus.csv", "label_mode": "distribution"}
    assert [compare.test_labels(c) for c in (plain, fer2013, majority, soft)] == \
        ["source labels", "source labels", "FER+ majority", "FER+ majority"]
    # another test set, another data label: the strategy table never sets them against each other
    assert compare.data_label(plain) == compare.data_label(fer2013) == "/d/fer2013.zip"
    assert compare.data_label(majority) == compare.data_label(soft) == "/d/fer2013.zip · FER+ majority"
    assert compare.strategy_label(soft) == "none · vote distribution" and compare.strategy_label(majority) == "none"
