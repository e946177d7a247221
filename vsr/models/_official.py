"""The authors' published EDSR/MDSR weights: names, hashes, scales and their published scores.

These files are not shipped with vsr; :func:`official_file` fetches one on first
use into the cache (see :mod:`vsr.models._hub`). The scores are the ones the
authors published (paper Table 3; DIV2K validation figures from their code's
README), not measured by vsr.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vsr.errors import UnsupportedError
from vsr.models import _hub

__all__ = ["OfficialWeights", "OFFICIAL_PRESETS", "OFFICIAL_WEIGHTS", "OFFICIAL_URL_BASE", "official_name", "official_file", "official_url"]

#: Where the authors host the files (their lab's server); tests point this at a local server.
OFFICIAL_URL_BASE = "https://cv.snu.ac.kr/research/EDSR/models/"


@dataclass(frozen=True)
class OfficialWeights:
    """One published file: its name, preset, scales and published PSNR (dB).

    ``published`` maps a test set (``Set5``, ``Set14``, ``DIV2K-val``) to
    ``{scale: psnr}``; benchmark sets are scored on Y with shave = scale, DIV2K
    on RGB with shave = scale + 6.
    """

    name: str
    file: str
    preset: str
    scales: tuple[int, ...]
    published: dict[str, dict[int, float]] = field(default_factory=dict)

    @property
    def sha256_prefix(self) -> str:
        return _hub.hash_prefix(self.file)


def _edsr(preset: str, scale: int, h: str, published: dict[str, dict[int, float]]) -> OfficialWeights:
    return OfficialWeights(f"{preset}_x{scale}", f"{preset}_x{scale}-{h}.pt", preset, (scale,),
                           {k: {scale: v[scale]} for k, v in published.items() if scale in v})


_EDSR_SCORES = {"Set5": {2: 38.11, 3: 34.65, 4: 32.46}, "Set14": {2: 33.92, 3: 30.52, 4: 28.80},
                "DIV2K-val": {2: 35.03, 3: 31.26, 4: 29.25}}
_BASELINE_SCORES = {"DIV2K-val": {2: 34.61, 3: 30.92, 4: 28.95}}

#: Every published file by name (``edsr_x2`` ... ``mdsr``).
OFFICIAL_WEIGHTS: dict[str, OfficialWeights] = {
    w.name: w
    for w in (
        _edsr("edsr_baseline", 2, "1bc95232", _BASELINE_SCORES),
        _edsr("edsr_baseline", 3, "abf2a44e", _BASELINE_SCORES),
        _edsr("edsr_baseline", 4, "6b446fab", _BASELINE_SCORES),
        _edsr("edsr", 2, "0edfb8a3", _EDSR_SCORES),
        _edsr("edsr", 3, "ea3ef2c6", _EDSR_SCORES),
        _edsr("edsr", 4, "4f62e9ef", _EDSR_SCORES),
        OfficialWeights("mdsr_baseline", "mdsr_baseline-a00cab12.pt", "mdsr_baseline", (2, 3, 4),
                        {"DIV2K-val": {2: 34.63, 3: 30.94, 4: 28.97}}),
        OfficialWeights("mdsr", "mdsr-4a78bedf.pt", "mdsr", (2, 3, 4), {"DIV2K-val": {2: 34.92, 3: 31.22, 4: 29.24}}),
    )
}

#: The presets the authors published weights for.
OFFICIAL_PRESETS = ("edsr", "edsr_baseline", "mdsr", "mdsr_baseline")


def official_name(name: str, scale: int | None = None) -> str:
    """The published file's name for a preset and scale (``edsr``, 2 -> ``edsr_x2``); full names pass through.

    MDSR files hold x2, x3 and x4 in one file, so their name ignores ``scale``.
    """
    if name in OFFICIAL_WEIGHTS:
        w = OFFICIAL_WEIGHTS[name]
        if scale is not None and scale not in w.scales:
            raise UnsupportedError(f"{name} upscales {'/'.join(f'x{s}' for s in w.scales)}, not x{scale}; "
                                   f"use {w.preset} with --scale {w.scales[0]}")
        return name
    if name not in OFFICIAL_PRESETS:
        raise UnsupportedError(f"Unknown official model {name!r}. Available: {', '.join(OFFICIAL_PRESETS)} "
                               f"(with a scale) or {', '.join(OFFICIAL_WEIGHTS)}")
    if name.startswith("mdsr"):
        if scale is not None and scale not in (2, 3, 4):
            raise UnsupportedError(f"{name} upscales x2/x3/x4, not x{scale}")
        return name
    if scale not in (2, 3, 4):
        raise UnsupportedError(f"{name} needs a scale of 2, 3 or 4 (got {scale}); e.g. --model {name} --scale 2")
    return f"{name}_x{scale}"


def official_url(name: str) -> str:
    """Download address of a published file (``name`` as in :data:`OFFICIAL_WEIGHTS`)."""
    return OFFICIAL_URL_BASE + OFFICIAL_WEIGHTS[name].file


def official_file(
    name: str, scale: int | None = None, *, progress: bool = True, offline: bool | None = None, timeout: float = _hub.DEFAULT_TIMEOUT
) -> Path:
    """Path of the published file for ``name`` (a preset with ``scale``, or a full name), fetched on first use.

    Raises:
        UnsupportedError: unknown name or a scale the model lacks.
        DownloadError: it is not cached and cannot be fetched (see :func:`vsr.models._hub.download`).
    """
    full = official_name(name, scale)
    w = OFFICIAL_WEIGHTS[full]
    return _hub.download(official_url(full), _hub.cached_path(w.file), progress=progress, offline=offline, timeout=timeout)
