"""The warmth tiers, warmest first: their names live here and nowhere else."""

from __future__ import annotations

from typing import Literal

Tier = Literal["inner", "warm", "cooling", "cold", "dormant"]
TIERS: tuple[Tier, ...] = ("inner", "warm", "cooling", "cold", "dormant")
BOUNDED_TIERS: tuple[Tier, ...] = TIERS[:-1]  # those with a lower bound in [warmth.tiers]; below them: dormant


def at_least(tier: Tier, floor: Tier) -> bool:
    """Is ``tier`` ``floor`` or warmer?"""
    return TIERS.index(tier) <= TIERS.index(floor)
