import base64
import io
import re

import numpy as np
import pytest
from PIL import Image

from fashion_viz import CLASS_NAMES
from fashion_viz.figures.architecture import architecture_figure
from fashion_viz.figures.evaluation import CELL_TRACE, confusion_matrix_figure, per_class_accuracy_chart
from fashion_viz.figures.layers import PIXEL_TRACE, feature_map_mosaic, feature_maps_with_large_map, flatten_figure, image_figure, kernel_mosaic, layer_output_figure
from fashion_viz.figures.prediction import probability_chart
from fashion_viz.figures.training import training_curves
from fashion_viz.layer_guide import describe_layers
from fashion_viz.palette import NEGATIVE_COLOUR, POSITIVE_COLOUR


@pytest.mark.parametrize("shape", [(26, 26, 32), (13, 13, 32), (11, 11, 64), (5, 5, 64)])
def test_mosaic_holds_every_channel_once(shape):
    rng = np.random.default_rng(0)
    maps = rng.random(shape, dtype=np.float32) + 0.01
    fig = feature_map_mosaic(maps, "t")
    heatmap = fig.data[0]
    z = np.array(heatmap.z, dtype=float)
    channels = np.array(heatmap.customdata)
    assert np.isfinite(z).sum() == shape[0] * shape[1] * shape[2]
    assert sorted(set(channels[np.isfinite(z)].astype(int).tolist())) == list(range(shape[2]))
    labels = fig.data[1]
    assert list(labels.customdata) == list(range(shape[2])), "every map's number is clickable"
    (numbers,) = fig.layout.images  # the numbers, one picture over the mosaic
    picture = np.asarray(Image.open(io.BytesIO(base64.b64decode(numbers.source.split(",", 1)[1]))).convert("RGBA"))
    rows, cols = z.shape
    cell = picture.shape[1] / cols
    for x, y in zip(labels.x, labels.y):  # a dark square with a white number on it under each clickable marker
        square = picture[int((y + 0.5) * cell) - 8 : int((y + 0.5) * cell) + 8, int((x + 0.5) * cell) - 8 : int((x + 0.5) * cell) + 8]
        assert square[..., 3].min() > 100 and square[..., :3].max() > 200
    assert fig.layout.title.text == "t"
    assert len(fig.to_json()) < 300_000, "a mosaic stays light enough for the browser"


@pytest.mark.parametrize("shared, stacked", [(True, False), (False, True)])
def test_the_chosen_channel_is_large_beside_the_mosaic_in_one_chart(shared, stacked):
    """One chart per layer step: the mosaic, and the chosen channel large on its own axes, every pixel clickable with
    its true value, the chosen position outlined there and the channel outlined in the mosaic."""
    rng = np.random.default_rng(1)
    maps = rng.random((11, 11, 64), dtype=np.float32)
    maps[:, :, 5] *= 0.2  # a weak channel
    fig = feature_maps_with_large_map(maps, "conv2: t", channel=5, mark=(2, 7), shared_scale=shared, stacked=stacked)
    mosaic, large = fig.data[0], fig.data[2]
    pixels = [t for t in fig.data if t.name == PIXEL_TRACE][0]
    assert (large.xaxis, large.yaxis) == ("x2", "y2") and (pixels.xaxis, pixels.yaxis) == ("x2", "y2")
    assert large.zmax == mosaic.zmax and large.colorscale == mosaic.colorscale and large.showscale is False, "one colour bar holds for both"
    expected = maps[:, :, 5] if shared else maps[:, :, 5] / maps[:, :, 5].max()
    np.testing.assert_allclose(np.array(large.z, dtype=float), expected, rtol=1e-6)
    custom = np.array(pixels.customdata, dtype=float)
    assert len(custom) == 121 and custom[2 * 11 + 7].tolist() == pytest.approx([2, 7, maps[2, 7, 5]], rel=1e-6), "hover and click give the true value"
    shapes = {(shape.xref or "x", shape.x0, shape.y0) for shape in fig.layout.shapes}
    assert ("x2", 6.5, 1.5) in shapes, "the chosen position, outlined on the large map"
    assert any(ref == "x" for ref, _, _ in shapes), "the channel, outlined in the mosaic"
    assert any(a.text.startswith("channel 5 (max") for a in fig.layout.annotations)
    mosaic_x, large_x = fig.layout.xaxis.domain, fig.layout.xaxis2.domain
    if stacked:
        assert fig.layout.yaxis2.domain[1] < fig.layout.yaxis.domain[0], "below the mosaic"
    else:
        assert mosaic_x[1] < large_x[0], "beside the mosaic"


