"""Training core shared by `nas train`, `nas retrain` and the search drivers.

- `config`: `TrainConfig`, validated from YAML.
- `losses`: CE (ignore 255), OHEM, auxiliary heads, pixel-wise distillation (RTSeg eq. 10-11).
- `metrics`: `ConfusionMatrix` -> per-class IoU, mIoU, pixel accuracy.
- `schedule`: poly LR with warm-up, a pure function of the iteration.
- `checkpoint`: kill-safe checkpoints with every RNG state.
- `distributed`: torchrun/DDP setup and the deterministic sharded sampler.
- `evaluate`: confusion matrix of a model on a split.
- `trainer`: `Trainer`, the iteration-based loop with exact resume.
"""

from nas.train.config import TrainConfig, load_train_config
from nas.train.metrics import ConfusionMatrix
from nas.train.trainer import LossContext, NonFiniteLoss, Trainer, seed_everything

__all__ = [
    "ConfusionMatrix",
    "LossContext",
    "NonFiniteLoss",
    "TrainConfig",
    "Trainer",
    "load_train_config",
    "seed_everything",
]
