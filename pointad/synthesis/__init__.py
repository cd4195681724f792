"""Anomaly synthesis: 3D-PNAS (Perlin noise on a parameterization, displacement along normals)
and the defect kinds (:mod:`pointad.synthesis.defects`: one module per kind, ``apply`` by name,
``DefectMix`` to draw kinds by weight)."""
from typing import TYPE_CHECKING

from pointad.synthesis.defects import DefectMix, DefectResult, apply, available
from pointad.synthesis.pnas import PNAS
from pointad.synthesis.sample import AnomalySample

if TYPE_CHECKING:  # imported lazily at run time (see __getattr__)
    from pointad.synthesis.augment import PNASAugment

__all__ = ["PNAS", "AnomalySample", "PNASAugment", "DefectMix", "DefectResult", "apply",
           "available"]


def __getattr__(name: str) -> "type[PNASAugment]":
    # PNASAugment needs torch; importing it lazily keeps plain synthesis (and the CLI) light.
    if name == "PNASAugment":
        from pointad.synthesis.augment import PNASAugment
        return PNASAugment
    raise AttributeError(f"module 'pointad.synthesis' has no attribute {name!r}")
