"""Pure-torch point networks (no compiled extensions): :mod:`.offset_net`, the patch network
of ``pnas-offset`` that regresses each point's offset from the normal surface."""
from pointad.models3d.offset_net import OffsetNet

__all__ = ["OffsetNet"]
