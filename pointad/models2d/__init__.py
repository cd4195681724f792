"""Pure-torch 2D anomaly networks on backbone feature maps (no point clouds here):
:mod:`.uniad` (UniAD), :mod:`.onenip` (OneNIP), :mod:`.pbas` (PBAS) and the shared transformer
parts (:mod:`.transformer`). The detectors in :mod:`pointad.detectors` apply them to depth renders.
"""
