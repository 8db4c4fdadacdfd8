"""PyTorch side of the space: elastic layers, the OFA supernet of every kind, static subnets, checkpoints."""

from .checkpoint import load_supernet, load_supernet_weights, save_supernet
from .layers import MobileNetV3, StaticSubnet
from .supernet import OFAMobileNetV3, OFASupernet

__all__ = ["MobileNetV3", "OFAMobileNetV3", "OFASupernet", "StaticSubnet", "load_supernet", "load_supernet_weights",
           "save_supernet"]
