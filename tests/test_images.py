"""Decoding and pixel comparison (replay/images.py, used through replay.outputs) on images made here with Pillow."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from helpers import DATA
from PIL import Image, PngImagePlugin

from replay.outputs import Thresholds, compare_images, describe_file, difference_image


def save(path: Path, image: Image.Image, fmt: str = "PNG", **options) -> Path:
    image.save(path, fmt, **options)
    return path


def flat(size=(10, 10), color=(100, 100, 100), mode="RGB") -> Image.Image:
    return Image.new(mode, size, color if mode != "RGBA" else (*color, 255))


def raw_png(width: int, height: int, bit_depth: int, color_type: int, rows: bytes) -> bytes:
    """A PNG written byte by byte (so header fields can lie)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


def test_same_pixels_with_different_metadata_and_compression_are_same_pixels(tmp_path):
    image = flat((32, 24), (10, 200, 30))
    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", '{"1": {"class_type": "EmptyImage"}}')
    a = save(tmp_path / "a.png", image, pnginfo=info, compress_level=1)
    b = save(tmp_path / "b.png", image, compress_level=9)
    assert a.read_bytes() != b.read_bytes()
    assert compare_images(a, b, Thresholds()) == ("same-pixels", None, None)
    assert describe_file(a, "a.png")["pixels"] == describe_file(b, "b.png")["pixels"]
    assert describe_file(a, "a.png")["sha256"] != describe_file(b, "b.png")["sha256"]


def test_the_same_file_twice_is_identical(tmp_path):
    a = save(tmp_path / "a.png", flat())
    b = tmp_path / "b.png"
    b.write_bytes(a.read_bytes())
    assert compare_images(a, b, Thresholds()) == ("identical", None, None)


def test_one_changed_pixel_is_different_with_exact_metrics(tmp_path):
    image = flat((10, 10), (100, 100, 100))
    a = save(tmp_path / "a.png", image)
    image.putpixel((3, 4), (140, 100, 100))  # one channel of one pixel, by 40
    b = save(tmp_path / "b.png", image)
    result, metrics, why = compare_images(a, b, Thresholds())
    assert (result, why) == ("different", None)
    assert metrics is not None
    assert metrics["changed_pixels"] == 1
    assert metrics["changed_ratio"] == pytest.approx(0.01)
    assert metrics["max_diff"] == 40
    # 40 over 10 x 10 pixels x 3 channels; MSE 1600 / 300; PSNR 10 log10(255^2 / MSE) = 40.861 dB
    assert metrics["mean_diff"] == pytest.approx(40 / 300, abs=1e-6)
    assert metrics["psnr"] == pytest.approx(40.861, abs=0.001)


def test_a_change_in_alpha_alone_counts(tmp_path):
    image = flat((4, 4), (1, 2, 3), mode="RGBA")
    a = save(tmp_path / "a.png", image)
    image.putpixel((0, 0), (1, 2, 3, 0))
    b = save(tmp_path / "b.png", image)
    result, metrics, _ = compare_images(a, b, Thresholds())
    assert result == "different"
    assert metrics is not None and metrics["changed_pixels"] == 1 and metrics["max_diff"] == 255


def test_a_size_change_is_incomparable_and_says_the_sizes(tmp_path):
    a = save(tmp_path / "a.png", flat((4, 4)))
    b = save(tmp_path / "b.png", flat((5, 4)))
    assert compare_images(a, b, Thresholds()) == ("incomparable", None, "size changed: 4x4 -> 5x4")
    assert difference_image(a, b) is None


def test_pixel_threshold_ignores_small_channel_differences(tmp_path):
    image = flat((10, 10), (100, 100, 100))
    a = save(tmp_path / "a.png", image)
    image.putpixel((0, 0), (103, 100, 100))  # by 3
    image.putpixel((1, 0), (110, 100, 100))  # by 10
    b = save(tmp_path / "b.png", image)
    _, metrics, _ = compare_images(a, b, Thresholds(pixel_threshold=3))
    assert metrics is not None and metrics["changed_pixels"] == 1
    assert metrics["max_diff"] == 10  # the numbers are shown whatever the tolerance
    _, metrics, _ = compare_images(a, b, Thresholds(pixel_threshold=10))
    assert metrics is not None and metrics["changed_pixels"] == 0
    assert Thresholds(pixel_threshold=10).accept(metrics)
    assert not Thresholds().accept({"changed_ratio": 0.02, "psnr": 40.0})