def test_mosaic_hover_shows_values_and_numbers_sit_on_their_maps():
    maps = np.arange(5 * 5 * 8, dtype=np.float32).reshape(5, 5, 8)
    shared = feature_map_mosaic(maps, "t", shared_scale=True)
    per_map = feature_map_mosaic(maps, "t", shared_scale=False)
    z_shared, z_per_map = np.array(shared.data[0].z, dtype=float), np.array(per_map.data[0].z, dtype=float)
    custom = np.array(shared.data[0].customdata)
    assert np.nanmax(z_per_map) == pytest.approx(1.0), "per-map scale: each map divided by its max"
    assert "value" in shared.data[0].hovertemplate and "strongest" in per_map.data[0].hovertemplate
    for y, x in zip(*np.nonzero(np.isfinite(z_shared))):
        assert z_shared[y, x] in maps[:, :, int(custom[y, x])], "shared scale: hover value is the raw activation"
    label = shared.data[1]
    for k, (lx, ly) in enumerate(zip(label.x, label.y)):
        assert custom[round(ly), round(lx)] == k, "each number sits on its own map"


def kernel_tiles(fig) -> dict[int, np.ndarray]:
    """Each filter's 3x3 tile, read back from the mosaic through its per-pixel filter index."""
    z, index = np.array(fig.data[0].z, float), np.array(fig.data[0].customdata)
    tiles = {}
    for k in np.unique(index[index >= 0]):
        rows, cols = np.nonzero(index == k)
        tiles[int(k)] = z[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    return tiles


@pytest.mark.parametrize("input_channel", [None, 0, 3, 31])
def test_kernel_mosaic_tiles_are_the_kernels(input_channel):
    kernels = np.random.default_rng(1).normal(size=(3, 3, 32, 64)).astype(np.float32)
    fig = kernel_mosaic(kernels, "w", input_channel=input_channel)
    heat = fig.data[0]
    assert heat.zmin == -heat.zmax and heat.zmid == 0, "diverging scale centred on zero"
    tiles = kernel_tiles(fig)
    assert sorted(tiles) == list(range(64))
    expected = kernels.mean(axis=2) if input_channel is None else kernels[:, :, input_channel, :]
    for k, tile in tiles.items():
        np.testing.assert_allclose(tile, expected[:, :, k], rtol=1e-6, err_msg=f"filter {k}")


def test_kernel_mosaic_of_conv1_shows_each_filter(shipped):
    kernels = shipped.model.get_layer("conv1").get_weights()[0]
    tiles = kernel_tiles(kernel_mosaic(kernels, "conv1"))
    for k in range(32):
        np.testing.assert_allclose(tiles[k], kernels[:, :, 0, k], rtol=1e-6)


def test_probability_chart_marks_top_and_true_class():
    probs = np.full(10, 0.02)
    probs[9] = 0.82
    fig = probability_chart(probs, true_label=7)
    assert "Ankle boot" in fig.layout.title.text and "Sneaker" in fig.layout.title.text
    assert list(fig.data[0].y)[7].endswith("true")
    assert fig.layout.xaxis.title.text == "probability"


def test_flatten_strip_indexes_match_keras_order():
    maps = np.random.default_rng(2).random((5, 5, 64), dtype=np.float32)
    fig = flatten_figure(maps.reshape(-1), (5, 5, 64), "f")
    z, index = np.array(fig.data[0].z), np.array(fig.data[0].customdata)
    assert z.shape == (25, 64)
    assert z[7, 3] == pytest.approx(maps.reshape(-1)[index[7, 3]])
    assert z[7, 3] == pytest.approx(maps[1, 2, 3])


def test_layer_output_figure_for_every_layer(engine, shipped, sample):
    acts = engine.activations(sample.images[0])
    for info, output in zip(describe_layers(shipped.model), acts.layers):
        fig = layer_output_figure(output, info)
        assert fig.layout.title.text.startswith(info.name)
        assert len(fig.to_json()) < 400_000, f"{info.name} figure too heavy for the browser"


def test_training_curves_plot_the_history():
    history = [dict(epoch=i, loss=1 / i, accuracy=0.7 + i / 100, val_loss=1.5 / i, val_accuracy=0.8 + i / 100) for i in range(1, 4)]
    curves = training_curves(history, "accuracy", "acc")
    assert curves.layout.xaxis.title.text == "epoch" and [t.name for t in curves.data] == ["training", "validation"]
    assert list(curves.data[0].x) == [1, 2, 3]
    assert list(curves.data[0].y) == pytest.approx([0.71, 0.72, 0.73])
    assert list(curves.data[1].y) == pytest.approx([0.81, 0.82, 0.83])
    loss = training_curves(history, "loss", "loss")
    assert list(loss.data[1].y) == pytest.approx([1.5, 0.75, 0.5])


def test_confusion_matrix_figure_shows_counts_and_shares():
    confusion = np.random.default_rng(3).integers(0, 50, (10, 10))
    fig = confusion_matrix_figure(confusion)
    heat, cells = fig.data
    assert list(heat.x) == list(CLASS_NAMES) and fig.layout.yaxis.title.text == "true class"
    np.testing.assert_array_equal(np.array(heat.text), confusion)
    np.testing.assert_allclose(np.array(heat.z), confusion / confusion.sum(axis=1, keepdims=True))
    assert cells.name == CELL_TRACE and len(cells.x) == 100, "one clickable marker per cell"
    for i in (0, 37, 99):
        true_class, predicted = divmod(i, 10)
        assert (cells.y[i], cells.x[i]) == (CLASS_NAMES[true_class], CLASS_NAMES[predicted])
        assert list(cells.customdata[i][:3]) == [true_class, predicted, confusion[true_class, predicted]]


def test_architecture_figure_and_layer_guide(shipped):
    infos = describe_layers(shipped.model)
    assert [i.receptive_field for i in infos[:6]] == [3, 4, 4, 8, 10, 10]
    assert sum(i.params for i in infos) == 225_034
    assert infos[3].params_formula == "64 x (3x3x32 + 1) = 18,496"
    assert "edges" in infos[0].explanation and "halves" in infos[1].explanation
    assert "sum" in infos[-1].explanation or "add up to 1" in infos[-1].explanation
    fig = architecture_figure(infos)
    hover = fig.data[0].hovertext
    assert len(hover) == 10 and "18,496" in hover[3]
    upright = architecture_figure(infos, vertical=True)  # a phone: the input on top, each name beside its block
    assert list(upright.data[0].hovertext) == list(hover)
    assert list(upright.data[0].y) == [-i for i in range(10)] and set(upright.data[0].x) == {0}
    assert [a.text.split("</b>")[0] for a in upright.layout.annotations if a.text] == [f"<b>{i.name}" for i in infos]
    go_figure = type(fig)
    go_figure(upright.to_plotly_json())  # passes Plotly's validation


def test_every_figure_passes_plotly_validation(engine, shipped, sample):
    """Builders skip validation for speed; rebuilding each figure validated catches any bad property."""
    import plotly.graph_objects as go

    acts = engine.activations(sample.images[7])
    infos = describe_layers(shipped.model)
    figures = [layer_output_figure(o, i, shared_scale=s, highlight=3) for o, i in zip(acts.layers, infos) for s in (True, False)]
    figures += [
        probability_chart(acts.probabilities, 7),
        image_figure(sample.images[7], "input"),
        layer_output_figure(acts.layers[0], infos[0], highlight=3, large=True, mark=(2, 3)),
        layer_output_figure(acts.layers[3], infos[3], shared_scale=False, highlight=3, large=True, stacked=True, columns=4),
        kernel_mosaic(shipped.model.get_layer("conv2").get_weights()[0], "k", input_channel=2, highlight=5),
        training_curves([dict(epoch=1, loss=1.0, accuracy=0.5, val_loss=1.0, val_accuracy=0.5)], "loss", "c"),
        confusion_matrix_figure(np.eye(10, dtype=int)),
        per_class_accuracy_chart([0.9] * 10),
        architecture_figure(infos),
    ]
    for fig in figures:
        go.Figure(fig.to_dict())  # raises ValueError on any invalid property
        for trace in fig.data:
            scale = getattr(trace, "colorscale", None)
            assert scale is None or isinstance(scale, (list, tuple)), f"{fig.layout.title.text}: colorscale {scale!r} is a name plotly.js may not know"


def test_arithmetic_and_attribution_figures_pass_plotly_validation(engine, shipped, sample):
    """The explanation figures are built unvalidated too: rebuild each with validation on."""
    import plotly.graph_objects as go

    from fashion_viz.figures.arithmetic import dropout_map_figure, dropout_mask_figure, monte_carlo_figure, partial_sums_figure, temperature_figure
    from fashion_viz.figures.attribution import attribution_grid_figure, whatif_figure
    from fashion_viz.engine import Engine
    from fashion_viz.explain.attribution import METHODS, attribute

    rng = np.random.default_rng(0)
    probs = np.full(10, 0.1)
    scorer = Engine(shipped.model)
    figures = [
        partial_sums_figure(rng.normal(size=32), "p"),
        temperature_figure(rng.normal(size=10), probs, 2.0),
        dropout_mask_figure(rng.random(128), rng.random(128), rng.random(128) > 0.5, "m"),
        dropout_map_figure(rng.random((5, 5)), rng.random((5, 5)), rng.random((5, 5)) > 0.3, "m"),
        monte_carlo_figure(rng.dirichlet(np.ones(10), 50), probs, "mc"),
        attribution_grid_figure(sample.images[0], [attribute(scorer, sample.images[0], m, 9) for m in METHODS]),
        whatif_figure(probs, probs),
    ]
    for fig in figures:
        go.Figure(fig.to_dict())  # raises ValueError on any invalid property


def test_number_grids_print_every_value_and_tint_signs_by_the_palette():
    from fashion_viz.figures.arithmetic import NumberGrid, number_grids_html, window_kernel_products
    from fashion_viz.palette import HIGHLIGHT_COLOUR, hex_to_rgb

    window = np.array([[0.0, 0.5, 1.0], [0.2, 0.4, 0.6], [0.9, 0.1, 0.3]])
    kernel = np.array([[1.0, -1.0, 0.5], [0.0, -0.5, 0.25], [-0.25, 1.0, -1.0]])
    html = number_grids_html(window_kernel_products(window, kernel))
    for heading in ("input window", "× kernel weights", "= products"):
        assert heading in html
    cells = re.findall(r"<td title='([^']*)' style='background:rgb\((\d+), ?(\d+), ?(\d+)\)[^>]*>([^<]*)</td>", html)
    assert len(cells) == 27
    products = [c for c in cells if c[0].startswith("= products")]
    assert [float(c[4]) for c in products] == pytest.approx((window * kernel).ravel(), abs=5e-4)
    strongest_plus = max(products, key=lambda c: float(c[4]))
    strongest_minus = min(products, key=lambda c: float(c[4]))
    assert tuple(map(int, strongest_plus[1:4])) == hex_to_rgb(POSITIVE_COLOUR)
    assert tuple(map(int, strongest_minus[1:4])) == hex_to_rgb(NEGATIVE_COLOUR)
    pooled = number_grids_html([NumberGrid("window", np.array([[0.1, 0.7], [0.3, 0.2]]), digits=4, outlined=(0, 1))])
    outlined = re.findall(r"<td title='window, row (\d), column (\d)[^']*' style='[^']*border:3px solid ([^;]*);", pooled)
    assert outlined == [("0", "1", HIGHLIGHT_COLOUR)]


def test_contributions_bars_start_at_one_zero_line_in_the_sign_colours():
    from fashion_viz.figures.arithmetic import contributions_html

    html = contributions_html([("a <b>", 0.5), ("c", -0.25), ("d", 0.0)], "What makes it")
    assert html.count("<tr") == 3 and "What makes it" in html
    assert "a &lt;b&gt;" in html and "<b>" not in html, "labels are text, not markup"
    zero = re.findall(r"left:([\d.]+)%;top:-3px", html)
    assert zero == ["33.33"] * 3, "0 sits a third of the way along: the range is -0.25 to 0.5"
    bars = re.findall(r"data-value='([^']+)' style='position:absolute;left:([\d.]+)%;width:([\d.]+)%;top:0;bottom:0;background:(#\w+)'", html)
    assert [(float(v), float(left), float(width), colour) for v, left, width, colour in bars] == [
        (0.5, 33.33, 66.67, POSITIVE_COLOUR),  # from the zero line to the right end
        (-0.25, 0.0, 33.33, NEGATIVE_COLOUR),  # from the left end to the zero line
        (0.0, 33.33, 0.0, POSITIVE_COLOUR),
    ]
    assert re.findall(r">([+−-][\d.]+)</td>", html) == ["+0.5000", "-0.2500", "+0.0000"]
    only_plus = contributions_html([("a", 2.0), ("b", 1.0)], "t")
    assert re.findall(r"left:([\d.]+)%;top:-3px", only_plus) == ["0.00", "0.00"], "all positive: the zero line at the left"


def test_receptive_field_picture_dims_all_but_the_field(sample):
    from fashion_viz.figures.arithmetic import receptive_field_picture
    from fashion_viz.palette import HIGHLIGHT_COLOUR, hex_to_rgb

    image = np.full((28, 28), 200, np.uint8)
    picture = receptive_field_picture(image, (2, 3, 10, 11), factor=10)
    assert picture.shape == (280, 280, 3)
    assert tuple(picture[0, 0]) == (70, 70, 70), "outside the field: dimmed to 35 %"
    assert tuple(picture[60, 70]) == (200, 200, 200), "inside: as it was"
    assert tuple(picture[20, 50]) == hex_to_rgb(HIGHLIGHT_COLOUR), "the field's top edge is outlined"


def test_margins_make_room_for_labels_colour_bars_and_legends_and_never_shrink():
    """figures/base.reserved_margin: the room Plotly would otherwise make by drawing the chart twice."""
    from fashion_viz.figures.base import figure, for_narrow_screen, reserved_margin

    bars = [dict(type="bar", x=[0.1, 0.9], y=["Ankle boot", "T-shirt/top"], orientation="h")]
    plain = reserved_margin(bars, dict(margin=dict(l=10, r=10, t=48, b=10), yaxis=dict(title=dict(text="class"))))
    longer = reserved_margin([{**bars[0], "y": ["Ankle boot  ✓ true", "T-shirt/top"]}], dict(margin=dict(l=10), yaxis=dict(title=dict(text="class"))))
    assert longer["l"] > plain["l"] > 10 and plain["b"] > 10, "longer class names, a wider left margin"
    assert reserved_margin(bars, dict(margin=dict(l=300, b=200)))["l"] == 300, "a figure's own larger margin stays"
    heat = [dict(type="heatmap", z=[[0, 1]], colorbar=dict(title=dict(text="activation"), thickness=12))]
    hidden = dict(xaxis=dict(visible=False), yaxis=dict(visible=False))
    assert reserved_margin(heat, {**hidden, "margin": dict(r=10)})["r"] > 80, "room for the colour bar"
    assert reserved_margin([{**heat[0], "showscale": False}], {**hidden, "margin": dict(r=10)})["r"] == 10
    legend = [dict(type="scatter", x=[0], y=[0], name="Ankle boot"), dict(type="scatter", x=[0], y=[0], name="Bag")]
    assert reserved_margin(legend, dict(margin=dict(r=10)))["r"] > 60, "room for the legend beside the chart"
    assert reserved_margin(legend, dict(margin=dict(r=10), legend=dict(orientation="h")))["r"] == 20, "a legend below takes none"
    narrow = for_narrow_screen(figure(heat, "t", 300, **hidden))
    assert narrow.layout.margin.r == 20 and narrow.data[0].colorbar.orientation == "h", "on a phone the bar goes under the chart"


def test_on_a_phone_a_legend_goes_under_the_chart_and_a_long_title_wraps():
    from fashion_viz.figures.base import NARROW_TITLE_CHARS, figure, for_narrow_screen

    points = [dict(type="scatter", x=[0], y=[0], name=name) for name in CLASS_NAMES]
    wide = figure(points, "The test set as the model sees it (dense1, 128 numbers per picture, projected to 2-D)", 500)
    assert wide.layout.margin.r > 100, "beside the chart on a wide screen"
    narrow = for_narrow_screen(figure(points, wide.layout.title.text, 500))
    assert narrow.layout.legend.orientation == "h" and narrow.layout.legend.y < 0 and narrow.layout.margin.r == 20
    lines = narrow.layout.title.text.split("<br>")
    assert len(lines) == 2 and all(len(line) <= NARROW_TITLE_CHARS for line in lines)
    assert " ".join(lines) == wide.layout.title.text, "every word kept, in order"
    grown = narrow.layout.height - 500
    assert narrow.layout.margin.t - wide.layout.margin.t + narrow.layout.margin.b - wide.layout.margin.b == grown > 0, "the chart grows by what it holds"
    short = for_narrow_screen(figure(points[:1], "conv1: 32 maps", 300))
    assert short.layout.title.text == "conv1: 32 maps" and short.layout.height == 300, "a short title and one trace: as they were"
