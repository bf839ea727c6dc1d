"""Runs: every run in a sortable table; compare the selected ones, see their mistakes, export, delete."""
import pandas as pd
import streamlit as st

from fer_core.runs import compare
from fer_core.common.emotions import EMOJI, display
from fer_core.figures.runs import confusion_heatmap, per_class_f1_bars, run_colours
from fer_core.figures.training import METRICS, X_AXES, metric_curves
from fer_core.common.paths import checkpoints_dir
from fer_core.common.wording import percent
from fer_core.inference.export import FORMATS, ExportError, export_for_download
from fer_core.inference.photo_evaluation import all_photo_evaluations, evaluation_table
from fer_core.runs.store import ACTIVE, RunError, delete_run, list_runs, read_predictions
from fer_core.runs.notes import MAX_NAME, MAX_NOTES, RunNotes, parse_tags, write_notes
from app_pages.common import PERCENT_POINTS, chart, gallery, in_percent, show_table


GALLERY_LIMIT = 40   # most confident images shown per confusion-matrix cell
MATRICES_PER_ROW = 2  # wide enough for readable class labels
UPSCALE = 3          # 48 px faces shown at 144 px, pixels kept crisp


@st.cache_data(max_entries=32, show_spinner=False)
def cached_predictions(run_dir: str, mtime: float) -> pd.DataFrame:
    """predictions.csv, re-read when its modification time changes."""
    return read_predictions(run_dir)


@st.cache_data(max_entries=2, show_spinner="Reloading the run's test images (once per data source)…")
def cached_run_images(data_config: dict) -> compare.RunImages:
    return compare.load_run_images(data_config)


def delete_selected_run(run_dir: str, run_id: str) -> None:
    """Button callback: delete only when confirmed; the outcome is shown after the rerun."""
    if not st.session_state.get("runs_delete_confirm"):
        st.session_state.runs_delete_message = ("warning", "Tick the confirmation box first: nothing was deleted.")
        return
    try:
        delete_run(run_dir, root=checkpoints_dir())
    except (RunError, OSError) as exc:
        st.session_state.runs_delete_message = ("error", f"{run_id} was not deleted: {exc}")
    else:
        st.session_state.runs_delete_message = ("success", f"Deleted run {run_id}.")
        st.session_state.pop("runs_table", None)  # row positions have shifted: start a fresh selection
    st.session_state.runs_delete_confirm = False


st.title("📊 Runs")
st.caption(f"Every run folder under `{checkpoints_dir()}`: deep and classical runs alike.")

if "runs_delete_message" in st.session_state:
    level, message = st.session_state.pop("runs_delete_message")
    getattr(st, level)(message)

def show_photo_evaluations(records) -> None:
    """Every saved `evaluate --photos` result (the bundled model's and each run's), one in detail."""
    found = all_photo_evaluations(records)
    if not found:
        return
    with st.expander(f"🖼️ Accuracy on real photos ({len(found)} evaluation{'s' if len(found) > 1 else ''})"):
        st.caption("Each made by `python -m fer_core evaluate --run RUN --photos FOLDER`: every photo of a folder "
                   "of class subfolders through the Demo path (find the face, turn it upright, crop, model), "
                   "scored on its largest face. Photos with no face found are counted apart, never scored.")
        show_table(st, in_percent(evaluation_table(found).dropna(axis=1, how="all"), ["accuracy"]), hide_index=True,
                   key="runs_photo_table",
                   column_config={"accuracy": st.column_config.ProgressColumn("accuracy", **PERCENT_POINTS),
                                  "macro-F1": st.column_config.NumberColumn("macro-F1", format="%.3f")})
        usable = [(m, ev) for m, ev in found if "error" not in ev and ev["confusion_matrix"] is not None]
        if not usable:
            return
        labels = [f"{m} on {ev['photos']} ({ev['n_scored']} photos with a face)" for m, ev in usable]
        pick = st.selectbox("Show", range(len(usable)), format_func=labels.__getitem__, key="runs_photo_pick")
        model, ev = usable[pick]
        matrix = pd.DataFrame(ev["confusion_matrix"], index=ev["classes"], columns=ev["classes"])
        chart(st, confusion_heatmap(matrix, title=f"{model}: {percent(ev['accuracy'])} on {ev['n_scored']} photos"),
              key="runs_photo_cm")
        missed = [f"no face found: {n}" for n in ev["no_face"]] + [
            f"unreadable: {u['photo']}: {u['reason']}" for u in ev["unreadable"]]
        if missed:
            st.caption(f"{len(missed)} photo(s) not scored:")
            st.code("\n".join(missed[:200]), language=None, wrap_lines=True)  # reasons are long sentences


