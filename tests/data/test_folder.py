import logging
import os
from collections import Counter

import numpy as np
import pytest
import torch
from PIL import Image

from ssrl.data import load_labeled, load_source
from ssrl.data.folder import MAX_MIXED_SIZE, working_size
from ssrl.errors import DataError
from tests.data.writers import write_image, write_png16
from tests.faults.deadline import deadline


def test_class_subfolders_give_labels_and_names(tmp_path):
    for i in range(3):
        write_image(tmp_path / "dog" / f"{i}.png", "L", seed=i)
    write_image(tmp_path / "cat" / "deep" / "a.JPG", "L")
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    source = load_source(str(tmp_path))
    assert source.classes == ["cat", "dog"]
    assert source.labels.tolist() == [0, 1, 1, 1]
    assert source.images.shape == (4, 1, 8, 8)


def test_loose_images_are_unlabeled_and_keep_their_pixels(tmp_path):
    pixels = np.arange(64, dtype=np.uint8).reshape(8, 8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    write_image(tmp_path / "b.bmp", "L")
    source = load_source(str(tmp_path))
    assert source.labels is None and source.classes is None
    assert torch.equal(source.images[0, 0], torch.from_numpy(pixels))


def test_train_test_subfolders_are_the_split(tmp_path):
    write_image(tmp_path / "train" / "a" / "0.png", "L")
    write_image(tmp_path / "train" / "b" / "0.png", "L")
    write_image(tmp_path / "test" / "b" / "0.png", "RGB")  # colour in test makes both splits RGB
    train, test, note = load_labeled(str(tmp_path))
    assert note == "test split: the data set's own (train/ and test/ subfolders)"
    assert train.labels.tolist() == [0, 1] and test.labels.tolist() == [1]
    assert train.channels == test.channels == 3


def test_mixed_modes_load_to_three_channels(tmp_path):
    for mode in ("L", "LA", "RGB", "RGBA", "P"):
        write_image(tmp_path / f"{mode}.png", mode)
    write_image(tmp_path / "g.gif", "L")
    write_image(tmp_path / "w.webp", "RGB")
    source = load_source(str(tmp_path))
    assert source.images.shape == (7, 3, 8, 8)


def test_gray_png_stays_gray_and_transparent_is_white(tmp_path):
    pixels = np.zeros((8, 8, 2), np.uint8)  # black, fully transparent
    Image.fromarray(pixels).save(tmp_path / "a.png")
    source = load_source(str(tmp_path))
    assert source.channels == 1 and bool((source.images == 255).all())


def test_mixed_sizes_resize_to_the_smaller_of_a_tie_or_requested(tmp_path):
    write_image(tmp_path / "a.png", "L", size=(10, 20))  # counts by its shorter side, 10
    write_image(tmp_path / "b.png", "L", size=(30, 30))
    assert load_source(str(tmp_path)).image_size == (10, 10)  # one each: the smaller
    assert load_source(str(tmp_path), image_size=16).image_size == (16, 16)


def test_mixed_sizes_are_read_at_the_most_common_size_and_it_is_stated(tmp_path, caplog):
    for i in range(8):
        write_image(tmp_path / f"big{i}.png", "L", size=(12, 12), seed=i)
    for i in range(2):
        write_image(tmp_path / f"odd{i}.png", "L", size=(9, 9), seed=i)
    with caplog.at_level(logging.INFO, logger="ssrl"):
        source = load_source(str(tmp_path))
    assert source.images.shape == (10, 1, 12, 12)
    [message] = [r.getMessage() for r in caplog.records if r.name == "ssrl"]
    assert str(tmp_path) in message and "working size 12 px" in message
    assert "12×12: 8" in message and "9×9: 2" in message and "--image-size" in message


def test_the_most_common_size_is_capped(tmp_path, caplog):
    for i in range(3):
        write_image(tmp_path / f"{i}.png", "L", size=(MAX_MIXED_SIZE + 16, MAX_MIXED_SIZE + 16), seed=i)
    write_image(tmp_path / "small.png", "L", size=(20, 20))
    with caplog.at_level(logging.INFO, logger="ssrl"):
        assert load_source(str(tmp_path)).image_size == (MAX_MIXED_SIZE, MAX_MIXED_SIZE)
    assert f"capped at {MAX_MIXED_SIZE} px" in caplog.text


def test_one_square_size_is_kept_without_a_notice(tmp_path, caplog):
    for i in range(3):
        write_image(tmp_path / f"{i}.png", "L", size=(100, 100), seed=i)
    with caplog.at_level(logging.INFO, logger="ssrl"):
        assert load_source(str(tmp_path)).image_size == (100, 100)
    assert not [r for r in caplog.records if r.name == "ssrl"]


@pytest.mark.parametrize("sizes, expected", [
    ({(12, 12): 8, (9, 9): 2}, 12),
    ({(12, 12): 2, (9, 9): 2}, 9),                  # a tie: the smaller
    ({(20, 10): 3, (12, 12): 2}, 10),               # non-square: the shorter side
    ({(10, 20): 1}, 10),                            # one size, not square
    ({(500, 375): 3, (640, 480): 2}, MAX_MIXED_SIZE),
    ({(32, 32): 1480, (22, 22): 20}, 32),
])
def test_working_size_rule(sizes, expected):
    assert working_size(Counter(sizes)) == expected


def test_corrupt_file_is_named_or_skipped(tmp_path):
    write_image(tmp_path / "a.png", "L")
    (tmp_path / "bad.png").write_bytes(np.random.default_rng(0).bytes(100))
    with pytest.raises(DataError, match="bad.png"):
        load_source(str(tmp_path))
    with pytest.warns(UserWarning, match=r"skipped 1 .*bad\.png"):
        source = load_source(str(tmp_path), skip_bad=True)
    assert len(source) == 1


def test_truncated_png_fails_on_decode(tmp_path):
    write_image(tmp_path / "a" / "ok.png", "L")
    path = write_image(tmp_path / "b" / "cut.png", "L", size=(64, 64))
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataError, match="cut.png"):
        load_source(str(tmp_path))
    with pytest.warns(UserWarning, match="cut.png"):
        source = load_source(str(tmp_path), skip_bad=True)
    assert source.labels.tolist() == [0]


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_symlinks_outside_root_are_skipped(tmp_path):
    outside = write_image(tmp_path / "outside.png", "L")
    root = tmp_path / "root"
    write_image(root / "in.png", "L")
    (root / "link.png").symlink_to(outside)
    (root / "inner.png").symlink_to(root / "in.png")
    assert len(load_source(str(root))) == 2


