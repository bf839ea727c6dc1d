"""Live training curves (fer_core.figures.training), built from metrics rows without Streamlit."""
from __future__ import annotations

import pytest

from fer_core.figures.training import training_curves
from fer_core.runs.store import append_metrics, read_metrics


def rows(n: int) -> list[dict]:
    return [{"epoch": e, "train_loss": 2.0 / e, "train_acc": 0.3 + 0.1 * e, "val_loss": 2.2 / e,
             "val_acc": 0.25 + 0.1 * e, "val_macro_f1": 0.2 + 0.1 * e, "lr": 1e-3, "epoch_seconds": 1.0}
            for e in range(1, n + 1)]


def traces(fig) -> dict:
    return {t.name: t for t in fig.data}


def test_loss_and_accuracy_curves_per_epoch_in_two_panels():
    fig = training_curves(rows(3))
    t = traces(fig)
    assert set(t) == {"train loss", "val loss", "train accuracy", "val accuracy", "val macro-F1"}
    assert list(t["val accuracy"].x) == [1, 2, 3]
    assert list(t["train loss"].y) == pytest.approx([2.0, 1.0, 2.0 / 3])
    assert t["train loss"].xaxis == "x" and t["train accuracy"].xaxis == "x2"  # loss left, accuracy right
    assert list(fig.layout.yaxis2.range) == [0, 1.02]


def test_a_live_run_is_drawn_in_the_frame_of_its_planned_epochs():
    fig = training_curves(rows(2), epochs=10, best_epoch=2)
    assert list(fig.layout.xaxis.range) == [0.5, 10.5] and list(fig.layout.xaxis2.range) == [0.5, 10.5]
    assert [s.x0 for s in fig.layout.shapes] == [2, 2]  # the best epoch, marked in both panels


def test_missing_values_and_no_rows_draw_without_error():
    partial = rows(2)
    partial[1]["val_loss"] = None
    fig = training_curves(partial)
    assert list(traces(fig)["val loss"].y) == [2.2, None]
    classical = [{"epoch": 1, "train_loss": 0.5, "train_acc": 0.9, "val_loss": None, "val_acc": None,
                  "val_macro_f1": None}]
    assert set(traces(training_curves(classical))) == {"train loss", "train accuracy"}
    assert len(training_curves([], epochs=5).data) == 0


def test_the_curves_of_metrics_read_back_from_a_run_folder(tmp_path):
    for row in rows(4):
        append_metrics(tmp_path, row)
    fig = training_curves(read_metrics(tmp_path), title="simple_cnn")
    assert list(traces(fig)["val accuracy"].x) == [1, 2, 3, 4] and fig.layout.title.text == "simple_cnn"


def test_planned_epochs_below_one_are_refused():
    with pytest.raises(ValueError, match="epochs must be at least 1, got 0"):
        training_curves(rows(1), epochs=0)


def test_every_chart_leaves_room_above_it_for_the_plotly_toolbar():
    from fer_core.figures.layout import TOOLBAR_ROOM, leave_room_for_toolbar
    rows = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.1 / e, "train_acc": 0.5, "val_acc": 0.5,
             "val_macro_f1": 0.4, "lr": 0.001} for e in (1, 2)]
    fig = training_curves(rows)
    fig.update_layout(margin=dict(t=20))
    assert leave_room_for_toolbar(fig).layout.margin.t == TOOLBAR_ROOM  # the subplot titles sit below it
    fig.update_layout(margin=dict(t=120))
    assert leave_room_for_toolbar(fig).layout.margin.t == 120  # a larger margin is kept


def test_metric_curves_draw_the_chosen_metric_per_run_against_epochs_or_wall_time():
    from fer_core.figures.training import metric_curves
    rows = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e, "train_acc": 0.5 + e / 10, "val_acc": 0.4 + e / 10,
             "val_macro_f1": 0.3, "lr": 1e-3 / e, "elapsed_seconds": 7.5 * e} for e in (1, 2, 3)]
    fig = metric_curves({"run-a": rows, "run-b": rows[:2]}, "loss", "wall time")
    assert [(t.name, t.line.dash) for t in fig.data] == [("run-a", "solid"), ("run-a", "dash"), ("run-b", "solid"),
                                                       ("run-b", "dash")]
    assert list(fig.data[0].x) == [7.5, 15.0, 22.5] and fig.layout.xaxis.title.text == "seconds since the run started"
    f1 = metric_curves({"run-a": rows}, "macro-F1")
    assert len(f1.data) == 1 and list(f1.data[0].x) == [1, 2, 3]
    assert metric_curves({"run-a": rows}, "learning rate").layout.yaxis.type == "log"
    with pytest.raises(ValueError, match="unknown metric"):
        metric_curves({"run-a": rows}, "speed")


@pytest.mark.parametrize("epochs,step", [(1, 1), (10, 1), (11, 2), (60, 10), (300, 50)])
def test_the_epoch_axis_ticks_whole_epochs_about_ten_at_most(epochs, step):
    from fer_core.figures.training import metric_curves
    rows = [{"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.1 / e} for e in range(1, epochs + 1)]
    fig = metric_curves({"run": rows}, "loss", "epoch")
    assert fig.layout.xaxis.dtick == step and fig.layout.xaxis.tickformat == "d"
    assert metric_curves({"run": rows}, "loss", "wall time").layout.xaxis.dtick is None
