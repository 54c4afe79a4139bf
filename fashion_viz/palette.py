"""The app's visual language, in one place: each colour has one meaning on every page, in every figure
and in every PNG the CLI writes.

- Sign: every signed quantity (weights, products, votes, signed attributions, partial sums) is
  orange for + and blue for −, the two ends of one diverging scale centred on 0.
- Highlight: the one thing singled out (the predicted class, a unit's favourite class, the chosen map
  or pixel, the patch a unit saw, your picture on the map); also the Streamlit theme's colour.
- True label: the correct class, where it is marked.
- Reference grey: "nothing" or "before" (inference without a mask, the probabilities before a change,
  dropout layers).
- Bars of unsigned amounts (probabilities, activations, accuracy) are a neutral slate, so that neither
  sign colour is read into them.
- Classes: one colour per class (CARTO "Safe"), only where a class is told apart by colour.
- Scales: Cividis for magnitudes (activations, unsigned importance, shares), grey for pictures.
Okabe-Ito and CARTO Safe are colour-blind safe. Colour scales are explicit lists: figures skip Plotly's
validation, which is what would expand a Python-side name such as "gray" (plotly.js itself does not know it).
"""

import plotly.colors

POSITIVE_COLOUR = "#D55E00"  # Okabe-Ito vermillion: +, pushes up
NEGATIVE_COLOUR = "#0072B2"  # Okabe-Ito blue: −, pushes down
POSITIVE_NAME, NEGATIVE_NAME = "orange", "blue"  # how the page's text names them
ZERO_COLOUR = "#F7F7F7"  # the diverging scale's middle
DIVERGING_SCALE = [[0.0, NEGATIVE_COLOUR], [0.25, "#7CB5D5"], [0.5, ZERO_COLOUR], [0.75, "#E6AB7C"], [1.0, POSITIVE_COLOUR]]

HIGHLIGHT_COLOUR = "#CC79A7"  # Okabe-Ito reddish purple: the one thing singled out
HIGHLIGHT_NAME = "purple"
THEME_COLOUR = HIGHLIGHT_COLOUR  # .streamlit/config.toml's primaryColor (a test keeps them equal)
TRUE_COLOUR = "#009E73"  # Okabe-Ito bluish green: the true label
REFERENCE_COLOUR = "#BBBBBB"  # the grey of "nothing" and "before"
BAR_COLOUR = "#5F6B7A"  # slate: bars of unsigned amounts
INK_COLOUR = "#333333"  # outlines, zero lines, arrows, text on figures
GRID_COLOUR = "#EEEEEE"
WHITE, BLACK = "#FFFFFF", "#000000"  # figure backgrounds, text on dark tiles; outlines of the star
TRANSPARENT = "rgba(0,0,0,0)"  # clickable markers that draw nothing
LABEL_BACKGROUND = (0, 0, 0, 153)  # RGBA behind the white channel numbers on a mosaic (a picture drawn with Pillow)

ACTIVATION_SCALE = plotly.colors.make_colorscale(plotly.colors.sequential.Cividis)
IMAGE_SCALE = [[0.0, BLACK], [1.0, WHITE]]

# One colour per Fashion-MNIST class (CARTO "Safe", designed to stay distinct for colour-blind readers).
CLASS_COLOURS = tuple(plotly.colors.qualitative.Safe[:10])

# Layer kinds in the architecture diagrams: soft tints, none of them a sign, highlight or class colour.
LAYER_COLOURS = {"conv": "#F3D98B", "pool": "#A9CCE3", "dropout": REFERENCE_COLOUR, "flatten": "#B8DDB0", "dense": "#C9B8DD", "softmax": "#F2B8A2"}
OTHER_LAYER_COLOUR = "#DDDDDD"


def layer_colour(kind: str) -> str:
    """The colour of a layer kind (conv, pool, dropout, flatten, dense, softmax) in every diagram."""
    return LAYER_COLOURS.get(kind, OTHER_LAYER_COLOUR)


def sign_colour(value: float) -> str:
    """The colour of a signed amount: orange for + (and 0), blue for −."""
    return POSITIVE_COLOUR if value >= 0 else NEGATIVE_COLOUR


def hex_to_rgb(colour: str) -> tuple[int, int, int]:
    """'#rrggbb' as an (r, g, b) tuple, for pictures drawn with Pillow or NumPy."""
    return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))


def every_colour() -> set[str]:
    """Every colour literal the palette defines (upper-case hex or rgba), for the test that nothing else is drawn."""
    colours = {POSITIVE_COLOUR, NEGATIVE_COLOUR, ZERO_COLOUR, HIGHLIGHT_COLOUR, TRUE_COLOUR, REFERENCE_COLOUR, BAR_COLOUR, INK_COLOUR}
    colours |= {GRID_COLOUR, TRANSPARENT, OTHER_LAYER_COLOUR, WHITE, BLACK, *CLASS_COLOURS, *LAYER_COLOURS.values()}
    colours |= {stop for _, stop in DIVERGING_SCALE + IMAGE_SCALE + ACTIVATION_SCALE}
    return {c.upper() if c.startswith("#") else c.replace(" ", "") for c in colours}
