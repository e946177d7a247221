"""Datasets and patch sampling: each layout on a tiny generated tree, and on ../shared/data when present."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from vsr.data import DIV2K, REDS, BenchmarkFolder, ImageFolder, PatchSampler, VideoFrames, Vimeo90K, crop_pair, dihedral, imresize, lr_patch_from_hr
from vsr.data._patches import DIHEDRAL
from vsr.errors import DatasetError, InvalidInputError

from _images import smooth_noise, write_rgb

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _solid(h: int, w: int, value: int) -> np.ndarray:
    return np.full((h, w, 3), value, np.uint8)


# --------------------------------------------------------------------------- patches
@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("shape", [(61, 77), (48, 48)])
def test_lr_patch_equals_crop_of_full_bicubic(scale: int, shape: tuple[int, int]) -> None:
    hr = smooth_noise(shape[0] * scale // 2 + 13, shape[1] * scale // 2 + 7, seed=scale)
    h, w = (hr.shape[0] // scale) * scale, (hr.shape[1] // scale) * scale
    full = imresize(np.ascontiguousarray(hr[:h, :w]), 1 / scale)
    p = 8
    h_lr, w_lr = h // scale, w // scale
    for y, x in [(0, 0), (h_lr - p, w_lr - p), (1, w_lr - p - 1), (h_lr // 2 - 3, 2)]:
        np.testing.assert_array_equal(lr_patch_from_hr(hr, y, x, p, scale), full[y : y + p, x : x + p], err_msg=f"{y},{x}")


def test_dihedral_gives_eight_distinct_transforms() -> None:
    img = np.arange(2 * 3 * 1).reshape(2, 3, 1)
    outs = {dihedral(img, k).tobytes() + bytes(dihedral(img, k).shape) for k in range(8)}
    assert len(DIHEDRAL) == 8 and len(outs) == 8
    assert dihedral(img, 4).shape == (3, 2, 1)


def test_crop_pair_uses_disk_lr_aligned() -> None:
    hr = smooth_noise(40, 60, seed=1)
    yy, xx = np.mgrid[0:20, 0:30]
    lr = np.stack([yy, xx, np.zeros_like(yy)], axis=-1).astype(np.uint8)  # each pixel holds its position
    rng = np.random.default_rng(0)
    lr_p, hr_p = crop_pair(hr, lr, scale=2, lr_patch=6, rng=rng)
    assert lr_p.shape == (6, 6, 3) and hr_p.shape == (12, 12, 3)
    y, x = int(lr_p[0, 0, 0]), int(lr_p[0, 0, 1])
    np.testing.assert_array_equal(lr_p, lr[y : y + 6, x : x + 6])
    np.testing.assert_array_equal(hr_p, hr[2 * y : 2 * y + 12, 2 * x : 2 * x + 12])


# --------------------------------------------------------------------------- image folders
def test_image_folder_reads_bmp_and_png(tmp_path: Path) -> None:
    write_rgb(tmp_path / "a.bmp", smooth_noise(30, 40, 0))
    write_rgb(tmp_path / "b.png", smooth_noise(50, 20, 1))
    (tmp_path / "notes.txt").write_text("not an image")
    src = ImageFolder(tmp_path)
    assert len(src) == 2
    assert src.hr(0).shape == (30, 40, 3) and src.hr(1).shape == (50, 20, 3)
    assert src.hr(0).dtype == np.uint8
    assert src.lr(0, 2) is None  # plain folders make LR by bicubic


def test_image_folder_empty_names_folder_and_layout(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"empty: no images found.*expected layout"):
        ImageFolder(tmp_path / "empty")
    with pytest.raises(DatasetError, match=r"missing: image folder not found"):
        ImageFolder(tmp_path / "missing")


def test_unreadable_image_is_named(tmp_path: Path) -> None:
    (tmp_path / "bad.png").write_bytes(b"not a png")
    src = ImageFolder(tmp_path)
    # The one image reader (vsr.io) names the file; datasets do not keep a reader of their own.
    with pytest.raises(InvalidInputError, match=r"bad.png: cannot decode image"):
        src.preload()


# --------------------------------------------------------------------------- sampler
def _sampler_folder(tmp_path: Path) -> ImageFolder:
    for i in range(3):
        write_rgb(tmp_path / f"{i}.png", smooth_noise(64, 80, seed=i))
    src = ImageFolder(tmp_path)
    src.preload()
    return src


def test_patch_sampler_shapes_and_determinism(tmp_path: Path) -> None:
    src = _sampler_folder(tmp_path)
    s = PatchSampler([src], scales=[2], lr_patch=12, batch_size=4, seed=3)
    b = s.batch(7)
    assert tuple(b.lr.shape) == (4, 3, 12, 12) and tuple(b.hr.shape) == (4, 3, 24, 24) and b.scale == 2
    again = PatchSampler([src], scales=[2], lr_patch=12, batch_size=4, seed=3).batch(7)
    assert np.array_equal(b.lr.numpy(), again.lr.numpy()) and np.array_equal(b.hr.numpy(), again.hr.numpy())
    other_rank = PatchSampler([src], scales=[2], lr_patch=12, batch_size=4, seed=3, rank=1).batch(7)
    assert not np.array_equal(b.hr.numpy(), other_rank.hr.numpy())
    assert not np.array_equal(b.hr.numpy(), s.batch(8).hr.numpy())


def test_patch_pairs_are_consistent_after_augmentation(tmp_path: Path) -> None:
    src = _sampler_folder(tmp_path)
    s = PatchSampler([src], scales=[2], lr_patch=16, batch_size=16, augment=True, seed=0)
    b = s.batch(0)
    for lr, hr in zip(b.lr.numpy(), b.hr.numpy()):
        # The patch's own bicubic matches the LR patch away from its borders (no context there).
        own = imresize(np.ascontiguousarray(hr.transpose(1, 2, 0)), 0.5).astype(int)
        diff = np.abs(own[3:-3, 3:-3] - lr.transpose(1, 2, 0)[3:-3, 3:-3].astype(int))
        assert diff.max() <= 1  # transposed pairs may round H/W passes in the other order


def test_patch_sampler_mixes_by_weight(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    write_rgb(a / "x.png", _solid(32, 32, 10))
    write_rgb(b / "y.png", _solid(32, 32, 200))
    sa, sb = ImageFolder(a), ImageFolder(b)
    only_b = PatchSampler([sa, sb], weights=[0, 1], scales=[2], lr_patch=8, batch_size=8)
    assert (only_b.batch(0).hr.numpy() == 200).all()
    mixed = PatchSampler([sa, sb], weights=[3, 1], scales=[2], lr_patch=8, batch_size=64)
    frac_a = float((mixed.batch(0).hr[:, 0, 0, 0] == 10).float().mean())
    assert 0.55 < frac_a < 0.95


def test_patch_sampler_mdsr_scale_per_batch_same_on_all_ranks(tmp_path: Path) -> None:
    src = _sampler_folder(tmp_path)
    r0 = PatchSampler([src], scales=[2, 3, 4], lr_patch=8, batch_size=2, rank=0)
    r1 = PatchSampler([src], scales=[2, 3, 4], lr_patch=8, batch_size=2, rank=1)
    scales = [r0.batch(i).scale for i in range(30)]
    assert set(scales) == {2, 3, 4}
    assert scales == [r1.scale_for(i) for i in range(30)]
    b = r0.batch(scales.index(3))
    assert tuple(b.hr.shape[-2:]) == (24, 24)


def test_patch_sampler_rejects_too_small_images(tmp_path: Path) -> None:
    write_rgb(tmp_path / "small.png", smooth_noise(20, 20, 0))
    src = ImageFolder(tmp_path)
    src.preload()
    with pytest.raises(DatasetError, match=r"no frame is at least 96x96 HR pixels.*lr_patch"):
        PatchSampler([src], scales=[2], lr_patch=48, batch_size=1)


# --------------------------------------------------------------------------- layouts
def test_div2k_uses_shipped_lr_when_present(tmp_path: Path) -> None:
    root = tmp_path / "DIV2K"
    for n in (1, 2, 801):
        write_rgb(root / "DIV2K_train_HR" / f"{n:04d}.png", smooth_noise(40, 48, n))
    write_rgb(root / "DIV2K_train_LR_bicubic" / "X2" / "0001x2.png", _solid(20, 24, 7))
    src = DIV2K(root, first=1, last=800)
    assert len(src) == 2
    assert (src.lr(0, 2) == 7).all()
    assert src.lr(1, 2) is None and src.lr(0, 3) is None
    s = PatchSampler([src], weights=None, scales=[2], lr_patch=8, batch_size=16, seed=1)
    lrs = s.batch(0).lr.numpy()
    assert any((x == 7).all() for x in lrs) and any(not (x == 7).all() for x in lrs)


def test_div2k_wrong_lr_size_is_explained(tmp_path: Path) -> None:
    root = tmp_path / "DIV2K"
    write_rgb(root / "DIV2K_train_HR" / "0001.png", smooth_noise(40, 48, 0))
    write_rgb(root / "DIV2K_train_LR_bicubic" / "X2" / "0001x2.png", _solid(10, 10, 7))
    with pytest.raises(DatasetError, match=r"0001x2.png: LR image is 10x10 .* needs 24x20"):
        DIV2K(root).lr(0, 2)


def test_div2k_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"DIV2K_train_HR: DIV2K train HR folder not found; expected layout"):
        DIV2K(tmp_path)


def test_reds_excludes_reds4_and_strides(tmp_path: Path) -> None:
    root = tmp_path / "REDS"
    for clip in ("000", "001", "011", "240"):
        for f in range(6):
            write_rgb(root / "train_sharp" / clip / f"{f:08d}.png", smooth_noise(16, 24, f))
    write_rgb(root / "train_sharp_bicubic" / "X4" / "001" / "00000000.png", _solid(4, 6, 9))
    src = REDS(root, frame_stride=2)
    clips = {c for c, _ in src.frames}
    assert clips == {"001", "240"} and len(src) == 6
    assert (src.lr(0, 4) == 9).all() and src.lr(1, 4) is None
    assert len(REDS(root, exclude=())) == 24


def test_vimeo90k_scan_and_list(tmp_path: Path) -> None:
    root = tmp_path / "vimeo_septuplet"
    for sept in ("00001/0001", "00001/0002", "00002/0001"):
        for k in range(1, 8):
            write_rgb(root / "sequences" / sept / f"im{k}.png", smooth_noise(16, 24, k))
    assert len(Vimeo90K(root)) == 21
    assert len(Vimeo90K(root, frame_stride=3)) == 9  # im1, im4, im7
    (root / "sep_trainlist.txt").write_text("00001/0002\n\n00002/0001\n")
    assert len(Vimeo90K(root)) == 14
    (root / "bad.txt").write_text("00003/0001\n")
    with pytest.raises(DatasetError, match=r"00003/0001/im1.png: frame missing"):
        Vimeo90K(root, list_file=root / "bad.txt")


def test_vimeo90k_missing_sequences(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"sequences: Vimeo90K sequences folder not found; expected layout: .*im1.png"):
        Vimeo90K(tmp_path)


def test_video_frames_stride_and_max(make_video: Callable[..., Path]) -> None:
    path = make_video("clip.mkv", frames=10, size=(32, 24), codec="ffv1", pix_fmt="bgr0")
    src = VideoFrames(path, frame_stride=3)
    assert [n for _, n in src.index] == [0, 3, 6, 9]
    assert src.hr(0).shape == (24, 32, 3)
    assert len(VideoFrames(path.parent, frame_stride=1, max_frames=4)) == 4
    empty = path.parent / "no_videos"
    empty.mkdir()
    with pytest.raises(DatasetError, match=r"no_videos: no video files found"):
        VideoFrames(empty)


def test_benchmark_folder_crops_hr_and_reports_missing_lr(tmp_path: Path) -> None:
    root = tmp_path / "Set1"
    write_rgb(root / "HR" / "img.png", smooth_noise(33, 41, 0))
    write_rgb(root / "LR_bicubic" / "X2" / "imgx2.png", smooth_noise(16, 20, 1))
    b = BenchmarkFolder(root, scale=2)
    item = b[0]
    assert item.name == "img" and item.lr.shape == (16, 20, 3) and item.hr.shape == (32, 40, 3)
    with pytest.raises(DatasetError, match=r"LR_bicubic/X3: benchmark LR x3 folder not found"):
        BenchmarkFolder(root, scale=3)
    write_rgb(root / "HR" / "other.png", smooth_noise(20, 20, 2))
    with pytest.raises(DatasetError, match=r"otherx2.png: LR image missing"):
        BenchmarkFolder(root, scale=2)


# --------------------------------------------------------------------------- real data
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not present (fresh clone)")


@needs_shared
def test_real_t91_bsd200_and_set5() -> None:
    t91 = ImageFolder(SHARED / "T91", cache=False)
    bsd = ImageFolder(SHARED / "BSD200", cache=False)
    assert len(t91) == 91 and len(bsd) == 200
    assert bsd.hr(0).shape in ((321, 481, 3), (481, 321, 3))
    set5 = BenchmarkFolder(SHARED / "Set5", scale=2)
    assert len(set5) == 5
    for item in set5:
        assert item.hr.shape[0] == 2 * item.lr.shape[0] and item.hr.shape[1] == 2 * item.lr.shape[1]


@needs_shared
def test_real_vimeo90k_septuplets_scan() -> None:
    src = Vimeo90K(SHARED / "Vimeo90K", cache=False)
    assert len(src) == 16 * 7
    assert src.hr(0).shape == (256, 448, 3)


# --------------------------------------------------------------------------- datasets/ scripts
def _script(name: str):  # type: ignore[no-untyped-def]
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "datasets" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_datasets_script_{name}", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_make_lr_script_writes_matlab_bicubic(tmp_path: Path) -> None:
    hr = smooth_noise(37, 50, 0)
    write_rgb(tmp_path / "HR" / "img.png", hr)
    _script("make_lr").main([str(tmp_path / "HR"), str(tmp_path / "LR"), "--scales", "2", "3"])
    for s in (2, 3):
        lr = cv2.cvtColor(cv2.imread(str(tmp_path / "LR" / f"X{s}" / f"imgx{s}.png")), cv2.COLOR_BGR2RGB)
        h, w = 37 // s * s, 50 // s * s
        np.testing.assert_array_equal(lr, imresize(np.ascontiguousarray(hr[:h, :w]), 1 / s))
    # HR + LR_bicubic made this way is a benchmark folder.
    (tmp_path / "LR").rename(tmp_path / "LR_bicubic")
    assert BenchmarkFolder(tmp_path, scale=3)[0].lr.shape == (12, 16, 3)


def test_make_vimeo_lists_and_regroup_reds(tmp_path: Path) -> None:
    root = tmp_path / "vimeo"
    for sept in ("00001/0001", "00001/0002", "00002/0001"):
        for k in range(1, 8):
            write_rgb(root / "sequences" / sept / f"im{k}.png", _solid(4, 4, k))
    (root / "sequences" / "00002" / "0001" / "im7.png").unlink()
    _script("make_vimeo_lists").main([str(root), "--test-every", "2"])
    assert (root / "sep_trainlist.txt").read_text() == "00001/0001\n"
    assert (root / "sep_testlist.txt").read_text() == "00001/0002\n"
    assert len(Vimeo90K(root)) == 7

    reds = tmp_path / "REDS"
    write_rgb(reds / "train_sharp" / "000" / "00000000.png", _solid(4, 4, 1))
    write_rgb(reds / "val_sharp" / "001" / "00000000.png", _solid(4, 4, 2))
    _script("regroup_reds_val").main([str(reds)])
    assert (reds / "train_sharp" / "241" / "00000000.png").is_file()
    assert {c for c, _ in REDS(reds, exclude=()).frames} == {"000", "241"}
