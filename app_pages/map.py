"""Map: where a picture sits among all 10,000 test pictures, as the model sees them."""

import numpy as np
import streamlit as st

from app_pages import resources, state
from app_pages.boundary import guarded
from app_pages.panels import customdata_values, require_model, require_views, show_figure
from app_pages.picker import image_picker, open_in_explorer
from fashion_viz import CLASS_NAMES
from fashion_viz.explain.embedding import majority_label, map_layer, place
from fashion_viz.figures.base import upscale
from fashion_viz.figures.map import embedding_figure
from fashion_viz.figures.units import exemplar_grid

SHOW = ("all pictures", "correctly classified", "misclassified")

loaded = require_model()
engine = resources.current_engine()
space = map_layer(engine)
width = engine.info(space).output_shape[-1]
st.title("Map")
st.caption(
    f"Each dot is one of the 10,000 test pictures, placed by the {width:,} numbers {space} computes for it (projected to 2-D with t-SNE): "
    "pictures the model describes alike sit together. Ringed dots are misclassified; they gather where classes overlap. "
    f"Your picture appears as a star, joined to its 10 nearest test pictures in the model's {width:,}-number space."
)
data, views = require_views(loaded, "map", "The map")
emap = views.embedding
predictions = resources.current_test_predictions()
index = resources.current_neighbour_index()

pick, chart = st.columns([1.15, 3])
with pick:
    chosen = image_picker("map")
    st.session_state.setdefault(state.MAP_CLASSES, list(range(len(CLASS_NAMES))))
    st.session_state["map_classes_widget"] = st.session_state[state.MAP_CLASSES]
    st.multiselect(
        "Classes shown", list(range(len(CLASS_NAMES))), key="map_classes_widget", format_func=lambda k: CLASS_NAMES[k],
        on_change=lambda: st.session_state.__setitem__(state.MAP_CLASSES, list(st.session_state["map_classes_widget"])),
    )
    st.session_state["map_show_widget"] = st.session_state.get(state.MAP_SHOW, SHOW[0])
    st.radio(
        "Pictures", SHOW, key="map_show_widget", horizontal=True,
        on_change=lambda: st.session_state.__setitem__(state.MAP_SHOW, st.session_state["map_show_widget"]),
    )

shown = np.isin(data.y_test, st.session_state[state.MAP_CLASSES])
correct = predictions == data.y_test
show = st.session_state.get(state.MAP_SHOW, SHOW[0])
if show == SHOW[1]:
    shown &= correct
elif show == SHOW[2]:
    shown &= ~correct

placed = None
with guarded("placing the picture on the map"):
    if chosen is not None:
        activations = engine.activations(chosen.image)
        vector = activations.layer(space).values
        exclude = None if chosen.test_index is None else np.array([chosen.test_index])  # a test picture is not its own neighbour
        placed = place(index, emap.xy, vector, exclude=exclude)[0]


def map_clicked() -> None:
    points = st.session_state["map_chart"].selection.points
    hits = [customdata_values(p) for p in points if p.get("customdata") not in (None, [], {})]  # the star and its lines have none
    if hits:
        st.session_state[state.MAP_SELECTED] = int(hits[0][0])


with chart, guarded("the map"):
    show_figure(
        embedding_figure(emap.xy, data.y_test, predictions, shown, None if placed is None else placed.xy, None if placed is None else placed.neighbours),
        "map_chart", toolbar=True, on_select=map_clicked, selection_mode="points",
    )
    st.caption(f"{int(shown.sum()):,} of 10,000 pictures shown · projection: {'openTSNE' if emap.method == 'tsne' else 'PCA'}, computed once for this model. Scroll to zoom, drag to pan, click a dot to see its picture.")
    if float(np.ptp(emap.xy)) < 1e-6:
        st.info("Every test picture lands on the same point: this model gives every picture the same representation (it learnt nothing).", icon=":material/info:")

if placed is not None:
    with guarded("the picture's neighbours"):
        st.markdown("#### The model thinks your picture looks like these")
        neighbour_labels = data.y_test[placed.neighbours]
        yours, theirs = st.columns([1, 10], vertical_alignment="center")
        yours.image(upscale(chosen.image, 3), caption="yours", width="stretch")
        theirs.image(exemplar_grid(data.x_test[placed.neighbours], columns=10, factor=3), width="stretch")
        st.caption(" · ".join(f"#{int(i)} {CLASS_NAMES[int(data.y_test[i])]}" for i in placed.neighbours))
        common = majority_label(neighbour_labels)
        predicted = activations.predicted_class
        agree = "agrees with" if common == predicted else "differs from"
        st.markdown(
            f"{int((neighbour_labels == common).sum())} of its 10 nearest test pictures are **{CLASS_NAMES[common]}**; "
            f"this {agree} the model's answer for your picture, **{CLASS_NAMES[predicted]}**."
        )

selected = st.session_state.get(state.MAP_SELECTED)
if selected is not None:
    with guarded("the clicked dot"):
        st.markdown("#### The dot you clicked")
        thumb, text = st.columns([1, 4])
        thumb.image(upscale(data.x_test[selected], 4), width=112)
        truth, guess = int(data.y_test[selected]), int(predictions[selected])
        text.markdown(f"Test image **#{selected}** · true: **{CLASS_NAMES[truth]}** · model: **{CLASS_NAMES[guess]}** {'✓' if truth == guess else '✗'}")
        if text.button("Open it in the Explorer", icon=":material/layers:", key="map_open"):
            open_in_explorer(selected)
