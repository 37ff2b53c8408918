"""Decoding output images with Pillow, hashing their pixels in one fixed mode, and comparing them pixel by pixel.

Decoded formats: PNG (8 and 16 bit; L, LA, P, RGB, RGBA), JPEG, WebP (animated too) and GIF (every frame).
Everything else is compared by bytes (replay.outputs). Pixels are hashed and compared in one canonical form:
8-bit RGB for a frame without transparency, 8-bit RGBA for a frame with any pixel not fully opaque (so a
grayscale, palette, RGB or opaque RGBA file of the same picture all hash alike). 16-bit samples are reduced to
their high byte (what Pillow does for 16-bit RGB/RGBA PNGs, and what we do for 16-bit grayscale), so a difference
below 1/256 of the range does not count. A file whose declared size passes `MAX_PIXELS` per frame or
`MAX_TOTAL_PIXELS` over all frames is refused before any pixel is decoded (an image bomb).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageChops, ImageSequence, UnidentifiedImageError

MAX_PIXELS = 50_000_000  # per frame: an 8K x 6K image; 200 MB as RGBA
MAX_TOTAL_PIXELS = 500_000_000  # over all frames of an animation (decoded one frame at a time)
FORMATS = ("PNG", "JPEG", "WEBP", "GIF")
PIXEL_HASH_VERSION = "pixels-v1"


_HELPER = ThreadPoolExecutor(2, thread_name_prefix="replay-decode")


class DecodeError(Exception):
    """An image that cannot be decoded: corrupt, truncated, an unknown format, or over the pixel limits."""


@dataclass(frozen=True)
class ImageInfo:
    """What decoding an image file told us: format, size, frame count and the SHA-256 of its pixels."""

    format: str
    media_type: str
    width: int
    height: int
    frames: int
    pixels: str


def _open(path: Path) -> Image.Image:
    try:
        image = Image.open(path, formats=FORMATS)
    except UnidentifiedImageError as exc:
        raise DecodeError("not a PNG, JPEG, WebP or GIF image") from exc
    except Image.DecompressionBombError as exc:  # Pillow's own limit, higher than ours
        raise DecodeError(f"declares more pixels than the limit of {MAX_PIXELS:,} per frame") from exc
    except Exception as exc:  # Pillow raises many kinds (SyntaxError, struct.error, ValueError) on bad headers
        raise DecodeError(f"unreadable image header ({type(exc).__name__}: {exc})") from exc
    width, height = image.size
    frames = int(getattr(image, "n_frames", 1) or 1)
    if width <= 0 or height <= 0:
        image.close()
        raise DecodeError(f"declares an empty size {width}x{height}")
    if width * height > MAX_PIXELS:
        image.close()
        raise DecodeError(f"declares {width}x{height} pixels, over the limit of {MAX_PIXELS:,} per frame")
    if width * height * frames > MAX_TOTAL_PIXELS:
        image.close()
        raise DecodeError(
            f"declares {frames} frames of {width}x{height}, over the limit of {MAX_TOTAL_PIXELS:,} pixels in all"
        )
    return image


def _canonical(frame: Image.Image) -> Image.Image:
    """One frame in the canonical form: 8-bit RGB when every pixel is opaque, else 8-bit RGBA."""
    if frame.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        frame = frame.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    if frame.mode == "RGB":
        return frame
    if frame.mode in ("1", "L", "CMYK", "YCbCr", "LAB", "HSV") or (frame.mode == "P" and "transparency" not in frame.info):
        return frame.convert("RGB")
    rgba = frame if frame.mode == "RGBA" else frame.convert("RGBA")
    if rgba.getchannel("A").getextrema() == (255, 255):
        return rgba.convert("RGB")
    return rgba


def _frames(image: Image.Image) -> Iterator[Image.Image]:
    """Every frame decoded, in the canonical form; decoding errors become DecodeError."""
    try:
        for frame in ImageSequence.Iterator(image):
            frame.load()
            yield _canonical(frame)
    except DecodeError:
        raise
    except Exception as exc:  # truncated data, bad CRC, broken zlib stream, ...
        raise DecodeError(f"corrupt or truncated image data ({type(exc).__name__}: {exc})") from exc


def _pixel_digest(width: int, height: int, frames: int) -> hashlib._Hash:
    digest = hashlib.sha256()
    digest.update(f"{PIXEL_HASH_VERSION} {width}x{height}x{frames}\n".encode())
    return digest


def inspect_image(path: Path) -> ImageInfo:
    """Decode every frame of an image file and hash its pixels; raises DecodeError when it cannot."""
    with _open(path) as image:
        fmt = str(image.format)
        media_type = Image.MIME.get(fmt, "application/octet-stream")
        width, height = image.size
        frames = int(getattr(image, "n_frames", 1) or 1)
        digest = _pixel_digest(width, height, frames)
        for frame in _frames(image):
            _hash_frame(digest, frame)
    return ImageInfo(fmt, media_type, width, height, frames, digest.hexdigest())


@dataclass(frozen=True)
class Thresholds:
    """How much two images may differ and still count as the same (SPEC §7); the default is exact."""

    pixel_threshold: int = 0  # a channel difference <= this does not count (0-255)
    max_diff_ratio: float = 0.0  # at most this fraction of changed pixels counts as the same
    min_psnr: float | None = None  # or a PSNR (dB) at least this

    def __post_init__(self) -> None:
        if not 0 <= self.pixel_threshold <= 255:
            raise ValueError(f"pixel threshold must be 0-255, not {self.pixel_threshold}")
        if not 0.0 <= self.max_diff_ratio <= 1.0:
            raise ValueError(f"max diff ratio must be between 0 and 1, not {self.max_diff_ratio}")
        if self.min_psnr is not None and (math.isnan(self.min_psnr) or self.min_psnr < 0):
            raise ValueError(f"min PSNR must be a number of dB >= 0, not {self.min_psnr}")

    def accept(self, metrics: dict[str, float | int | None]) -> bool:
        """Whether images with these metrics count as the same."""
        ratio = metrics.get("changed_ratio")
        if isinstance(ratio, (int, float)) and ratio <= self.max_diff_ratio:
            return True
        psnr = metrics.get("psnr")
        return self.min_psnr is not None and (psnr is None or psnr >= self.min_psnr)


EXACT = Thresholds()


@dataclass
class _Tally:
    """Running sums over the frames of two images."""

    pixels: int = 0
    changed: int = 0
    max_diff: int = 0
    total: int = 0  # sum of channel differences
    squares: int = 0  # sum of squared channel differences
    samples: int = 0  # channel values compared

    def add(self, a: Image.Image, b: Image.Image, threshold: int) -> None:
        """Count one pair of same-size canonical frames: RGB bands, and alpha when either has transparency."""
        if a.mode != b.mode:
            a, b = a.convert("RGBA"), b.convert("RGBA")
        channels = len(a.getbands())
        diff = ImageChops.difference(a, b)
        histogram = diff.histogram()  # 256 counts per band
        frame_max = 0
        for index in range(channels):
            counts = histogram[index * 256:(index + 1) * 256]
            for value in range(1, 256):
                count = counts[value]
                if count:
                    self.total += value * count
                    self.squares += value * value * count
                    frame_max = max(frame_max, value)
        self.max_diff = max(self.max_diff, frame_max)
        width, height = diff.size
        self.samples += width * height * channels
        self.pixels += width * height
        if frame_max <= threshold:
            return  # no channel of any pixel passes the threshold (the common case of near-identical frames)
        self.changed += width * height - _changed_mask(diff, threshold, binary=False).histogram()[0]

    def metrics(self) -> dict[str, float | int | None]:
        mse = self.squares / self.samples if self.samples else 0.0
        return {
            "changed_pixels": self.changed,
            "changed_ratio": round(self.changed / self.pixels, 8) if self.pixels else 0.0,
            "max_diff": self.max_diff,
            "mean_diff": round(self.total / self.samples, 6) if self.samples else 0.0,
            "psnr": round(10 * math.log10(255 * 255 / mse), 3) if mse else None,
        }


def _changed_mask(diff: Image.Image, threshold: int, *, binary: bool = True) -> Image.Image:
    """An "L" mask of a difference image: 255 where any band differs by more than `threshold`, else 0 (without
    `binary`: non-zero and zero, which is all counting needs)."""
    # Each band to 0 or 255; then RGB -> L is non-zero exactly where some band is (every weight is positive).
    over = [255 if value > threshold else 0 for value in range(256)]
    marked = diff.point(over * len(diff.getbands()))
    mask = marked.convert("L")
    if diff.mode == "RGBA":
        mask = ImageChops.lighter(mask, marked.getchannel("A"))
    return mask.point([0] + [255] * 255) if binary else mask


def compare_images(
    path_a: Path, path_b: Path, thresholds: Thresholds | None = None
) -> tuple[str, dict[str, float | int | None] | None, str | None]:
    """(result, metrics, why) for two image files: `identical` (same bytes), `same-pixels`, `different` (with
    metrics: changed_pixels, changed_ratio, max_diff, mean_diff, psnr in dB, None when no pixel differs) or
    `incomparable` (with why: undecodable, size, frame count or kind changed). Never raises on a bad image."""
    thresholds = thresholds or EXACT
    if _same_bytes(path_a, path_b):
        return "identical", None, None
    try:
        image_a = _open(path_a)
    except DecodeError as exc:
        return "incomparable", None, f"A cannot be decoded: {exc}"
    with image_a:
        try:
            image_b = _open(path_b)
        except DecodeError as exc:
            return "incomparable", None, f"B cannot be decoded: {exc}"
        with image_b:
            return _compare_open(image_a, image_b, thresholds)


def _compare_open(
    image_a: Image.Image, image_b: Image.Image, thresholds: Thresholds
) -> tuple[str, dict[str, float | int | None] | None, str | None]:
    if image_a.size != image_b.size:
        return "incomparable", None, "size changed: {}x{} -> {}x{}".format(*image_a.size, *image_b.size)
    frames_a = int(getattr(image_a, "n_frames", 1) or 1)
    frames_b = int(getattr(image_b, "n_frames", 1) or 1)
    if frames_a != frames_b:
        return "incomparable", None, f"frame count changed: {frames_a} -> {frames_b}"
    width, height = image_a.size
    digest_a = _pixel_digest(width, height, frames_a)
    digest_b = _pixel_digest(width, height, frames_b)
    tally = _Tally()
    frames = _frames(image_a)
    others = _frames(image_b)
    while True:
        # A's next frame is decoded and hashed on a helper thread while B's is here: Pillow's decoders and
        # hashlib release the GIL, so on two cores a comparison costs about what decoding one image does.
        pending = _HELPER.submit(_next_hashed, frames, digest_a)
        try:
            frame_b = _next_hashed(others, digest_b)
        except DecodeError as exc:
            pending.exception()  # let A's step finish before the images are closed
            return "incomparable", None, f"B cannot be decoded: {exc}"
        try:
            frame_a = pending.result()
        except DecodeError as exc:
            return "incomparable", None, f"A cannot be decoded: {exc}"
        if frame_a is None or frame_b is None:
            break
        tally.add(frame_a, frame_b, thresholds.pixel_threshold)
    if digest_a.digest() == digest_b.digest():
        return "same-pixels", None, None
    return "different", tally.metrics(), None


def _hash_frame(digest: hashlib._Hash, frame: Image.Image) -> None:
    digest.update(frame.mode.encode() + b"\n")
    digest.update(frame.tobytes())


def _next_hashed(frames: Iterator[Image.Image], digest: hashlib._Hash) -> Image.Image | None:
    frame = next(frames, None)
    if frame is not None:
        _hash_frame(digest, frame)
    return frame


def _same_bytes(path_a: Path, path_b: Path) -> bool:
    if path_a.stat().st_size != path_b.stat().st_size:
        return False
    with path_a.open("rb") as file_a, path_b.open("rb") as file_b:
        while True:
            chunk_a = file_a.read(1 << 20)
            if chunk_a != file_b.read(1 << 20):
                return False
            if not chunk_a:
                return True


def first_frame(path: Path) -> Image.Image:
    """The first frame of an image file in the canonical form (8-bit RGB, or RGBA with transparency), decoded
    within the pixel limits; raises DecodeError when it cannot be."""
    image = _open(path)
    frame: Image.Image | None = None
    try:
        frame = next(_frames(image), None)
        if frame is None:
            raise DecodeError("no frame to decode")
        if frame is image and getattr(image, "fp", None) is not None:
            frame = image.copy()  # an animation keeps its file open: keep the pixels, then close it
        return frame
    finally:
        if frame is not image:  # a still image's file was closed once loaded; closing it would drop the pixels
            image.close()


@dataclass(frozen=True)
class FramePair:
    """The frames of two images to show side by side: the first pair that differs, or the first frames."""

    a: Image.Image
    b: Image.Image
    index: int  # 0 for still images and for animations whose frames all agree (or cannot be paired)


def _differs(frame_a: Image.Image, frame_b: Image.Image, threshold: int) -> bool:
    if frame_a.mode != frame_b.mode:
        frame_a, frame_b = frame_a.convert("RGBA"), frame_b.convert("RGBA")
    return _changed_mask(ImageChops.difference(frame_a, frame_b), threshold).getbbox() is not None


def first_changed_frames(path_a: Path, path_b: Path, *, threshold: int = 0) -> FramePair:
    """The first frames of two image files (of one size) with a channel difference over `threshold`: for an
    animation whose change starts in frame 5, frame 5 of each. The first frames when none differs, when the sizes
    or frame counts differ, or for still images. Frames are decoded one pair at a time, within the pixel limits;
    raises DecodeError when either file cannot be decoded."""
    with _open(path_a) as image_a, _open(path_b) as image_b:
        first: FramePair | None = None
        paired = image_a.size == image_b.size and getattr(image_a, "n_frames", 1) == getattr(image_b, "n_frames", 1)
        for index, (frame_a, frame_b) in enumerate(zip(_frames(image_a), _frames(image_b), strict=False)):
            pair = FramePair(frame_a.copy(), frame_b.copy(), index)
            if first is None:
                first = pair
            if not paired or _differs(pair.a, pair.b, threshold):
                return pair
        if first is None:
            raise DecodeError("no frame to decode")
        return first


def shrink(image: Image.Image, max_side: int, *, mask: bool = False) -> Image.Image:
    """`image` scaled down to fit `max_side` (unchanged when it fits): first by a whole factor with `reduce`
    (a box average, many times faster than `resize`), then the rest of the way. A `mask` ("L", 0 or 255) stays
    a mask in which every box holding a marked pixel is marked, so a single changed pixel never vanishes."""
    scale = max_side / max(image.size)
    if scale >= 1:
        return image
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    keep_any = [0] + [255] * 255
    factor = int(1 / scale)
    while factor >= 2:
        step = min(factor, 8) if mask else factor  # 255 / 8**2 still rounds to a marked value
        image = image.reduce(step)
        image = image.point(keep_any) if mask else image
        factor //= step
    if image.size != size:
        image = image.resize(size, Image.Resampling.BOX if mask else Image.Resampling.BILINEAR)
        image = image.point(keep_any) if mask else image
    return image


def mark_changes(frame_a: Image.Image, frame_b: Image.Image, *, max_side: int = 512, threshold: int = 0) -> Image.Image:
    """Pixels whose channel difference is over `threshold` painted red over a faded grey copy of A, scaled to fit
    `max_side`; the two frames have one size. The changes are found at full size, so one pixel still shows."""
    if frame_a.mode != frame_b.mode:
        frame_a, frame_b = frame_a.convert("RGBA"), frame_b.convert("RGBA")
    changed = _changed_mask(ImageChops.difference(frame_a, frame_b), threshold)
    small = shrink(frame_a, max_side)
    base = Image.blend(small.convert("L").convert("RGB"), Image.new("RGB", small.size, "white"), 0.6)
    base.paste(Image.new("RGB", base.size, (220, 20, 60)), mask=shrink(changed, max_side, mask=True))
    return base


def difference_image(path_a: Path, path_b: Path, *, max_side: int = 512) -> Image.Image | None:
    """Changed pixels of the first frames painted red over a faded grey copy of A, scaled to fit `max_side`;
    None when the two cannot be compared (undecodable, or of different sizes)."""
    try:
        frame_a = first_frame(path_a)
        frame_b = first_frame(path_b)
    except DecodeError:
        return None
    if frame_a.size != frame_b.size:
        return None
    return mark_changes(frame_a, frame_b, max_side=max_side)


__all__ = [
    "FORMATS",
    "MAX_PIXELS",
    "MAX_TOTAL_PIXELS",
    "DecodeError",
    "ImageInfo",
    "Thresholds",
    "compare_images",
    "difference_image",
    "first_frame",
    "inspect_image",
    "mark_changes",
    "shrink",
]
