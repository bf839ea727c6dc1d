"""The live camera on Demo and Explain (UI only): streamlit-webrtc sends the browser's camera to this
server and the annotated frames back. Each frame is handled on streamlit-webrtc's worker thread,
never on the script thread, by fer_core.inference.live.LiveAnalyser; only the newest waiting frame is
processed, the rest are dropped, so the picture never lags behind the camera."""
from __future__ import annotations

import av
import streamlit as st
from streamlit_webrtc import WebRtcMode, webrtc_streamer

from fer_core.inference.live import LiveAnalyser

# The app listens on localhost: browser and server reach each other directly, no STUN/TURN server
# (which would need the internet) is wanted.
LOCAL_ONLY = {"iceServers": []}
CAMERA = {"video": {"width": {"ideal": 640}, "height": {"ideal": 480}, "frameRate": {"ideal": 30}}, "audio": False}


class _NewestFrameProcessor:
    """streamlit-webrtc's processor: of the frames queued while the last one was being processed, the
    newest is analysed and the others dropped (counted in the analyser's stats)."""

    def __init__(self, analyser: LiveAnalyser):
        self.analyser = analyser

    async def recv_queued(self, frames: list[av.VideoFrame]) -> list[av.VideoFrame]:
        self.analyser.note_dropped(len(frames) - 1)
        newest = frames[-1]
        annotated = self.analyser.process(newest.to_ndarray(format="rgb24"))
        out = av.VideoFrame.from_ndarray(annotated, format="rgb24")
        out.pts, out.time_base = newest.pts, newest.time_base
        return [out]


def live_camera(key: str, predictor, saliency: str | None = None, target=None):
    """A START/STOP camera stream with faces boxed and labelled live; returns the analyser while the
    stream plays (its `stats` and `latest` faces), else None. The browser asks for the camera only
    when START is pressed."""
    if not _served_to_a_browser():
        st.info("The live camera works when the app is opened in a browser (`streamlit run streamlit_app.py`).")
        return None
    ctx = webrtc_streamer(
        key=key, mode=WebRtcMode.SENDRECV, rtc_configuration=LOCAL_ONLY, media_stream_constraints=CAMERA,
        video_processor_factory=lambda: _NewestFrameProcessor(LiveAnalyser(predictor, saliency=saliency,
                                                                           target=target)),
        async_processing=True, video_html_attrs={"autoPlay": True, "controls": False, "muted": True,
                                                 "style": {"width": "100%", "max-width": "640px"}},
    )
    processor = ctx.video_processor
    if processor is None:
        return None
    processor.analyser.saliency, processor.analyser.target = saliency, target  # follow the page's choices
    return processor.analyser


def _served_to_a_browser() -> bool:
    """streamlit-webrtc needs a real server session; a script run without one (AppTest) has none."""
    from streamlit.runtime import Runtime
    return Runtime.exists() and hasattr(Runtime.instance(), "_session_mgr")


def live_status(analyser: LiveAnalyser | None) -> None:
    """A line on what the stream is doing, refreshed every 2 s while it plays."""
    if analyser is None:
        return

    @st.fragment(run_every=2)
    def status() -> None:
        faces = ", ".join(f.caption for f in analyser.latest) or "no face in view"
        st.caption(f"Now: {faces}. {analyser.stats.describe()}.")

    status()
