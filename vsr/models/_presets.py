"""The presets' shapes and parameter counts as literal numbers, importable without torch.

``vsr models`` lists the presets from here without building one (or importing torch);
``tests/test_models.py`` builds every preset once and checks the counts.
"""

from __future__ import annotations

__all__ = ["PRESET_PARAMETERS", "PRESET_SHAPES"]

#: ``(arch, n_resblocks, n_feats)`` of each preset, to check that a file holds the preset asked for.
PRESET_SHAPES: dict[str, tuple[str, int, int]] = {
    "edsr_fast": ("edsr", 8, 32),
    "edsr_medium": ("edsr", 8, 48),
    "edsr_baseline": ("edsr", 16, 64),
    "edsr": ("edsr", 32, 256),
    "mdsr_baseline": ("mdsr", 16, 64),
    "mdsr": ("mdsr", 80, 64),
}

#: Trainable parameters of each preset at x2, x3 and x4 (:func:`count_parameters` of :func:`get_model`).
#: An MDSR preset holds all three branches, so its count is the same at every scale.
PRESET_PARAMETERS: dict[str, dict[int, int]] = {
    "edsr_fast": {2: 195_971, 3: 242_211, 4: 232_963},
    "edsr_medium": {2: 439_107, 3: 543_027, 4: 522_243},
    "edsr_baseline": {2: 1_369_859, 3: 1_554_499, 4: 1_517_571},
    "edsr": {2: 40_729_603, 3: 43_680_003, 4: 43_089_923},
    "mdsr_baseline": {2: 3_227_203, 3: 3_227_203, 4: 3_227_203},
    "mdsr": {2: 7_953_987, 3: 7_953_987, 4: 7_953_987},
}
