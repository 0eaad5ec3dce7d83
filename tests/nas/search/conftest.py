"""Fixtures of the search tests: a small generated dataset and a device predictor in NAS_HOME.

The fast tests fit the real MLP predictor on real RTSeg tiny blocks labelled by the analytic cost
model of latency/predictors/synthetic.py (profiling costs ~1 s a block on the shared CI host);
the slow end-to-end test profiles with ONNX Runtime instead.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HW = (64, 128)  # deployment input size of the tests


def fit_analytic_predictor(device: str, hw: tuple[int, int] = HW, n: int = 300) -> Path:
    """Fit and save `device`'s MLP on analytic latencies of sampled RTSeg tiny blocks."""
    import random

    import search_spaces
    from latency.predictors import MLPPredictor
    from latency.predictors.synthetic import label_blocks
    from latency.sampler import sample_blocks
    from nas.paths import predictor_path

    blocks = sample_blocks(["rtseg"], n, 0, hw, cfg={"rtseg": {"preset": "tiny"}})
    # whole networks too, so the full/smallest archs' blocks are in the training data
    sp = search_spaces.get("rtseg")
    rng = random.Random(1)
    for _ in range(10):
        blocks += sp.blocks(sp.sample(rng, preset="tiny"), hw)
    rows = label_blocks(list({b.key(): b for b in blocks}.values()), device=device)
    pred = MLPPredictor(device=device, epochs=150, seed=0).fit(rows)
    return pred.save(predictor_path(device))


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from nas.data.synth_cache import ensure_synth

    root = tmp_path_factory.mktemp("synth") / "synth-64x128"
    return ensure_synth((64, 128), 6, 3, 0, root=root)


@pytest.fixture(scope="session")
def predictor_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A NAS_HOME holding a fitted `cpu` predictor (fitted once per session)."""
    home = tmp_path_factory.mktemp("nas_home")
    with pytest.MonkeyPatch.context() as mp:  # session scope: no monkeypatch fixture
        mp.setenv("NAS_HOME", str(home))
        fit_analytic_predictor("cpu")
    return home


@pytest.fixture
def nas_env(predictor_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """NAS_HOME with the predictor, and the working directory a fresh temp dir (runs/ go there)."""
    monkeypatch.setenv("NAS_HOME", str(predictor_home))
    monkeypatch.chdir(tmp_path)
    return tmp_path
