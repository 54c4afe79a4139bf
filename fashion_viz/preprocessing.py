"""From an uploaded file to the 28x28 picture the model sees.

Mirrors the recipe Fashion-MNIST was made with (Xiao et al. 2017, sec. 2): trim
the background border, fit the longest side to 28 px, sharpen, centre on a
28x28 canvas, negate to light-on-dark, 8-bit grayscale. Files are checked from
their header before any pixel is decoded. An image that already is a 28x28
grayscale Fashion-MNIST-style picture passes through unchanged.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from fashion_viz import IMAGE_SIZE

ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP")
MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
MAX_SIDE = 12_000
MIN_SIDE = 8
MAX_ASPECT = 10.0
WORKING_SIDE = 1024  # photos are shrunk to this before background removal and trimming
UPLOAD_TYPES = ["png", "jpg", "jpeg", "webp", "gif", "bmp"]
BUSY_SPREAD = 25.0  # robust spread of the border (grey levels) above which the background counts as busy
TOUCHING_SHARE = 0.01  # share of border pixels on the garment above which it touches the edge
# What counts as garment when trimming (see garment_evidence): ink of at least this share of the garment's
# peak, or an edge at least this steep (ink levels 0-255 per garment pixel). A soft cast shadow (at most about
# 30 % darker than the backdrop, blurred over a few garment pixels) is neither. Chosen on photos made from
# training images (600 per condition): shadow 89.2 -> 93.7 %, gradient 93.3 -> 94.5 %; white, off-white,
# vignette and touching the frame within noise. The strength rule alone (no edge rule) cut faint sandal straps.
TRIM_SHARE_OF_PEAK = 0.2
TRIM_EDGE_SLOPE = 40.0
# Backdrop added where the frame cuts the garment, in garment pixels (pad_where_cut). Chosen on photos made from
# training images: touching the frame 93.8 -> 94.8 % (0.5 and 1.0 alike; white photos, which never touch, unchanged).
FRAME_CUT_PAD = 0.5
NOISE_FLOOR_SIGMAS = 3.0  # the backdrop's noise subtracted from the ink, in robust standard deviations
# Colour and transparency (contrast_grayscale, transparent_to_grayscale). Chosen on photos made from training
# images (tools/select_upload_settings.py); the test images of bench-uploads played no part.
GARMENT_DARKNESS = 0.15  # a pixel this much darker than the backdrop in some channel is garment
CHANNEL_SPREAD = 0.1  # channels within this share of each other's darkness: plain luminance
CHANNEL_WEIGHT_POWER = 2.0
SOFT_ALPHA_SHARE = 0.25  # partly transparent share of the visible pixels above which alpha is the shading

LOW_CONTRAST = "The picture has very little contrast, so the garment is hard to separate from the background."
BUSY_BACKGROUND = "The background looks busy; the model was trained on single items on a plain background."
TOUCHES_EDGE = (
    "The garment touches the edge of the picture, so part of it may be cut off; "
    "a photo with some background all around works best."
)
NOTHING_STANDS_OUT = "No garment stands out from the background; the picture is almost uniform."


class ImageInputError(ValueError):
    """A file that cannot be classified; the message is meant for the person who sent it."""


@dataclass
class PreparedImage:
    """The model-ready picture, the stages that led to it, and notes for the user."""

    image: np.ndarray  # (28, 28) uint8, light garment on dark background
    stages: list[tuple[str, np.ndarray]] = field(default_factory=list)  # (caption, array) in order
    notes: list[str] = field(default_factory=list)  # what was done (e.g. "first frame of an animation")
    warnings: list[str] = field(default_factory=list)  # why the prediction may be unreliable
    source_format: str = ""


def _sniff_unsupported(data: bytes) -> str | None:
    """A clear message for common non-image or unsupported files, from their first bytes."""
    head = data[:64]
    lowered = head.lstrip().lower()
    if head[4:8] == b"ftyp":
        brands = head[8:32]
        if head[8:12] in (b"avif", b"avis") or (b"avif" in brands and head[8:12] not in (b"heic", b"heix")):
            return "This is an AVIF image, which is not supported. Export it as JPEG or PNG and upload that."
        if any(brand in brands for brand in (b"heic", b"heix", b"mif1", b"msf1", b"hevc")):
            return "This is a HEIC/HEIF photo, which is not supported. Export it as JPEG or PNG and upload that."
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "TIFF files are not supported. Save the picture as PNG or JPEG and upload that."
    if head.startswith(b"8BPS"):
        return "Photoshop (PSD) files are not supported. Export the picture as PNG or JPEG."
    if head.startswith(b"%PDF"):
        return "This is a PDF document, not an image. Export the picture as PNG or JPEG."
    if lowered.startswith((b"<svg", b"<?xml")) or b"<svg" in lowered:
        return "SVG drawings are not supported. Export the drawing as PNG."
    return None


SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
    b"BM": "BMP",
}


def signature_format(data: bytes) -> str | None:
    """The image format a file's first bytes claim, if it is one we accept."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    for magic, name in SIGNATURES.items():
        if data.startswith(magic):
            return name
    return None