def test_empty_folder(tmp_path):
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(DataError, match="no images found in"):
        load_source(str(tmp_path))


def test_no_test_split_without_subfolders(tmp_path):
    write_image(tmp_path / "a.png", "L")
    with pytest.raises(DataError, match="no 'test' split"):
        load_source(str(tmp_path), split="test")


def test_gray_palette_images_stay_one_channel(tmp_path):
    write_image(tmp_path / "g.gif", "L")  # GIFs are always palette images
    write_image(tmp_path / "l.png", "L")
    assert load_source(str(tmp_path)).channels == 1


# 16 bits per channel: every value scaled by its high byte (v >> 8), never clipped at 255
SIXTEEN = np.array([0, 255, 256, 1000, 4095, 32768, 65280, 65535] * 8, dtype=np.uint16).reshape(8, 8)


@pytest.mark.parametrize("name, mode, dtype", [
    ("a.png", "I;16", "<u2"),     # how Pillow writes and reads a 16-bit gray PNG
    ("a.tif", "I;16", "<u2"),
    ("a.tif", "I;16B", ">u2"),
    ("a.tif", "I", "<i4"),        # 32-bit integers holding 16-bit values (older Pillow's 16-bit PNGs)
])
def test_16_bit_gray_is_scaled_by_its_high_byte(tmp_path, name, mode, dtype):
    image = Image.frombytes(mode, (8, 8), SIXTEEN.astype(dtype).tobytes())
    image.save(tmp_path / name)
    source = load_source(str(tmp_path))
    assert source.channels == 1
    assert torch.equal(source.images[0, 0], torch.from_numpy((SIXTEEN >> 8).astype(np.uint8)))


def test_16_bit_colour_png_agrees_with_16_bit_gray(tmp_path):
    write_png16(tmp_path / "rgb.png", np.stack([SIXTEEN, SIXTEEN.T, SIXTEEN], -1))
    Image.frombytes("I;16", (8, 8), SIXTEEN.tobytes()).save(tmp_path / "gray.png")
    gray, rgb = load_source(str(tmp_path)).images  # sorted: gray.png, rgb.png; gray replicated to RGB
    high = torch.from_numpy((SIXTEEN >> 8).astype(np.uint8))
    assert torch.equal(gray, high.expand(3, 8, 8))
    assert torch.equal(rgb, torch.stack([high, high.T, high]))


def test_32_bit_pixels_outside_16_bits_are_named(tmp_path):
    Image.frombytes("I", (2, 1), np.array([0, 70000], "<i4").tobytes()).save(tmp_path / "deep.tif")
    write_image(tmp_path / "ok.png", "L", size=(2, 1))
    with pytest.raises(DataError, match=r"deep\.tif.*0\.\.65535"):
        load_source(str(tmp_path))


def test_float_image_follows_the_unit_range_rule(tmp_path):
    Image.fromarray(np.array([[0.0, 0.5], [1.0, 0.25]], np.float32)).save(tmp_path / "f.tif")
    assert load_source(str(tmp_path)).images[0, 0].tolist() == [[0, 128], [255, 64]]
    Image.fromarray(np.array([[0.0, np.nan], [1.0, 0.25]], np.float32)).save(tmp_path / "f.tif")
    with pytest.raises(DataError, match=r"f\.tif.*NaN"):
        load_source(str(tmp_path))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_is_named_or_skipped_never_read(tmp_path):
    write_image(tmp_path / "a.png", "L")
    os.mkfifo(tmp_path / "pipe.png")  # opening it to read would block until a writer comes
    with deadline(10), pytest.raises(DataError, match=r"pipe\.png: not a regular file"):
        load_source(str(tmp_path))
    with deadline(10), pytest.warns(UserWarning, match=r"skipped 1 .*pipe\.png"):
        assert len(load_source(str(tmp_path), skip_bad=True)) == 1


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_symlink_loop_is_named_or_skipped(tmp_path):
    write_image(tmp_path / "a.png", "L")
    (tmp_path / "loop.png").symlink_to("loop.png")
    (tmp_path / "x.png").symlink_to("y.png")
    (tmp_path / "y.png").symlink_to("x.png")
    with pytest.raises(DataError, match=r"loop\.png"):
        load_source(str(tmp_path))
    with pytest.warns(UserWarning, match=r"skipped 3 .*loop\.png"):
        assert len(load_source(str(tmp_path), skip_bad=True)) == 1
