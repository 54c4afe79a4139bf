"""One visual language: every chart every page sends (read from AppTest, as the browser gets it) draws only
the palette's colours, a signed quantity in the same + and − colours everywhere, and each class in one colour."""

from __future__ import annotations

import tomllib

import pytest
from conftest import ROOT
from test_app import as_array, charts, open_page, term_bars

from fashion_viz import CLASS_NAMES, palette

COLOUR_KEYS = {"color", "fillcolor", "bgcolor", "gridcolor", "zerolinecolor", "arrowcolor", "linecolor", "plot_bgcolor", "paper_bgcolor", "bordercolor"}
SCALES = {"diverging": palette.DIVERGING_SCALE, "activation": palette.ACTIVATION_SCALE, "image": palette.IMAGE_SCALE}


def normal(colour: str) -> str:
    return colour.upper() if colour.startswith("#") else colour.replace(" ", "")


def scale_key(scale) -> tuple:
    return tuple((round(float(p), 6), normal(c)) for p, c in scale)


def colour_literals(node):
    """Every colour string in a figure's JSON (trace, layout, shapes, annotations), wherever it is nested."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in COLOUR_KEYS:
                values = value if isinstance(value, list) else [value]
                yield from (v for v in values if isinstance(v, str))
            elif key not in ("colorscale", "template"):  # Streamlit's theme template: its defaults, overridden by ours
                yield from colour_literals(value)
    elif isinstance(node, list):
        for item in node:
            yield from colour_literals(item)


@pytest.fixture(scope="module")
def every_page_figure(fmnist, shipped):
    """The Plotly figures of every page, in the states that draw signed quantities and classes: the Explorer on
    every layer (feature maps, filter weights, the arithmetic panel's products, partial sums and contributions,
    Monte-Carlo dropout's per-class boxes), Why with all six methods, Units for conv1, conv2, dense1 and a class."""
    figures = []
    at = open_page()
    figures += charts(at)
    for page in ("architecture", "why", "map", "layers", "evaluate", "train"):
        figures += charts(open_page(page))
    at = open_page("explorer")
    for layer in [l.name for l in shipped.model.layers]:
        at.session_state["explorer_layer"] = layer
        at.run()
        assert not at.exception
        figures += charts(at)
    for layer, unit in (("conv1", 3), ("conv2", 17), ("dense1", 5), ("predictions", 2)):
        at = open_page()
        at.session_state["units_layer"], at.session_state["units_unit"] = layer, unit
        at.switch_page("app_pages/units.py")
        at.run()
        assert not at.exception
        figures += charts(at)
    return [f.to_plotly_json() for f in figures]


def test_the_streamlit_theme_colour_is_the_palettes():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["theme"]["primaryColor"] == palette.THEME_COLOUR == palette.HIGHLIGHT_COLOUR


def test_the_palette_gives_each_meaning_its_own_colour():
    meanings = [palette.POSITIVE_COLOUR, palette.NEGATIVE_COLOUR, palette.HIGHLIGHT_COLOUR, palette.TRUE_COLOUR, palette.REFERENCE_COLOUR, palette.BAR_COLOUR]
    assert len(set(meanings)) == len(meanings)
    assert not set(meanings) & set(palette.CLASS_COLOURS), "no class is drawn in a sign, highlight or true-label colour"
    assert not {palette.POSITIVE_COLOUR, palette.NEGATIVE_COLOUR, palette.HIGHLIGHT_COLOUR} & set(palette.LAYER_COLOURS.values())
    assert palette.DIVERGING_SCALE[0][1] == palette.NEGATIVE_COLOUR and palette.DIVERGING_SCALE[-1][1] == palette.POSITIVE_COLOUR
    assert palette.sign_colour(0.5) == palette.POSITIVE_COLOUR and palette.sign_colour(-0.5) == palette.NEGATIVE_COLOUR


def test_every_chart_draws_only_the_palettes_colours(every_page_figure):
    allowed = palette.every_colour()
    strays = {normal(c) for fig in every_page_figure for c in colour_literals(fig)} - allowed
    assert not strays, f"colours drawn that the palette does not define: {sorted(strays)}"


def test_colour_scales_are_the_palettes_and_signed_ones_are_centred_on_zero(every_page_figure):
    known = {scale_key(s): name for name, s in SCALES.items()}
    diverging = 0
    for fig in every_page_figure:
        for trace in fig["data"]:
            if "colorscale" not in trace:
                continue
            name = known.get(scale_key(trace["colorscale"]))
            assert name, f"{fig['layout']['title']['text']}: a colour scale outside the palette"
            if name == "diverging":
                diverging += 1
                centred = trace.get("zmid") == 0 or (trace.get("zmin") is not None and trace.get("zmin") == -trace.get("zmax"))
                assert centred, f"{fig['layout']['title']['text']}: a signed scale not centred on 0"
    assert diverging >= 4, "filter weights, products and signed attribution maps were among the charts"


def test_a_signed_bar_is_the_same_colour_for_plus_and_minus_on_every_page(every_page_figure):
    signed_traces = 0
    for fig in every_page_figure:
        for trace in fig["data"]:
            if trace.get("type") != "bar" or not isinstance(trace.get("marker", {}).get("color"), list):
                continue
            values = as_array(trace["x"] if trace.get("orientation") == "h" else trace["y"]).astype(float)
            if not (values < 0).any():
                continue
            signed_traces += 1
            colours = [normal(c) for c in trace["marker"]["color"]]
            highlighted = sum(c == palette.HIGHLIGHT_COLOUR for c in colours)
            assert highlighted <= 1, f"{fig['layout']['title']['text']}: the highlight stands for one bar, not a sign"
            for value, colour in zip(values, colours):
                if colour != palette.HIGHLIGHT_COLOUR:
                    assert colour == palette.sign_colour(value), f"{fig['layout']['title']['text']}: {value:+.3f} drawn {colour}"
    assert signed_traces >= 3, "votes, feeders, partial sums or contributions were among the charts"


def test_a_signed_term_bar_in_html_is_the_same_colour_for_plus_and_minus(shipped):
    """The arithmetic panel's term bars are HTML, not charts: the same + and − colours as every chart's."""
    at = open_page("explorer")
    bars = []
    for layer in ("dense1", "predictions"):
        at.session_state["explorer_layer"] = layer
        at.run()
        bars += term_bars(at)
    assert any(v < 0 for _, v, _ in bars) and any(v > 0 for _, v, _ in bars), "both signs were among the bars"
    for label, value, colour in bars:
        assert normal(colour) == palette.sign_colour(value), f"{label}: {value:+.3f} drawn {colour}"


def test_each_class_is_drawn_in_one_colour(every_page_figure):
    seen: dict[str, set[str]] = {}
    for fig in every_page_figure:
        for trace in fig["data"]:
            if trace.get("name") in CLASS_NAMES and isinstance(trace.get("marker", {}).get("color"), str):
                seen.setdefault(trace["name"], set()).add(normal(trace["marker"]["color"]))
    assert len(seen) == len(CLASS_NAMES), "the map and Monte-Carlo dropout name their traces by class"
    for k, name in enumerate(CLASS_NAMES):
        assert seen[name] == {normal(palette.CLASS_COLOURS[k])}, f"{name} drawn in {seen[name]}"


def test_the_units_page_words_match_the_colours(fmnist):
    at = open_page()
    at.session_state["units_layer"], at.session_state["units_unit"] = "conv2", 3
    at.switch_page("app_pages/units.py")
    at.run()
    text = " ".join(c.value for c in at.caption)
    assert f"{palette.POSITIVE_NAME.capitalize()} (+): it pushes that class up" in text
    assert f"{palette.HIGHLIGHT_NAME.capitalize()}: its favourite class" in text
    assert "Blue: it pushes" not in text and "red:" not in text
