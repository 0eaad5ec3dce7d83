"""Training boosters: training-only additions that raise accuracy at no inference cost.

- `detail`: STDC detail guidance (Laplacian detail ground truth, BCE + Dice, STDC eq. 5).
- `boundary`: SlimSeg boundary ground truth, boundary BCE / KD and the boundary-guided loss.
- `taps`: `BoostedNet`, which hangs booster heads on a model's 1/8 feature (a hook during its
  training forwards only).
- `slimmable`: slimmable conv / switchable BN, `make_slimmable`, `set_width`, `extract_width`.
- `loss`: `BoosterLoss`, the trainer's `extra_loss` hook that combines them.
- `export`: each trained width as its own slimmed network (arch.json for RTSeg + weights).
- `config`: `BoosterConfig` and `boost(model, cfg)`.
- `cli`: the flags of `nas train` / `nas retrain` / `nas search` and per-width export of a run.
- `retrain`: the search's fine-tuning (`nas retrain`) with boosters.
- `search`: the boosters inside the search drivers (stage loss, heads-free checkpoints).
"""

from nas.train.boosters.config import BoosterConfig, boost
from nas.train.boosters.loss import BoosterLoss
from nas.train.boosters.slimmable import extract_width, make_slimmable, set_width
from nas.train.boosters.taps import BoostedNet

__all__ = [
    "BoostedNet",
    "BoosterConfig",
    "BoosterLoss",
    "boost",
    "extract_width",
    "make_slimmable",
    "set_width",
]
