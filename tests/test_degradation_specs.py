"""Named degradations with a codec round trip (``bi+x264:crf=28``) in evaluate and compare, and their errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from vsr.cli import cli
from vsr.compare._compare import compare_models
from vsr.data import Degradation, degrade, parse_degradation
from vsr.errors import DatasetError, InvalidInputError, UnsupportedError
from vsr.evaluation._items import degraded_clip
from vsr.evaluation._evaluate import evaluate
from vsr.io import codec_roundtrip
from vsr.metrics import psnr

from _images import textured, write_rgb
from _models import save_tiny_model


def _clip(n: int, h: int = 32, w: int = 40, seed: int = 0) -> list[np.ndarray]:
    """A slowly panning textured clip (so inter-frame prediction has something to predict)."""
    big = textured(seed, h + 2 * n, w + 2 * n)
    return [np.ascontiguousarray(big[i: i + h, i: i + w]) for i in range(n)]


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        ("bi", Degradation("bi")),
        ("bd", Degradation("bd")),
        ("bi+x264", Degradation("bi", "x264", 23, "medium")),
        ("bi+x264:crf=28", Degradation("bi", "x264", 28, "medium")),
        ("bd+x264:crf=0,preset=fast", Degradation("bd", "x264", 0, "fast")),
    ],
)
def test_specs_parse_and_name_themselves(spec: str, want: Degradation) -> None:
    got = parse_degradation(spec)
    assert got == want
    assert parse_degradation(got.name) == got


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("bicubic", "unknown degradation"),
        ("bi+", "names no codec"),
        ("bi+av1", "unknown codec 'av1'"),
        ("bi+x265:crf=52", "crf must be 0-51"),
        ("bi+vp9:crf=64", "crf must be 0-63"),
        ("bi+vp9:speed=9", "speed must be 0-8"),
        ("bi+vp9:preset=fast", "KEY one of crf, speed"),
        ("bi+x264:crf=18..35", "a range LO..HI is for training recipes"),
        ("20% bi | 80% bi+x264", "a mixture is for training recipes"),
        ("bi+x264:crf=52", "crf must be 0-51"),
        ("bi+x264:crf=hi", "crf must be an integer"),
        ("bi+x264:qp=20", "KEY=VALUE with KEY one of crf, preset"),
        ("bi+x264:preset=ludicrous", "preset must be one of"),
    ],
)
def test_bad_specs_say_what_is_allowed(spec: str, match: str) -> None:
    with pytest.raises(UnsupportedError, match=match):
        parse_degradation(spec)


def test_roundtrip_keeps_count_order_and_size_and_loses_more_at_higher_crf() -> None:
    frames = _clip(9, 30, 38)
    scores = {}
    for crf in (0, 23, 40):
        out = list(codec_roundtrip(iter(frames), crf=crf))
        assert len(out) == len(frames)
        assert all(o.shape == f.shape and o.dtype == np.uint8 for o, f in zip(out, frames))
        per_frame = [psnr(o, f, y_channel=True) for o, f in zip(out, frames)]
        # Order kept: each output matches its own input better than its neighbour's.
        assert all(psnr(out[i], frames[i], y_channel=True) > psnr(out[i], frames[i + 1], y_channel=True)
                   for i in range(len(frames) - 1))
        scores[crf] = float(np.mean(per_frame))
    assert scores[0] > scores[23] > scores[40]
    assert scores[0] > 40  # near-lossless luma at crf 0 (chroma is 4:2:0 either way)
    again = list(codec_roundtrip(iter(frames), crf=23))
    assert all(np.array_equal(a, b) for a, b in zip(again, codec_roundtrip(iter(frames), crf=23)))


def test_roundtrip_pads_odd_sizes_and_refuses_a_size_change() -> None:
    odd = [f[:-1, :-1] for f in _clip(3, 31, 39)]
    out = list(codec_roundtrip(odd, crf=10))
    assert [o.shape for o in out] == [(30, 38, 3)] * 3 or [o.shape for o in out] == [f.shape for f in odd]
    assert out[0].shape == odd[0].shape
    with pytest.raises(InvalidInputError, match="frame 2 is 20x10, the stream is 38x30"):
        list(codec_roundtrip([odd[0][:30, :38], np.zeros((10, 20, 3), np.uint8)]))
    with pytest.raises(InvalidInputError, match="uint8 HxWx3"):
        list(codec_roundtrip([np.zeros((8, 8), np.uint8)]))
    assert list(codec_roundtrip([])) == []


def test_degraded_clip_compresses_the_clip_as_one_stream_in_batches() -> None:
    gts = _clip(11, 32, 40)
    plain = list(degraded_clip(iter(gts), 2, "bi", batch=4))
    assert [len(g) for g, _ in plain] == [4, 4, 3]
    lr_bi = np.concatenate([lr for _, lr in plain])
    assert np.array_equal(lr_bi, degrade(np.stack(gts), 2, "bi"))
    cache: dict = {}
    comp = list(degraded_clip(iter(gts), 2, "bi+x264:crf=30", batch=4, cache=cache, key="clip"))
    assert [len(g) for g, _ in comp] == [4, 4, 3]
    assert np.array_equal(np.concatenate([g for g, _ in comp]), np.stack(gts))
    lr_x264 = np.concatenate([lr for _, lr in comp])
    # The compressed LR is the clip's bicubic LR through one x264 stream: the recorded stream decodes to it, and
    # a fresh round trip of the bicubic LR gives (up to x264's run-to-run wobble) the same frames. Compression moves
    # this clip ~27 dB away from its bicubic LR; a wobbling rerun has been seen as close as 39.7 dB (CI), so the line
    # between the two is drawn at 33 dB, well clear of both.
    assert np.array_equal(np.stack(list(cache["clip|bi+x264:crf=30|x2"].frames())), lr_x264)
    fresh = np.stack(list(codec_roundtrip(iter(lr_bi), crf=30)))
    assert min(psnr(a, b) for a, b in zip(fresh, lr_x264)) > 33 > max(psnr(a, b) for a, b in zip(lr_bi, lr_x264))
    replayed = list(degraded_clip(iter(gts), 2, "bi+x264:crf=30", batch=4, cache=cache, key="clip"))
    assert np.array_equal(np.concatenate([lr for _, lr in replayed]), lr_x264)


@pytest.fixture
def clips(tmp_path: Path) -> Path:
    root = tmp_path / "Vid"
    for name, seed, n in (("one", 1, 6), ("two", 2, 5)):
        for i, f in enumerate(_clip(n, 32, 40, seed)):
            write_rgb(root / name / f"Frame {i + 1:03d}.png", f)
    return root


def test_evaluate_under_compression_scores_bicubic_lower_and_says_how(clips: Path) -> None:
    clean = evaluate(clips, 2)
    hard = evaluate(clips, 2, degradation="bi+x264:crf=40")
    assert hard.degradation == "bi+x264:crf=40" and clean.degradation == "bi"
    assert len(hard.items) == len(clean.items) == 11
    assert hard.mean.bicubic_psnr < clean.mean.bicubic_psnr - 0.5
    assert any("x264 (crf 40" in n and "decoded again" in n for n in hard.notes)
    strided = evaluate(clips, 2, frame_stride=2)
    assert [i.index for i in strided.items] == [0, 2, 4, 0, 2, 4]
    assert strided.mean.bicubic_temporal is None
    with pytest.raises(UnsupportedError, match="frame_stride must be a positive integer"):
        evaluate(clips, 2, frame_stride=0)


def test_evaluate_images_compresses_each_image_on_its_own(tmp_path: Path) -> None:
    for k in range(2):
        write_rgb(tmp_path / "imgs" / f"{k}.png", textured(k, 24, 28))
    r = evaluate(tmp_path / "imgs", 2, degradation="bi+x264:crf=45")
    assert r.mean.bicubic_psnr < evaluate(tmp_path / "imgs", 2).mean.bicubic_psnr
    assert any("one-frame video" in n or "x264" in n for n in r.notes)


def test_compare_scores_video_sets_under_each_extra_condition_with_crops(clips: Path, tmp_path: Path) -> None:
    paths = [save_tiny_model(tmp_path / f"m{seed}.pt", seed=seed) for seed in (1, 2)]
    c = compare_models(paths, scale=2, video_sets=[clips], device="cpu", video_degradations=["bi+x264:crf=35"])
    assert [s.test_set.name for s in c.sets] == ["Vid", "Vid [bi+x264:crf=35]"]
    assert [s.test_set.degradation for s in c.sets] == ["bi", "bi+x264:crf=35"]
    assert c.sets[1].summary("bicubic")[0] < c.sets[0].summary("bicubic")[0]
    # Crops of the compressed condition are redone from the same stream: their PSNR matches the evaluation
    # (otherwise compare adds a "scored ... but ... when redone" note).
    assert len([e for e in c.examples if e.set_name == "Vid [bi+x264:crf=35]"]) == 2
    assert not [n for n in c.notes if "redone" in n]
    with pytest.raises(InvalidInputError, match="given twice"):
        compare_models(paths, scale=2, video_sets=[clips], device="cpu", video_degradations=["bi"])


def test_cli_eval_takes_a_spec_and_refuses_a_bad_one(clips: Path) -> None:
    r = CliRunner().invoke(cli, ["eval", "--dataset", str(clips), "--scale", "2", "--model", "bicubic",
                                 "--degradation", "bi+x264:crf=30"])
    assert r.exit_code == 0, r.output
    assert "x264" in r.output
    bad = CliRunner().invoke(cli, ["eval", "--dataset", str(clips), "--scale", "2", "--model", "bicubic",
                                   "--degradation", "bi+x264:crf=99"])
    assert bad.exit_code != 0 and "crf must be 0-51" in bad.output


def test_a_recorded_roundtrip_replays_to_the_same_frames() -> None:
    """``record`` keeps the bitstream; replaying it gives exactly the frames the run yielded, every time."""
    noise = np.random.default_rng(0).integers(0, 256, (340, 400, 3), dtype=np.uint8)
    smooth = cv2.GaussianBlur(noise, (0, 0), 3)
    frames = [np.ascontiguousarray(smooth[i: i + 288, 2 * i: 2 * i + 352]) for i in range(24)]
    recorded: list = []
    first = list(codec_roundtrip(frames, crf=23, record=recorded.append))
    (clip,) = recorded
    assert clip.count == 24 and clip.size == (288, 352) and clip.packets
    for _ in range(3):
        assert all(np.array_equal(a, b) for a, b in zip(first, clip.frames()))
    assert all(psnr(first[i], frames[i]) > psnr(first[i], frames[i + 1]) for i in range(23))


@pytest.mark.slow
def test_a_shared_codec_cache_gives_every_evaluation_the_same_compressed_lr(tmp_path: Path) -> None:
    """x264 is not bit-exact from run to run; evaluations sharing a cache replay one recorded bitstream per clip."""
    noise = np.random.default_rng(0).integers(0, 256, (340, 400, 3), dtype=np.uint8)
    smooth = cv2.GaussianBlur(noise, (0, 0), 3)
    for i in range(12):
        write_rgb(tmp_path / "Vid" / "pan" / f"{i:03d}.png", np.ascontiguousarray(smooth[i: i + 288, 2 * i: 2 * i + 352]))
    cache: dict = {}
    first = evaluate(tmp_path / "Vid", 2, degradation="bi+x264:crf=23", codec_cache=cache)
    assert list(cache) == [f"{tmp_path / 'Vid'}|pan|bi+x264:crf=23|x2"]
    clip = next(iter(cache.values()))
    assert clip.count == 12 and clip.size == (144, 176)
    for _ in range(3):
        again = evaluate(tmp_path / "Vid", 2, degradation="bi+x264:crf=23", codec_cache=cache)
        assert [i.bicubic_psnr for i in again.items] == [i.bicubic_psnr for i in first.items]
    # Replaying against a clip that has changed is refused rather than silently misaligned.
    (tmp_path / "Vid" / "pan" / "011.png").unlink()
    with pytest.raises(DatasetError, match="changed since its compressed LR was recorded"):
        evaluate(tmp_path / "Vid", 2, degradation="bi+x264:crf=23", codec_cache=cache)
