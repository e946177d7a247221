"""A quick subset of benchmarks/fuzz.py: odd and damaged inputs through upscale, psnr and eval end in success or
one clean line, nothing else."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from _models import save_tiny_model

FUZZ = Path(__file__).resolve().parents[1] / "benchmarks" / "fuzz.py"
QUICK = ("garbage.mp4", "empty.mp4", "text.mp4", "huge.png", "folder.mp4", "audio_only.m4a", "flip_middle_plain.mp4", "deep.png",
         "trunc50.png", "trunc50.jpg")


def _fuzz() -> ModuleType:
    spec = importlib.util.spec_from_file_location("vsr_fuzz", FUZZ)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["vsr_fuzz"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_quick_fuzz_subset(tmp_path: Path) -> None:
    fuzz = _fuzz()
    model = save_tiny_model(tmp_path / "tiny.pt")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    cases = [c for c in fuzz.make_corpus(corpus, seed=0) if c.path.name in QUICK]
    assert sorted(c.path.name for c in cases) == sorted(QUICK)
    by_command = {}
    for command in fuzz.COMMANDS:
        results = by_command[command] = {c.path.name: fuzz.classify(c, model, timeout=120, in_subprocess=False, command=command) for c in cases}
        bad = {k: v for k, v in results.items() if v[0] not in ("success", "damaged-but-decoded", "clean failure") or "despite -q" in v[1]}
        assert not bad, (command, bad)
        assert results["huge.png"][0] == "clean failure" and "above the limit" in results["huge.png"][1], command
    assert by_command["upscale"]["deep.png"][0] == "success"
