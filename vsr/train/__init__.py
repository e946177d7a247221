"""Training EDSR/MDSR from TOML recipes: config, loop, checkpoints, DDP through torchrun.

Typical use::

    from vsr.train import load_config, train, export

    cfg = load_config("pipelines/edsr_baseline_x2_t91_bsd200.toml", ["optim.lr=1e-4"])
    result = train(cfg)                       # runs/<recipe>-<date-time>/
    export(result.run_dir, "edsr_x2.pt")      # a file vsr.load_model reads

The public surface, by task:

- Recipes: :func:`load_config`, :class:`Config` and its sections, :func:`config_from_dict`,
  :func:`config_to_dict`, :func:`apply_overrides` (``--set``).
- Running: :func:`train` (:class:`TrainResult`), :func:`load_run_config` (to resume),
  :func:`init_from_pretrained`, :func:`lr_at`, :func:`validate`.
- A run folder: :data:`LATEST`/:data:`BEST` checkpoints (:func:`load_checkpoint`,
  :func:`save_checkpoint`, :func:`stored_recipe`), :func:`export`, :func:`list_snapshots`,
  :func:`plot_log`.

The implementation lives in ``_``-prefixed modules: ``_config`` (recipes), ``_build``
(sources, model and lr from a recipe), ``_loop`` (the loop), ``_validate``,
``_checkpoint``, ``_export`` (init_from, export, snapshots), ``_runlog``, ``_plot``
and ``_ddp`` (the process group).
"""

from vsr.train._build import lr_at as lr_at
from vsr.train._checkpoint import (
    BEST as BEST, LATEST as LATEST, load_checkpoint as load_checkpoint, save_checkpoint as save_checkpoint,
    stored_recipe as stored_recipe,
)
from vsr.train._config import (
    Config as Config, DataConfig as DataConfig, ModelConfig as ModelConfig, OptimConfig as OptimConfig,
    SourceConfig as SourceConfig, TrainConfig as TrainConfig, ValidationConfig as ValidationConfig,
    apply_overrides as apply_overrides, config_from_dict as config_from_dict, config_to_dict as config_to_dict,
    load_config as load_config,
)
from vsr.train._export import (
    export as export, init_from_pretrained as init_from_pretrained, list_snapshots as list_snapshots,
)
from vsr.train._loop import TrainResult as TrainResult, load_run_config as load_run_config, train as train
from vsr.train._plot import plot_log as plot_log
from vsr.train._validate import validate as validate

__all__ = [
    "BEST",
    "LATEST",
    "Config",
    "DataConfig",
    "ModelConfig",
    "OptimConfig",
    "SourceConfig",
    "TrainConfig",
    "TrainResult",
    "ValidationConfig",
    "apply_overrides",
    "config_from_dict",
    "config_to_dict",
    "export",
    "init_from_pretrained",
    "list_snapshots",
    "load_checkpoint",
    "load_config",
    "load_run_config",
    "lr_at",
    "plot_log",
    "save_checkpoint",
    "stored_recipe",
    "train",
    "validate",
]
