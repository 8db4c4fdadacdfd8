"""Test helpers for the remote backends: a loopback OpenSSH server, a loopback adb device daemon,
and a stand-in for TFLite's `benchmark_model` (none of them is used outside the tests)."""
