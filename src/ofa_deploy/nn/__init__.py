"""PyTorch side of the space: elastic layers, the OFA MobileNetV3 supernet, static subnets, checkpoints."""

from .checkpoint import load_supernet, load_supernet_weights, save_supernet
from .layers import MobileNetV3
from .supernet import OFAMobileNetV3

__all__ = ["MobileNetV3", "OFAMobileNetV3", "load_supernet", "load_supernet_weights", "save_supernet"]
