"""The Space contract (../shared/DESIGN.md, "Space"): what every search space offers.

An *arch* is a JSON-serialisable dict `{"space": NAME, ...}` describing one concrete network.
It is the hand-off between search, retrain, export and profile, so every space validates its own
archs and rejects a bad one with a `UserError` naming the field.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import torch.nn as nn

from nas.errors import UserError

if TYPE_CHECKING:
    from latency.blocks import BlockSpec, SoftBlock

Arch = dict[str, Any]


@runtime_checkable
class Supernet(Protocol):
    """What a trainable supernet exposes to the gradient search driver."""

    def derive(self) -> Arch:
        """The arch of the current hard decisions (kept channels, chosen blocks)."""
        ...

    def set_arch(self, arch: Arch) -> None:
        """Fix the decisions to `arch` (as Once-for-All's `set_active_subnet`): afterwards the
        supernet in eval mode computes exactly what `build(arch)` + `inherit` computes."""
        ...

    def latency_terms(self, input_hw: tuple[int, int]) -> list[SoftBlock]:
        """Differentiable block descriptions at the deployment input size `input_hw`.

        Channel counts are the expected kept counts from the STE gates and each block carries
        the probability it runs (Gumbel choice probabilities), so `predictor.expected(terms)`
        has a gradient that reaches the gates and the logits.
        """
        ...


class Space(ABC):
    """A search space. Sub-classes set `name` and implement the abstract methods."""

    name: ClassVar[str]

    # --- arch handling -------------------------------------------------------------------
    @abstractmethod
    def validate(self, arch: Arch) -> Arch:
        """Return the arch (normalised) or raise `UserError` naming the bad field."""

    @abstractmethod
    def sample(self, rng: random.Random, **cfg: Any) -> Arch:
        """A uniformly random valid arch (block sampler, random baselines).

        `cfg` takes the same size options as `supernet` (e.g. `width_mult`, `preset`), so the
        arch is a subnet of `supernet(**cfg)`.
        """

    def small_cfg(self) -> dict[str, Any]:
        """Options for `supernet`/`sample` that give a CPU-sized network (tests, demos)."""
        return {}

    def presets(self) -> dict[str, Arch]:
        """Named reference archs of this space (also registered as models)."""
        return {}

    # --- networks ------------------------------------------------------------------------
    @abstractmethod
    def build(self, arch: Arch, num_classes: int) -> nn.Module:
        """A standalone network with physically pruned channels and removed blocks."""

    def supernet(self, num_classes: int, **cfg: Any) -> nn.Module:
        """The trainable over-parameterised network (spaces searched by gradient only)."""
        raise UserError(f"space '{self.name}' has no supernet; search it with the optuna driver")

    def inherit(self, subnet: nn.Module, supernet: nn.Module, arch: Arch) -> None:
        """Copy the kept weights (and BN statistics) from `supernet` into `subnet`."""
        raise UserError(f"space '{self.name}' has no supernet to inherit weights from")

    # --- latency -------------------------------------------------------------------------
    @abstractmethod
    def blocks(
        self, arch: Arch, input_hw: tuple[int, int], num_classes: int = 19
    ) -> list[BlockSpec]:
        """The network cut into latency blocks with shapes resolved at `input_hw`.

        `num_classes` sizes the classifier convs, as in `build(arch, num_classes)`; the arch
        itself does not fix the number of classes.

        Contract: the blocks cover the whole inference network, so the sum of their MACs equals
        the network's MACs (tests/search_spaces/test_contract.py checks it).
        """

    # --- helpers for sub-classes ---------------------------------------------------------
    def check_space(self, arch: Any) -> Arch:
        """Common first step of `validate`: a dict whose `space` is this space."""
        if not isinstance(arch, dict):
            raise UserError(f"arch: expected a JSON object, got {type(arch).__name__}")
        if arch.get("space") != self.name:
            raise UserError(
                f"arch field 'space': expected '{self.name}', got {arch.get('space')!r}"
            )
        return arch
