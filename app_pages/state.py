"""Every session-state key the app uses, and the page scripts' paths, named in one place.

Keys hold a session's own choices; they survive page switches (widget keys do
not, so widgets are set from these on every run and write back through callbacks).
"""

PAGES = {
    "home": "app_pages/home.py",
    "architecture": "app_pages/architecture.py",
    "explorer": "app_pages/explorer.py",
    "train": "app_pages/train.py",
    "evaluate": "app_pages/evaluate.py",
    "why": "app_pages/why.py",
    "units": "app_pages/units.py",
    "map": "app_pages/map.py",
    "layers": "app_pages/layers.py",
    "replay": "app_pages/replay.py",
}

MODEL_PATH = "model_path"  # the model file this session chose (str); absent: the shipped model
CALIBRATED = "calibrated"  # Explorer: show the probabilities after temperature scaling (bool)
COMPARE_WITH = "compare_with"  # Explorer and Why: the second model shown beside the first (a path, or "" for none)
TEST_INDEX = "test_index"  # the chosen Fashion-MNIST test image (int)
IMAGE_SOURCE = "image_source"  # gallery, random, misclassified, upload, camera or drawing (one of picker.SOURCES)
LAST_UPLOAD = "last_upload"  # the last good upload (picker.ChosenImage), kept after a bad file or a page switch
LAST_CAMERA = "last_camera"  # the last good camera photo (picker.ChosenImage), kept the same way
LAST_DRAWING = "last_drawing"  # the last drawing that went through the pipeline (picker.ChosenImage)
EXPLORER_LAYER = "explorer_layer"  # the Explorer's layer (name; also the segmented control's key)
LAYER_INDEX = "layer_index"  # the same layer as an index, kept across page switches
CHANNEL_INDEX = "channel_index"  # the channel the person chose to see large (kept even where a layer has fewer)
CALC_ROW = "calc_row"  # Explorer: the position whose arithmetic is shown (row, column; the channel is CHANNEL_INDEX)
CALC_COL = "calc_col"
CALC_UNIT = "calc_unit"  # ... or the unit of a vector layer
CALC_INPUT_CHANNEL = "calc_input_channel"  # a conv layer after the first: the input channel whose products are expanded
WHY_SMALLEST = "why_smallest"  # Why page: the last "smallest change that flips it" table, with the model, picture and steps it is for
WHY_OFF = "why_off"  # Why page: units switched off, {layer: [unit, ...]}
UNITS_LAYER = "units_layer"  # Units page: the layer (a conv layer, a hidden dense layer or the output)
UNITS_UNIT = "units_unit"  # Units page: the channel, unit or class number
UNITS_FROM_URL = "_units_from_url"  # the ?layer=&unit= already applied (so a later choice is not overridden)
MAP_CLASSES = "map_classes"  # Map page: the classes shown
MAP_SHOW = "map_show"  # Map page: all, correct or misclassified pictures
MAP_SELECTED = "map_selected"  # Map page: the test image clicked on the map
LAYERS_FILTER = "layers_filter"  # Layers on trial: the first-layer filter whose grating tuning is drawn
LAYERS_VARIANT = "layers_variant"  # Layers on trial: the dropout variant whose curves are drawn beside the seed's
REPLAY_PROBE = "replay_probe"  # Replay: the probe picture's class
REPLAY_LAYER = "replay_layer"  # Replay: the layer whose feature maps of the probe picture are played
REPLAY_FILTER = "replay_filter"  # Replay: the second conv layer's filter whose weights are played
EVAL_TRUE = "eval_true"  # Evaluate: the chosen cell's true class
EVAL_PRED = "eval_pred"  # Evaluate: the chosen cell's predicted class
SESSION_ID = "session_id"  # who owns a training job
TRAIN_WATCHING = "train_watching"  # this tab saw a job running (so it reruns the page once it ends)
TRAIN_TIMING_PENDING = "train_timing_pending"  # this tab showed "timing…" (so it reruns the page once the estimate is there)
LAST_RUN_MS = "_last_run_ms"  # server-side time of the last run (read by the benchmark)

# Widget keys (dropped by Streamlit when their page is left).
MODEL_CHOICE = "_model_choice"


def chart_traces_key(chart_key: str) -> str:
    """Where a clickable chart's trace names are kept, so its click callback can tell the traces apart by name."""
    return f"_traces_{chart_key}"


def widget_key(page: str, name: str) -> str:
    """The key of a widget that appears on several pages, e.g. ``widget_key("explorer", "source")``."""
    return f"{page}_{name}"
