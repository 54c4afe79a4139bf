"""The replay of training: its pictures (one per snapshot), the player that shows them, and GIFs for slides.

The player is one self-contained HTML page (``st.iframe`` on the Replay page): every snapshot's pictures are
drawn here once (filters, a probe picture's feature maps, the map of 1,000 test pictures, as small PNGs
the browser scales up pixel-sharp) and the page swaps them, moves the probability bars and redraws the
curves' cursor on a canvas. A Plotly figure with the same panels and animation frames redrew all of its
eight subplots for every frame: 3-4 frames a second here, against the 10 asked for (docs/2026-12-01-replay.md).
Colours come from :mod:`fashion_viz.palette` only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from fashion_viz import CLASS_NAMES
from fashion_viz.figures.base import FONT, mosaic_geometry, mosaic_grid, png_data_uri
from fashion_viz.palette import (
    ACTIVATION_SCALE,
    BAR_COLOUR,
    CLASS_COLOURS,
    DIVERGING_SCALE,
    GRID_COLOUR,
    HIGHLIGHT_COLOUR,
    INK_COLOUR,
    REFERENCE_COLOUR,
    hex_to_rgb,
)

FRAME_MS = 80  # the play button's pace: 12.5 frames a second
GAP = 255  # index of the gaps' white in the pictures' colour tables
MAP_PX = 360  # the map's picture, square
PLAY_LABEL, PAUSE_LABEL = "▶ Play", "❚❚ Pause"


def epoch_label(epoch: float) -> str:
    return "0" if epoch == 0 else f"{epoch:.2f}".rstrip("0").rstrip(".") if epoch < 10 else f"{epoch:.0f}"


def plotted_epochs(epochs: np.ndarray) -> np.ndarray:
    """The epochs on the log-scaled time axis: the start (epoch 0) is drawn half the first moment's distance before it."""
    epochs = np.asarray(epochs, float)
    first = epochs[epochs > 0].min() if np.any(epochs > 0) else 1.0
    return np.where(epochs > 0, epochs, first / 2)


def colour_table(scale) -> np.ndarray:
    """(256, 3) uint8 lookup table: the Plotly colour scale over 0-254, and the gaps' white at 255."""
    import plotly.colors

    colours = np.array(plotly.colors.sample_colorscale(scale, list(np.linspace(0, 1, GAP)), colortype="tuple"))
    colours = colours * (255 if colours.max() <= 1 else 1)
    return np.vstack([np.round(colours), [[255, 255, 255]]]).astype(np.uint8)


def _indexed(mosaic: np.ndarray, table: np.ndarray) -> Image.Image:
    """An RGB picture of a mosaic of values in [0, 1] (NaN: the gaps)."""
    index = np.where(np.isnan(mosaic), GAP, np.clip(np.round(np.nan_to_num(mosaic) * 254), 0, 254)).astype(np.uint8)
    return Image.fromarray(table[index])


def filter_pictures(kernels: np.ndarray, columns: int = 8) -> list[Image.Image]:
    """One picture per snapshot of 3x3 filter planes (snapshots, kh, kw, planes): + orange, − blue, 0 white, on
    one scale for every moment (the last moment's 90th percentile of |weight| at full colour), so growth shows."""
    tiles = [mosaic_grid(k, columns=min(columns, k.shape[-1]), gap=1)[0] for k in kernels]
    limit = float(np.nanpercentile(np.abs(tiles[-1]), 90)) or 1.0
    table = colour_table(DIVERGING_SCALE)
    return [_indexed((t / limit + 1) / 2, table) for t in tiles]


def map_pictures(outputs: np.ndarray) -> list[Image.Image]:
    """One picture per snapshot of a picture's feature maps (snapshots, h, w, c), each moment scaled to its own
    largest value: the maps are seen taking shape even while their size grows."""
    h, _, c = outputs.shape[1:]
    columns, gap = mosaic_geometry(h, c)
    table = colour_table(ACTIVATION_SCALE)
    pictures = []
    for maps in outputs:
        top = float(maps.max())
        pictures.append(_indexed(mosaic_grid(maps / top if top > 0 else np.zeros_like(maps), columns=columns, gap=gap)[0], table))
    return pictures


