"""Explain: which parts of a face drove a run's prediction (Grad-CAM and friends)."""
import hashlib

import numpy as np
import streamlit as st

from fer_core.data.decode import ImageDecodeError
from fer_core.common.emotions import display
from fer_core.explain import CAM_METHODS, FAITHFULNESS_METRICS, compare_methods, explain_faces, faithfulness, overlay
from fer_core.inference.faces import about_detector, draw_boxes, find_faces
from fer_core.figures.predictions import method_scores, probability_bars
from fer_core.inference.predictor import usable_runs
from app_pages.common import active_dataset, chart, dataset_label, gallery, load_predictor, run_label, uploaded_bytes
from fer_core.inference.live import TOO_SLOW_FOR_LIVE
from app_pages.live_camera import live_camera, live_status


IMAGE_TYPES = ["png", "jpg", "jpeg", "bmp", "gif", "tif", "tiff", "webp"]
PREDICTED = "predicted class"

st.title("🔍 Explain a prediction")
st.caption("Upload photos, take a webcam snapshot or pick a dataset face. Faces are found, classified, "
           "and a saliency map shows which pixels the model's answer rests on.")

records = usable_runs(deep_only=True, include_builtin=True)
if not records:
    st.info("No trained model yet. Train one on the Train page (it shows the run's progress), then come back here.")
    st.page_link("app_pages/train.py", label="Go to Train", icon="🏋️")
    st.stop()

labels = {str(r.run_dir): run_label(r) for r in records}
run_dir = st.selectbox("Run", list(labels), format_func=labels.get, key="explain_run")
predictor, error = load_predictor(run_dir)
if error:
    st.error(error)
    st.stop()
st.caption(f"Answers come from {predictor.describe()}. {about_detector()}")
if predictor.provenance["synthetic"]:
    st.warning("This model learned from synthetic drawn faces: on real photos its answers and maps are often "
               "wrong. Choose a model trained on real faces (the built-in one, or your own FER2013 run).")

left, middle, right = st.columns(3)
method = left.selectbox("Method", CAM_METHODS.names(), key="explain_method",
                        help="; ".join(CAM_METHODS.get(n).description for n in CAM_METHODS.names()))
target_choice = middle.selectbox("Explain the class", [PREDICTED, *predictor.classes], key="explain_target",
                                 format_func=lambda c: c if c == PREDICTED else display(c))
others = right.multiselect("Side by side with runs", [d for d in labels if d != run_dir], format_func=labels.get,
                           key="explain_compare", help="Explain the same faces with other runs' models")
target = None if target_choice == PREDICTED else target_choice

source = st.radio("Input", ["Upload", "Webcam snapshot", "Live camera", "Dataset sample"], horizontal=True,
                  key="explain_source")
inputs: list[tuple[str, object]] = []  # (name, image bytes or a 48x48 face)
if source == "Upload":
    uploads = st.file_uploader("Face photos (one or many)", type=IMAGE_TYPES, accept_multiple_files=True,
                               key="explain_upload")
    for upload in uploads or []:
        data, problem = uploaded_bytes(upload)
        if problem:
            st.error(problem)
        else:
            inputs.append((upload.name, data))
elif source == "Webcam snapshot":
    snapshot = st.camera_input("Webcam snapshot", key="explain_camera")
    if snapshot is not None:
        inputs.append(("webcam snapshot", snapshot.getvalue()))
elif source == "Live camera":
    overlay_on = st.toggle(f"Lay the {method} map over each face", value=predictor.is_deep, key="explain_live_overlay",
                           disabled=not predictor.is_deep,
                           help="Costs a backward pass per face and frame: the stream runs slower with it")
    st.caption("Press START and allow the camera. Boxes, labels (averaged over the last second) and maps are "
               "drawn on the stream itself; the video stays on this computer.")
    if overlay_on and method in TOO_SLOW_FOR_LIVE:
        st.info(f"{method} is too slow for live video; the stream shows {TOO_SLOW_FOR_LIVE[method]} maps instead.")
    live_status(live_camera("explain_live", predictor, saliency=method if overlay_on else None, target=target))
    st.stop()
else:
    ds, ds_error = active_dataset()
    if ds_error:
        st.error(ds_error)
    else:
        st.caption(f"From the active dataset: {dataset_label(ds)}")
        c1, c2, c3 = st.columns([2, 2, 1])
        split = c1.selectbox("Split", ds.split_names(), index=len(ds.split_names()) - 1, key="explain_split")
        part = ds.split(split)
        cls = c2.selectbox("True class", part.classes, format_func=display, key="explain_class")
        if c3.button("🎲 Another face", key="explain_reroll"):
            st.session_state.explain_seed = st.session_state.get("explain_seed", 0) + 1
        candidates = np.flatnonzero(part.labels == part.classes.index(cls))
        if len(candidates):
            pick = np.random.default_rng(st.session_state.get("explain_seed", 0)).choice(candidates)
            inputs.append((f"{part.ids[pick]} (true: {display(cls)})", part.images[pick]))
        else:
            st.warning(f"The {split} split has no {display(cls)} faces; pick another class or split.")

if not inputs:
    st.info("Add an image above to see the model's answer and its saliency map.")
    st.stop()


