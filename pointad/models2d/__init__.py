"""Pure-torch 2D anomaly networks on backbone feature maps (no point clouds here):
:mod:`.uniad` (UniAD), :mod:`.onenip` (OneNIP), :mod:`.pbas` (PBAS), :mod:`.pradot` (PRADOT's
optimal-transport prototypes), :mod:`.hetnet` (HetNet), :mod:`.fader` (FADeR) and the shared
transformer parts (:mod:`.transformer`). The detectors in :mod:`pointad.detectors` apply them
to depth renders.
"""
