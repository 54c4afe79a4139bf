"""Evaluate: how good the model is, per class, and where it goes wrong."""

import numpy as np
import streamlit as st

from app_pages import ui
from fashion_viz import CLASS_NAMES
from fashion_viz.figures import confusion_matrix_figure, per_class_accuracy_chart

loaded = ui.require_model()
st.title("Evaluate")
data = ui.dataset()
if data is None:
    st.markdown("Scores from the model card (measured on the full test set when the model was trained):")
    card = loaded.card
    if card.get("test_accuracy") is not None:
        st.metric("Test accuracy", f"{card['test_accuracy']:.2%}")
        ui.show_figure(per_class_accuracy_chart([card["per_class_accuracy"][c] for c in CLASS_NAMES]), "evaluate_card_per_class")
        ui.show_figure(confusion_matrix_figure(np.array(card["confusion_matrix"]), "Confusion matrix (from the model card)"), "evaluate_card_confusion")
    ui.explain_missing_dataset("Browsing the test images behind each cell")
    st.stop()

predictions = ui.current_test_predictions()
labels = data.y_test.astype(int)
n = len(CLASS_NAMES)
confusion = np.bincount(labels * n + predictions, minlength=n * n).reshape(n, n)
accuracy = float((predictions == labels).mean())
per_class = np.diag(confusion) / confusion.sum(axis=1)

a, b, c = st.columns(3)
a.metric("Test accuracy", f"{accuracy:.2%}", help="Share of the 10,000 test images classified correctly")
b.metric("Wrong", f"{int((predictions != labels).sum()):,} images")
worst = int(np.argmin(per_class))
c.metric("Hardest class", CLASS_NAMES[worst], help=f"Only {per_class[worst]:.1%} of the test {CLASS_NAMES[worst].lower()}s are recognised")
c.caption(f"{per_class[worst]:.1%} of them classified correctly")

ui.show_figure(per_class_accuracy_chart(per_class), "evaluate_per_class")

st.subheader("Confusion matrix")
st.caption("Row: the true class; column: what the model said. Click a cell, or choose one below, to see those test images.")
event = ui.show_figure(confusion_matrix_figure(confusion), "evaluate_confusion", on_select="rerun", selection_mode="points")
points = (event or {}).get("selection", {}).get("points", []) if event else []
if points and points[0].get("y") in CLASS_NAMES and points[0].get("x") in CLASS_NAMES:
    st.session_state["eval_true"] = CLASS_NAMES.index(points[0]["y"])
    st.session_state["eval_pred"] = CLASS_NAMES.index(points[0]["x"])
if "eval_true" not in st.session_state:
    off = confusion - np.diag(np.diag(confusion))
    t, p = np.unravel_index(np.argmax(off), off.shape)
    st.session_state["eval_true"], st.session_state["eval_pred"] = int(t), int(p)

left, right = st.columns(2)
true_class = left.selectbox("True class", range(n), format_func=lambda i: CLASS_NAMES[i], key="eval_true")
predicted_class = right.selectbox("Predicted class", range(n), format_func=lambda i: CLASS_NAMES[i], key="eval_pred")
cell = np.flatnonzero((labels == true_class) & (predictions == predicted_class))
verdict = "correctly" if true_class == predicted_class else f"as {CLASS_NAMES[predicted_class]}"
st.markdown(f"**{len(cell):,} test images** of class {CLASS_NAMES[true_class]} classified {verdict}" + (" (showing the first 24)" if len(cell) > 24 else ""))
columns = st.columns(8)
for k, index in enumerate(cell[:24]):
    with columns[k % 8]:
        st.image(data.x_test[index], caption=f"#{index}", width="stretch")
        if st.button("Explore", key=f"explore_{index}", width="stretch"):
            ui.open_in_explorer(int(index))