def open_image(data: bytes) -> tuple[Image.Image, list[str]]:
    """Check and decode an uploaded file; returns the loaded image and notes.

    Raises:
        ImageInputError: empty, not an image, unsupported container, too large or small, corrupt.
    """
    notes: list[str] = []
    if not data:
        raise ImageInputError("The file is empty.")
    if len(data) > MAX_BYTES:
        raise ImageInputError(f"The file is {len(data) / 1e6:.1f} MB; the limit is {MAX_BYTES // (1024 * 1024)} MB.")
    message = _sniff_unsupported(data)
    if message:
        raise ImageInputError(message)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=list(ALLOWED_FORMATS))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageInputError("The image is too large to open safely (over 40 megapixels).") from exc
        except UnidentifiedImageError as exc:
            kind = signature_format(data)
            if kind:
                raise ImageInputError(f"This {kind} file is damaged: its header or a checksum is wrong.") from exc
            raise ImageInputError(
                "This file is not an image we can read. Upload a PNG, JPEG, WebP, GIF or BMP picture."
            ) from exc
        except Exception as exc:  # noqa: BLE001 - a broken header can raise many types
            raise ImageInputError(f"The image header is damaged ({type(exc).__name__}).") from exc
        width, height = image.size
        if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
            raise ImageInputError(
                f"The image is {width}x{height} pixels; the limit is 40 megapixels and {MAX_SIDE:,} pixels a side."
            )
        if min(width, height) < MIN_SIDE:
            raise ImageInputError(f"The image is only {width}x{height} pixels; it needs at least {MIN_SIDE} pixels a side.")
        if max(width, height) / min(width, height) > MAX_ASPECT:
            raise ImageInputError(f"The image is {width}x{height}: too long and thin (more than 10:1) to hold a garment.")
        if getattr(image, "n_frames", 1) > 1:
            notes.append(f"This is an animation with {image.n_frames} frames; the first frame is used.")
            image.seek(0)
        try:
            image.load()
        except Exception as exc:  # noqa: BLE001 - truncated or corrupt pixel data
            raise ImageInputError(f"The image data is damaged or cut short ({type(exc).__name__}: {exc}).") from exc
    return image, notes


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def flatten_transparency(image: Image.Image) -> Image.Image:
    """Composite a transparent picture onto white, the catalogue backdrop Fashion-MNIST's photos had."""
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def alpha_carries_shading(alpha: np.ndarray) -> bool:
    """Whether a cut-out's transparency is the garment's own shading (soft, graded inside the garment) rather
    than a hard silhouette over an opaque photo: more than ``SOFT_ALPHA_SHARE`` of the visible pixels are partly
    transparent. Then the colour under it says little (and under alpha = 0 it is arbitrary)."""
    visible = alpha > 0.02
    if visible.sum() < 16:
        return False
    return float((visible & (alpha < 0.98)).sum() / visible.sum()) > SOFT_ALPHA_SHARE


