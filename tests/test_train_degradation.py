"""Codec degradations in training: the spec mixtures, compressed patches from clips and pans, and the recipe keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from vsr.data import FrameSource, ImageFolder, PatchSampler, imresize, parse_degradation, parse_degradation_mix
from vsr.data._compress import degraded_pair
from vsr.errors import ConfigError, DatasetError, UnsupportedError
from vsr.io import codec_roundtrip
from vsr.metrics import psnr
from vsr.train import config_from_dict, train

from _images import textured, write_rgb


# --------------------------------------------------------------------------- spec mixtures


def test_ranges_and_weights_parse_to_a_canonical_name_that_parses_again() -> None:
    mix = parse_degradation_mix("20% bi | 80% bi+x264:crf=18..35,preset=veryfast..slow")
    assert mix.name == "20% bi | 80% bi+x264:crf=18..35,preset=veryfast..slow"
    assert parse_degradation_mix(mix.name) == mix
    table = parse_degradation_mix({"bi": 1, "bi+x264:crf=18..35,preset=veryfast..slow": 4})
    assert table.name == mix.name
    assert parse_degradation_mix("bi+vp9:crf=30..40,speed=2..5").name == "bi+vp9:crf=30..40,speed=2..5"


def test_draws_cover_the_ranges_and_follow_the_weights() -> None:
    mix = parse_degradation_mix("20% bi | 80% bi+x264:crf=18..35,preset=veryfast..slow")
    rng = np.random.default_rng(0)
    draws = [mix.sample(rng) for _ in range(2000)]
    coded = [d for d in draws if d.codec is not None]
    assert 0.75 < len(coded) / len(draws) < 0.85
    assert {d.crf for d in coded} == set(range(18, 36))
    assert {d.preset for d in coded} == {"veryfast", "faster", "fast", "medium", "slow"}
    again = [mix.sample(np.random.default_rng(0)) for _ in range(3)]
    assert again[0] == again[1] == again[2] == draws[0]


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("bi+h266:crf=20", "unknown codec 'h266'.*allowed codecs: x264, x265, vp9"),
        ("bi+x264:crf=10..60", "crf must be 0-51, got 60"),
        ("bi+x264:crf=35..18", "inverted; write crf=18..35"),
        ("bi+x264:crf=..", "crf must be an integer"),
        ("bi+x264:preset=slow..fast", "preset range slow..fast is inverted"),
        ("bi | ", "an empty entry"),
        ("0% bi | 0% bi+x264", "weights sum to 0"),
    ],
)
def test_bad_training_specs_say_what_is_allowed(spec: str, match: str) -> None:
    with pytest.raises(UnsupportedError, match=match):
        parse_degradation_mix(spec)


def test_negative_weight_in_a_table_is_refused() -> None:
    with pytest.raises(UnsupportedError, match="must be a number >= 0"):
        parse_degradation_mix({"bi": -1, "bi+x264": 2})


# --------------------------------------------------------------------------- held-out codecs


@pytest.mark.parametrize("spec", ["bi+x265:crf=30", "bi+vp9:crf=45,speed=8"])
def test_x265_and_vp9_round_trips_change_the_frames_and_replay_exactly(spec: str) -> None:
    deg = parse_degradation(spec)
    big = textured(3, 40, 48)
    frames = [np.ascontiguousarray(big[i: i + 32, i: i + 40]) for i in range(5)]  # under x265's 64-pixel CTU: padded
    clips = []
    for _ in range(3):  # x265 on frames this small crashed the process by the second or third clip before the padding
        out = list(codec_roundtrip(frames, codec=deg.codec or "", crf=deg.crf, preset=deg.preset, speed=deg.speed,
                                   record=clips.append))
    assert len(out) == 5 and all(o.shape == f.shape for o, f in zip(out, frames))
    assert all(not np.array_equal(o, f) for o, f in zip(out, frames))
    assert all(psnr(o, f, y_channel=True) > 20 for o, f in zip(out, frames))
    # x265 is not bit-exact from run to run on small frames; a recorded clip replays the exact frames of its run.
    assert all(np.array_equal(a, b) for a, b in zip(out, clips[-1].frames()))


# --------------------------------------------------------------------------- compressed patches


def _still(seed: int = 0) -> np.ndarray:
    return textured(seed, 120, 136)


def test_a_codec_patch_differs_from_the_clean_bicubic_of_its_hr_patch() -> None:
    hr = _still()
    for spec, lossy in (("bi", False), ("bi+x264:crf=35", True)):
        lr, hr_p = degraded_pair([hr], 0, scale=2, lr_patch=16, degradation=parse_degradation(spec), clip_frames=5,
                                 rng=np.random.default_rng(1))
        assert lr.shape == (16, 16, 3) and hr_p.shape == (32, 32, 3)
        clean = imresize(np.ascontiguousarray(hr_p), 0.5)
        # Interior only: the bicubic of the crop alone differs from the image's bicubic at the crop's edge.
        same = np.array_equal(lr[3:-3, 3:-3], clean[3:-3, 3:-3])
        assert same != lossy
        assert psnr(lr, clean, y_channel=True) > 22


def test_pan_and_intra_only_clips_give_different_artefacts() -> None:
    deg = parse_degradation("bi+x264:crf=32")
    hr = _still(1)
    pan = degraded_pair([hr], 0, scale=2, lr_patch=16, degradation=deg, clip_frames=5, rng=np.random.default_rng(2))
    intra = degraded_pair([hr], 0, scale=2, lr_patch=16, degradation=deg, clip_frames=1, rng=np.random.default_rng(2))
    assert not np.array_equal(pan[0], intra[0])


def test_a_video_clip_is_compressed_with_its_real_neighbours() -> None:
    big = textured(4, 140, 160)
    clip = [np.ascontiguousarray(big[2 * t: 2 * t + 120, 3 * t: 3 * t + 136]) for t in range(5)]
    deg = parse_degradation("bi+x264:crf=30")
    lr, hr = degraded_pair(clip, 2, scale=2, lr_patch=16, degradation=deg, clip_frames=5, rng=np.random.default_rng(0))
    # The HR patch comes from the middle frame.
    found = [(y, x) for y in range(0, 120 - 31) for x in range(0, 136 - 31) if np.array_equal(clip[2][y: y + 32, x: x + 32], hr)]
    assert found
    alone = degraded_pair(clip[2:3], 0, scale=2, lr_patch=16, degradation=deg, clip_frames=1, rng=np.random.default_rng(0))
    assert np.array_equal(alone[1], hr)  # same window drawn...
    assert not np.array_equal(alone[0], lr)  # ...but coded differently without its neighbours


class _Clips(FrameSource):
    """Two clips of 3 and 1 frames, then a still: the neighbour logic without files."""

    def __init__(self) -> None:
        super().__init__(cache=False)
        self.clips = ["a", "a", "a", "b", None]

    def __len__(self) -> int:
        return len(self.clips)

    def describe(self, index: int) -> str:
        return f"frame {index}"

    def _load_hr(self, index: int) -> np.ndarray:
        return textured(index, 64, 64)

    def clip_of(self, index: int) -> str | None:
        return self.clips[index]


def test_neighbours_reflect_at_clip_ends_and_stills_have_none() -> None:
    src = _Clips()
    assert src.neighbours(1, 5) == [1, 0, 1, 2, 1]
    assert src.neighbours(0, 5) == [2, 1, 0, 1, 2]
    assert src.neighbours(2, 3) == [1, 2, 1]
    assert src.neighbours(3, 5) is None  # a clip of one frame
    assert src.neighbours(4, 5) is None  # a still
    assert src.neighbours(1, 1) is None


@pytest.fixture
def images(tmp_path: Path) -> Path:
    for i in range(3):
        write_rgb(tmp_path / "imgs" / f"{i}.png", textured(i, 72, 80))
    return tmp_path / "imgs"


def test_sampler_batches_are_reproducible_per_seed_and_really_compressed(images: Path) -> None:
    src = [ImageFolder(images)]
    # x264's ultrafast and superfast presets run without macroblock-tree rate control, whose output differs from run
    # to run even on one thread (benchmarks/RESULTS.md): with them, equal seeds must give bit-identical batches.
    mix = parse_degradation_mix("bi+x264:crf=30..34,preset=ultrafast..superfast")

    def sampler(seed: int, degradation: Any = mix) -> PatchSampler:
        return PatchSampler(src, scales=[2], lr_patch=16, batch_size=3, seed=seed, degradation=degradation)

    a, b = sampler(0).batch(5), sampler(0).batch(5)
    assert torch.equal(a.lr, b.lr) and torch.equal(a.hr, b.hr)
    assert not torch.equal(a.lr, sampler(1).batch(5).lr)
    # Each LR patch is not the bicubic of its HR patch (away from the edge, where the crop's own bicubic differs).
    for lr, hr in zip(a.lr, a.hr):
        clean = imresize(np.ascontiguousarray(hr.permute(1, 2, 0).numpy()), 0.5)
        assert not np.array_equal(lr.permute(1, 2, 0).numpy()[3:-3, 3:-3], clean[3:-3, 3:-3])
    # "bi" through a mixture is the clean path, bit for bit the same as no degradation's crop.
    clean_mix = sampler(0, parse_degradation_mix("bi"))
    for lr, hr in zip(clean_mix.batch(2).lr, clean_mix.batch(2).hr):
        ref = imresize(np.ascontiguousarray(hr.permute(1, 2, 0).numpy()), 0.5)
        assert lr.shape == torch.Size([3, 16, 16]) and ref.shape == (16, 16, 3)


def test_bd_in_a_mixture_needs_x4(images: Path) -> None:
    with pytest.raises(DatasetError, match="bd is defined for x4 only"):
        PatchSampler([ImageFolder(images)], scales=[2], lr_patch=8, batch_size=1,
                     degradation=parse_degradation_mix("bd+x264:crf=30"))
    s = PatchSampler([ImageFolder(images)], scales=[4], lr_patch=8, batch_size=2,
                     degradation=parse_degradation_mix("bd+x264:crf=30"))
    assert s.batch(0).lr.shape == (2, 3, 8, 8)


# --------------------------------------------------------------------------- recipes


def _raw(images: Path, out: Path, **data: Any) -> dict[str, Any]:
    return {
        "model": {"arch": "edsr_baseline", "scales": [2], "n_resblocks": 1, "n_feats": 8},
        "data": {"sources": [{"kind": "image_folder", "path": str(images)}], "lr_patch": 12, "batch_size": 2, **data},
        "optim": {"lr": 1e-3, "schedule": "constant"},
        "train": {"iterations": 2, "device": "cpu", "precision": "fp32", "log_every": 1, "checkpoint_every": 2,
                  "out_dir": str(out), "name": "run"},
    }


def test_recipe_degradation_table_reads_as_the_weighted_string(images: Path, tmp_path: Path) -> None:
    cfg = config_from_dict(_raw(images, tmp_path, degradation={"bi": 0.25, "bi+x264:crf=20..30": 0.75}), source="r.toml")
    assert cfg.data.degradation == "25% bi | 75% bi+x264:crf=20..30"
    assert cfg.data.clip_frames == 5


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"degradation": "bi+x264:crf=99"}, r"r\.toml: data\.degradation: .*crf must be 0-51"),
        ({"degradation": 28}, "must be a spec string or a table"),
        ({"degradation": "bd+x264:crf=28"}, "bd is defined for x4 only"),
        ({"clip_frames": 0}, "clip_frames = 0 must be >= 1"),
    ],
)
def test_bad_recipe_degradations_name_the_file_and_key(images: Path, tmp_path: Path, data: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        config_from_dict(_raw(images, tmp_path, **data), source="r.toml")


def test_training_on_compressed_patches_runs_and_repeats(images: Path, tmp_path: Path) -> None:
    # Presets without macroblock-tree rate control, so that x264 itself repeats (see the sampler test above).
    runs = []
    for name, workers in (("a", 0), ("b", 1)):
        raw = _raw(images, tmp_path / name, degradation="50% bi | 50% bi+x264:crf=25..35,preset=ultrafast..superfast",
                   num_workers=workers)
        runs.append(train(config_from_dict(raw, source="r.toml"), progress=False))
    sa, sb = runs[0].model.state_dict(), runs[1].model.state_dict()  # type: ignore[union-attr]
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
