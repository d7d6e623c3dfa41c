"""Reading images for a model: which files, how they are decoded, resized and normalised.

Pillow decodes PNG, JPEG, BMP, TIFF and WebP. A picture becomes the model's input by: converting to
grayscale or RGB (from the model's channels), resizing to the model's size (``--size`` or the size the
model declares; else the image keeps its own), scaling to 0..1, then ``(x - mean) / std`` per channel,
and laying the channels out as the model wants them (NCHW or NHWC).

Size first: the width and height a file declares are checked against the pixel limit (64 megapixels
by default, ``--max-pixels`` / ``XAI_MAX_PIXELS``) before a pixel is decoded, so a 13000x13000 PNG of a
few kilobytes is refused in one line instead of taking gigabytes.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from xai_cli.errors import InputError, UsageError
from xai_cli.limits import MAX_PIXELS, limit_value
from xai_cli.models.network import InputSpec

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})
CHANNEL_MODES = {1: "L", 3: "RGB", 4: "RGBA"}
# The decoders Pillow may use, whatever the file's name: the formats above (a camera's multi-picture
# JPEG opens through JPEG; GIF has always been read). Others (EPS runs Ghostscript; PSD, ICO, DDS, ...
# add parsers nobody asked for) are not tried.
PILLOW_FORMATS = ("PNG", "JPEG", "BMP", "TIFF", "WEBP", "GIF")


@dataclass(frozen=True)
class ImageFiles:
    """The images to read (sorted) and the files of the folder left aside as not images by name."""

    paths: list[Path]
    ignored: list[Path]
    is_directory: bool


@dataclass(frozen=True)
class Preprocessing:
    """How pixels become model inputs."""

    channels: int
    size: tuple[int, int] | None
    mean: tuple[float, ...]
    std: tuple[float, ...]
    layout: str

    def describe(self) -> dict[str, object]:
        """The settings block of a report."""
        return {
            "channels": self.channels,
            "size": None if self.size is None else list(self.size),
            "mean": list(self.mean),
            "std": list(self.std),
            "layout": self.layout,
        }

    def normalise(self, pixels: np.ndarray) -> np.ndarray:
        """0..1 pixels (H, W, C) -> one model input in the model's layout."""
        mean = np.asarray(self.mean, dtype=np.float32)
        std = np.asarray(self.std, dtype=np.float32)
        values = (pixels.astype(np.float32) - mean) / std
        return np.ascontiguousarray(values.transpose(2, 0, 1) if self.layout == "NCHW" else values)

    def pixel_value(self, value: float) -> np.ndarray:
        """The normalised input of a uniform pixel ``value`` (0..1), per channel, broadcastable in layout."""
        mean = np.asarray(self.mean, dtype=np.float32)
        std = np.asarray(self.std, dtype=np.float32)
        per_channel = ((value - mean) / std).astype(np.float32)
        return per_channel.reshape(-1, 1, 1) if self.layout == "NCHW" else per_channel.reshape(1, 1, -1)


@dataclass
class LoadedImage:
    """One image: where it came from, its own pixels (for the overlay) and the model's input."""

    path: Path
    original: np.ndarray
    model_input: np.ndarray

    @property
    def original_size(self) -> tuple[int, int]:
        """(height, width) of the picture as stored."""
        return int(self.original.shape[0]), int(self.original.shape[1])


def list_images(path: Path) -> ImageFiles:
    """One image file, or every image file under a folder (recursively, sorted by path)."""
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_file():
        return ImageFiles([path], [], False)
    found: list[Path] = []
    ignored: list[Path] = []
    for root, folders, files in os.walk(path):
        folders[:] = sorted(f for f in folders if not f.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            item = Path(root) / name
            (found if item.suffix.lower() in IMAGE_SUFFIXES else ignored).append(item)
    found.sort(key=lambda p: p.relative_to(path).parts)
    if not found:
        raise InputError(
            f"{path}: no image files (PNG, JPEG, BMP, TIFF, WebP) in this folder"
            + (f"; it holds {len(ignored)} other file(s)" if ignored else "")
        )
    return ImageFiles(found, ignored, True)


def parse_size(text: str | None) -> tuple[int, int] | None:
    """``HxW`` (e.g. 224x224) as (height, width)."""
    if text is None:
        return None
    parts = text.lower().replace("*", "x").split("x")
    try:
        height, width = (int(p) for p in parts)
    except ValueError:
        raise UsageError(f"--size {text}: expected HxW, e.g. 224x224") from None
    if height < 1 or width < 1:
        raise UsageError(f"--size {text}: height and width must be positive")
    return height, width


def parse_channel_values(text: str | None, channels: int, default: float, option: str) -> tuple[float, ...]:
    """``--mean``/``--std``: one number for every channel, or one per channel, comma-separated."""
    if text is None:
        return (default,) * channels
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"{option} {text}: expected numbers separated by commas") from None
    if len(values) == 1:
        values = values * channels
    if len(values) != channels:
        raise UsageError(
            f"{option} {text}: the model takes {channels} channel(s); give 1 or {channels} values"
        )
    if option == "--std" and any(v <= 0 for v in values):
        raise UsageError(f"{option} {text}: must be positive")
    return values


