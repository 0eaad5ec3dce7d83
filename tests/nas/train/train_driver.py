"""Subprocess driver for the resume-after-kill and DDP tests (not a test module itself).

usage: python train_driver.py RUN_DIR ITERS [--resume]
Runs the real `Trainer` on the tiny model and data; under torchrun it trains data-parallel and
every rank saves its final weights to RUN_DIR/rank<r>.pt so the test can compare them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_helpers import TinySegData, TinySegNet  # noqa: E402

from nas.errors import UserError  # noqa: E402
from nas.train.config import TrainConfig  # noqa: E402
from nas.train.distributed import setup, teardown  # noqa: E402
from nas.train.trainer import Trainer, seed_everything  # noqa: E402


def main() -> int:
    torch.set_num_threads(1)  # bit-exact comparisons need the same reduction order every run
    run_dir, iters = sys.argv[1], int(sys.argv[2])
    resume = "--resume" in sys.argv
    cfg = TrainConfig(
        iterations=iters, batch_size=4, lr=0.05, warmup_iters=2, ckpt_every=2, log_every=1,
        eval_every=0, seed=3,
    )
    info = setup("cpu")
    try:
        seed_everything(cfg.seed)
        model = TinySegNet()
        trainer = Trainer(
            model, TinySegData(n=12, seed=1), cfg, run_dir,
            identity={"model": "tiny", "num_classes": 3},
            val_set=TinySegData(n=4, seed=99, augment=False), info=info, progress=False,
        )
        trainer.fit(resume=resume)
        torch.save(model.state_dict(), Path(run_dir) / f"rank{info.rank}.pt")
    except UserError as err:
        print(f"nas: error: {err}", file=sys.stderr)
        return 2
    finally:
        teardown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
