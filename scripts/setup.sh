#!/usr/bin/env bash
# Install everything ofa-deploy needs on a fresh Debian machine (idempotent).
# System packages: Fashion-MNIST (the shipped supernet's data), OpenSSH (SSH profiling tests),
# adb (Android profiling). Python: torch pinned to the CPU build, the package with its extras.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
need=()
[ -d /usr/share/datasets/fashion-mnist ] || need+=(dataset-fashion-mnist)
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null 2>&1 || need+=(openssh-client)
command -v adb >/dev/null 2>&1 || need+=(adb)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  echo "setup: installing Debian packages: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
# Installed already, from this checkout (editable), with the optional extras? Then nothing to do.
installed_here() {
  $PY - <<'PY' >/dev/null 2>&1
import pathlib, sys
import ai_edge_litert, ai_edge_quantizer, hypothesis, litert_torch, ofa_deploy  # noqa: F401
sys.exit(0 if pathlib.Path(ofa_deploy.__file__).resolve().is_relative_to(pathlib.Path("src").resolve()) else 1)
PY
}
if ! installed_here || [ "${OFA_DEPLOY_REINSTALL:-0}" = 1 ]; then
  echo "setup: installing Python packages (torch==2.13.0 CPU build, ofa-deploy with extras)"
  $PY -m pip install -q --disable-pip-version-check "torch==2.13.0" -e ".[dev,tflite]" "torch==2.13.0"
fi
echo "setup: done"