def preprocessing_for(
    spec: InputSpec, size: tuple[int, int] | None, mean: str | None, std: str | None
) -> Preprocessing:
    """Settle channels, size, normalisation and layout from the model and the options."""
    channels = spec.channels or 3
    if channels not in CHANNEL_MODES:
        raise InputError(f"the model takes {channels}-channel images; xai reads 1, 3 or 4 channels")
    declared = (spec.height, spec.width) if spec.height and spec.width else None
    return Preprocessing(
        channels=channels,
        size=size or declared,
        mean=parse_channel_values(mean, channels, 0.0, "--mean"),
        std=parse_channel_values(std, channels, 1.0, "--std"),
        layout=spec.layout,
    )


def read_image(path: Path, prep: Preprocessing) -> LoadedImage:
    """Decode, convert and resize one image; anything unreadable raises InputError naming the file.

    The pixel count the header declares is checked against the limit (``--max-pixels``) before any
    pixel is decoded; later frames of a GIF that would grow the canvas are held to the same limit.
    """
    from PIL import Image, UnidentifiedImageError

    max_pixels = limit_value(MAX_PIXELS)
    try:
        picture = _decode_within(path, max_pixels)
    except UnidentifiedImageError:
        raise InputError(f"{path}: not an image Pillow can read (PNG, JPEG, BMP, TIFF, WebP)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError(
            f"{path}: a frame of the image is larger than the limit of {max_pixels:,} pixels ({exc}); "
            f"{MAX_PIXELS.how_to_raise}"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{path}: a damaged or truncated image ({exc})") from None
    if picture.width < 1 or picture.height < 1:
        raise InputError(f"{path}: the image is empty (0 pixels)")
    original = _as_unit_array(picture, prep.channels)
    if prep.size is not None and (picture.height, picture.width) != prep.size:
        resized = _as_unit_array(
            picture.resize((prep.size[1], prep.size[0]), Image.Resampling.BILINEAR), prep.channels
        )
    else:
        resized = original
    return LoadedImage(path=path, original=original, model_input=prep.normalise(resized))


def _decode_within(path: Path, max_pixels: int) -> Any:
    """Open (headers only), check the declared size, then decode and apply the EXIF orientation."""
    from PIL import Image, ImageOps

    previous = Image.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its limit and twice it; here the limit is the limit.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            Image.MAX_IMAGE_PIXELS = None  # the header's size is checked below, with a clearer message
            with Image.open(path, formats=PILLOW_FORMATS) as opened:
                check_pixel_count(path, opened.size, max_pixels)
                Image.MAX_IMAGE_PIXELS = max_pixels  # frames that grow the canvas while decoding
                opened.load()
                return ImageOps.exif_transpose(opened)
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def check_pixel_count(path: Path, size: tuple[int, int], max_pixels: int) -> None:
    """Refuse an image whose declared width x height exceeds ``max_pixels``, before decoding it."""
    width, height = size
    if width * height > max_pixels:
        raise InputError(
            f"{path}: the image is {width}x{height} = {width * height:,} pixels, above the limit of "
            f"{max_pixels:,} pixels (decoding it would take about {width * height * 4:,} bytes); "
            f"{MAX_PIXELS.how_to_raise}"
        )


def _as_unit_array(picture: object, channels: int) -> np.ndarray:
    """Pixels as float32 in 0..1, shape (H, W, channels); 16-bit images keep their depth."""
    from PIL import Image

    assert isinstance(picture, Image.Image)
    if picture.mode.startswith("I;16") or picture.mode == "I":
        values = np.asarray(picture, dtype=np.float32) / 65535.0
        gray = np.clip(values, 0.0, 1.0)[..., None]
        return np.repeat(gray, channels, axis=2) if channels > 1 else gray
    converted = picture.convert(CHANNEL_MODES[channels])
    values = np.asarray(converted, dtype=np.float32) / 255.0
    return values[..., None] if values.ndim == 2 else values


def batches_of(items: list[Path], size: int) -> Iterator[list[Path]]:
    """Consecutive slices of ``items`` of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