records = list_runs()
show_photo_evaluations(records)
if not records:
    st.info("No runs yet. Train a model on the Train page, or from a terminal: `python -m fer_core train "
            "--epochs 5`. Finished runs appear here.")
    st.page_link("app_pages/train.py", label="Go to the Train page", icon="🏋️")
    st.stop()

active = [r for r in records if r.state in ACTIVE]
if active:
    left, right = st.columns([5, 1], vertical_alignment="center")
    left.info(f"⏳ {len(active)} run(s) queued or running; their rows show their progress.")
    right.button("🔄 Refresh", key="runs_refresh", help="Read the run folders again")

# ---------------------------------------------------------------- the table of all runs

# Table selections are row positions: when runs appear or vanish between reruns, move the selection
# so that it still points at the same runs.
listed = [r.run_id for r in records]
previous, state = st.session_state.get("runs_listed_ids"), st.session_state.get("runs_table")
if previous and previous != listed and state:
    st.session_state.runs_table = {"selection": {
        "rows": compare.remap_rows(state["selection"]["rows"], previous, listed), "columns": [], "cells": []}}
st.session_state.runs_listed_ids = listed
if wanted := st.session_state.pop("runs_selected_ids", None):  # "View results" on Train: those runs selected
    st.session_state.runs_table = {"selection": {"rows": [listed.index(i) for i in wanted if i in listed],
                                                 "columns": [], "cells": []}}

table = compare.runs_table(records)
first_evaluated = next((i for i, r in enumerate(records) if compare.has_evaluation(r)), None)
column_config = {
    "run_id": st.column_config.TextColumn("run", pinned=True),
    "name": st.column_config.TextColumn("name", width="medium"),  # sized for names given later, not today's
    "test_accuracy": st.column_config.ProgressColumn("test accuracy", **PERCENT_POINTS),
    "macro_f1": st.column_config.ProgressColumn("macro-F1", format="%.3f", min_value=0.0, max_value=1.0),
    "test_labels": st.column_config.TextColumn("scored on", help="the labels the test figures are on: the "
                                               "dataset's own, or the FER+ majority of ten annotators"),
    **{c: st.column_config.NumberColumn(f"F1 {display(c[len(compare.F1_PREFIX):])}", format="%.2f")
       for c in compare.f1_columns(table)},
    "duration_s": st.column_config.NumberColumn("duration", format="%.0f s"),
    "data": st.column_config.TextColumn("data source"),
}
# The figures first, after the run's name: the table is wider than the page (every class's F1) and scrolls sideways.
FIRST = ["run_id", "name", "test_accuracy", "macro_f1", "architecture", "strategy", "status", "tags"]
st.caption("Tick rows (left edge) to compare runs; click a column header to sort; scroll sideways for "
           "each class's F1.")
event = show_table(
    st, in_percent(table, ["test_accuracy"]), key="runs_table", on_select="rerun", selection_mode="multi-row", hide_index=True,
    column_config=column_config, column_order=FIRST + [c for c in table.columns if c not in FIRST],
    selection_default={"selection": {"rows": [first_evaluated]}} if first_evaluated is not None else None)
selected = [records[i] for i in event.selection.rows if 0 <= i < len(records)]

actions = st.container(horizontal=True)  # each button as wide as its label: equal columns cut the labels
actions.download_button(
    "⬇️ Download the comparison (CSV)", compare.to_csv_bytes(compare.runs_table(selected or records)),
    file_name="runs_comparison.csv", mime="text/csv", key="runs_download_csv", on_click="ignore",
    help="The table above for the selected runs (all runs when none is selected)")
