"""fer_core.figures.runs on the shared trained run: curves, confusion heatmaps, per-class F1 bars."""
from __future__ import annotations

import numpy as np
import pytest

from fer_core import runs
from fer_core.runs import compare
from fer_core.common.emotions import display
from fer_core.figures.runs import confusion_heatmap, per_class_f1_bars, run_colours
from fer_core.figures.training import training_curves


@pytest.fixture(scope="module")
def record(trained_run):
    return runs.load_run(trained_run)


def test_run_colours_are_distinct_and_stable():
    labels = [f"run{i}" for i in range(10)]
    colours = run_colours(labels)
    assert len(set(colours.values())) == 10
    assert run_colours(labels[:3]) == {k: colours[k] for k in labels[:3]}


def test_training_curves_overlay_train_and_val_loss_and_accuracy_per_run(record):
    short = record.metrics[:3]
    fig = training_curves({"a": record.metrics, "b": short}, colours={"a": "#111111", "b": "#222222"})
    assert len(fig.data) == 8  # 2 runs x (loss, accuracy) x (train, val)
    for trace in fig.data:
        rows = record.metrics if trace.name == "a" else short
        key = ("train" if trace.line.dash == "solid" else "val") + ("_loss" if trace.xaxis == "x" else "_acc")
        assert list(trace.x) == [r["epoch"] for r in rows]
        assert list(trace.y) == pytest.approx([r[key] for r in rows])
        assert trace.line.color == {"a": "#111111", "b": "#222222"}[trace.name]
    assert [t.name for t in fig.data if t.showlegend] == ["a", "b"]  # one legend entry per run
    assert [a.text for a in fig.layout.annotations] == ["loss", "accuracy"]


def test_confusion_heatmap_shows_counts_with_display_names(record):
    matrix = compare.confusion_matrix(runs.read_predictions(record.run_dir))
    fig = confusion_heatmap(matrix, title=record.run_id)
    heat = fig.data[0]
    assert np.array_equal(np.asarray(heat.z), matrix.to_numpy())
    assert list(heat.x) == [display(c) for c in matrix.columns] and list(heat.y) == [display(c) for c in matrix.index]
    assert [list(r) for r in heat.text] == [[str(v) for v in row] for row in matrix.to_numpy()]
    assert fig.layout.yaxis.autorange == "reversed" and fig.layout.title.text == record.run_id


def test_row_normalised_heatmap_shows_percentages_and_blank_empty_rows(record):
    preds = runs.read_predictions(record.run_dir)
    matrix = compare.confusion_matrix(preds[preds["label"] != "disgust"], normalise=True)
    fig = confusion_heatmap(matrix, normalised=True)
    heat = fig.data[0]
    assert heat.zmax == 1 and list(heat.text[1]) == [""] * len(matrix.columns)  # no disgust images: blank row
    happy = list(matrix.index).index("happy")
    assert heat.text[happy][happy] == f"{100 * matrix.loc['happy', 'happy']:.0f}%"


def test_per_class_f1_bars_group_by_class_with_one_bar_per_run(record, tmp_path):
    f1 = compare.per_class_f1([record])
    f1["copy"] = f1[record.run_id] / 2
    fig = per_class_f1_bars(f1)
    assert fig.layout.barmode == "group" and [t.name for t in fig.data] == [record.run_id, "copy"]
    assert list(fig.data[0].x) == [display(c) for c in record.evaluation["classes"]]
    assert list(fig.data[0].y) == pytest.approx([record.evaluation["per_class"][c]["f1"]
                                                 for c in record.evaluation["classes"]])
    assert fig.data[0].marker.color != fig.data[1].marker.color
