"""Data preparation: MATLAB-exact resizing, degradations and (elsewhere in this package) datasets.

The public names are re-exported here explicitly; implementations live in ``_``-prefixed modules.
"""

from vsr.data._degrade import (
    DEGRADATIONS as DEGRADATIONS, DegradationKind as DegradationKind, degrade as degrade, degrade_bd as degrade_bd,
)
from vsr.data._specs import (
    Degradation as Degradation, DegradationMix as DegradationMix, DegradationRange as DegradationRange,
    parse_degradation as parse_degradation, parse_degradation_mix as parse_degradation_mix,
)
from vsr.data._imresize import imresize as imresize

# Training/validation datasets and patch sampling.
from vsr.data._datasets import (
    DIV2K as DIV2K, REDS as REDS, REDS4_CLIPS as REDS4_CLIPS, BenchmarkFolder as BenchmarkFolder,
    BenchmarkImage as BenchmarkImage, FrameSource as FrameSource, ImageFolder as ImageFolder, Vimeo90K as Vimeo90K,
)
from vsr.data._patches import crop_pair as crop_pair
from vsr.data._sampler import PatchBatch as PatchBatch, PatchSampler as PatchSampler
from vsr.data._patches import dihedral as dihedral, lr_patch_from_hr as lr_patch_from_hr
from vsr.data._video_frames import VideoFrames as VideoFrames

__all__ = [
    "DEGRADATIONS",
    "Degradation",
    "DegradationMix",
    "DegradationRange",
    "DegradationKind",
    "degrade",
    "degrade_bd",
    "parse_degradation",
    "parse_degradation_mix",
    "imresize",
    "DIV2K",
    "REDS",
    "REDS4_CLIPS",
    "BenchmarkFolder",
    "BenchmarkImage",
    "FrameSource",
    "ImageFolder",
    "PatchBatch",
    "PatchSampler",
    "VideoFrames",
    "Vimeo90K",
    "crop_pair",
    "dihedral",
    "lr_patch_from_hr",
]
