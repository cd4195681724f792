"""Anomaly synthesis: 3D-PNAS (Perlin noise on a parameterization, displacement along normals)."""
from pointad.synthesis.pnas import PNAS
from pointad.synthesis.sample import AnomalySample

__all__ = ["PNAS", "AnomalySample"]
from pointad.synthesis.augment import PNASAugment  # noqa: E402  (needs torch; imported last)

__all__.append("PNASAugment")
