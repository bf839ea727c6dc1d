"""Demo: one picture in, the emotion out, in plain words (or a zip of photos in, a table out). For people
who are not engineers."""
import hashlib
from pathlib import Path

import pandas as pd
import streamlit as st

from fer_core.app.photo_batch import summarise
from fer_core.data.decode import ImageDecodeError
from fer_core.common.emotions import DISPLAY_NAMES
from fer_core.common.wording import percent
from fer_core.figures.gallery import answer_html
from fer_core.figures.predictions import label_counts
from fer_core.inference.batch import predict_zip_upload
from fer_core.inference.faces import about_detector, draw_boxes
from fer_core.runs.compare import to_csv_bytes
from fer_core.inference.predictor import builtin_record, default_model
from app_pages.common import chart, load_predictor, show_table, uploaded_bytes
from app_pages.live_camera import live_camera, live_status


SYNTHETIC_WARNING = ("This model learned from drawn, synthetic faces, not photos of people, so its answer on a real "
                     "photo is often wrong. Train a model on real faces (FER2013) for a trustworthy answer.")

PRIVACY = "🔒 Your photos and camera stay on this computer: nothing is uploaded anywhere."


def _clear_picture() -> None:
    """'Try another': fresh, empty photo and snapshot inputs (a file input is emptied by giving it a new key)."""
    st.session_state.demo_round = st.session_state.get("demo_round", 0) + 1


def _key(name: str) -> str:
    """The input's key in this round of 'Try another' (the plain name the first time)."""
    n = st.session_state.get("demo_round", 0)
    return name if n == 0 else f"{name}_{n}"


def sure_means(record) -> str:
    """What "sure" means, with the model's own measured test accuracy where it has one (one pass per face,
    as this page answers, not the flip-averaged score a TTA evaluation headlines)."""
    text = f"\"Sure\" is the share the model gives its answer among the {len(predictor.classes)} emotions it knows."
    accuracy = record.test_accuracy("none")
    if accuracy is not None:
        text += (f" On the {record.evaluation.get('n', 0):,} test faces it was checked on, its answer was right "
                 f"{percent(accuracy)} of the time.")
    return text


st.title("🎭 What's the emotion?")
st.caption(PRIVACY)

record = default_model()
if record is None:
    st.info("There is no trained model yet. Open the Train page and press Launch; it shows the run's progress "
            "and when it is done. Then come back here.")
    st.page_link("app_pages/train.py", label="Go to Train", icon="🏋️")
    st.stop()
predictor, error = load_predictor(record.run_dir)
fallback = builtin_record() if error and not record.is_builtin else None
if fallback is not None:  # a run that looks best but cannot be used (damaged, or refused as unsafe)
    st.warning(f"{record.describe()} could not be loaded ({error}); the bundled model answers instead.")
    record = fallback
    predictor, error = load_predictor(record.run_dir)
if error:
    st.error("The model could not be loaded, so the demo cannot run right now. Train a new model on the "
             "Train page and try again.")
    st.stop()

st.caption(f"Answers come from {record.describe()}. {about_detector()}")


def show_answer(picture: bytes, source: str) -> None:
    """The emotion of every face in one picture, in plain words, in the tab it came from (`source`)."""
    try:
        with st.spinner("Looking…"):
            result = predictor.predict_photo(picture)
    except (ImageDecodeError, ValueError) as exc:
        st.error(f"That picture could not be read ({exc}). Please try another photo (JPG or PNG).")
        return
    whole_anyway, this_picture = f"demo_whole_{source}", hashlib.sha1(picture).hexdigest()
    if result.no_face and st.session_state.get(whole_anyway) != this_picture:
        st.markdown("### I couldn't find a face in this picture.")
        st.caption("Try a photo where the face is larger, lit from the front and not hidden. If there is a face "
                   "I missed, I can still read the whole picture as if it were one.")
        if st.button("Use the whole picture anyway", key=f"demo_whole_button_{source}"):
            st.session_state[whole_anyway] = this_picture  # this picture only: a new one is searched again
            st.rerun()
        st.button("🔁 Try another photo", key=f"demo_try_another_{source}", on_click=_clear_picture)
        return
    if result.whole_image:
        st.caption("I read the whole picture as one face." if result.no_face else
                   "The picture is a close-up of one face, so I read all of it.")
    else:
        st.caption(f"I found {len(result.faces)} face{'s' if len(result.faces) > 1 else ''}.")
        st.image(draw_boxes(picture, [f.box for f in result.faces], [str(i + 1) for i in range(len(result.faces))]),
                 width=480)
    if record.trained_on_synthetic:
        st.warning(SYNTHETIC_WARNING)
    for i, face in enumerate(result.faces):
        columns = st.columns([1, 3])
        columns[0].image(face.face, width=160, caption=f"face {i + 1}" if len(result.faces) > 1 else None)
        with columns[1]:
            st.markdown(answer_html(face.label), unsafe_allow_html=True)  # class names are escaped
            st.progress(face.confidence, text=f"{face.confidence:.0%} sure")
            runner_up, runner_up_p = face.ranked()[1]
            st.caption(f"Next most likely: {DISPLAY_NAMES.get(runner_up, runner_up).lower()} ({runner_up_p:.0%}).")
    st.caption(sure_means(record))
    st.button("🔁 Try another photo", key=f"demo_try_another_{source}", on_click=_clear_picture)