def transparent_to_grayscale(image: Image.Image) -> tuple[np.ndarray, str | None]:
    """A transparent picture -> (grey in [0, 255], a note on how it was read, or None).

    Graded transparency is the garment's ink: the grey is a dark garment of exactly that shading on white.
    A hard cut-out (an opaque photo with a transparent backdrop) is composited onto white, as before.
    """
    alpha = np.asarray(image.convert("RGBA"), np.float32)[..., 3] / 255.0
    if alpha_carries_shading(alpha):
        return 255.0 * (1.0 - alpha), "The picture's transparency was read as the garment's shading (its colours under it were not needed)."
    return contrast_grayscale(np.asarray(flatten_transparency(image), np.float32)), None


def luminance(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma of an (..., 3) array of 8-bit levels, exactly as Pillow's ``convert("L")`` rounds it."""
    r, g, b = (np.asarray(rgb[..., k], np.int64) for k in range(3))
    return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).astype(np.float32)


def contrast_grayscale(rgb: np.ndarray) -> np.ndarray:
    """An (h, w, 3) photo -> grey, weighting each colour channel by how much the garment stands out in it.

    Luminance mutes a coloured garment on white (a red shirt is dark only in green and blue), so its faint parts
    sink under the backdrop's noise. Each channel's darkness relative to the backdrop is measured on the garment
    (pixels at least ``GARMENT_DARKNESS`` darker than the backdrop in some channel); the channels are weighted by
    that darkness to the power ``CHANNEL_WEIGHT_POWER`` and scaled so the backdrop keeps its brightness. A grey
    photo, or one whose channels are about equally dark (within ``CHANNEL_SPREAD``), gets plain luminance; so
    does a dark backdrop (light garments are as bright in every channel that matters).
    """
    backdrop = np.median(border_pixels(rgb), axis=0)
    level = float(luminance(backdrop))
    if level <= 127:
        return luminance(rgb)
    brightness = rgb / np.maximum(backdrop, 1.0)  # each channel as a share of the backdrop's
    garment = brightness.min(axis=-1) < 1.0 - GARMENT_DARKNESS
    if garment.sum() < 16:
        return luminance(rgb)
    darkness = np.clip(1.0 - brightness[garment].mean(axis=0), 1e-3, None)
    if darkness.min() / darkness.max() > 1 - CHANNEL_SPREAD:
        return luminance(rgb)
    weights = darkness**CHANNEL_WEIGHT_POWER
    weights = weights / weights.sum()
    return np.clip((brightness * weights).sum(axis=-1) * level, 0.0, 255.0).astype(np.float32)


