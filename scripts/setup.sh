#!/usr/bin/env bash
# Install everything ofa-deploy needs on a fresh Debian/Ubuntu machine (idempotent, fast when done).
# System packages (apt, as root or with sudo): Fashion-MNIST (the shipped supernet's data), OpenSSH
# (SSH profiling and its tests), adb (Android profiling), procps (the SSH tests look for leftover
# processes), chromium (the report's browser test), python3-venv (when `python3 -m venv` cannot work),
# qemu-user-static and debootstrap (the emulated aarch64 board of the `board` tests, x86-64 only;
# OFA_DEPLOY_NO_BOARD=1 leaves them out).
# `--demo` installs only what `make demo` needs (Fashion-MNIST; python3-venv when needed).
# A held apt/dpkg lock (unattended upgrades) is waited for, at most $OFA_DEPLOY_APT_WAIT seconds (300).
# torch, when missing, comes from PyTorch's CPU index ($OFA_DEPLOY_TORCH_INDEX; about 200 MB) rather than
# PyPI's default CUDA build (several GB of NVIDIA wheels); if that index cannot be reached, from pip's own.
# Python packages go into a virtual environment, never into the system's Python (PEP 668): the active
# one when $VIRTUAL_ENV is set, else `.venv` in this checkout, created with $PYTHON (default python3).
# torch is pinned to the CPU build (constraints.txt); then the package, editable, with its extras.
#   bash scripts/setup.sh              set up
#   bash scripts/setup.sh --demo       set up for `make demo` only (fewer Debian packages)
#   bash scripts/setup.sh --python     print the environment's python (what the Makefile runs), nothing else
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${PYTHON:-python3}
VENV=${VIRTUAL_ENV:-$PWD/.venv}
PY=$VENV/bin/python
if [ "${1:-}" = --python ]; then echo "$PY"; exit 0; fi

SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
DEMO=0; [ "${1:-}" = --demo ] && DEMO=1
LOCK_WAIT=${OFA_DEPLOY_APT_WAIT:-300}
apt_install() {
  echo "setup: installing Debian packages: $* (waiting up to ${LOCK_WAIT}s for a held apt lock)"
  $SUDO apt-get -o DPkg::Lock::Timeout="$LOCK_WAIT" update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout="$LOCK_WAIT" install -y -qq "$@" >/dev/null
}

need=()
[ -d /usr/share/datasets/fashion-mnist ] || need+=(dataset-fashion-mnist)
if [ $DEMO = 0 ]; then
  command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || need+=(openssh-server)
  command -v ssh >/dev/null 2>&1 || need+=(openssh-client)
  command -v adb >/dev/null 2>&1 || need+=(adb)
  command -v pgrep >/dev/null 2>&1 || need+=(procps)
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  # The emulated aarch64 board of the `board` tests (scripts/arm-board.sh); OFA_DEPLOY_NO_BOARD=1 skips them.
  if [ "${OFA_DEPLOY_NO_BOARD:-0}" != 1 ] && [ "$(uname -m)" = x86_64 ]; then
    [ -x /usr/bin/qemu-aarch64-static ] || need+=(qemu-user-static)
    command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || need+=(debootstrap)
  fi
fi
[ ${#need[@]} -eq 0 ] || apt_install "${need[@]}"

if [ ! -x "$PY" ]; then
  [ -z "${VIRTUAL_ENV:-}" ] || { echo "setup: \$VIRTUAL_ENV=$VIRTUAL_ENV has no bin/python" >&2; exit 1; }
  command -v "$BASE" >/dev/null 2>&1 || apt_install python3
  "$BASE" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
    || { echo "setup: $BASE is Python $("$BASE" -V 2>&1); ofa-deploy needs 3.10 or newer (PYTHON=...)" >&2; exit 1; }
  echo "setup: creating $VENV with $("$BASE" -V 2>&1) ($BASE)"
  if ! "$BASE" -m venv "$VENV" >/dev/null 2>&1; then
    # Debian/Ubuntu ship venv's ensurepip apart, in python3-venv (python3.X-venv for other versions).
    rm -rf "$VENV"
    apt_install python3-venv
    "$BASE" -m venv "$VENV"
  fi
fi

# Installed already in that environment, from this checkout (editable), with the optional extras?
# (find_spec, not import: importing torch and the TFLite stack takes seconds.)
installed_here() {
  "$PY" - <<'PY' >/dev/null 2>&1
import importlib.util as u, pathlib, sys
mods = ["ai_edge_litert", "ai_edge_quantizer", "hypothesis", "litert_torch", "ruff", "torch", "xdist"]
if any(u.find_spec(m) is None for m in mods):
    sys.exit(1)
here = u.find_spec("ofa_deploy")
sys.exit(0 if here and pathlib.Path(here.origin).resolve().is_relative_to(pathlib.Path("src").resolve()) else 1)
PY
}
if ! installed_here || [ "${OFA_DEPLOY_REINSTALL:-0}" = 1 ]; then
  if ! "$PY" -c 'import importlib.util as u, sys; sys.exit(u.find_spec("torch") is None)' 2>/dev/null; then
    TORCH_INDEX=${OFA_DEPLOY_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}
    echo "setup: installing torch==2.13.0 (CPU build) from $TORCH_INDEX"
    # pip's own retries and resolver messages of a failed try are kept out of the way: one line says it.
    "$PY" -m pip install -q --disable-pip-version-check -c constraints.txt --index-url "$TORCH_INDEX" torch \
      >/dev/null 2>&1 || echo "setup: $TORCH_INDEX not usable here; torch comes from pip's configured index instead"
  fi
  echo "setup: installing Python packages into $VENV (torch==2.13.0 CPU build, ofa-deploy with extras)"
  "$PY" -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[dev,tflite]"
fi
echo "setup: done ($PY)"
