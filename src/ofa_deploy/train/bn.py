"""BN recalibration lives next to the supernet it serves (`ofa_deploy.nn.bn`); re-exported for train's callers."""

from ..nn.bn import recalibrate_bn

__all__ = ["recalibrate_bn"]