def show_many(upload) -> None:
    """A zip of photos: one row per face, the count of each emotion, and the table as CSV."""
    with st.spinner("Finding and reading every face…"):
        rows = predict_zip_upload(predictor, upload.getvalue(), upload.name)
    batch = summarise(rows, Path(upload.name).name)
    if batch.zip_error:
        st.error(f"{upload.name} could not be used: {batch.zip_error}")
        return
    st.markdown(f"**{batch.headline()}**")
    if batch.no_face:
        st.caption(f"No face was found in {', '.join(batch.no_face)}: "
                   "those photos are not in the counts or the table below (the CSV lists them).")
    if len(batch.failed):
        st.warning(f"{len(batch.failed)} file(s) could not be read; the others were.")
        show_table(st, batch.failed, hide_index=True, width="stretch")
    if record.trained_on_synthetic:
        st.warning(SYNTHETIC_WARNING)
    if len(batch.faces):
        chart(st, label_counts(batch.faces["label"], predictor.classes), key="demo_many_counts")
        shown = ["image", "face", "label", "confidence", *predictor.classes, "x", "y", "w", "h"]
        show_table(st, batch.faces[shown], hide_index=True, width="stretch",
                   column_config={"confidence": st.column_config.ProgressColumn(min_value=0, max_value=1,
                                                                                format="percent"),
                                  **{c: st.column_config.NumberColumn(format="percent") for c in predictor.classes}})
    st.download_button("⬇️ All rows as CSV (with the model that answered)", to_csv_bytes(pd.DataFrame(rows)),
                       file_name=f"{Path(upload.name).stem}_emotions.csv", mime="text/csv", key="demo_many_csv",
                       on_click="ignore")


# Upload first: a browser asks for the camera only once the person chooses to use it.
upload_tab, live_tab, snapshot_tab, many_tab = st.tabs(
    ["🖼️ Upload a photo", "🎥 Live camera", "📷 One snapshot", "🗂️ Many photos"])
with upload_tab:
    upload = st.file_uploader("Choose a photo of a face", type=["png", "jpg", "jpeg", "bmp", "gif", "webp"],
                              key=_key("demo_upload"))
    if upload is None:
        st.markdown("### Upload a photo of a face, and I'll guess the emotion.")
    else:
        picture, problem = uploaded_bytes(upload)
        if problem:
            st.error(problem)  # the real reason: not an image, too many bytes, too many pixels
        else:
            show_answer(picture, "upload")
with live_tab:
    st.markdown("Press **START** and allow the camera: every face gets its emotion, live. The video stays on "
                "this computer.")
    if record.trained_on_synthetic:
        st.warning(SYNTHETIC_WARNING)
    live_status(live_camera("demo_live", predictor))
with snapshot_tab:
    if st.toggle("Use my camera for one picture", key="demo_use_camera",
                 help="For browsers where the live camera does not work"):
        snapshot = st.camera_input("Look at the camera and make a face", key=_key("demo_camera"))
        if snapshot is not None:
            show_answer(snapshot.getvalue(), "snapshot")
with many_tab:
    archive = st.file_uploader("A zip of photos: every face in every photo gets its emotion", type=["zip"],
                               key="demo_many_upload")
    if archive is not None:
        show_many(archive)