def explain_or_message(pred, faces):
    try:
        return explain_faces(pred.model, pred.card, faces, method=method, target=target), None
    except ValueError as exc:
        return None, str(exc)


found_faces = []  # the faces of every input, for scoring the methods at the end
for name, image in inputs:
    st.divider()
    st.subheader(name)
    try:
        with st.spinner("Finding faces…"):
            search = find_faces(image, detect=not isinstance(image, np.ndarray))
    except (ImageDecodeError, ValueError) as exc:
        st.error(f"{name}: {exc}")
        continue
    if isinstance(image, np.ndarray):
        st.caption("A face from the dataset, 48×48 as the model was trained on: used as it is, no face detection.")
    elif search.whole_image:
        st.caption(search.message[0].upper() + search.message[1:] + ".")
    else:
        st.image(draw_boxes(image, [f.box for f in search.faces], [str(i + 1) for i in range(len(search.faces))]),
                 caption=f"{len(search.faces)} face(s) found", width=480)
    faces = np.stack([f.face for f in search.faces])
    found_faces.append(faces)
    with st.spinner(f"Computing {method} maps…"):
        result, problem = explain_or_message(predictor, faces)
    if problem:
        st.error(problem)
        continue
    scores = faithfulness(predictor.model, predictor.card, faces, result.heatmaps, result.targets, metric="road")
    other_results = {}  # run folder -> Explanation of these faces by that run's model
    for other_dir in others:
        other, other_error = load_predictor(other_dir)
        other_result, other_problem = (None, other_error) if other_error else explain_or_message(other, faces)
        if other_problem:
            st.warning(f"{labels[other_dir]}: {other_problem}")
        else:
            other_results[other_dir] = (other, other_result)
    for i, face in enumerate(faces):
        if len(faces) > 1:
            st.markdown(f"**Face {i + 1}**")
        left, right = st.columns([1, 1])
        tiles = [face, overlay(face, result.heatmaps[i])]
        numbered = bool(other_results)  # several runs' maps: numbered, the runs named in a legend below
        captions = ["face (48×48)", f"{'(1) ' if numbered else ''}{method} for {display(result.target_names[i])}"]
        tooltips = ["the face the model sees, 48×48 pixels", f"{captions[1]}, by {labels[run_dir]}"]
        legend = [f"(1) {labels[run_dir]}"]
        for k, (other_dir, (other, other_result)) in enumerate(other_results.items(), 2):
            answer = (f"predicts {display(other.classes[int(other_result.predicted[i])])} "
                      f"({float(other_result.probabilities[i].max()):.0%})")
            tiles.append(overlay(face, other_result.heatmaps[i]))
            captions.append(f"({k}) {answer}")  # the run's name would not fit a tile: the legend gives it
            tooltips.append(f"{labels[other_dir]}: {answer}")
            legend.append(f"({k}) {labels[other_dir]}")
        gallery(tiles, captions, tooltips, tile_px=192, where=left)
        if numbered:
            left.caption("Maps by: " + "; ".join(legend))
        left.caption(f"ROAD faithfulness of the {method} map: {float(scores[i]):+.3f} (higher is better)")
        chart(right, probability_bars(predictor.classes, result.probabilities[i]), width="stretch",
              key=f"explain_bars_{name}_{i}")

st.divider()
st.subheader("How faithful is each method?")
metric = st.radio("Faithfulness metric", list(FAITHFULNESS_METRICS.names()), horizontal=True,
                  key="explain_metric", help="Higher is better for both.")
st.caption(FAITHFULNESS_METRICS.get(metric).description)
all_faces = np.concatenate(found_faces) if found_faces else None
score_key = (run_dir, metric, str(target), hashlib.sha256(all_faces.tobytes()).hexdigest() if found_faces else "")


def stop_scoring() -> None:
    # Any click reruns the page, which stops the scoring at its next progress step; this says why.
    st.session_state.explain_scoring_stopped = True


if st.button("Score every method on these faces", key="explain_score_methods") and found_faces:
    scoring = st.empty()
    with scoring.container():
        bar = st.progress(0.0, text="Scoring…")
        st.button("⏹️ Stop scoring", key="explain_stop_scoring", on_click=stop_scoring,
                  help="Stops after the face being scored; no score is kept")

    def report(name: str, done: int, total: int) -> None:
        bar.progress(done / total, text=f"Scoring {name}: {done} of {total} face × method steps "
                                        "(Score-CAM is the slow one)…")

    scores = compare_methods(predictor.model, predictor.card, all_faces, metric=metric, target=target, progress=report)
    scoring.empty()
    st.session_state.explain_method_scores = (score_key, scores)  # kept for the same faces, run, metric, class
if st.session_state.pop("explain_scoring_stopped", False):
    st.info("Scoring stopped; no score was kept. Press the button again to start over.")
stored = st.session_state.get("explain_method_scores")
if stored and stored[0] == score_key:
    chart(st, method_scores(stored[1], f"{metric} (higher is better)"), width="stretch", key="explain_method_scores")
    st.caption(f"Each score is the mean over the {len(all_faces)} face(s) above"
               + (f"; {method}'s equals the mean of its per-face ROAD scores shown with each map."
                  if metric == "road" else "; the per-face scores shown with each map are ROAD's, not this metric's."))