def test_ratio_and_psnr_thresholds_accept_or_refuse():
    metrics = {"changed_pixels": 5, "changed_ratio": 0.05, "max_diff": 3, "mean_diff": 0.1, "psnr": 42.0}
    assert Thresholds(max_diff_ratio=0.05).accept(metrics)
    assert not Thresholds(max_diff_ratio=0.049).accept(metrics)
    assert Thresholds(min_psnr=42.0).accept(metrics)
    assert not Thresholds(min_psnr=42.5).accept(metrics)
    with pytest.raises(ValueError):
        Thresholds(pixel_threshold=256)
    with pytest.raises(ValueError):
        Thresholds(max_diff_ratio=1.5)


def test_sixteen_bit_images_are_compared_by_their_high_byte(tmp_path):
    # 2x1 16-bit grayscale: 0x1234 and 0xABCD; the 8-bit image holds 0x12 and 0xAB.
    sixteen = tmp_path / "g16.png"
    sixteen.write_bytes(raw_png(2, 1, 16, 0, b"\x00\x12\x34\xab\xcd"))
    eight = tmp_path / "g8.png"
    eight.write_bytes(raw_png(2, 1, 8, 0, b"\x00\x12\xab"))
    assert describe_file(sixteen, "g16.png")["pixels"] == describe_file(eight, "g8.png")["pixels"]
    # 16-bit RGB: Pillow itself keeps the high byte of each sample.
    rgb16 = tmp_path / "rgb16.png"
    rgb16.write_bytes(raw_png(1, 1, 16, 2, b"\x00\x12\x34\x56\x78\x9a\xbc"))
    rgb8 = tmp_path / "rgb8.png"
    rgb8.write_bytes(raw_png(1, 1, 8, 2, b"\x00\x12\x56\x9a"))
    assert describe_file(rgb16, "a.png")["pixels"] == describe_file(rgb8, "b.png")["pixels"]


def test_grayscale_and_the_same_gray_as_rgb_have_the_same_pixels(tmp_path):
    a = save(tmp_path / "l.png", Image.new("L", (3, 3), 77))
    b = save(tmp_path / "rgb.png", Image.new("RGB", (3, 3), (77, 77, 77)))
    assert compare_images(a, b, Thresholds()) == ("same-pixels", None, None)


def test_opaque_rgba_palette_and_rgb_files_of_one_picture_have_the_same_pixels(tmp_path):
    picture = Image.new("RGB", (6, 4), (0, 0, 0))
    picture.putpixel((2, 1), (255, 0, 0))
    rgb = save(tmp_path / "rgb.png", picture)
    rgba = save(tmp_path / "rgba.png", picture.convert("RGBA"))
    palette = save(tmp_path / "p.png", picture.convert("P"))
    hashes = {describe_file(path, path.name)["pixels"] for path in (rgb, rgba, palette)}
    assert len(hashes) == 1
    assert compare_images(rgb, rgba, Thresholds()) == ("same-pixels", None, None)
    see_through = picture.convert("RGBA")
    see_through.putpixel((0, 0), (0, 0, 0, 254))
    other = save(tmp_path / "alpha.png", see_through)
    result, metrics, _ = compare_images(rgb, other, Thresholds())
    assert result == "different" and metrics is not None
    assert (metrics["changed_pixels"], metrics["max_diff"]) == (1, 1)


def test_jpeg_is_decoded_and_described(tmp_path):
    path = save(tmp_path / "x.jpg", flat((16, 8), (200, 10, 10)), "JPEG", quality=90)
    described = describe_file(path, "x.jpg")
    assert (described["media_type"], described["width"], described["height"], described["frames"]) == \
        ("image/jpeg", 16, 8, 1)


def test_gif_frames_are_compared_one_by_one(tmp_path):
    frames = [Image.new("P", (8, 8), index) for index in range(3)]
    for frame in frames:
        frame.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
    a = tmp_path / "a.gif"
    frames[0].save(a, save_all=True, append_images=frames[1:], duration=100, disposal=2)
    changed = [frame.copy() for frame in frames]
    changed[2].putpixel((1, 1), 0)
    b = tmp_path / "b.gif"
    changed[0].save(b, save_all=True, append_images=changed[1:], duration=100, disposal=2)
    assert describe_file(a, "a.gif")["frames"] == 3
    result, metrics, _ = compare_images(a, b, Thresholds())
    assert result == "different"
    assert metrics is not None and metrics["changed_pixels"] == 1
    assert metrics["changed_ratio"] == pytest.approx(1 / (8 * 8 * 3))


