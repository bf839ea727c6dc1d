"""Video: a video file in, each face's emotion over time out (timeline, summary, CSV, annotated MP4)."""
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from app_pages.common import chart, load_predictor
from fer_core.figures.video import emotion_timeline
from fer_core.inference.predictor import default_model
from fer_core.inference.video import VIDEO_EXTENSIONS, VideoError, analyse_video, describe_track, track_timeline
from fer_core.runs.compare import to_csv_bytes

st.title("🎬 Emotions in a video")

record = default_model()
if record is None:
    st.info("There is no trained model yet. Open the Train page and press Launch; then come back here.")
    st.stop()
predictor, error = load_predictor(record.run_dir)
if error:
    st.error(f"The model could not be loaded: {error}")
    st.stop()
st.caption(f"Answers come from {record.describe()}. Faces are found in the sampled frames and followed as "
           "tracks, so each face keeps its number.")

upload = st.file_uploader("A video file", type=[e.lstrip(".") for e in VIDEO_EXTENSIONS], key="video_upload")
fps = st.slider("Frames analysed per second of video", 1, 15, 5, key="video_fps",
                help="More frames: a finer timeline, and a longer wait.")
if upload is None:
    st.stop()

if st.button("Analyse", key="video_analyse", type="primary"):
    bar = st.progress(0.0, text="Reading the video…")
    st.caption("To stop, press the Stop button at the top right: the analysis ends at once.")
    with tempfile.TemporaryDirectory(prefix="fer_video_") as folder:
        source = Path(folder) / f"upload{Path(upload.name).suffix.lower()}"
        source.write_bytes(upload.getvalue())
        try:
            analysis = analyse_video(predictor, source, fps=fps, out_dir=Path(folder) / "out", progress=lambda done, total:
                                     bar.progress(min(done / total, 1.0) if total else 0.0, text=f"frame {done}"
                                                  + (f" of about {total}" if total else "")))
        except VideoError:
            bar.empty()
            st.error(f"{upload.name} could not be read as a video. Try an MP4, AVI, MOV, MKV or WebM file.")
            st.stop()
        bar.empty()
        outputs = {k: Path(v).read_bytes() for k, v in analysis.outputs.items()}
    st.session_state.video_result = (upload.name, fps, analysis, outputs)

result = st.session_state.get("video_result")
if not result or result[:2] != (upload.name, fps):
    st.stop()
_, _, analysis, outputs = result
st.markdown(f"**{analysis.frames_read} frames analysed** ({analysis.duration_s:.1f} s of video, "
            f"{analysis.frames_per_second:.1f} frames/s on this machine).")
if not analysis.tracks:
    st.info("No face was found in the sampled frames.")
for track in analysis.tracks:
    st.subheader(describe_track(track))
    timeline = track_timeline(analysis.rows, track["track"], analysis.classes)
    chart(st, emotion_timeline(timeline, analysis.classes), key=f"video_timeline_{track['track']}")
if "video" in outputs:
    st.video(outputs["video"])
left, right = st.columns(2)
left.download_button("⬇️ Every face in every frame (CSV)", to_csv_bytes(pd.DataFrame(analysis.rows)),
                     file_name=f"{Path(upload.name).stem}_emotions.csv", mime="text/csv", key="video_csv",
                     on_click="ignore")
if "video" in outputs:
    right.download_button("⬇️ Annotated video (MP4)", outputs["video"], file_name=f"{Path(upload.name).stem}_annotated.mp4",
                          mime="video/mp4", key="video_mp4", on_click="ignore")
