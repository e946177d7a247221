"""Data preparation: MATLAB-exact resizing, degradations and (elsewhere in this package) datasets.

The public names are re-exported here explicitly; implementations live in ``_``-prefixed modules.
"""

from vsr.data._degrade import DEGRADATIONS as DEGRADATIONS
from vsr.data._degrade import DegradationKind as DegradationKind
from vsr.data._degrade import degrade as degrade
from vsr.data._degrade import degrade_bd as degrade_bd
from vsr.data._imresize import imresize as imresize

__all__ = [
    "DEGRADATIONS",
    "DegradationKind",
    "degrade",
    "degrade_bd",
    "imresize",
]
