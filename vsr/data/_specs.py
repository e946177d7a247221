"""Degradation specs: the names ``vsr eval``, ``vsr compare`` and training recipes use for how LR is made.

A spec is ``BASE[+CODEC[:KEY=VALUE,...]]``:

- ``BASE`` is ``bi`` (MATLAB bicubic) or ``bd`` (blur-downsample, x4), see :mod:`vsr.data._degrade`;
- ``CODEC`` is ``x264``, ``x265`` (keys ``crf`` 0-51 and ``preset``) or ``vp9`` (libvpx-vp9 in
  constant-quality mode; keys ``crf`` 0-63 and ``speed``, its ``cpu-used`` 0-8). The LR frames of a clip
  are encoded as one yuv420p stream and decoded again (:func:`vsr.io.codec_roundtrip`).

Evaluation takes one fixed spec (:func:`parse_degradation`). Training takes a *mixture*
(:func:`parse_degradation_mix`): values may be inclusive ranges, drawn uniformly per sample
(``crf=18..35``, ``preset=veryfast..slow`` along the presets' speed order), and several specs may be
joined with ``|``, each with an optional weight: ``20% bi | 80% bi+x264:crf=18..35``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from vsr.data._degrade import DEGRADATIONS, DegradationKind
from vsr.errors import UnsupportedError
from vsr.io import CRF_RANGE, PRESETS, ROUNDTRIP_CODECS, VP9_SPEEDS

__all__ = ["Degradation", "DegradationMix", "DegradationRange", "parse_degradation", "parse_degradation_mix"]

#: Each codec's keys and their defaults (vp9's crf default is its encoder's usual mid-quality value).
_DEFAULTS: dict[str, dict[str, int | str]] = {
    "x264": {"crf": 23, "preset": "medium"},
    "x265": {"crf": 28, "preset": "medium"},
    "vp9": {"crf": 32, "speed": 4},
}
_DEFAULT_SPEED = 4
_ALLOWED = "bi, bd, BASE+x264:crf=N,preset=P (N 0-51), BASE+x265:crf=N,preset=P (N 0-51), BASE+vp9:crf=N,speed=S (N 0-63, S 0-8)"


@dataclass(frozen=True)
class Degradation:
    """A fixed degradation: the resampling ``kind`` and an optional codec round trip after it.

    ``preset`` applies to x264 and x265, ``speed`` to vp9.
    """

    kind: DegradationKind
    codec: str | None = None
    crf: int = 23
    preset: str = "medium"
    speed: int = _DEFAULT_SPEED

    @property
    def name(self) -> str:
        """The canonical spec, e.g. ``bi`` or ``bi+x264:crf=28`` (preset or speed only when not the default)."""
        if self.codec is None:
            return self.kind
        if self.codec == "vp9":
            extra = "" if self.speed == _DEFAULT_SPEED else f",speed={self.speed}"
        else:
            extra = "" if self.preset == "medium" else f",preset={self.preset}"
        return f"{self.kind}+{self.codec}:crf={self.crf}{extra}"

    @property
    def words(self) -> str:
        """The degradation in words, for reports."""
        base = "MATLAB bicubic downscaling (bi)" if self.kind == "bi" else "Gaussian blur (12x12, sigma 1.6) + x4 subsampling (bd)"
        if self.codec is None:
            return base
        return f"{base}, then {self.codec} compression of the LR frames ({self.codec_words}, yuv420p) and decoding"

    @property
    def codec_words(self) -> str:
        """The codec settings in words, e.g. ``crf 28, preset medium``."""
        setting = f"speed {self.speed}" if self.codec == "vp9" else f"preset {self.preset}"
        return f"crf {self.crf}, {setting}"


@dataclass(frozen=True)
class DegradationRange:
    """A spec whose codec values are inclusive ranges; :meth:`sample` draws a :class:`Degradation`.

    ``preset`` is a range of indices into :data:`vsr.io.PRESETS` (fastest first).
    """

    kind: DegradationKind
    codec: str | None = None
    crf: tuple[int, int] = (23, 23)
    preset: tuple[int, int] = (5, 5)
    speed: tuple[int, int] = (_DEFAULT_SPEED, _DEFAULT_SPEED)

    def sample(self, rng: np.random.Generator) -> Degradation:
        """One degradation, each ranged value uniform over its range (one draw per value, always, in a fixed order)."""
        crf = int(rng.integers(self.crf[0], self.crf[1] + 1))
        preset = PRESETS[int(rng.integers(self.preset[0], self.preset[1] + 1))]
        speed = int(rng.integers(self.speed[0], self.speed[1] + 1))
        if self.codec is None:
            return Degradation(self.kind)
        return Degradation(self.kind, self.codec, crf, preset, speed)

    @property
    def name(self) -> str:
        """The canonical spec, ranges written ``LO..HI``."""
        if self.codec is None:
            return self.kind

        def span(lo: object, hi: object) -> str:
            return f"{lo}" if lo == hi else f"{lo}..{hi}"

        parts = [f"crf={span(*self.crf)}"]
        if self.codec == "vp9":
            if self.speed != (_DEFAULT_SPEED, _DEFAULT_SPEED):
                parts.append(f"speed={span(*self.speed)}")
        elif self.preset != (5, 5):
            parts.append(f"preset={span(PRESETS[self.preset[0]], PRESETS[self.preset[1]])}")
        return f"{self.kind}+{self.codec}:{','.join(parts)}"


@dataclass(frozen=True)
class DegradationMix:
    """Weighted degradation ranges; :meth:`sample` picks one by weight, then draws its values."""

    entries: tuple[tuple[DegradationRange, float], ...]

    def sample(self, rng: np.random.Generator) -> Degradation:
        """One degradation: an entry by weight (one draw), then its values (:meth:`DegradationRange.sample`)."""
        weights = np.array([w for _, w in self.entries], dtype=np.float64)
        k = int(rng.choice(len(self.entries), p=weights / weights.sum()))
        return self.entries[k][0].sample(rng)

    @property
    def has_codec(self) -> bool:
        """Whether any entry compresses (then LR patches are made from clips, not read from disk)."""
        return any(r.codec is not None for r, _ in self.entries)

    @property
    def kinds(self) -> set[str]:
        """The resampling kinds the entries use."""
        return {r.kind for r, _ in self.entries}

    @property
    def name(self) -> str:
        """The canonical spec: ``bi``, or ``20% bi | 80% bi+x264:crf=18..35`` for a weighted list (weights as shares)."""
        if len(self.entries) == 1:
            return self.entries[0][0].name
        total = sum(w for _, w in self.entries)
        return " | ".join(f"{100 * w / total:.4g}% {r.name}" for r, w in self.entries)


def parse_degradation(spec: str | Degradation) -> Degradation:
    """Read a fixed degradation spec: ``bi``, ``bd``, ``bi+x264:crf=28``, ``bd+x265:crf=23,preset=fast``, ``bi+vp9:crf=40``.

    Raises:
        UnsupportedError: an unknown base, codec or key, a value out of range, or a range or mixture
            (those are for training recipes); the message lists what is allowed.
    """
    if isinstance(spec, Degradation):
        return spec
    text = str(spec).strip()
    if "|" in text or "%" in text:
        raise UnsupportedError(f"degradation {text!r}: a mixture is for training recipes (data.degradation); give one spec, allowed: {_ALLOWED}")
    r = _parse_range(text)
    if r.crf[0] != r.crf[1] or r.preset[0] != r.preset[1] or r.speed[0] != r.speed[1]:
        raise UnsupportedError(f"degradation {text!r}: a range LO..HI is for training recipes (data.degradation); give one value")
    return r.sample(np.random.default_rng(0))


def parse_degradation_mix(spec: str | Mapping[str, float] | DegradationMix) -> DegradationMix:
    """Read a training degradation: one spec with optional ranges, or a weighted list of them.

    Accepted forms: ``"bi+x264:crf=18..35,preset=veryfast..slow"``; ``"20% bi | 80% bi+x264:crf=18..35"``
    (weights are relative: ``1 bi | 4 bi+x264`` is the same mixture; an entry without a weight counts 1);
    or a mapping ``{"bi": 0.2, "bi+x264:crf=18..35": 0.8}`` (a TOML inline table).

    Raises:
        UnsupportedError: a bad spec (as :func:`parse_degradation`), an empty or inverted range, a negative
            weight, or weights that do not sum to something positive.
    """
    if isinstance(spec, DegradationMix):
        return spec
    if isinstance(spec, Mapping):
        pairs = [(str(k), v) for k, v in spec.items()]
    else:
        pairs = [_weighted(part, str(spec)) for part in str(spec).split("|")]
    if not pairs:
        raise UnsupportedError(f"degradation {spec!r} is empty; allowed: {_ALLOWED}")
    entries = []
    for text, weight in pairs:
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not np.isfinite(weight) or weight < 0:
            raise UnsupportedError(f"degradation {spec!r}: the weight of {text!r} must be a number >= 0, got {weight!r}")
        entries.append((_parse_range(text), float(weight)))
    if sum(w for _, w in entries) <= 0:
        raise UnsupportedError(f"degradation {spec!r}: the weights sum to 0; give at least one a positive weight")
    return DegradationMix(tuple(entries))


_WEIGHT = re.compile(r"^\s*(?P<w>[0-9]*\.?[0-9]+(?:e-?[0-9]+)?)\s*(?P<pct>%?)\s+(?P<spec>\S.*)$")


def _weighted(part: str, whole: str) -> tuple[str, float]:
    """``"20% bi"`` -> ``("bi", 20.0)``; ``"bi"`` -> ``("bi", 1.0)``."""
    part = part.strip()
    if not part:
        raise UnsupportedError(f"degradation {whole!r}: an empty entry between '|'; write e.g. '20% bi | 80% bi+x264:crf=18..35'")
    m = _WEIGHT.match(part)
    if m is None:
        return part, 1.0
    return m["spec"].strip(), float(m["w"])


def _parse_range(text: str) -> DegradationRange:
    base, plus, rest = text.strip().partition("+")
    if base not in DEGRADATIONS:
        raise UnsupportedError(f"unknown degradation {text!r}; allowed: {_ALLOWED}")
    if not rest:
        if plus:
            raise UnsupportedError(f"degradation {text!r} names no codec after '+'; allowed: {_ALLOWED}")
        return DegradationRange(base)  # type: ignore[arg-type]
    codec, _, options = rest.partition(":")
    if codec not in _DEFAULTS or codec not in ROUNDTRIP_CODECS:
        raise UnsupportedError(f"unknown codec {codec!r} in degradation {text!r}; allowed codecs: {', '.join(_DEFAULTS)}")
    values = {k: str(v) for k, v in _DEFAULTS[codec].items()}
    for pair in filter(None, (p.strip() for p in options.split(","))):
        key, eq, value = pair.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or key not in values:
            raise UnsupportedError(f"degradation {text!r}: {pair!r} is not KEY=VALUE with KEY one of {', '.join(values)}")
        values[key] = value
    lo, hi = CRF_RANGE[codec]
    crf = _int_range(text, "crf", values["crf"], lo, hi)
    speed = _int_range(text, "speed", values.get("speed", str(_DEFAULT_SPEED)), *VP9_SPEEDS)
    preset = _preset_range(text, values.get("preset", "medium"))
    return DegradationRange(base, codec, crf, preset, speed)  # type: ignore[arg-type]


def _split(value: str) -> tuple[str, str]:
    lo, dots, hi = value.partition("..")
    return (lo.strip(), hi.strip()) if dots else (value, value)


def _int_range(text: str, key: str, value: str, lo: int, hi: int) -> tuple[int, int]:
    a, b = _split(value)
    try:
        span = (int(a), int(b))
    except ValueError:
        raise UnsupportedError(f"degradation {text!r}: {key} must be an integer {lo}-{hi} or a range LO..HI, got {value!r}") from None
    for v in span:
        if not lo <= v <= hi:
            raise UnsupportedError(f"degradation {text!r}: {key} must be {lo}-{hi}, got {v}")
    if span[0] > span[1]:
        raise UnsupportedError(f"degradation {text!r}: the range {key}={value} is inverted; write {key}={span[1]}..{span[0]}")
    return span


def _preset_range(text: str, value: str) -> tuple[int, int]:
    a, b = _split(value)
    for p in (a, b):
        if p not in PRESETS:
            raise UnsupportedError(f"degradation {text!r}: preset must be one of {', '.join(PRESETS)} (or a range of them), got {p!r}")
    span = (PRESETS.index(a), PRESETS.index(b))
    if span[0] > span[1]:
        raise UnsupportedError(f"degradation {text!r}: the preset range {value} is inverted; presets run fastest first: {', '.join(PRESETS)}")
    return span
