"""Render examples/sample.mp4: a 2.5 s synthetic clip for the README's first command.

160x90 at 25 fps (63 frames) of moving shapes, a scrolling grid and a frame
counter, tagged BT.709 limited range, with a stereo AAC track (a tone that
steps up every half second) so that audio copying can be seen working. Fully
deterministic; about 100 kB.

    python examples/make_sample.py [--out examples/sample.mp4]
"""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

WIDTH, HEIGHT, FPS, SECONDS, RATE = 160, 90, 25, 2.5, 48000


def render(i: int) -> np.ndarray:
    """Frame ``i`` as RGB uint8."""
    t = i / FPS
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    img = np.stack([40 + 30 * np.sin(x / 12 + t * 2), 60 + 25 * np.cos(y / 9 - t), 90 + 40 * (x / WIDTH)], -1)
    img[((x + 3 * i) % 20 < 1) | ((y + i) % 20 < 1)] = 200  # a grid scrolling at different speeds
    img = np.clip(img, 0, 255).astype(np.uint8)
    cx = int(20 + (WIDTH - 40) * (0.5 + 0.5 * np.sin(2 * np.pi * t / SECONDS)))
    cv2.circle(img, (cx, 30), 12, (230, 60, 50), -1, lineType=cv2.LINE_AA)
    box = np.array([[0, -14], [14, 0], [0, 14], [-14, 0]], np.float32)
    a = t * 2.5
    rot = box @ np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]], np.float32)
    cv2.fillPoly(img, [(rot + (WIDTH - 30, 60)).astype(np.int32)], (250, 210, 40), lineType=cv2.LINE_AA)
    cv2.putText(img, f"vsr {i:02d}", (6, HEIGHT - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return img


def tone(n: int, start: int) -> np.ndarray:
    """``n`` stereo float samples of the stepped tone from sample ``start`` (planar, 2 x n)."""
    s = np.arange(start, start + n) / RATE
    freq = 330 * 2 ** (np.floor(s * 2) / 12)
    wave = 0.2 * np.sin(2 * np.pi * freq * s)
    return np.stack([wave, 0.7 * wave]).astype(np.float32)


def make_sample(out: Path) -> Path:
    """Write the sample clip to ``out``."""
    frames = int(round(SECONDS * FPS)) + 1
    with av.open(str(out), "w", options={"movflags": "faststart"}) as c:
        c.metadata["title"] = "vsr sample clip"
        v = c.add_stream("libx264", rate=FPS)
        v.width, v.height, v.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        v.codec_context.options = {"crf": "20", "preset": "slow"}
        v.codec_context.colorspace, v.codec_context.color_range = 1, 1  # BT.709, limited
        v.codec_context.color_primaries, v.codec_context.color_trc = 1, 1
        a = c.add_stream("aac", rate=RATE)
        a.layout = "stereo"
        a.metadata["language"] = "eng"
        for i in range(frames):
            f = av.VideoFrame.from_ndarray(render(i), format="rgb24").reformat(format="yuv420p", dst_colorspace=1, dst_color_range=1)
            f.pts, f.time_base = i, Fraction(1, FPS)
            for p in v.encode(f):
                c.mux(p)
        for p in v.encode(None):
            c.mux(p)
        n = a.codec_context.frame_size or 1024
        for k in range(int(frames / FPS * RATE) // n + 1):
            af = av.AudioFrame.from_ndarray(tone(n, k * n), format="fltp", layout="stereo")
            af.sample_rate, af.pts, af.time_base = RATE, k * n, Fraction(1, RATE)
            for p in a.encode(af):
                c.mux(p)
        for p in a.encode(None):
            c.mux(p)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("sample.mp4"))
    out = make_sample(parser.parse_args().out)
    print(f"wrote {out} ({out.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
