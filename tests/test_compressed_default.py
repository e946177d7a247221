"""The default model follows the input: a video coded with few bits per pixel gets the compression-aware variant.

The rule lives in the manifest (an aware entry's ``variant_of`` and ``below_bpp``); these tests read the threshold
from it rather than repeating the measured number, and check both sides of it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import av
import pytest
from click.testing import CliRunner

from vsr.cli import cli
from vsr.io import VideoReader
from vsr.models import bundled_weights, default_model_name, variant_for_input
from vsr.upscaling._models import Upscalers
from vsr.upscaling._settings import InferenceSettings


def _variants() -> dict[str, tuple[str, float]]:
    """clean name -> (aware name, threshold) for every bundled compression-aware variant."""
    return {w.variant_of: (w.name, w.below_bpp) for w in bundled_weights().values() if w.variant_of and w.below_bpp}


def test_every_variant_names_a_bundled_clean_model_of_its_scales() -> None:
    variants = _variants()
    assert variants, "no bundled model is marked as the compression-aware variant of a clean one"
    weights = bundled_weights()
    for clean, (aware, threshold) in variants.items():
        assert clean in weights and weights[clean].config["scales"] == weights[aware].config["scales"]
        assert weights[clean].config["n_feats"] == weights[aware].config["n_feats"]  # the same rung: same speed
        assert 0 < threshold < 8, f"{aware}: below_bpp {threshold} is not a bits-per-pixel value"


@pytest.mark.parametrize("clean", sorted(_variants()))
def test_the_variant_is_chosen_under_its_threshold_only(clean: str) -> None:
    aware, threshold = _variants()[clean]
    assert variant_for_input(clean, threshold * 0.99) == aware
    assert variant_for_input(clean, 0.0) == aware
    assert variant_for_input(clean, threshold) == clean
    assert variant_for_input(clean, 24.0) == clean  # lossless-like rates
    assert variant_for_input(clean, None) == clean  # an image, or a video without a packet index
    assert variant_for_input(aware, 0.0) == aware  # a variant has no variant of its own


def test_bits_per_pixel_is_the_video_streams_bits_over_its_pixels(make_video) -> None:
    rates = {}
    for crf in (10, 45):
        src = make_video(f"crf{crf}.mp4", frames=10, size=(64, 48), content="noise", options={"crf": str(crf)})
        with av.open(str(src)) as c:
            total = sum(p.size for p in c.demux(c.streams.video[0]) if p.size)
        with VideoReader(src) as r:
            assert r.info.bits_per_pixel == pytest.approx(8 * total / (64 * 48 * 10))
            rates[crf] = r.info.bits_per_pixel
    assert rates[10] > 4 * rates[45]


@pytest.mark.parametrize(("model", "scale"), [(None, 2), ("default", 2), ("fast", 2), (None, 3), (None, 4), ("fast", 4)])
def test_the_default_and_the_rungs_follow_the_input(model: str | None, scale: int) -> None:
    ups = Upscalers(InferenceSettings(model=model, scale=scale, device="cpu"))
    clean = default_model_name(scale) if model in (None, "default") else f"edsr_fast_x{scale}_t91_bsd200"
    aware, threshold = _variants()[clean]
    assert ups.follows_input()
    assert ups.source(scale, threshold / 2) == aware
    assert ups.source(scale, threshold * 2) == clean
    assert ups.source(scale, None) == clean


def test_a_named_model_never_changes() -> None:
    name = default_model_name(2)
    ups = Upscalers(InferenceSettings(model=name, scale=2, device="cpu"))
    assert not ups.follows_input()
    assert ups.source(2, 0.0) == name


def test_a_model_without_a_variant_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    # Were the variants not bundled, no rung at any scale would change, however few bits per pixel.
    from vsr.models import _bundled

    weights = {k: w for k, w in bundled_weights().items() if not w.variant_of}
    monkeypatch.setattr(_bundled, "bundled_weights", lambda: weights)
    for model, scale in ((None, 2), (None, 3), (None, 4), ("fast", 2), ("fast", 4)):
        ups = Upscalers(InferenceSettings(model=model, scale=scale, device="cpu"))
        clean = default_model_name(scale) if model is None else f"edsr_fast_x{scale}_t91_bsd200"
        assert ups.follows_input() and ups.source(scale, 0.0) == clean
        assert ups.variant_note(scale, 0.0) == ""


def test_upscale_of_a_compressed_clip_uses_and_names_the_aware_model(tmp_path: Path, make_video,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    # 128x96 so that x264's fixed headers do not dominate the rate; the fast rung keeps the runs short.
    fast_aware, threshold = _variants()["edsr_fast_x2_t91_bsd200"]
    aware = _variants()[default_model_name(2)][0]
    low = make_video("low.mp4", frames=12, size=(128, 96), options={"crf": "51"})
    high = make_video("high.mkv", frames=3, size=(128, 96), codec="ffv1", pix_fmt="yuv444p")
    with VideoReader(low) as r, VideoReader(high) as h:
        assert r.info.lossy_bits_per_pixel < threshold
        # Flat synthetic frames code losslessly in few bits: a lossless codec never counts as compressed.
        assert h.info.bits_per_pixel < threshold and h.info.lossy_bits_per_pixel is None
    with caplog.at_level(logging.INFO):
        res = CliRunner().invoke(cli, ["upscale", str(low), "-s", "2", "--model", "fast", "-o", str(tmp_path / "a.mp4")])
    assert res.exit_code == 0, res.output
    note = f"model {fast_aware} for compressed video ("
    assert note in caplog.text and note in res.output  # logged, and on the line the run prints
    caplog.clear()
    with caplog.at_level(logging.INFO):
        for src, model in ((high, "fast"), (low, "edsr_fast_x2_t91_bsd200")):
            res = CliRunner().invoke(cli, ["upscale", str(src), "-s", "2", "--model", model,
                                           "-o", str(tmp_path / f"{src.stem}_{model}.mkv")])
            assert res.exit_code == 0, res.output
    assert fast_aware not in caplog.text and "for compressed video" not in res.output
    for src, name in ((low, aware), (high, default_model_name(2))):  # no --model: what --plan says each file gets
        plan = CliRunner().invoke(cli, ["upscale", str(src), "-s", "2", "--plan"])
        assert plan.exit_code == 0 and f"{name} x2" in plan.output, plan.output


def _jpeg_variants() -> dict[str, tuple[str, int]]:
    """clean name -> (aware name, highest JPEG quality it takes) for every variant with a JPEG rule."""
    return {w.variant_of: (w.name, w.max_jpeg_quality) for w in bundled_weights().values()
            if w.variant_of and w.max_jpeg_quality}


def _write_jpeg(path: Path, quality: int, size: tuple[int, int] = (48, 32)) -> Path:
    import cv2
    import numpy as np

    img = (np.random.default_rng(quality).random((size[1], size[0], 3)) * 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    path.write_bytes(buf.tobytes())
    return path


def test_every_default_has_a_jpeg_rule_on_a_quality_scale() -> None:
    rules = _jpeg_variants()
    for scale in (2, 3, 4):
        assert default_model_name(scale) in rules, f"x{scale}: the default's _x264 variant has no max_jpeg_quality"
    for aware, quality in rules.values():
        assert 1 <= quality < 100, f"{aware}: max_jpeg_quality {quality} is not a JPEG quality below 100"


@pytest.mark.parametrize("clean", sorted(_jpeg_variants()))
def test_a_jpeg_at_or_under_the_quality_gets_the_variant(clean: str) -> None:
    aware, quality = _jpeg_variants()[clean]
    assert variant_for_input(clean, None, quality) == aware
    assert variant_for_input(clean, None, 1) == aware
    assert variant_for_input(clean, None, quality + 1) == clean
    assert variant_for_input(clean, None, None) == clean


def test_upscale_of_a_jpeg_names_the_aware_model_and_a_png_keeps_the_clean_one(tmp_path: Path) -> None:
    import cv2

    clean = default_model_name(2)
    aware, quality = _jpeg_variants()[clean]
    low = _write_jpeg(tmp_path / "low.jpg", max(1, quality - 20))
    high = _write_jpeg(tmp_path / "high.jpg", min(100, quality + 5))
    png = tmp_path / "same.png"
    cv2.imwrite(str(png), cv2.imread(str(low)))
    for src, name in ((low, aware), (high, clean), (png, clean)):
        plan = CliRunner().invoke(cli, ["upscale", str(src), "-s", "2", "--plan"])
        assert plan.exit_code == 0 and f"{name} x2" in plan.output, plan.output
    res = CliRunner().invoke(cli, ["upscale", str(low), "-s", "2", "-o", str(tmp_path / "out.png")])
    assert res.exit_code == 0, res.output
    assert f"model {aware} for a JPEG of quality {max(1, quality - 20)} (at most {quality};" in res.output
    assert cv2.imread(str(tmp_path / "out.png")).shape == (64, 96, 3)
    res = CliRunner().invoke(cli, ["upscale", str(png), "-s", "2", "-o", str(tmp_path / "png_out.png")])
    assert res.exit_code == 0 and "for a JPEG" not in res.output, res.output
    named = CliRunner().invoke(cli, ["upscale", str(low), "-s", "2", "--model", clean, "--plan"])
    assert named.exit_code == 0 and f"{clean} x2" in named.output, named.output  # a named model is kept
