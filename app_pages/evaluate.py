"""Evaluate: how good the model is, per class, and where it goes wrong."""

import numpy as np
import streamlit as st

from app_pages import resources, state
from app_pages.boundary import guarded
from app_pages.panels import clicked_points, explain_missing_dataset, require_model, show_figure
from app_pages.picker import open_in_explorer
from fashion_viz import CLASS_NAMES
from fashion_viz.card import accuracy_protocol
from fashion_viz.evaluation import score_predictions
from fashion_viz.figures.evaluation import CELL_TRACE, confusion_matrix_figure, per_class_accuracy_chart

CONFUSION_CHART = "evaluate_confusion"

loaded = require_model()
card = loaded.card
st.title("Evaluate")
data = resources.dataset()
if data is None:
    st.markdown("Scores from the model card (measured on the full test set when the model was trained):")
    if card.test_accuracy is not None:
        st.metric("Test accuracy", f"{card.test_accuracy:.2%}")
        st.caption(accuracy_protocol(card))
        show_figure(per_class_accuracy_chart([card.per_class_accuracy[c] for c in CLASS_NAMES]), "evaluate_card_per_class")
        show_figure(confusion_matrix_figure(np.array(card.confusion_matrix), "Confusion matrix (from the model card)"), "evaluate_card_confusion")
    explain_missing_dataset("Browsing the test images behind each cell")
    st.stop()

with guarded("the scores"):
    labels = data.y_test.astype(int)
    scores = score_predictions(labels, resources.current_test_predictions())
    confusion, per_class = scores.confusion, np.array(scores.per_class_accuracy)
    n = len(CLASS_NAMES)

    a, b, c = st.columns(3)
    a.metric("Test accuracy", f"{scores.accuracy:.2%}", help="Share of the 10,000 test images classified correctly")
    b.metric("Wrong", f"{int((scores.predictions != labels).sum()):,} images")
    worst = int(np.argmin(per_class))
    c.metric("Hardest class", CLASS_NAMES[worst], help=f"Only {per_class[worst]:.1%} of the test {CLASS_NAMES[worst].lower()}s are recognised")
    c.caption(f"{per_class[worst]:.1%} of them classified correctly")
    st.caption(accuracy_protocol(card))

    show_figure(per_class_accuracy_chart(per_class), "evaluate_per_class")

    st.subheader("Confusion matrix")
    st.caption("Row: the true class; column: what the model said. Click a cell, or choose one below, to see those test images.")
    if state.EVAL_TRUE not in st.session_state:
        off = confusion - np.diag(np.diag(confusion))
        t, p = np.unravel_index(np.argmax(off), off.shape)
        st.session_state[state.EVAL_TRUE], st.session_state[state.EVAL_PRED] = int(t), int(p)


def cell_clicked() -> None:
    """A click on a cell picks it once; the chart returns its stored selection on every rerun, so it is
    read here, in the callback, and never in the script body (that would snap the dropdowns back)."""
    cells = clicked_points(CONFUSION_CHART, CELL_TRACE)  # the transparent cell markers
    if cells:
        true_class, predicted = divmod(int(cells[0]["point_index"]), n)
        st.session_state[state.EVAL_TRUE], st.session_state[state.EVAL_PRED] = true_class, predicted


with guarded("the confusion matrix and its images"):
    show_figure(confusion_matrix_figure(confusion), CONFUSION_CHART, on_select=cell_clicked, selection_mode="points")

    left, right = st.columns(2)
    true_class = left.selectbox("True class", range(n), format_func=lambda i: CLASS_NAMES[i], key=state.EVAL_TRUE)
    predicted_class = right.selectbox("Predicted class", range(n), format_func=lambda i: CLASS_NAMES[i], key=state.EVAL_PRED)
    cell = np.flatnonzero((labels == true_class) & (scores.predictions == predicted_class))
    verdict = "correctly" if true_class == predicted_class else f"as {CLASS_NAMES[predicted_class]}"
    st.markdown(f"**{len(cell):,} test images** of class {CLASS_NAMES[true_class]} classified {verdict}" + (" (showing the first 24)" if len(cell) > 24 else ""))
    columns = st.columns(8)
    for k, index in enumerate(cell[:24]):
        with columns[k % 8]:
            st.image(data.x_test[index], caption=f"#{index}", width="stretch")
            if st.button("Explore", key=f"explore_{index}", width="stretch"):
                open_in_explorer(int(index))