def vector_pictures(outputs: np.ndarray, columns: int = 16) -> list[Image.Image]:
    """A vector layer's output (snapshots, units) as a grid of cells, each moment scaled to its own largest value."""
    units = outputs.shape[1]
    rows = -(-units // columns)
    table = colour_table(ACTIVATION_SCALE)
    pictures = []
    for values in outputs:
        top = float(values.max())
        cells = np.full(rows * columns, np.nan, np.float32)  # the cells after the last unit are gaps
        cells[:units] = values / top if top > 0 else 0.0
        pictures.append(_indexed(cells.reshape(rows, columns), table))
    return pictures


def scatter_pictures(xy: np.ndarray, labels: np.ndarray, size: int = MAP_PX) -> list[Image.Image]:
    """The map of the probe pictures at each snapshot, each dot in its class's colour, on one frame for all moments."""
    span = float(np.abs(xy).max()) * 1.05 or 1.0
    pictures = []
    for points in xy:
        picture = Image.new("RGB", (size, size), "white")
        draw = ImageDraw.Draw(picture)
        for (x, y), c in zip(points, labels):
            px, py = (x / span + 1) / 2 * (size - 1), (1 - (y / span + 1) / 2) * (size - 1)
            draw.ellipse([px - 2.2, py - 2.2, px + 2.2, py + 2.2], fill=CLASS_COLOURS[int(c)])
        pictures.append(picture)
    return pictures


def time_ticks(x_time: np.ndarray) -> tuple[list[float], list[str]]:
    """The log-scaled time axis's ticks: the start, then powers of 4 epochs within the run."""
    ticks = [float(x_time[0]), *[4.0**p for p in range(-3, 6) if x_time[1] * 0.9 <= 4.0**p <= x_time[-1] * 1.1]]
    return ticks, ["0", *[epoch_label(t) if t >= 1 else f"1/{round(1 / t)}" for t in ticks[1:]]]


def replay_player_html(
    epochs: np.ndarray,
    steps: np.ndarray,
    views: dict,
    panels: Sequence[tuple[str, list[Image.Image]]],
    probe: int,
    probe_picture: np.ndarray,
) -> str:
    """The Replay page's player: a play button and a slider over the snapshots, and every view moving with them.

    ``panels``: (title, one picture per snapshot) for the filters and the probe picture's layer; ``probe``: the
    probe picture's row in the views; ``probe_picture``: that 28x28 picture, shown beside its probabilities.
    """
    epochs, steps = np.asarray(epochs, float), np.asarray(steps)
    x_time = plotted_epochs(epochs)
    ticks, tick_text = time_ticks(x_time)
    probabilities = np.asarray(views["probe_probabilities"])[:, probe]
    data = {
        "frames": len(epochs),
        "frame_ms": FRAME_MS,
        "title": [f"Epoch {epoch_label(e)} (step {int(s):,}) · validation accuracy {a:.1%}" for e, s, a in zip(epochs, steps, views["val_accuracy"])],
        "epoch": [epoch_label(e) for e in epochs],
        "x": [float(v) for v in x_time],
        "ticks": ticks,
        "tick_text": tick_text,
        "panels": [{"title": title, "frames": [png_data_uri(p) for p in pictures]} for title, pictures in panels],
        "map": [png_data_uri(p) for p in scatter_pictures(np.asarray(views["map"]), np.asarray(views["map_labels"]))],
        "probabilities": np.round(probabilities, 4).tolist(),
        "classes": list(CLASS_NAMES),
        "class_colours": list(CLASS_COLOURS),
        "curves": {key: np.round(np.asarray(views[key], float), 4).tolist() for key in ("val_accuracy", "train_accuracy", "val_loss", "train_loss")},
        "class_accuracy": np.round(np.asarray(views["class_accuracy"], float), 3).tolist(),
        "scale": ["#%02x%02x%02x" % tuple(c) for c in colour_table(ACTIVATION_SCALE)[:GAP:2]],
        "colours": {"highlight": HIGHLIGHT_COLOUR, "bar": BAR_COLOUR, "ink": INK_COLOUR, "grid": GRID_COLOUR, "reference": REFERENCE_COLOUR},
        "labels": {"play": PLAY_LABEL, "pause": PAUSE_LABEL},
    }
    probe_uri = png_data_uri(Image.fromarray(np.asarray(probe_picture, np.uint8)))
    legend = "".join(f'<span><i style="background:{colour}"></i>{name}</span>' for name, colour in zip(CLASS_NAMES, CLASS_COLOURS))
    panels_html = "".join(
        f'<figure class="panel{" wide" if k == len(panels) - 1 else ""}"><figcaption>{title}</figcaption><img class="pixels" id="panel{k}" alt="{title}"></figure>'
        for k, (title, _) in enumerate(panels)
    )
    return PLAYER_HTML.replace("%FONT%", FONT["family"]).replace("%INK%", INK_COLOUR).replace("%GRID%", GRID_COLOUR).replace(
        "%HIGHLIGHT%", HIGHLIGHT_COLOUR).replace("%PANELS%", panels_html).replace("%LEGEND%", legend).replace(
        "%PROBE%", probe_uri).replace("%PROBE_NAME%", CLASS_NAMES[probe]).replace("%DATA%", json.dumps(data))


PLAYER_HTML = """<!doctype html><html><head><meta charset="utf-8"><style>
body { margin: 0; font-family: %FONT%; font-size: 13px; color: %INK%; background: white; }
.controls { display: flex; align-items: center; gap: 10px; margin: 4px 0 10px; flex-wrap: wrap; }
.controls button { font: inherit; font-size: 14px; padding: 5px 14px; border: 1px solid %HIGHLIGHT%; border-radius: 6px; background: white; color: %INK%; cursor: pointer; min-width: 92px; }
.controls input[type=range] { flex: 1; min-width: 160px; -webkit-appearance: none; appearance: none; height: 6px; border-radius: 3px; background: %GRID%; }
.controls input[type=range]::-webkit-slider-thumb { -webkit-appearance: none; width: 16px; height: 16px; border-radius: 50%; background: %HIGHLIGHT%; cursor: pointer; }
.controls input[type=range]::-moz-range-thumb { width: 16px; height: 16px; border: 0; border-radius: 50%; background: %HIGHLIGHT%; cursor: pointer; }
#title { font-weight: 600; font-size: 15px; min-width: 300px; }
.grid { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); grid-auto-flow: row dense; gap: 14px 22px; }
.panel { margin: 0; min-width: 0; }
.panel.wide { grid-column: span 2; }
figcaption { font-weight: 600; margin-bottom: 4px; }
img.pixels { width: 100%; image-rendering: pixelated; display: block; }
#map { width: 100%; max-width: 360px; display: block; }
.legend { display: flex; flex-wrap: wrap; gap: 2px 10px; font-size: 11px; margin-top: 4px; }
.legend i { display: inline-block; width: 9px; height: 9px; border-radius: 50%; margin-right: 4px; }
.bars { display: grid; grid-template-columns: auto 1fr 44px; gap: 3px 6px; align-items: center; }
.bars .track { background: %GRID%; height: 14px; border-radius: 2px; }
.bars .fill { height: 14px; border-radius: 2px; }
.probe { display: flex; gap: 10px; align-items: flex-start; }
.probe img { width: 56px; image-rendering: pixelated; border: 1px solid %GRID%; }
canvas { width: 100%; height: 190px; display: block; }
.note { font-size: 12px; color: #666; }
@media (max-width: 720px) { .grid { grid-template-columns: minmax(0, 1fr); } .panel.wide { grid-column: auto; } #title { min-width: 0; } }
</style></head><body>
<div class="controls"><button id="play" type="button"></button><input id="time" type="range" min="0" value="0" aria-label="moment of training"><span id="title"></span></div>
<div class="grid">
%PANELS%
<figure class="panel"><figcaption>Probabilities of the probe picture (%PROBE_NAME%)</figcaption><div class="probe"><img src="%PROBE%" alt="the probe picture"><div class="bars" id="bars" style="flex:1"></div></div></figure>
<figure class="panel"><figcaption>Map of 1,000 test pictures (dense layer, PCA)</figcaption><img id="map" alt="map"><div class="legend">%LEGEND%</div></figure>
<figure class="panel"><figcaption>Accuracy: validation (solid) and training (dashed)</figcaption><canvas id="accuracy"></canvas></figure>
<figure class="panel"><figcaption>Loss (cross-entropy)</figcaption><canvas id="loss"></canvas></figure>
<figure class="panel"><figcaption>Validation accuracy per class</figcaption><canvas id="classes"></canvas></figure>
</div>
<script>
const D = %DATA%;
const $ = id => document.getElementById(id);
const time = $("time"), play = $("play");
time.max = D.frames - 1;
const pictures = D.panels.map(p => p.frames.map(src => { const i = new Image(); i.src = src; return i; }));
const mapPictures = D.map.map(src => { const i = new Image(); i.src = src; return i; });
const bars = D.classes.map((name, c) => {
  const label = document.createElement("span"), track = document.createElement("div"), fill = document.createElement("div"), value = document.createElement("span");
  label.textContent = name; track.className = "track"; fill.className = "fill"; track.appendChild(fill);
  $("bars").append(label, track, value); return {fill, value};
});
const lx = Math.log(D.x[0]), hx = Math.log(D.x[D.x.length - 1]);
function axes(canvas, left, bottom) {
  const ratio = window.devicePixelRatio || 1, w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== w * ratio) { canvas.width = w * ratio; canvas.height = h * ratio; }
  const g = canvas.getContext("2d"); g.setTransform(ratio, 0, 0, ratio, 0, 0); g.clearRect(0, 0, w, h);
  g.font = "11px " + getComputedStyle(document.body).fontFamily;
  const box = {g, x0: left, x1: w - 8, y0: 6, y1: h - bottom};
  box.x = v => box.x0 + (Math.log(v) - lx) / (hx - lx || 1) * (box.x1 - box.x0);
  g.fillStyle = D.colours.ink; g.textAlign = "center";
  D.ticks.forEach((t, k) => { const x = box.x(t); g.strokeStyle = D.colours.grid; g.beginPath(); g.moveTo(x, box.y0); g.lineTo(x, box.y1); g.stroke(); g.fillText(D.tick_text[k], x, box.y1 + 13); });
  g.fillText("epoch (log scale)", (box.x0 + box.x1) / 2, box.y1 + 27);
  return box;
}
function curves(id, keys, top, format) {
  const box = axes($(id), 40, 32), g = box.g, y = v => box.y1 - v / top * (box.y1 - box.y0);
  g.textAlign = "right";
  for (let k = 0; k <= 4; k++) { const v = top * k / 4, py = y(v); g.strokeStyle = D.colours.grid; g.beginPath(); g.moveTo(box.x0, py); g.lineTo(box.x1, py); g.stroke(); g.fillStyle = D.colours.ink; g.fillText(format(v), box.x0 - 4, py + 4); }
  keys.forEach(([key, colour, dash]) => {
    g.strokeStyle = colour; g.lineWidth = 2; g.setLineDash(dash); g.beginPath();
    D.curves[key].forEach((v, k) => { const px = box.x(D.x[k]), py = y(v); k ? g.lineTo(px, py) : g.moveTo(px, py); }); g.stroke();
  });
  g.setLineDash([]); g.lineWidth = 1;
  return box;
}
function cursor(box, k) { const g = box.g, x = box.x(D.x[k]); g.strokeStyle = D.colours.ink; g.lineWidth = 2; g.beginPath(); g.moveTo(x, box.y0); g.lineTo(x, box.y1); g.stroke(); g.lineWidth = 1; }
const lossTop = Math.max(...D.curves.val_loss, ...D.curves.train_loss) * 1.05;
function classes(k) {
  const box = axes($("classes"), 84, 32), g = box.g, rows = D.classes.length, rh = (box.y1 - box.y0) / rows;
  for (let s = 0; s < D.frames; s++) {
    const a = s ? (Math.log(D.x[s - 1]) + Math.log(D.x[s])) / 2 : Math.log(D.x[0]) - 0.1;
    const b = s < D.frames - 1 ? (Math.log(D.x[s]) + Math.log(D.x[s + 1])) / 2 : Math.log(D.x[s]);
    const x0 = Math.max(box.x0, box.x(Math.exp(a))), x1 = box.x(Math.exp(b));
    for (let c = 0; c < rows; c++) { const v = D.class_accuracy[s][c]; g.fillStyle = D.scale[Math.max(0, Math.min(D.scale.length - 1, Math.round(v * (D.scale.length - 1))))]; g.fillRect(x0, box.y0 + c * rh, x1 - x0 + 0.5, rh + 0.5); }
  }
  g.fillStyle = D.colours.ink; g.textAlign = "right";
  D.classes.forEach((name, c) => g.fillText(name, box.x0 - 4, box.y0 + (c + 0.5) * rh + 4));
  cursor(box, k);
}
let current = 0, timer = null, playing = false, shown = 0;
function show(k) {
  current = k; time.value = k;
  pictures.forEach((frames, p) => { $("panel" + p).src = frames[k].src; });
  $("map").src = mapPictures[k].src;
  const probs = D.probabilities[k], top = probs.indexOf(Math.max(...probs));
  bars.forEach((bar, c) => { bar.fill.style.width = (probs[c] * 100).toFixed(1) + "%"; bar.fill.style.background = c === top ? D.colours.highlight : D.colours.bar; bar.value.textContent = (probs[c] * 100).toFixed(0) + "%"; });
  cursor(curves("accuracy", [["val_accuracy", D.colours.highlight, []], ["train_accuracy", D.colours.bar, [5, 4]]], 1, v => Math.round(v * 100) + "%"), k);
  cursor(curves("loss", [["val_loss", D.colours.highlight, []], ["train_loss", D.colours.bar, [5, 4]]], lossTop, v => v.toFixed(1)), k);
  classes(k);
  $("title").textContent = D.title[k];
  shown += 1;
  window.replayShown = {frames: shown, at: performance.now(), current: k};
}
function stop() { playing = false; clearTimeout(timer); play.textContent = D.labels.play; }
function step(frameMs, started, first) {
  if (!playing) return;
  if (current >= D.frames - 1) { stop(); window.dispatchEvent(new Event("replay-ended")); return; }
  show(current + 1);
  const due = started + (current - first + 1) * frameMs;  // on a steady clock, whatever a moment took to draw
  timer = setTimeout(() => requestAnimationFrame(() => step(frameMs, started, first)), Math.max(0, due - performance.now()));
}
// Play from the current moment (from the start after the end), one moment every frameMs.
window.replayPlay = (frameMs = D.frame_ms) => {
  stop(); if (current >= D.frames - 1) show(0); playing = true; play.textContent = D.labels.pause;
  const started = performance.now(), first = current;
  timer = setTimeout(() => step(frameMs, started, first), frameMs);
};
play.addEventListener("click", () => playing ? stop() : window.replayPlay());
time.addEventListener("input", () => { stop(); show(Number(time.value)); });
window.addEventListener("resize", () => show(current));
play.textContent = D.labels.play;
show(0);
</script></body></html>"""


# ------------------------------------------------------------------ GIFs (python -m fashion_viz replay --gif)

def gif_frames(pictures: Sequence[Image.Image], epochs: np.ndarray, val_accuracy: np.ndarray, width: int = 480) -> list[Image.Image]:
    """The pictures of one view enlarged to about ``width`` (pixel-sharp), each captioned with its moment."""
    caption = 22
    out = []
    for picture, epoch, accuracy in zip(pictures, epochs, val_accuracy):
        factor = max(1, width // picture.width)
        body = picture.resize((picture.width * factor, picture.height * factor), Image.NEAREST)
        frame = Image.new("RGB", (body.width, body.height + caption), "white")
        frame.paste(body, (0, caption))
        ImageDraw.Draw(frame).text((4, 4), f"epoch {epoch_label(float(epoch))}  ·  validation accuracy {accuracy:.1%}", fill=hex_to_rgb(INK_COLOUR))
        out.append(frame)
    return out


def save_gif(pictures: Sequence[Image.Image], path, frame_ms: int = 200) -> None:
    """An animated GIF that loops, the last moment held a little longer."""
    durations = [frame_ms] * (len(pictures) - 1) + [frame_ms * 5]
    pictures[0].save(path, save_all=True, append_images=list(pictures[1:]), duration=durations, loop=0, optimize=True)
