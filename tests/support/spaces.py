"""The one small demo-like space the profiling tests (local, SSH, adb) share."""

from __future__ import annotations

from ofa_deploy.space import SpaceSpec

PROFILE_SPEC = SpaceSpec(width_mult=0.5, n_classes=10, in_channels=1, resolutions=(24, 32))
