"""vsr.io's image files: the one extension list, natural order, reader and writer."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from vsr.errors import InputNotFoundError, InvalidInputError, OutputExistsError
from vsr.io import IMAGE_EXTENSIONS, is_image_path, list_images, natural_key, read_image, read_rgb, write_image


@pytest.mark.parametrize("shape", [(7, 9), (7, 9, 3), (7, 9, 4)], ids=["grey", "rgb", "rgba"])
def test_write_then_read_keeps_layout_and_pixels(tmp_path: Path, shape: tuple[int, ...]) -> None:
    img = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    path = write_image(tmp_path / "ünïcode dir" / "a.png", img)  # imdecode/imencode: non-ASCII paths work
    assert np.array_equal(read_image(path), img)
    rgb = read_rgb(path)
    assert rgb.shape == (7, 9, 3)
    assert np.array_equal(rgb[:, :, 0], img if img.ndim == 2 else img[:, :, 0])


def test_channel_order_is_rgb_on_both_sides(tmp_path: Path) -> None:
    img = np.zeros((4, 4, 3), np.uint8)
    img[..., 0] = 200  # red
    write_image(tmp_path / "r.png", img)
    assert cv2.imread(str(tmp_path / "r.png"))[0, 0].tolist() == [0, 0, 200]  # OpenCV's BGR on disk
    assert read_image(tmp_path / "r.png")[0, 0].tolist() == [200, 0, 0]


def test_16_bit_images_are_rounded_to_8_bits(tmp_path: Path) -> None:
    deep = np.array([[0, 257, 65535, 32896]], np.uint16)  # 32896 = 128 * 257 + 0
    cv2.imwrite(str(tmp_path / "d.png"), deep)
    assert read_image(tmp_path / "d.png").tolist() == [[0, 1, 255, 128]]


def test_the_writer_refuses_to_overwrite_unless_asked(tmp_path: Path) -> None:
    img = np.zeros((2, 2, 3), np.uint8)
    write_image(tmp_path / "o.png", img)
    with pytest.raises(OutputExistsError, match="o.png"):
        write_image(tmp_path / "o.png", img + 1)
    write_image(tmp_path / "o.png", img + 1, overwrite=True)
    assert read_image(tmp_path / "o.png").max() == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.png"]  # no temporary left behind


def test_unreadable_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match="nope.png"):
        read_image(tmp_path / "nope.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(InvalidInputError, match="empty.png: file is empty"):
        read_image(tmp_path / "empty.png")
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(InvalidInputError, match="text.png: cannot decode image"):
        read_image(tmp_path / "text.png")


def test_one_extension_list_and_one_natural_order(tmp_path: Path) -> None:
    assert {".png", ".jpg", ".pgm", ".webp"} <= set(IMAGE_EXTENSIONS)
    assert is_image_path("A.PNG") and not is_image_path("a.mp4")
    assert sorted(["im10", "im2", "IM1"], key=natural_key) == ["IM1", "im2", "im10"]
    for rel in ("im10.png", "im2.png", "sub/im1.png", ".hidden.png", "notes.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    assert [p.name for p in list_images(tmp_path)] == ["im2.png", "im10.png"]
    assert [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path, recursive=True)] == ["im2.png", "im10.png", "sub/im1.png"]
