"""Evaluation metrics of 3D anomaly detection: per-element ranking metrics and AUPRO.

=======================  ========================================================================
:mod:`.ranking`          ``roc_curve``, ``auroc``, ``precision_recall_curve``,
                         ``average_precision``, ``f1_max`` (object- or point-level scores)
:mod:`.pro`              ``pro_curve``, ``aupro`` on flat arrays; ``aupro_images`` (2-D maps and
                         masks), ``aupro_points`` (unorganized clouds)
:mod:`.regions`          ground-truth regions: ``region_ids_from_masks``, ``region_ids_from_points``
=======================  ========================================================================
"""
from pointad.metrics.pro import area_under_curve, aupro, aupro_images, aupro_points, pro_curve
from pointad.metrics.ranking import (
           auroc,
           average_precision,
           f1_max,
           precision_recall_curve,
           roc_curve,
)
from pointad.metrics.regions import region_ids_from_masks, region_ids_from_points

__all__ = ["roc_curve", "auroc", "precision_recall_curve", "average_precision", "f1_max",
           "pro_curve", "area_under_curve", "aupro", "aupro_images", "aupro_points",
           "region_ids_from_masks", "region_ids_from_points"]
