"""ofa-deploy: turn one trained Once-for-All supernet into hardware-specialised networks.

Implements the deployment side of "Once for All: Train One Network and Specialize it for
Efficient Deployment" (Cai et al., ICLR 2020): profile a device, search a subnet under a
budget, export it.
"""

__version__ = "0.1.0"
