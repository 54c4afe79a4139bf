"""Replay: the model's training from its random start to the saved weights, played in the browser."""

import streamlit as st

from app_pages import resources, state
from app_pages.boundary import guarded
from app_pages.panels import require_model, require_replay
from fashion_viz import CLASS_NAMES
from fashion_viz.replay.views import LEARNT_SHARE, learning_order

loaded = require_model()
engine = resources.current_engine()
st.title("Replay: watch it learn")
st.caption(
    "The network's training, snapshot by snapshot: from random weights (epoch 0) to the weights you explore on the other pages. "
    "Snapshots are dense early, where most of the change happens, and sparse late. Press ▶ Play, or drag the slider; everything moves together, "
    "in your browser."
)
_, replay = require_replay(loaded)

second_conv = engine.conv_names[1] if len(engine.conv_names) > 1 else None
shown_layers = [info.name for info in engine.infos if info.kind in ("conv", "pool", "dense")]

controls = st.columns(3)
with controls[0]:
    st.session_state["replay_probe_widget"] = st.session_state.get(state.REPLAY_PROBE, 0)
    st.selectbox(
        "Probe picture (the first test picture of its class)", range(len(CLASS_NAMES)), key="replay_probe_widget", format_func=lambda c: CLASS_NAMES[c],
        on_change=lambda: st.session_state.__setitem__(state.REPLAY_PROBE, st.session_state["replay_probe_widget"]),
    )
with controls[1]:
    chosen_layer = st.session_state.get(state.REPLAY_LAYER, shown_layers[0])
    st.session_state["replay_layer_widget"] = chosen_layer if chosen_layer in shown_layers else shown_layers[0]
    st.selectbox(
        "Its output at", shown_layers, key="replay_layer_widget",
        on_change=lambda: st.session_state.__setitem__(state.REPLAY_LAYER, st.session_state["replay_layer_widget"]),
    )
with controls[2]:
    if second_conv is not None:
        filters = engine.info(second_conv).output_shape[-1]
        st.session_state["replay_filter_widget"] = min(st.session_state.get(state.REPLAY_FILTER, 0), filters - 1)
        st.number_input(
            f"{second_conv} filter", 0, filters - 1, key="replay_filter_widget",
            on_change=lambda: st.session_state.__setitem__(state.REPLAY_FILTER, int(st.session_state["replay_filter_widget"])),
        )

probe = int(st.session_state["replay_probe_widget"])
layer = st.session_state["replay_layer_widget"]
second_filter = int(st.session_state.get("replay_filter_widget", 0))

with guarded("the replay"):
    st.iframe(resources.replay_player(loaded, probe, layer, second_filter), height="content")
    order = learning_order(replay)
    ranked = order.ranked()
    learnt = ", ".join(f"{name} (epoch {order.epoch[name]:.2g})" for name in ranked)
    last = ranked[-1]
    hardest = f" {last} is also the class the finished model gets wrong most ({order.final[last]:.0%} right)." if order.final[last] == min(order.final.values()) else ""
    st.markdown(
        f"**Which classes are learnt first.** A class counts as learnt once its F1 on the validation pictures (recall and precision together) "
        f"reaches {LEARNT_SHARE:.0%} of its final one: "
        f"{learnt}.{hardest}"
    )
    st.caption(
        f"{len(replay)} snapshots recorded while training (steps 0 to {int(replay.steps[-1]):,}); the last is this model's weights exactly. "
        f"Accuracy and loss: the 2,000 validation pictures and 2,000 training pictures, measured at each snapshot without dropout. "
        "The map: each moment's principal components of the dense layer's output, turned onto the last moment's. "
        "`python -m fashion_viz replay --snapshot K --out F.keras` writes any moment as a model file; `--gif` makes a GIF for slides."
    )
st.page_link(state.PAGES["explorer"], label="Explore the finished model, layer by layer", icon=":material/layers:")
