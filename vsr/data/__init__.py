"""Data preparation: MATLAB-exact resizing, degradations and (elsewhere in this package) datasets.

The public names are re-exported here explicitly; implementations live in ``_``-prefixed modules.
"""

from vsr.data._degrade import DEGRADATIONS as DEGRADATIONS
from vsr.data._degrade import DegradationKind as DegradationKind
from vsr.data._degrade import degrade as degrade
from vsr.data._degrade import degrade_bd as degrade_bd
from vsr.data._specs import Degradation as Degradation
from vsr.data._specs import DegradationMix as DegradationMix
from vsr.data._specs import DegradationRange as DegradationRange
from vsr.data._specs import parse_degradation as parse_degradation
from vsr.data._specs import parse_degradation_mix as parse_degradation_mix
from vsr.data._imresize import imresize as imresize

# Training/validation datasets and patch sampling (issue 5).
from vsr.data._datasets import DIV2K as DIV2K
from vsr.data._datasets import REDS as REDS
from vsr.data._datasets import REDS4_CLIPS as REDS4_CLIPS
from vsr.data._datasets import BenchmarkFolder as BenchmarkFolder
from vsr.data._datasets import BenchmarkImage as BenchmarkImage
from vsr.data._datasets import FrameSource as FrameSource
from vsr.data._datasets import ImageFolder as ImageFolder
from vsr.data._datasets import Vimeo90K as Vimeo90K
from vsr.data._patches import crop_pair as crop_pair
from vsr.data._sampler import PatchBatch as PatchBatch
from vsr.data._sampler import PatchSampler as PatchSampler
from vsr.data._patches import dihedral as dihedral
from vsr.data._patches import lr_patch_from_hr as lr_patch_from_hr
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
