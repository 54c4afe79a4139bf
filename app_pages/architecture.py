"""Architecture: diagrams of the network and a plain-words guide to every layer."""

import pandas as pd
import streamlit as st

from app_pages import resources, state
from app_pages.boundary import guarded
from app_pages.panels import on_phone, require_model, show_figure
from fashion_viz.figures.architecture import architecture_figure
from fashion_viz.layer_guide import describe_layers, shape_text
from fashion_viz.trials.claims import layer_claims

loaded = require_model()
model = loaded.model
infos = describe_layers(model)
total = model.count_params()

st.title("Architecture")
st.markdown(
    f"Ten layers turn a 28x28 grayscale picture into ten class probabilities. Two convolution blocks find visual features, "
    f"a dense layer combines them, and a softmax layer gives the answer. **{total:,} parameters** in all, "
    f"{sum(i.params for i in infos if i.kind == 'dense'):,} of them in the first dense layer."
)

with guarded("the layered view"):
    st.subheader("Layered view (visualkeras)")
    st.image(resources.current_diagram(), caption="Each block is one layer's output; its size follows the output's size (log scale). Colours: layer type.", width="stretch")

with guarded("the interactive diagram"):
    st.subheader("Interactive diagram")
    st.caption("Hover a block for its input and output shapes, how its parameters are counted and its receptive field.")
    show_figure(architecture_figure(infos, vertical=on_phone()), "architecture_diagram")

with guarded("the summary table"):
    st.subheader("Summary")
    table = pd.DataFrame(
        [
            {
                "layer": i.name,
                "type": i.type_name,
                "input shape": shape_text(i.input_shape),
                "output shape": shape_text(i.output_shape),
                "parameters": i.params,
                "receptive field": f"{i.receptive_field}x{i.receptive_field}" if i.receptive_field else "whole image",
            }
            for i in infos
        ]
    )
    st.dataframe(table, hide_index=True, width="stretch", column_config={"parameters": st.column_config.NumberColumn(format="localized")})
    st.markdown(f"**Total parameters: {total:,}** (all trainable; dropout, pooling and flatten have none).")

with guarded("the layer guide"):
    st.subheader("What each layer does")
    on_trial = layer_claims(infos, resources.current_trials(loaded), resources.variant_results())
    for info in infos:
        with st.expander(f"{info.index + 1}. {info.name}: {info.title} → {shape_text(info.output_shape)}", expanded=info.index == 0):
            st.markdown(info.explanation)
            st.caption(f"Parameters: {info.params_formula}")
            tested = [c for c in on_trial if info.name in c.layers]
            if tested:
                st.caption("On trial: " + "; ".join(f"“{c.words}”: **{c.verdict}**" for c in tested) + ".")
    st.page_link(state.PAGES["explorer"], label="See each layer at work on a picture in the Explorer", icon=":material/arrow_forward:")
    st.page_link(state.PAGES["layers"], label="Is each layer really for what these words say? Layers on trial tests it", icon=":material/gavel:")