with actions.popover("📦 Export a model", key="runs_export_popover"):
    exportable = [r.run_id for r in records if r.has_checkpoint]
    if not exportable:
        st.caption("Deep runs with a checkpoint export to ONNX or TorchScript; there is none yet.")
    else:
        default = exportable.index(selected[0].run_id) if selected and selected[0].run_id in exportable else 0
        export_id = st.selectbox("Run to export", exportable, index=default, key="runs_export_select")
        fmt = st.radio("Format", FORMATS, horizontal=True, key="runs_export_format",
                       format_func={"onnx": "ONNX", "torchscript": "TorchScript"}.get)
        st.caption("The file takes uint8 48x48 grayscale faces and gives class probabilities: the run's "
                   "preprocessing is inside. Its JSON sidecar names the inputs and classes.")
        if st.button("Export", key="runs_export_button"):
            with st.spinner("Exporting, then checking it against the PyTorch model on 256 faces…"):
                try:
                    st.session_state.runs_export = (export_id, fmt, export_for_download(
                        records[listed.index(export_id)].run_dir, fmt))
                except (ExportError, RunError, OSError) as exc:
                    st.session_state.runs_export = (export_id, fmt, None)
                    st.error(f"{export_id} was not exported: {exc}")
        done = st.session_state.get("runs_export")
        if done and done[:2] == (export_id, fmt) and done[2] is not None:
            download = done[2]
            st.success(f"Checked on {download.result.faces} faces: the largest probability difference from the "
                       f"PyTorch model is {download.result.max_abs_diff:.1e}.")
            st.download_button(f"⬇️ {download.name}", download.data, file_name=download.name,
                               mime="application/octet-stream", key="runs_export_download", on_click="ignore")
            st.download_button(f"⬇️ {download.sidecar_name}", download.sidecar, file_name=download.sidecar_name,
                               mime="application/json", key="runs_export_sidecar", on_click="ignore")
with actions.popover("✏️ Name, tags, notes", key="runs_notes_popover"):
    default = listed.index(selected[0].run_id) if selected else 0
    notes_id = st.selectbox("Run", listed, index=default, key="runs_notes_select")
    notes_record = records[listed.index(notes_id)]
    current = notes_record.notes
    with st.form("runs_notes_form"):
        name = st.text_input("Name", value=current.name, max_chars=MAX_NAME, key=f"runs_notes_name_{notes_id}")
        tags = st.text_input("Tags (comma-separated)", value=", ".join(current.tags), key=f"runs_notes_tags_{notes_id}")
        text = st.text_area("Notes", value=current.notes, max_chars=MAX_NOTES, key=f"runs_notes_text_{notes_id}")
        if st.form_submit_button("Save"):
            try:
                write_notes(notes_record.run_dir, RunNotes(name, parse_tags(tags), text))
            except (ValueError, OSError) as exc:
                st.error(f"Not saved: {exc}")
            else:
                st.session_state.runs_notes_saved = notes_id
                st.rerun()
    if st.session_state.pop("runs_notes_saved", None) == notes_id:
        st.success("Saved in the run's folder (notes.json).")
with actions.popover("🗑️ Delete a run", key="runs_delete_popover"):
    default = listed.index(selected[0].run_id) if selected else 0
    run_id = st.selectbox("Run to delete", listed, index=default, key="runs_delete_select")
    record = records[listed.index(run_id)]
    busy = record.state in ACTIVE
    if busy:
        st.warning(f"{run_id} is still {record.state}: cancel it on the Train page before deleting it.")
    st.checkbox("Yes, delete this run folder and everything in it (checkpoint, metrics, predictions)",
                key="runs_delete_confirm", disabled=busy)
    st.button("Delete", key="runs_delete_button", type="primary", disabled=busy,
              on_click=delete_selected_run, args=(str(record.run_dir), run_id))

if not selected:
    st.info("Select one or more runs in the table to compare them.")
    st.stop()