def to_grayscale(image: Image.Image) -> tuple[np.ndarray, str | None]:
    """Any Pillow mode -> (float32 grey in [0, 255], a note for the person or None).

    16- and 32-bit modes are scaled by their range instead of being clipped (a plain ``convert("L")`` clips
    16-bit data to white); transparency is read as described in :func:`transparent_to_grayscale`; colour goes
    through :func:`contrast_grayscale`.
    """
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        if image.mode in ("I", "F") and array.max() > 65535:
            top = float(array.max())
        return np.clip(array / top * 255.0, 0, 255).astype(np.float32), None
    if image.mode in ("L", "1"):
        return np.asarray(image.convert("L"), dtype=np.float32), None
    if max(image.size) > WORKING_SIDE:  # colour work on a 12-megapixel photo would cost a second; the result is 28 px
        scale = WORKING_SIDE / max(image.size)
        image = image.convert("RGBA" if _has_alpha(image) else "RGB").resize(
            (max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.Resampling.BOX
        )
    if _has_alpha(image):
        return transparent_to_grayscale(image)
    return contrast_grayscale(np.asarray(image.convert("RGB"), np.float32)), None


def border_level(gray: np.ndarray) -> float:
    """Median of the outermost pixels: the background's brightness."""
    return float(np.median(border_pixels(gray)))


def border_band(shape: tuple[int, int], share: float = 0.03) -> np.ndarray:
    """Boolean mask of the outer band of a picture (about 3 % of each side, at least 2 pixels)."""
    h, w = shape
    dh, dw = max(2, round(h * share)), max(2, round(w * share))
    band = np.zeros((h, w), bool)
    band[:dh], band[-dh:], band[:, :dw], band[:, -dw:] = True, True, True, True
    return band


def background_surface(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A smooth model of the backdrop's brightness over the whole picture.

    A quadratic surface fitted to the outer band by least squares, refitted twice
    without the pixels that sit far from it (a garment touching the edge, a
    shadow reaching it), so lighting gradients and vignettes are followed and a
    garment on the border is not taken for backdrop.

    Returns:
        The surface (same shape as ``gray``) and a mask of the band pixels it was fitted to (the backdrop).
    """
    h, w = gray.shape
    band = border_band(gray.shape)
    ys, xs = np.nonzero(band)
    y, x = ys / max(1, h - 1) - 0.5, xs / max(1, w - 1) - 0.5
    basis = np.stack([np.ones_like(x), x, y, x * x, y * y, x * y], axis=1)
    values = gray[band].astype(np.float64)
    centre = np.median(values)
    keep = np.abs(values - centre) <= 3 * (1.4826 * np.median(np.abs(values - centre)) + 1.0)  # start from the majority
    for _ in range(3):
        coef, *_ = np.linalg.lstsq(basis[keep], values[keep], rcond=None)
        residual = values - basis @ coef
        spread = 1.4826 * np.median(np.abs(residual[keep] - np.median(residual[keep]))) + 1.0
        keep = np.abs(residual) <= 3 * spread
        if keep.sum() < 12:
            break
    gy, gx = np.mgrid[0:h, 0:w]
    gy, gx = gy / max(1, h - 1) - 0.5, gx / max(1, w - 1) - 0.5
    surface = (coef[0] + coef[1] * gx + coef[2] * gy + coef[3] * gx * gx + coef[4] * gy * gy + coef[5] * gx * gy).astype(np.float32)
    backdrop = np.zeros((h, w), bool)
    backdrop[ys[keep], xs[keep]] = True
    return surface, backdrop


def remove_background(gray: np.ndarray, light_backdrop: bool) -> np.ndarray:
    """Garment 'ink' in [0, 255] with the backdrop at 0, from a grayscale photo.

    On a light backdrop the ink is ``1 - gray / backdrop`` (lighting multiplies garment and backdrop
    alike, so a gradient or vignette cancels); on a dark one ``(gray - backdrop) / (255 - backdrop)``.
    The backdrop's own noise (sensor grain, JPEG ringing; measured on the outer band) is subtracted,
    so an off-white noisy backdrop comes out black as in Fashion-MNIST, then the ink is scaled so its
    strongest pixel is 255, keeping the garment's own grey levels relative to each other.
    """
    surface, backdrop = background_surface(gray)
    if light_backdrop:
        ink = 1.0 - gray / np.maximum(surface, 1.0)
    else:
        ink = (gray - surface) / np.maximum(255.0 - surface, 1.0)
    ink = np.clip(ink, 0.0, 1.0)
    # the band's backdrop pixels only: a garment touching the edge is not the backdrop's noise
    edge = ink[backdrop] if backdrop.sum() >= 12 else ink[border_band(gray.shape)]
    noise = 1.4826 * float(np.median(np.abs(edge - np.median(edge))))
    ink = np.clip(ink - (float(np.median(edge)) + NOISE_FLOOR_SIGMAS * noise + 0.01), 0.0, None)
    top = float(ink.max())
    return ink / top * 255.0 if top > 0 else np.zeros_like(ink)


def speckle_free(foreground: np.ndarray) -> np.ndarray:
    """The foreground with isolated specks (noise left above the floor, JPEG blocks) averaged away, for finding
    the garment's bounds: a 5x5 box average keeps a garment's extent and drops single bright pixels."""
    if min(foreground.shape) < 10:
        return foreground
    padded = np.pad(foreground.astype(np.float64), 2, mode="edge")
    summed = padded.cumsum(axis=0).cumsum(axis=1)
    summed = np.pad(summed, ((1, 0), (1, 0)))
    box = summed[5:, 5:] - summed[:-5, 5:] - summed[5:, :-5] + summed[:-5, :-5]
    return (box / 25.0).astype(np.float32)


def garment_pixel(box: tuple[int, int, int, int]) -> float:
    """Photo pixels per Fashion-MNIST pixel for a garment with this (top, bottom, left, right) box: its
    longest side becomes 28 px."""
    top, bottom, left, right = box
    return max(bottom - top, right - left) / IMAGE_SIZE


def garment_evidence(smooth: np.ndarray, noise_threshold: float) -> np.ndarray:
    """1 where a (speckle-free) foreground pixel counts as garment when finding its bounds, else 0.

    A pixel counts when it stands above the backdrop's noise and is either strong (at least
    ``TRIM_SHARE_OF_PEAK`` of the garment's peak ink) or on a steep edge (``TRIM_EDGE_SLOPE`` ink levels per
    garment pixel). A soft cast shadow is neither: it is faint and changes slowly, so it no longer widens the
    box and pushes the garment off-centre, while a faint strap or hem still counts by its edge.
    """
    peak = float(np.percentile(smooth, 99.5))
    above = smooth > noise_threshold
    extent = trim_box(smooth, noise_threshold)
    if extent is None or peak <= 0:
        return above.astype(np.float32)
    gy, gx = np.gradient(smooth)
    slope = np.hypot(gy, gx) * garment_pixel(extent)
    strong = smooth > TRIM_SHARE_OF_PEAK * peak
    steep = slope > TRIM_EDGE_SLOPE
    return (above & (strong | steep)).astype(np.float32)


def border_pixels(array: np.ndarray) -> np.ndarray:
    """The outermost ring of pixels, where the background shows."""
    return np.concatenate([array[0], array[-1], array[:, 0], array[:, -1]])


@dataclass(frozen=True)
class BorderStats:
    """Robust statistics of the border: its median and its spread (MAD scaled to a standard deviation).

    A garment that touches the edge covers part of the border; the median and the
    MAD ignore it as long as most of the border is background, where a maximum or
    a high percentile would take the garment for the background's noise.
    """

    median: float
    spread: float
    threshold: float  # above this a pixel is foreground
    touching: float  # share of border pixels above the threshold

    @classmethod
    def of(cls, foreground: np.ndarray) -> "BorderStats":
        edge = border_pixels(foreground)
        median = float(np.median(edge))
        spread = 1.4826 * float(np.median(np.abs(edge - median)))
        threshold = median + max(6.0, 4.0 * spread)
        return cls(median, spread, threshold, float(np.mean(edge > threshold)))


def trim_box(foreground: np.ndarray, threshold: float | None = None) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) bounds of the garment, or None if nothing stands out.

    The threshold sits just above the border's robust noise level (JPEG ringing,
    paper grain), so faint garment edges are kept on clean pictures and noise is
    not on noisy ones, and a garment touching the edge does not raise it.
    """
    if threshold is None:
        threshold = BorderStats.of(foreground).threshold
    mask = foreground > threshold
    if not mask.any():
        return None
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def pad_where_cut(crop: np.ndarray, box: tuple[int, int, int, int], shape: tuple[int, int]) -> np.ndarray:
    """The trimmed garment with ``FRAME_CUT_PAD`` garment pixels of backdrop added on each side where its box
    reaches the photo's edge: there the frame cut the garment, which goes on beyond it, while a Fashion-MNIST
    garment ends inside its box. Without it the cut garment is stretched to fill the 28 px."""
    top, bottom, left, right = box
    h, w = shape
    pad = int(round(FRAME_CUT_PAD * garment_pixel(box)))
    sides = ((pad if top == 0 else 0, pad if bottom == h else 0), (pad if left == 0 else 0, pad if right == w else 0))
    return np.pad(crop, sides) if pad and any(any(side) for side in sides) else crop


def fit_to_canvas(crop: np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
    """Resize so the longest side is ``size``, sharpen lightly, centre on a black square."""
    h, w = crop.shape
    scale = size / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    small = Image.fromarray(np.clip(crop, 0, 255).astype(np.uint8)).resize((new_w, new_h), Image.Resampling.LANCZOS)
    if max(h, w) > size * 2:
        small = small.filter(ImageFilter.UnsharpMask(radius=1, percent=60, threshold=2))
    canvas = Image.new("L", (size, size), 0)
    canvas.paste(small, ((size - new_w) // 2, (size - new_h) // 2))
    return np.asarray(canvas, dtype=np.uint8)


def shrink(gray: np.ndarray, max_side: int = WORKING_SIDE) -> np.ndarray:
    """Scale a large grayscale array down (area averaging) so later steps stay fast; the result is 28 px anyway."""
    h, w = gray.shape
    if max(h, w) <= max_side:
        return gray
    scale = max_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(gray.astype(np.float32)).resize(size, Image.Resampling.BOX), dtype=np.float32)


def display_rgb(image: Image.Image, max_side: int = 512) -> np.ndarray:
    """A small RGB copy of a picture for showing a stage (transparency flattened, high depth scaled)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F") or _has_alpha(image):
        shown = Image.fromarray(to_grayscale(image)[0].astype(np.uint8)).convert("RGB")
    else:
        shown = image.convert("RGB")
    shown.thumbnail((max_side, max_side))
    return np.asarray(shown)


def confidence_warning(probabilities: np.ndarray, threshold: float = 0.5) -> str | None:
    """A plain-words warning when the model is unsure about an uploaded picture."""
    top = float(np.max(probabilities))
    if top < threshold:
        return (
            f"The model is unsure (its best guess has only {top:.0%}). The picture may not look like the "
            "Fashion-MNIST photos it learned from: one garment, front view, plain background."
        )
    return None


def prepare_image(image: Image.Image, source_format: str = "") -> PreparedImage:
    """Turn a decoded picture into the model's 28x28 input, keeping every stage for display."""
    stages: list[tuple[str, np.ndarray]] = []
    warn: list[str] = []
    notes: list[str] = []
    rotated = image.getexif().get(0x0112, 1) not in (0, 1)
    oriented = ImageOps.exif_transpose(image) if rotated else image
    gray, how_read = to_grayscale(oriented)
    if how_read:
        notes.append(how_read)
    if oriented.size == (IMAGE_SIZE, IMAGE_SIZE) and border_level(gray) <= 60:
        # Already a Fashion-MNIST-style picture: use the pixels exactly as they are.
        pixels = gray.astype(np.uint8)
        stages.append(("28x28 input, used as is", pixels))
        return PreparedImage(pixels, stages, notes, warn, source_format)
    stages.append(("original", display_rgb(image)))
    if rotated:
        notes.append("The photo was rotated upright using its camera orientation tag.")
        stages.append(("oriented", display_rgb(oriented)))
    gray = shrink(gray)
    stages.append(("grayscale", gray.astype(np.uint8)))
    background = border_level(gray)
    negate = background > 127
    foreground = remove_background(gray, light_backdrop=negate)
    stages.append(("background removed" + (", negated" if negate else ""), foreground.astype(np.uint8)))
    spread = float(np.percentile(gray, 99) - np.percentile(gray, 1))
    if spread < 40:
        warn.append(LOW_CONTRAST)
    border = BorderStats.of(foreground)
    if BorderStats.of(gray).spread > BUSY_SPREAD:  # measured before the stretch, which would amplify faint noise
        warn.append(BUSY_BACKGROUND)
    elif border.touching > TOUCHING_SHARE:
        warn.append(TOUCHES_EDGE)
    smooth = speckle_free(foreground)
    box = trim_box(garment_evidence(smooth, border.threshold), 0.5)
    if box is None:
        warn.append(NOTHING_STANDS_OUT)
        crop = foreground
    else:
        top, bottom, left, right = box
        crop = foreground[top:bottom, left:right]
        crop = pad_where_cut(crop, box, foreground.shape)
    stages.append(("trimmed", crop.astype(np.uint8)))
    final = fit_to_canvas(crop)
    stages.append(("28x28 model input", final))
    return PreparedImage(final, stages, notes, warn, source_format)


def prepare_upload(data: bytes) -> PreparedImage:
    """Bytes of an uploaded file -> :class:`PreparedImage`; raises :class:`ImageInputError` for bad files."""
    image, notes = open_image(data)
    try:
        prepared = prepare_image(image, source_format=image.format or "")
    except ImageInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - report, never crash, on an odd but valid file
        raise ImageInputError(f"The image could not be processed ({type(exc).__name__}).") from exc
    prepared.notes[:0] = notes
    return prepared


def png_bytes(image: np.ndarray) -> bytes:
    """A 2-D uint8 array as PNG bytes (for downloads and tests)."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()
