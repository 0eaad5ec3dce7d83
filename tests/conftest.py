"""Shared test fixtures."""

from __future__ import annotations

import os

import pytest
import torch

# Tests are CPU-sized and must not fight each other for the 2 cores of a CI machine.
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture
def rng_seed() -> int:
    torch.manual_seed(0)
    return 0
