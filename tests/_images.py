"""Tiny synthetic images shared by the tests: smooth random texture and upsampled noise, written as RGB PNG files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def textured(seed: int, h: int = 24, w: int = 28) -> np.ndarray:
    """A ``h x w`` RGB uint8 image of Gaussian-blurred noise (detail at every scale an SR model sees)."""
    noise = np.random.default_rng(seed).uniform(0, 255, (h, w, 3)).astype(np.float32)
    return np.round(cv2.GaussianBlur(noise, (0, 0), 1.5)).astype(np.uint8)


def smooth_noise(h: int, w: int, seed: int) -> np.ndarray:
    """A ``h x w`` RGB uint8 image of noise upsampled 4x (bilinear): smooth content on which bicubic behaves as on photos."""
    small = np.random.default_rng(seed).integers(0, 256, (h // 4 + 1, w // 4 + 1, 3), dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def write_rgb(path: Path, rgb: np.ndarray) -> Path:
    """Write an RGB (or grey) uint8 array as an image file, creating its folder; return ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # OpenCV stores BGR; convert so the file holds the RGB array's colours.
    assert cv2.imwrite(str(path), rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path