# ---------------------------------------------------------------- the selected runs

colours = run_colours([r.run_id for r in selected])
for r in selected:
    note = compare.status_note(r)
    if note:
        level, message = note
        getattr(st, level)(f"**{r.run_id}** {message}")
        if r.state == "failed" and r.status.get("traceback"):
            with st.expander(f"Technical details of {r.run_id}'s failure"):
                st.code(r.status["traceback"], language=None)

sources = sorted({compare.data_label(r.config) for r in selected})
if len(sources) > 1:
    st.warning("The selected runs were trained on different data (" + "; ".join(sources) + "): their test "
               "scores are measured on different test sets and are not directly comparable.")
else:
    st.caption(("🧪 " if sources[0].startswith("SYNTHETIC") else "📁 ") + f"Data: {sources[0]}")

if len(selected) > 1:
    st.subheader("What differs")
    differences = compare.config_differences(selected)
    if differences.empty:
        st.caption("The selected runs have the same configuration.")
    else:
        st.caption("The settings whose values are not the same in all the selected runs.")
        show_table(st, differences, hide_index=True, key="runs_differences", width="stretch")

st.subheader("Training curves")
with_metrics = [r for r in selected if r.metrics]
if with_metrics:
    pick, axis = st.columns([3, 2])
    metric = pick.segmented_control("Metric", list(METRICS), default="accuracy", key="runs_curve_metric") or "accuracy"
    x_axis = axis.segmented_control("Against", list(X_AXES), default="epoch", key="runs_curve_x") or "epoch"
    chart(st, metric_curves({r.run_id: r.metrics for r in with_metrics}, metric, x_axis, colours=colours),
          key="runs_curves")
else:
    st.info("No epoch of the selected runs has finished yet: curves appear after the first one.")

evaluated = [r for r in selected if compare.has_evaluation(r)]
if not evaluated:
    st.info("None of the selected runs has a final evaluation yet, so there are no test scores to compare.")
    st.stop()

st.subheader("Strategy table")
st.caption("Model × class-imbalance strategy on the test split. Runs that differ only in their seed are averaged "
           "(mean ± standard deviation in points, over `seeds` runs); with several settings per pair, the one with the "
           "best mean validation score is shown. Val scores are those of the epoch each run kept, chosen on the "
           "metric in 'selected on'. The best value of each score column among runs on the same data is in green "
           "(runs on different data are never ranked); the CSV names each row's run.")
strategies = compare.strategy_table(evaluated)
shown = compare.strategy_display(strategies)
if shown["data"].nunique() == 1:  # one data source: the caption above names it, the column would only widen the table
    shown = shown.drop(columns="data")
show_table(st, compare.highlight_best(shown, strategies), hide_index=True,
           key="runs_strategy_table", column_config={
               "data": st.column_config.TextColumn("data"),
               "test_accuracy": st.column_config.TextColumn("test accuracy"),
               "macro_f1": st.column_config.TextColumn("test macro-F1"),
               "val_accuracy": st.column_config.TextColumn("val accuracy"),
               "val_macro_f1": st.column_config.TextColumn("val macro-F1"),
               "val_metric": st.column_config.TextColumn("selected on"),
               "best_epoch": st.column_config.NumberColumn("best epoch", format="%d"),
           })
st.download_button("⬇️ Strategy table (CSV)", compare.to_csv_bytes(strategies), file_name="strategy_table.csv",
                   mime="text/csv", key="runs_download_strategy", on_click="ignore")

st.subheader("Per-class F1 on the test split")
chart(st, per_class_f1_bars(compare.per_class_f1(evaluated), colours), key="runs_f1_bars")

st.subheader("Confusion matrices")
normalised = st.toggle("Row-normalised (each true class sums to 100 %)", key="runs_cm_normalise")
predictions = {}
for r in evaluated:
    try:
        predictions[r.run_id] = cached_predictions(str(r.run_dir), compare.prediction_mtime(r.run_dir))
    except RunError as exc:
        st.warning(f"**{r.run_id}**: {exc}")
