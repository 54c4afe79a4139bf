"""The app's colours, in one place: Okabe-Ito (colour-blind safe) for layer kinds and marks,
Cividis for activations, a blue-white-orange diverging scale centred on 0 for weights.

Colour scales are explicit lists: figures skip Plotly's validation, which is what
would expand a Python-side name such as "gray" into colours (plotly.js itself does not know it).
"""

import plotly.colors

LAYER_COLOURS = {"conv": "#E69F00", "pool": "#56B4E9", "dropout": "#BBBBBB", "flatten": "#009E73", "dense": "#0072B2", "softmax": "#CC79A7"}
OTHER_LAYER_COLOUR = "#999999"
BAR_COLOUR = "#0072B2"
HIGHLIGHT_COLOUR = "#E69F00"
TRUE_COLOUR = "#009E73"
OUTLINE_COLOUR = "#333333"

ACTIVATION_SCALE = plotly.colors.make_colorscale(plotly.colors.sequential.Cividis)
DIVERGING_SCALE = [[0.0, "#2166ac"], [0.25, "#92c5de"], [0.5, "#f7f7f7"], [0.75, "#fdb863"], [1.0, "#b35806"]]
IMAGE_SCALE = [[0.0, "#000000"], [1.0, "#ffffff"]]


def layer_colour(kind: str) -> str:
    """The colour of a layer kind (conv, pool, dropout, flatten, dense, softmax) in every diagram."""
    return LAYER_COLOURS.get(kind, OTHER_LAYER_COLOUR)

# One colour per Fashion-MNIST class (CARTO "Safe", designed to stay distinct for colour-blind readers).
CLASS_COLOURS = tuple(plotly.colors.qualitative.Safe[:10])
RECEPTIVE_FIELD_COLOUR = (230, 159, 0)  # the outline of the patch a conv unit saw (HIGHLIGHT_COLOUR as RGB)