def test_animated_webp_with_another_frame_count_is_incomparable(tmp_path):
    frames = [Image.new("RGB", (8, 8), (value, 0, 0)) for value in (0, 80, 160)]
    a = save(tmp_path / "a.webp", frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    b = save(tmp_path / "b.webp", frames[0], "WEBP", save_all=True, append_images=frames[1:2], lossless=True)
    assert describe_file(a, "a.webp")["frames"] == 3
    assert describe_file(a, "a.webp")["media_type"] == "image/webp"
    assert compare_images(a, b, Thresholds()) == ("incomparable", None, "frame count changed: 3 -> 2")


def test_a_truncated_png_is_incomparable_with_a_reason_not_a_crash(tmp_path):
    image = Image.effect_noise((64, 64), 50).convert("RGB")
    whole = save(tmp_path / "whole.png", image)
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    result, metrics, why = compare_images(whole, cut, Thresholds())
    assert (result, metrics) == ("incomparable", None)
    assert why is not None and why.startswith("B cannot be decoded")
    described = describe_file(cut, "cut.png")
    assert "pixels" not in described and described["media_type"] == "image/png"


def test_a_non_image_with_an_image_extension_is_not_decoded(tmp_path):
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"#!/bin/sh\necho not an image\n")
    real = save(tmp_path / "real.png", flat())
    assert "pixels" not in describe_file(fake, "fake.png")
    result, _, why = compare_images(real, fake, Thresholds())
    assert result == "incomparable" and why == "B cannot be decoded: not a PNG, JPEG, WebP or GIF image"


def test_a_decompression_bomb_is_refused_by_the_pixel_limit_before_decoding(tmp_path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(raw_png(60000, 60000, 8, 0, zlib.compress(b"")[:0]))  # 3.6 gigapixels declared, no data
    described = describe_file(bomb, "bomb.png")
    assert "pixels" not in described and "width" not in described
    result, _, why = compare_images(bomb, save(tmp_path / "small.png", flat()), Thresholds())
    assert result == "incomparable"
    assert why is not None and "limit" in why


def test_an_image_over_our_pixel_limit_but_under_pillows_is_refused_too(tmp_path):
    bomb = tmp_path / "big.png"
    bomb.write_bytes(raw_png(8000, 8000, 8, 0, b""))  # 64 megapixels declared, over the 50 MP limit
    result, _, why = compare_images(bomb, save(tmp_path / "small.png", flat()), Thresholds())
    assert result == "incomparable"
    assert why == "A cannot be decoded: declares 8000x8000 pixels, over the limit of 50,000,000 per frame"


def test_other_formats_are_not_decoded(tmp_path):
    path = save(tmp_path / "x.bmp", flat(), "BMP")
    described = describe_file(path, "x.bmp")
    assert "pixels" not in described
    assert described["media_type"] in ("image/bmp", "image/x-ms-bmp")


def test_difference_image_paints_changed_pixels_red_over_a_faded_copy(tmp_path):
    image = flat((20, 10), (0, 0, 0))
    a = save(tmp_path / "a.png", image)
    image.putpixel((5, 5), (1, 0, 0))
    b = save(tmp_path / "b.png", image)
    picture = difference_image(a, b)
    assert picture is not None and picture.size == (20, 10)
    assert picture.getpixel((5, 5)) == (220, 20, 60)
    unchanged = picture.getpixel((0, 0))
    assert unchanged != (220, 20, 60) and unchanged[0] == unchanged[1] == unchanged[2] > 100  # faded grey


def test_difference_image_is_scaled_down_and_keeps_a_single_changed_pixel_visible(tmp_path):
    image = flat((1000, 500), (50, 50, 50))
    a = save(tmp_path / "a.png", image)
    image.putpixel((999, 499), (51, 50, 50))
    b = save(tmp_path / "b.png", image)
    picture = difference_image(a, b, max_side=100)
    assert picture is not None and picture.size == (100, 50)
    assert picture.getpixel((99, 49)) == (220, 20, 60)
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    assert buffer.getvalue().startswith(b"\x89PNG")


def test_first_changed_frames_finds_the_frame_a_change_starts_in_and_honours_the_threshold():
    from replay.images import first_changed_frames

    folder = DATA / "animations"
    pair = first_changed_frames(folder / "apng_00001_.png", folder / "apng_00002_.png")
    assert pair.index == 1 and pair.a.getpixel((0, 0)) == (0, 0, 255) and pair.b.getpixel((0, 0)) == (0, 0, 254)
    within = first_changed_frames(folder / "apng_00001_.png", folder / "apng_00002_.png", threshold=1)
    assert within.index == 0 and within.a.getpixel((0, 0)) == (255, 0, 0)