for start in range(0, len(evaluated), MATRICES_PER_ROW):
    row = [r for r in evaluated[start:start + MATRICES_PER_ROW] if r.run_id in predictions]
    for column, r in zip(st.columns(MATRICES_PER_ROW), row):
        matrix = compare.confusion_matrix(predictions[r.run_id], normalise=normalised)
        chart(column, confusion_heatmap(matrix, title=r.run_id, normalised=normalised), key=f"runs_cm_{r.run_id}")

# ---------------------------------------------------------------- misclassified gallery

st.subheader("Misclassified images")
if not predictions:
    st.stop()
gallery_ids = list(predictions)
gallery_run = st.selectbox("Run", gallery_ids, key="runs_gallery_run")
gallery_record = next(r for r in evaluated if r.run_id == gallery_run)
preds = predictions[gallery_run]
counts = compare.confusion_matrix(preds)
classes = list(counts.columns)
worst = compare.most_confused(counts)
st.caption("Click a cell of this matrix (rows: true class, columns: predicted class) to see its test images.")
cell_event = show_table(
    st, counts.set_axis([display(c) for c in classes], axis=0), key="runs_gallery_cell", on_select="rerun",
    selection_mode="single-cell",
    column_config={"_index": st.column_config.TextColumn("true ↓ / predicted →"),
                   **{c: st.column_config.NumberColumn(display(c)) for c in classes}},
    selection_default={"selection": {"cells": [[classes.index(worst[0]), worst[1]]]}} if worst else None)

cells = [c for c in cell_event.selection.cells if 0 <= c[0] < len(classes) and c[1] in classes]
if not cells:
    st.info("Click a cell of the matrix above to see the images in it." if worst else
            "This run classified every test image correctly: click a diagonal cell to see them.")
    st.stop()
true_class, predicted_class = classes[cells[0][0]], cells[0][1]
rows = compare.select_predictions(preds, true_class, predicted_class)
verb = "correctly predicted" if true_class == predicted_class else f"predicted as {display(predicted_class)}"
st.markdown(f"**{len(rows)}** test image(s) of {display(true_class)} {verb}"
            + (f"; the {GALLERY_LIMIT} most confident are shown." if len(rows) > GALLERY_LIMIT else "."))
rows = rows.head(GALLERY_LIMIT)
if len(rows):
    try:
        run_images = cached_run_images(compare.data_config(gallery_record.config))
    except compare.SourceUnavailable as exc:
        st.warning(f"The images cannot be shown: {exc}. Restore the data at its old path to see them; the "
                   "matrices above come from the run's stored predictions and stay valid.")
    else:
        faces, missing = run_images.get(rows["id"].astype(str).tolist(), rows["label"].tolist())
        found = rows[~rows["id"].astype(str).isin(missing)]
        if missing:
            st.warning(f"{len(missing)} image(s) are no longer in the data source (or changed class): "
                       "it was modified after this run.")
        if len(found):
            probabilities = list(zip(found[compare.PROB_PREFIX + predicted_class],
                                     found[compare.PROB_PREFIX + true_class]))
            if true_class == predicted_class:
                captions = [f"{display(predicted_class)} {p:.0%}" for p, _ in probabilities]
            else:  # short enough for a tile: the predicted class's share, then the true class's
                st.caption(f"Under each face: {display(predicted_class)}'s probability, then the true class's "
                           f"({display(true_class)}).")
                icon = {c: EMOJI.get(c) or display(c) for c in (predicted_class, true_class)}
                captions = [f"{icon[predicted_class]} {p:.0%} · true {icon[true_class]} {t:.0%}"
                            for p, t in probabilities]
            tooltips = [f"{i} · predicted {display(predicted_class)} {p:.0%} · true {display(true_class)} {t:.0%}"
                        for i, (p, t) in zip(found["id"].astype(str), probabilities)]
            gallery(list(compare.upscale(faces, UPSCALE)), captions, tooltips=tooltips, tile_px=48 * UPSCALE)
            with st.expander("All class probabilities of these images"):
                show_table(st, found, hide_index=True, key="runs_gallery_probabilities")
