"""Training EDSR/MDSR from TOML recipes: config, loop, checkpoints, DDP through torchrun.

Typical use::

    from vsr.train import load_config, train, export

    cfg = load_config("pipelines/edsr_baseline_x2_t91_bsd200.toml", ["optim.lr=1e-4"])
    result = train(cfg)                       # runs/<recipe>-<date-time>/
    export(result.run_dir, "edsr_x2.pt")      # a file vsr.load_model reads
"""

from .checkpoint import BEST as BEST
from .checkpoint import LATEST as LATEST
from .checkpoint import load_checkpoint as load_checkpoint
from .checkpoint import save_checkpoint as save_checkpoint
from .config import Config as Config
from .config import DataConfig as DataConfig
from .config import ModelConfig as ModelConfig
from .config import OptimConfig as OptimConfig
from .config import SourceConfig as SourceConfig
from .config import TrainConfig as TrainConfig
from .config import ValidationConfig as ValidationConfig
from .config import apply_overrides as apply_overrides
from .config import config_from_dict as config_from_dict
from .config import config_to_dict as config_to_dict
from .config import load_config as load_config
from .ddp import DistInfo as DistInfo
from .loop import TrainResult as TrainResult
from .loop import export as export
from .loop import init_from_pretrained as init_from_pretrained
from .loop import list_snapshots as list_snapshots
from .loop import load_run_config as load_run_config
from .loop import lr_at as lr_at
from .loop import plot_log as plot_log
from .loop import train as train
from .loop import validate as validate

__all__ = [
    "BEST",
    "LATEST",
    "Config",
    "DataConfig",
    "DistInfo",
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
    "train",
    "validate",
]
