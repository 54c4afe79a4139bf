"""Bad and awkward upload files, generated (no binary blobs in the repo).

Each case is (name, bytes, expected): expected is a regex the refusal message
must match, or None for "classified, same answer as the plain RGB PNG".
Shared by the tests and by ``python -m tools bench-uploads``; generated, so the repo holds no binary test files.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image, ImageFilter


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def catalogue_photo(image: np.ndarray, scale: int = 10, tint=(255, 255, 255), offset=(120, 20), extra=(160, 60)) -> Image.Image:
    """A Fashion-MNIST picture as a catalogue photo: dark garment on a light backdrop, large, off-centre."""
    negated = 255 - image.astype(np.float32)
    rgb = np.stack([negated * (t / 255.0) for t in tint], axis=-1).astype(np.uint8)
    big = Image.fromarray(rgb).resize((28 * scale, 28 * scale), Image.Resampling.BICUBIC)
    canvas = Image.new("RGB", (28 * scale + extra[0], 28 * scale + extra[1]), tint)
    canvas.paste(big, offset)
    return canvas


def transparent_cutout(photo: Image.Image) -> Image.Image:
    """The same photo with its backdrop (every pixel of the corner's exact colour) made transparent.

    On a white backdrop this is lossless: composited back onto white, every pixel is what it was.
    """
    rgba = photo.convert("RGBA")
    array = np.asarray(rgba).copy()
    backdrop = (array[:, :, :3] == array[0, 0, :3]).all(axis=-1)
    array[backdrop, 3] = 0
    return Image.fromarray(array, "RGBA")


def palette_with_transparent_backdrop(photo: Image.Image) -> Image.Image:
    """A 256-colour palette picture whose backdrop colour is marked transparent (as GIF-style PNGs are).

    Quantising the RGB photo keeps a grey photo's levels exactly; Pillow can only quantise RGBA
    with its octree method, which shifts them.
    """
    palette = photo.quantize(256, dither=Image.Dither.NONE)
    palette.info["transparency"] = palette.getpixel((0, 0))
    return palette


def exif_rotated_jpeg(photo: Image.Image) -> bytes:
    """JPEG stored turned 90° with an orientation tag (6) that says how to turn it back upright."""
    stored = photo.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(stored, "JPEG", quality=95, exif=exif.tobytes())


def awkward_files(image: np.ndarray) -> list[tuple[str, bytes]]:
    """Valid but awkward encodings of one garment photo; each must get the plain PNG's answer."""
    photo = catalogue_photo(image)
    gray = photo.convert("L")
    sixteen = Image.fromarray(np.asarray(gray, dtype=np.uint16) * 257)
    frames = [photo, Image.new("RGB", photo.size, (0, 0, 0))]
    animated_gif = io.BytesIO()
    frames[0].save(animated_gif, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    animated_webp = io.BytesIO()
    frames[0].save(animated_webp, format="WEBP", save_all=True, append_images=frames[1:], duration=100, lossless=True)
    palette = photo.quantize(256, dither=Image.Dither.NONE)
    palette_rgba = palette_with_transparent_backdrop(photo)
    return [
        ("plain.png", encode(photo, "PNG")),
        ("cmyk.jpg", encode(photo.convert("CMYK"), "JPEG", quality=95)),
        ("palette.png", encode(palette, "PNG")),
        ("palette-transparent.png", encode(palette_rgba, "PNG")),
        ("la.png", encode(transparent_cutout(photo).convert("LA"), "PNG")),
        ("rgba.png", encode(transparent_cutout(photo), "PNG")),
        ("gray16.png", encode(sixteen, "PNG")),
        ("gray.jpg", encode(gray, "JPEG", quality=95)),
        ("animated.gif", animated_gif.getvalue()),
        ("animated.webp", animated_webp.getvalue()),
        ("exif-rotated.jpg", exif_rotated_jpeg(photo)),
        ("progressive.jpg", encode(photo, "JPEG", quality=95, progressive=True)),
        ("plain.bmp", encode(photo, "BMP")),
        ("trailing-bytes.png", encode(photo, "PNG") + b"\x00garbage after IEND" * 10),
        ("plain.webp", encode(photo, "WEBP", quality=95)),
    ]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares a size in its header and has no pixel data (for header-only checks)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IEND", b"")


def bad_files(image: np.ndarray) -> list[tuple[str, bytes, str]]:
    """Files that must be refused, with a regex their message must match."""
    good_png = encode(catalogue_photo(image), "PNG")
    good_jpg = encode(catalogue_photo(image), "JPEG", quality=90)
    corrupt_crc = bytearray(good_png)
    corrupt_crc[len(good_png) // 2] ^= 0xFF  # inside the image data: its CRC no longer matches
    tiff = encode(Image.fromarray(image), "TIFF")
    # A well-formed GIF whose screen and frame claim 50,000 x 50,000 pixels: a decompression bomb.
    gif_bomb = (
        b"GIF89a" + struct.pack("<HHBBB", 50_000, 50_000, 0, 0, 0)
        + b"," + struct.pack("<HHHHB", 0, 0, 50_000, 50_000, 0) + b"\x02\x02\x4c\x01\x00;"
    )
    return [
        ("empty.png", b"", "empty"),
        ("notes.png", b"just some text, renamed to .png\n" * 10, "not an image"),
        ("drawing.png", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', "SVG"),
        ("photo.jpg", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64, "HEIC"),
        ("photo.avif", b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + b"\x00" * 64, "AVIF"),
        ("scan.png", tiff, "TIFF"),
        ("layers.png", b"8BPS\x00\x01" + b"\x00" * 64, "Photoshop"),
        ("doc.png", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + b"0" * 64, "PDF"),
        ("corrupt-header.png", good_png[:16] + b"\xff" * 20 + good_png[36:], "damaged|not an image"),
        ("corrupt-checksum.png", bytes(corrupt_crc), "damaged|cut short"),
        ("truncated.png", good_png[: len(good_png) // 2], "damaged|cut short"),
        ("truncated.jpg", good_jpg[: len(good_jpg) // 3], "damaged|cut short"),
        ("huge.png", png_header_only(9_000, 9_000), "40 megapixels"),
        ("wide.png", png_header_only(13_000, 2_000), "12,000"),
        ("bomb.gif", gif_bomb, "40 megapixels|12,000|too large"),
        ("tiny.png", encode(Image.new("L", (6, 30)), "PNG"), "at least 8"),
        ("thin.png", encode(Image.new("L", (800, 40), 255), "PNG"), "10:1"),
        ("big.bmp", b"BM" + b"\x00" * (10 * 1024 * 1024 + 10), "limit is 10 MB"),
    ]


def random_catalogue_photo(image: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """A randomised catalogue-style photo: white or off-white backdrop, 8-20x larger, off-centre on a
    non-square canvas, garment tinted in a random colour."""
    scale = int(rng.integers(8, 21))
    backdrop = int(rng.integers(235, 256))
    tint = rng.integers(40, 256, size=3).astype(np.float32) / 255.0
    negated = 1.0 - image.astype(np.float32) / 255.0  # 1 = background, 0 = darkest garment
    # Garment pixels take the tint's colour in proportion to their ink, the rest stays backdrop.
    ink = 1.0 - negated
    rgb = backdrop * (1 - ink[..., None]) + (backdrop * tint * 0.35) * ink[..., None]
    big = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).resize((28 * scale, 28 * scale), Image.Resampling.BICUBIC)
    pad_x, pad_y = (int(v) for v in rng.integers(10, 28 * scale // 2 + 10, size=2))
    canvas = Image.new("RGB", (28 * scale + pad_x + int(rng.integers(5, 60)), 28 * scale + pad_y + int(rng.integers(5, 60))), (backdrop,) * 3)
    canvas.paste(big, (pad_x, pad_y))
    return canvas


def photo_encodings(photo: Image.Image) -> list[tuple[str, bytes]]:
    """The benchmark's four ways to save a photo."""
    return [
        ("png", encode(photo, "PNG")),
        ("jpeg", encode(photo, "JPEG", quality=90)),
        ("webp", encode(photo, "WEBP", quality=90)),
        ("transparent-png", encode(transparent_cutout(photo), "PNG")),
    ]


# ---------------------------------------------------------------- photos as they really are
# Each condition turns a test image into a catalogue-style photo with one real-world flaw. The garment is
# composited as ink on a backdrop (as in random_catalogue_photo); lighting multiplies garment and backdrop alike.
CONDITIONS = ("white", "off-white-noise", "shadow", "vignette", "gradient", "touching-frame", "coloured", "cut-out")


def _garment_on_backdrop(image: np.ndarray, rng: np.random.Generator, backdrop: np.ndarray, scale: int, pad: tuple[int, int, int, int]):
    """(h, w, 3) float photo: the garment (tinted ink) at ``scale`` on a (h, w, 3) backdrop, with its alpha mask."""
    tint = rng.integers(40, 256, size=3).astype(np.float32) / 255.0
    ink = np.asarray(Image.fromarray(image).resize((28 * scale, 28 * scale), Image.Resampling.BICUBIC), np.float32) / 255.0
    top, left = pad[0], pad[2]
    h, w = backdrop.shape[:2]
    mask = np.zeros((h, w), np.float32)
    mask[top : top + 28 * scale, left : left + 28 * scale] = ink[: h - top, : w - left]
    photo = backdrop * (1 - mask[..., None]) + backdrop * tint * 0.35 * mask[..., None]
    return photo, mask


def _canvas(rng: np.random.Generator, scale: int, image: np.ndarray, touching: bool = False) -> tuple[int, int, tuple[int, int, int, int]]:
    """Canvas size and the garment picture's padding (top, bottom, left, right) in photo pixels.

    ``touching``: on 1-2 sides the frame cuts the picture at the garment's own edge (0-1 px of the
    28-px garment cut off), so the garment really touches the photo's edge there.
    """
    pads = [int(v) for v in rng.integers(10, 28 * scale // 3 + 10, size=4)]
    if touching:
        rows, cols = np.flatnonzero(image.max(axis=1) > 30), np.flatnonzero(image.max(axis=0) > 30)
        margins = [rows[0], 27 - rows[-1], cols[0], 27 - cols[-1]] if len(rows) else [0, 0, 0, 0]
        for side in rng.choice(4, size=int(rng.integers(1, 3)), replace=False):
            pads[side] = -int((margins[side] + rng.uniform(0, 1)) * scale)
    top, bottom, left, right = pads
    return 28 * scale + top + bottom, 28 * scale + left + right, (top, bottom, left, right)


def coloured_photo(image: np.ndarray, rng: np.random.Generator, scale: int, pad: tuple[int, int, int, int], h: int, w: int) -> bytes:
    """A garment with a colour of its own on white, as a JPEG: each channel 55-100 % as dark as the darkest one
    (a red shirt is dark in green and blue, light in red), the garment's darkest parts 60-95 % dark."""
    backdrop = np.full((h, w, 3), 255.0, np.float32)
    _, mask = _garment_on_backdrop(image, rng, backdrop, scale, pad)
    share = rng.uniform(0.55, 1.0, size=3)
    share[rng.integers(3)] = 1.0
    depth = float(rng.uniform(0.6, 0.95))
    photo = 255.0 * (1 - mask[..., None] * depth * share)
    photo = photo + rng.normal(0, float(rng.uniform(0, 3)), size=photo.shape)
    return encode(Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8)), "JPEG", quality=int(rng.integers(70, 93)))


def cutout_photo(image: np.ndarray, rng: np.random.Generator, scale: int, pad: tuple[int, int, int, int], h: int, w: int) -> bytes:
    """A shop's cut-out as a PNG with alpha: the transparency carries the garment's shading (its soft edge and
    its interior), the colour under it is one garment colour (from black to white: a white shirt is as common as a
    black one) with some noise, and under alpha = 0 it is arbitrary."""
    backdrop = np.zeros((h, w, 3), np.float32)
    _, mask = _garment_on_backdrop(image, rng, backdrop, scale, pad)
    colour = np.clip(rng.uniform(0, 255) + rng.normal(0, 25, size=3), 0, 255).astype(np.float32)
    rgb = np.clip(colour + rng.normal(0, 12, size=(h, w, 3)), 0, 255)
    hidden = mask <= 0
    rgb[hidden] = rng.integers(0, 256, size=(int(hidden.sum()), 3))
    alpha = np.clip(mask * 255.0, 0, 255)
    rgba = np.concatenate([rgb, alpha[..., None]], axis=-1).astype(np.uint8)
    return encode(Image.fromarray(rgba, "RGBA"), "PNG")


def condition_photo(image: np.ndarray, condition: str, rng: np.random.Generator) -> bytes:
    """One test image as a photo with ``condition``, encoded as a photo would be (JPEG or WebP, some PNG)."""
    scale = int(rng.integers(8, 17))
    touching = condition == "touching-frame"
    h, w, pad = _canvas(rng, scale, image, touching)
    top, _, left, _ = pad
    if condition == "coloured":
        return coloured_photo(image, rng, scale, pad, h, w)
    if condition == "cut-out":
        return cutout_photo(image, rng, scale, pad, h, w)
    # Negative padding means the garment is cut by the frame: place it partly outside the canvas.
    source = image
    if top < 0 or left < 0:
        big_top, big_left = max(0, -top), max(0, -left)
        crop = np.asarray(Image.fromarray(image).resize((28 * scale, 28 * scale), Image.Resampling.BICUBIC))[big_top:, big_left:]
        source = None
    level = 255.0 if condition == "white" else float(rng.uniform(205, 240))
    cast = np.array([1.0, 1.0, 1.0]) if condition == "white" else 1.0 + rng.uniform(-0.03, 0.03, size=3)
    backdrop = np.ones((h, w, 3), np.float32) * np.clip(level * cast, 0, 255)
    if source is not None:
        photo, mask = _garment_on_backdrop(image, rng, backdrop, scale, (top, 0, left, 0))
    else:
        tint = rng.integers(40, 256, size=3).astype(np.float32) / 255.0
        mask = np.zeros((h, w), np.float32)
        t, l = max(0, top), max(0, left)
        ch, cw = min(crop.shape[0], h - t), min(crop.shape[1], w - l)
        mask[t : t + ch, l : l + cw] = crop[:ch, :cw] / 255.0
        photo = backdrop * (1 - mask[..., None]) + backdrop * tint * 0.35 * mask[..., None]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if condition == "shadow":
        offset = (int(rng.integers(2, 2 * scale)), int(rng.integers(2, 2 * scale)))
        shadow = np.roll(np.roll(mask, offset[0], axis=0), offset[1], axis=1)
        shadow = np.asarray(Image.fromarray((shadow * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(radius=1.5 * scale)), np.float32) / 255.0
        darkening = float(rng.uniform(0.15, 0.3)) * shadow * (1 - mask)
        photo = photo * (1 - darkening[..., None])
    elif condition == "vignette":
        r = np.hypot((yy - h / 2) / (h / 2), (xx - w / 2) / (w / 2)) / np.sqrt(2)
        photo = photo * (1 - float(rng.uniform(0.15, 0.3)) * r**2)[..., None]
    elif condition == "gradient":
        angle = float(rng.uniform(0, 2 * np.pi))
        ramp = (np.cos(angle) * xx / w + np.sin(angle) * yy / h)
        ramp = (ramp - ramp.min()) / max(1e-6, np.ptp(ramp))
        photo = photo * (1 - float(rng.uniform(0.15, 0.3)) * ramp)[..., None]
    if condition != "white":
        photo = photo + rng.normal(0, float(rng.uniform(2, 6)), size=photo.shape)  # sensor noise
    picture = Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8))
    kind = rng.integers(3)
    if kind == 0:
        return encode(picture, "JPEG", quality=int(rng.integers(70, 92)))
    if kind == 1:
        return encode(picture, "WEBP", quality=int(rng.integers(60, 90)))
    return encode(picture, "PNG")
