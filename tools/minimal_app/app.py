"""The floor for browser timings: a minimal Streamlit app measured beside fashion-viz in the same run.

``?view=home``: a title and one Plotly chart (what a later visitor waits for on our Home page);
``?view=step``: a button that redraws two Plotly charts and an image (our Explorer's layer step);
``?view=upload``: a file uploader whose file is drawn as a Plotly chart (our upload → probability chart);
``?view=animation&frames=N``: a player swapping N small pictures (our Replay's playback, with nothing else on it).
"""

import base64
import io
import json

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

PLAYER = """<!doctype html><html><body><img id="picture" style="width:260px;image-rendering:pixelated"><script>
const frames = %FRAMES%.map(src => { const i = new Image(); i.src = src; return i; });
let current = 0, shown = 0, timer = null;
function show(k) { current = k; document.getElementById("picture").src = frames[k].src; shown += 1; window.replayShown = {frames: shown, current: k}; }
window.replayPlay = (frameMs = 80) => {
  show(0); const started = performance.now();
  const step = () => { if (current >= frames.length - 1) { window.dispatchEvent(new Event("replay-ended")); return; }
    show(current + 1); timer = setTimeout(() => requestAnimationFrame(step), Math.max(0, started + current * frameMs - performance.now())); };
  timer = setTimeout(step, frameMs);
};
show(0);
</script></body></html>"""

st.set_page_config(page_title="minimal", layout="wide")
view = st.query_params.get("view", "home")
st.title("Minimal app")

if view == "home":
    values = np.random.default_rng(0).random(10)
    st.plotly_chart(go.Figure(go.Bar(x=values, y=[f"class {k}" for k in range(10)], orientation="h"), layout=dict(title="Prediction: minimal")), key="home_chart")
elif view == "step":
    step = st.session_state.setdefault("step", 0)
    if st.button("Next"):
        step = st.session_state["step"] = step + 1
    rng = np.random.default_rng(step)
    left, right, picture = st.columns(3)
    left.plotly_chart(go.Figure(go.Heatmap(z=rng.random((26, 26))), layout=dict(title=f"step {step} map")), key="step_map")
    right.plotly_chart(go.Figure(go.Bar(y=rng.random(32)), layout=dict(title=f"step {step} bars")), key="step_bars")
    picture.image((rng.random((28, 28)) * 255).astype(np.uint8), width=200, caption=f"step {step} picture")
elif view == "animation":
    # The same kind of player as fashion-viz's Replay page, with one small picture per frame and nothing else.
    frames = int(st.query_params.get("frames", 34))
    rng = np.random.default_rng(0)
    uris = []
    for _ in range(frames):
        buffer = io.BytesIO()
        Image.fromarray((rng.random((26, 26)) * 255).astype(np.uint8)).save(buffer, format="PNG")
        uris.append("data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode())
    st.iframe(PLAYER.replace("%FRAMES%", json.dumps(uris)), height=320)
else:
    uploaded = st.file_uploader("Upload a picture", type=["png", "jpg", "jpeg"])
    if uploaded is not None:
        image = np.asarray(Image.open(io.BytesIO(uploaded.getvalue())).convert("L").resize((28, 28)))
        counts = np.histogram(image, bins=10, range=(0, 256))[0] / image.size
        st.plotly_chart(go.Figure(go.Bar(x=counts, orientation="h"), layout=dict(title=f"Upload: {uploaded.name}")), key="upload_chart")
