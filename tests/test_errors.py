"""Every public exception lives in vsr.errors, is a VSRError, and is also the matching built-in."""

from __future__ import annotations

import builtins

import numpy as np
import pytest

import vsr
import vsr.errors
from vsr.errors import InvalidInputError, OutOfMemoryError, RankFailedError, VSRError
from vsr.io import FrameBatch


@pytest.mark.parametrize("name", [n for n in vsr.errors.__all__ if n != "VSRError"])
def test_each_error_is_a_vsr_error_and_a_builtin(name: str) -> None:
    cls = getattr(vsr.errors, name)
    assert issubclass(cls, VSRError)
    builtin = [b for b in cls.__mro__ if b.__module__ == "builtins" and b not in (BaseException, Exception, object)]
    assert builtin, f"{name} should also inherit a built-in exception such as ValueError"
    assert getattr(vsr, name) is cls, f"vsr.{name} should be re-exported from the package"


def test_every_error_class_of_the_package_is_defined_in_errors() -> None:
    """No other module of vsr defines a public VSRError of its own (RankFailedError used to live in _distributed)."""
    import importlib
    import pkgutil

    found = {}
    for info in pkgutil.walk_packages(vsr.__path__, "vsr."):
        if info.name.startswith("vsr.cli") or info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, VSRError) and not value.__name__.startswith("_"):
                found[value.__name__] = value.__module__
    assert set(found.values()) == {"vsr.errors"}, found


def test_out_of_memory_and_rank_failures_match_their_builtins() -> None:
    assert issubclass(OutOfMemoryError, builtins.MemoryError)
    assert issubclass(RankFailedError, builtins.RuntimeError)


@pytest.mark.parametrize(
    ("frames", "pts", "match"),
    [
        (np.zeros((2, 4, 4, 3), np.float32), (0, 1), "uint8 N x H x W x 3"),
        (np.zeros((2, 4, 4), np.uint8), (0, 1), "uint8 N x H x W x 3"),
        (np.zeros((2, 4, 4, 3), np.uint8), (0,), "2 frames but 1 pts"),
    ],
)
def test_frame_batch_refuses_bad_frames_with_a_vsr_error(frames: np.ndarray, pts: tuple[int, ...], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match) as caught:
        FrameBatch(frames, pts, (1,) * len(pts), 0)
    assert isinstance(caught.value, ValueError)
