"""DAVIS-layout folders (``ssrl.data.davis``): frames and index-PNG masks read back, the video
lists of ImageSets, and errors that name the file at fault."""

import numpy as np
import pytest
from PIL import Image

from ssrl.data.davis import davis_folder, is_davis, read_mask, read_video
from ssrl.errors import DataError
from tests.data.davis_folders import palette_png, translated_square, write_davis


@pytest.fixture
def folder(tmp_path):
    two = translated_square(frames=5, side=32)
    frames, masks, _ = translated_square(frames=4, side=32, start=(2, 10), step=(1, -2), object_id=2)
    masks[:, :4, :4] = 255  # void pixels stay void
    return write_davis(tmp_path / "DAVIS", {"bear": two[:2], "car": (frames, masks)}, unannotated={"car": (2,)})


def test_a_written_folder_reads_back(folder):
    davis = davis_folder(folder)
    assert is_davis(folder) and davis.videos == ["bear", "car"] and davis.listed_by is None
    assert davis.frames == folder / "JPEGImages" / "480p"
    bear = read_video(davis, "bear", side=96)
    frames, masks, _ = translated_square(frames=5, side=32)
    assert bear.frames.shape == (5, 3, 32, 32) and bear.masks.shape == (5, 32, 32)
    assert np.array_equal(bear.frames.permute(0, 2, 3, 1).numpy(), frames)  # PNG frames: lossless
    assert np.array_equal(bear.masks.numpy(), masks) and bear.annotated.all() and bear.objects == [1]
    car = read_video(davis, "car")
    assert car.objects == [2] and (car.masks[0, :4, :4] == 255).all()
    assert car.annotated.tolist() == [True, True, False, True] and (car.masks[2] == 0).all()


def test_frames_are_resized_aspect_kept_and_masks_stay_at_their_size(tmp_path):
    frames = np.random.default_rng(0).integers(0, 256, (3, 40, 100, 3), dtype=np.uint8)
    masks = np.zeros((3, 40, 100), np.uint8)
    masks[:, 10:20, 30:60] = 1
    root = write_davis(tmp_path / "d", {"wide": (frames, masks)}, level=None)  # no 480p/ level
    video = read_video(davis_folder(root), "wide", side=20, max_frames=2)
    assert video.frames.shape == (2, 3, 20, 50) and video.masks.shape == (2, 40, 100)
    full = write_davis(tmp_path / "full", {"wide": (frames, masks)}, level="Full-Resolution")
    assert davis_folder(full).frames == full / "JPEGImages" / "Full-Resolution"  # the only level


def test_image_sets_choose_the_videos(folder):
    (folder / "ImageSets" / "2016").mkdir(parents=True)
    (folder / "ImageSets" / "2017").mkdir()
    (folder / "ImageSets" / "2016" / "val.txt").write_text(
        "/JPEGImages/480p/bear/00000.jpg /Annotations/480p/bear/00000.png\n"
        "/JPEGImages/480p/bear/00001.jpg /Annotations/480p/bear/00001.png\n")
    (folder / "ImageSets" / "2017" / "train.txt").write_text("bear\ncar\n")
    assert davis_folder(folder).videos == ["bear"]  # DAVIS 2016's lines are frame paths
    (folder / "ImageSets" / "2017" / "val.txt").write_text("car\n")
    davis = davis_folder(folder)
    assert davis.videos == ["car"] and davis.listed_by.name == "val.txt" and "2017" in davis.describe()
    (folder / "ImageSets" / "2017" / "val.txt").write_text("car\nmissing\n")
    with pytest.raises(DataError, match=r"val.txt: lists 1 video.*missing"):
        davis_folder(folder)


def test_davis_2016_binary_masks_are_one_object(tmp_path):
    path = tmp_path / "m.png"
    mask = np.zeros((6, 6), np.uint8)
    mask[1:3, 1:3] = 255
    Image.fromarray(mask, mode="L").save(path)
    assert read_mask(path).tolist() == (mask // 255).tolist()
    palette_png(mask, path)  # in a palette PNG, 255 is DAVIS's void
    assert read_mask(path).max() == 255


def test_errors_name_the_file(folder, tmp_path):
    davis = davis_folder(folder)
    (folder / "Annotations" / "480p" / "bear" / "00000.png").unlink()
    with pytest.raises(DataError, match=r"bear/00000.png: missing: the first frame's mask"):
        read_video(davis, "bear")
    palette_png(np.zeros((16, 32), np.uint8), folder / "Annotations" / "480p" / "car" / "00001.png")
    with pytest.raises(DataError, match=r"car/00001.png: mask of 32×16 px, but its frame 00001.png is 32×32"):
        read_video(davis, "car")
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(folder / "Annotations" / "480p" / "car" / "00001.png")
    with pytest.raises(DataError, match=r"00001.png: a mode-RGB image; masks are index PNGs"):
        read_video(davis, "car")
    empty = tmp_path / "empty"
    (empty / "JPEGImages").mkdir(parents=True)
    (empty / "Annotations").mkdir()
    with pytest.raises(DataError, match=r"no videos found in .*JPEGImages"):
        davis_folder(empty)
    with pytest.raises(DataError, match=r"not a DAVIS-layout folder"):
        davis_folder(tmp_path)
