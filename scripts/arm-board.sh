#!/usr/bin/env bash
# An emulated aarch64 board on this machine, to try the SSH path without hardware (and to test it in CI).
#
#   bash scripts/arm-board.sh up       build the board once (cached), start its sshd, write its device descriptors
#   bash scripts/arm-board.sh status   say whether it is built / running, and its --host (exit 0 running, 3 not)
#   bash scripts/arm-board.sh down     stop it: nothing of it keeps running, nothing stays mounted
#   bash scripts/arm-board.sh build    build (or finish building) the userland only
#   bash scripts/arm-board.sh check    exit 0 if this machine can build/run the board, else print why, exit 3
#
# What it is: a Debian arm64 userland (debootstrap, bookworm: Python 3.11 as on Raspberry Pi OS) run through
# qemu-user-static and the kernel's binfmt_misc, with two Python environments:
#   /opt/ofa/litert   numpy + ai-edge-litert + onnxruntime
#   /opt/ofa/tflrt    tflite-runtime 2.14 + numpy<2 (the older LiteRT wheel)
# Its own sshd (from the userland, not the host's) listens on 127.0.0.1 on a free port and accepts only a key
# generated here. It runs in private mount and PID namespaces (unshare): /proc, /sys and /dev are mounted for the
# chroot there only, /proc/cpuinfo is replaced by an aarch64 one (qemu-user shows the host's x86 cpuinfo, which
# makes onnxruntime's CPU probe crash at import), and stopping the namespace's first process ends every process
# of the board (sshd and its sessions) and drops its mounts. The host's sshd and configuration are not touched.
# The only machine-wide change is registering the qemu-aarch64 binfmt handler (and mounting binfmt_misc if it
# is not mounted). Timings on it are MEANINGLESS (everything is emulated): it proves function, not speed.
#
# Where: <cache>/arm-board/ with <cache> = $OFA_DEPLOY_CACHE, else $XDG_CACHE_HOME/ofa-deploy, else
# ~/.cache/ofa-deploy (as src/ofa_deploy/paths.py); `rootfs/` (about 1 GB) is kept across up/down; delete
# the folder to rebuild. Device descriptors go to the user's devices folder (<data>/devices, <data> =
# $OFA_DEPLOY_HOME, else $XDG_DATA_HOME/ofa-deploy, else ~/.local/share/ofa-deploy):
#   arm-board           LiteRT (ai-edge-litert), fp32 .tflite
#   arm-board-tflrt     LiteRT through tflite-runtime 2.14
#   arm-board-ort       onnxruntime
# Needs root (or password-less sudo) for debootstrap, chroot and namespaces, and Debian's qemu-user-static,
# debootstrap and binfmt-support-free binfmt_misc (no systemd needed). Settings:
#   ARM_BOARD_SUITE (bookworm), ARM_BOARD_MIRROR (default: the first Debian mirror in this machine's apt sources,
#   else http://deb.debian.org/debian), ARM_BOARD_DIR (default <cache>/arm-board), ARM_BOARD_PORT (default: free).
set -euo pipefail

cache_root() {
  if [ -n "${OFA_DEPLOY_CACHE:-}" ]; then echo "$OFA_DEPLOY_CACHE"
  elif [ -n "${XDG_CACHE_HOME:-}" ]; then echo "$XDG_CACHE_HOME/ofa-deploy"
  else echo "$HOME/.cache/ofa-deploy"; fi
}
data_root() {
  if [ -n "${OFA_DEPLOY_HOME:-}" ]; then echo "$OFA_DEPLOY_HOME"
  elif [ -n "${XDG_DATA_HOME:-}" ]; then echo "$XDG_DATA_HOME/ofa-deploy"
  else echo "$HOME/.local/share/ofa-deploy"; fi
}

DIR=${ARM_BOARD_DIR:-$(cache_root)/arm-board}
ROOT=$DIR/rootfs
RUN=$DIR/run
SUITE=${ARM_BOARD_SUITE:-bookworm}
DEVICES=$(data_root)/devices
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo -n"
BINFMT=/proc/sys/fs/binfmt_misc
QEMU=/usr/bin/qemu-aarch64-static

say() { echo "arm-board: $*" >&2; }
die() { echo "arm-board: $1" >&2; exit "${2:-1}"; }

mirror() {
  if [ -n "${ARM_BOARD_MIRROR:-}" ]; then echo "$ARM_BOARD_MIRROR"; return; fi
  local m
  m=$( { grep -hsE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list || true; } \
      | grep -oE '(https?|file)://[^ ]+' | grep -v -- '-security' | grep -iE 'debian' | head -n1)
  echo "${m:-http://deb.debian.org/debian}"
}

# ---- can this machine do it? -------------------------------------------------------------------------------
check() {
  [ "$(uname -s)" = Linux ] || { echo "not Linux"; return 3; }
  [ "$(id -u)" = 0 ] || sudo -n true 2>/dev/null || { echo "needs root or password-less sudo"; return 3; }
  [ -x "$QEMU" ] || { echo "qemu-user-static is not installed (apt-get install qemu-user-static)"; return 3; }
  command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] \
    || { echo "debootstrap is not installed (apt-get install debootstrap)"; return 3; }
  command -v unshare >/dev/null 2>&1 || { echo "unshare (util-linux) is missing"; return 3; }
  command -v ssh-keygen >/dev/null 2>&1 || { echo "ssh-keygen (openssh-client) is missing"; return 3; }
  binfmt_ready || { echo "binfmt_misc is not available: $BINFMT_WHY"; return 3; }
  return 0
}

BINFMT_WHY=""
binfmt_ready() {
  # Mount binfmt_misc if needed, register qemu-aarch64 (F: the interpreter is opened now, so the chroot needs
  # no copy of it), then prove it by running an aarch64 binary... which needs a rootfs; so just check the entry.
  if [ ! -e "$BINFMT/register" ]; then
    $SUDO mount -t binfmt_misc binfmt_misc "$BINFMT" 2>/dev/null \
      || { BINFMT_WHY="cannot mount binfmt_misc on $BINFMT (a container without it?)"; return 1; }
  fi
  if [ ! -e "$BINFMT/qemu-aarch64" ]; then
    local conf=/usr/lib/binfmt.d/qemu-aarch64.conf
    [ -r "$conf" ] || { BINFMT_WHY="$conf is missing (qemu-user-static too old?)"; return 1; }
    grep -v '^#' "$conf" | head -n1 | $SUDO tee "$BINFMT/register" >/dev/null 2>&1 \
      || { BINFMT_WHY="cannot register the qemu-aarch64 handler in $BINFMT/register"; return 1; }
  fi
  grep -q '^enabled' "$BINFMT/qemu-aarch64" 2>/dev/null || { BINFMT_WHY="the qemu-aarch64 handler is disabled"; return 1; }
  grep -q '^flags:.*F' "$BINFMT/qemu-aarch64" \
    || { BINFMT_WHY="the qemu-aarch64 handler lacks the F flag (re-register it from /usr/lib/binfmt.d/qemu-aarch64.conf)"; return 1; }
}

# ---- build ---------------------------------------------------------------------------------------------------
in_root() { $SUDO chroot "$ROOT" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
            LANG=C.UTF-8 ${https_proxy:+https_proxy=$https_proxy} ${HTTPS_PROXY:+HTTPS_PROXY=$HTTPS_PROXY} \
            ${http_proxy:+http_proxy=$http_proxy} ${no_proxy:+no_proxy=$no_proxy} "$@"; }

# /proc and /dev for the build steps (pip needs /dev/null, /dev/urandom, /proc/self): in a private mount
# namespace, so nothing stays mounted on the host whatever happens.
in_root_ns() {
  $SUDO unshare --mount --propagation private /bin/sh -euc '
    R=$1; shift
    mount -t proc proc "$R/proc"; mount --rbind /dev "$R/dev"; mount -t sysfs sysfs "$R/sys"
    mount --bind "$R/../cpuinfo" "$R/proc/cpuinfo"
    exec chroot "$R" "$@"' sh "$ROOT" /usr/bin/env -i HOME=/root \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
    ${https_proxy:+https_proxy=$https_proxy} ${HTTPS_PROXY:+HTTPS_PROXY=$HTTPS_PROXY} \
    ${http_proxy:+http_proxy=$http_proxy} ${no_proxy:+no_proxy=$no_proxy} "$@"
}

write_cpuinfo() {
  # An aarch64 /proc/cpuinfo (Cortex-A72, as a Raspberry Pi 4): what cpuinfo/onnxruntime parse on arm64.
  local n i; n=$(nproc)
  {
    for ((i = 0; i < n; i++)); do
      printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n' "$i"
      printf 'CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n'
    done
  } > "$DIR/cpuinfo.tmp"
  mv "$DIR/cpuinfo.tmp" "$DIR/cpuinfo"
}

build() {
  local why; why=$(check) || die "cannot build the board: $why" 3
  mkdir -p "$DIR"
  exec 8>"$DIR/.build.lock"; flock 8
  write_cpuinfo
  if [ ! -e "$ROOT/.ofa-debootstrap" ]; then
    local m; m=$(mirror)
    say "debootstrap --arch=arm64 $SUITE from $m into $DIR/rootfs.partial (about 10 minutes, once)"
    $SUDO rm -rf "$DIR/rootfs.partial"
    # minbase + what the board needs: python3 with venv, openssh-server, CA certificates
    $SUDO debootstrap --arch=arm64 --variant=minbase \
      --include=python3,python3-venv,python3-pip,openssh-server,ca-certificates,procps \
      "$SUITE" "$DIR/rootfs.partial" "$m" > "$DIR/debootstrap.log" 2>&1 \
      || { tail -n 20 "$DIR/debootstrap.log" >&2; die "debootstrap failed (log: $DIR/debootstrap.log)"; }
    $SUDO touch "$DIR/rootfs.partial/.ofa-debootstrap"
    $SUDO rm -rf "$ROOT"; $SUDO mv "$DIR/rootfs.partial" "$ROOT"
  fi
  if [ ! -e "$ROOT/.ofa-certs" ]; then
    # This machine's extra CA certificates (a TLS-inspecting proxy in front of PyPI, say) for pip in the board.
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
      $SUDO mkdir -p "$ROOT/usr/local/share/ca-certificates"
      $SUDO cp /usr/local/share/ca-certificates/*.crt "$ROOT/usr/local/share/ca-certificates/"
    fi
    in_root_ns update-ca-certificates >/dev/null
    $SUDO touch "$ROOT/.ofa-certs"
  fi
  local pipargs="--disable-pip-version-check --no-input --cert /etc/ssl/certs/ca-certificates.crt --timeout 120 --retries 5"
  if [ ! -e "$ROOT/opt/ofa/litert/.ok" ]; then
    say "installing numpy + ai-edge-litert + onnxruntime in the board (/opt/ofa/litert, a few minutes)"
    $SUDO rm -rf "$ROOT/opt/ofa/litert"
    in_root_ns python3 -m venv /opt/ofa/litert
    in_root_ns /opt/ofa/litert/bin/pip install $pipargs numpy ai-edge-litert onnxruntime > "$DIR/pip-litert.log" 2>&1 \
      || { tail -n 20 "$DIR/pip-litert.log" >&2; die "pip install in the board failed (log: $DIR/pip-litert.log)"; }
    in_root_ns /opt/ofa/litert/bin/python -c 'import numpy, ai_edge_litert.interpreter, onnxruntime' \
      || die "the board's /opt/ofa/litert does not import its runtimes"
    $SUDO touch "$ROOT/opt/ofa/litert/.ok"
  fi
  if [ ! -e "$ROOT/opt/ofa/tflrt/.ok" ]; then
    say "installing tflite-runtime 2.14 + numpy<2 in the board (/opt/ofa/tflrt)"
    $SUDO rm -rf "$ROOT/opt/ofa/tflrt"
    in_root_ns python3 -m venv /opt/ofa/tflrt
    in_root_ns /opt/ofa/tflrt/bin/pip install $pipargs "tflite-runtime==2.14.0" "numpy<2" > "$DIR/pip-tflrt.log" 2>&1 \
      || { tail -n 20 "$DIR/pip-tflrt.log" >&2; die "pip install in the board failed (log: $DIR/pip-tflrt.log)"; }
    in_root_ns /opt/ofa/tflrt/bin/python -c 'import numpy, tflite_runtime.interpreter' \
      || die "the board's /opt/ofa/tflrt does not import tflite_runtime"
    $SUDO touch "$ROOT/opt/ofa/tflrt/.ok"
  fi
  if [ ! -e "$ROOT/etc/ssh/ssh_host_ed25519_key" ]; then
    in_root ssh-keygen -A >/dev/null
  fi
  exec 8>&-
}

# ---- run -----------------------------------------------------------------------------------------------------
running_pid() {
  # The PID of the namespace's launcher (`unshare`), if it is still that process.
  local pid
  [ -r "$RUN/pid" ] || return 1
  pid=$(cat "$RUN/pid")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0\n' '  ' < "/proc/$pid/cmdline" | grep -q "unshare.*$ROOT" || return 1
  echo "$pid"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

write_descriptor() {  # name runtime python description
  local f="$DEVICES/$1.yaml"
  mkdir -p "$DEVICES"
  cat > "$f.tmp" <<EOF
# Written by scripts/arm-board.sh up: the EMULATED aarch64 board (qemu-user on this machine), for trying
# the SSH path without hardware. Timings on it are meaningless (emulated): it proves function, not speed.
# Rewritten on every \`arm-board.sh up\` (the port changes); removed by \`arm-board.sh down\`.
name: $1
description: "$4 (emulated aarch64 board, timings meaningless)"
connection: ssh
runtime: $2
threads: 1
precision: fp32
host: root@127.0.0.1:$PORT
python: $3
workdir: /tmp/ofa-deploy
extra:
  ssh_options:
    - IdentityFile=$RUN/id_ed25519
    - IdentitiesOnly=yes
    - UserKnownHostsFile=$RUN/known_hosts
EOF
  mv "$f.tmp" "$f"
}

up() {
  build
  exec 9>"$DIR/.run.lock"; flock 9  # one up/down at a time
  local pid
  if pid=$(running_pid); then
    PORT=$(cat "$RUN/port")
    if ssh_probe; then
      write_descriptors
      say "already running (pid $pid)"; echo "root@127.0.0.1:$PORT"; return 0
    fi
    say "the running board does not answer; restarting it"; down_quiet
  fi
  mkdir -p "$RUN"; chmod 700 "$RUN"
  [ -e "$RUN/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C arm-board -f "$RUN/id_ed25519"
  $SUDO mkdir -p "$ROOT/etc/ofa-board" "$ROOT/run/sshd"
  $SUDO cp "$RUN/id_ed25519.pub" "$ROOT/etc/ofa-board/authorized_keys"
  local attempt
  for attempt in 1 2 3; do  # a free port can be taken between choosing it and sshd binding it: try another
    launch && return 0
    [ $? = 1 ] && [ -z "${ARM_BOARD_PORT:-}" ] && [ $attempt -lt 3 ] || break
    say "the board's sshd exited ($(tail -n 1 "$RUN/sshd.log" 2>/dev/null)); trying another port"
  done
  tail -n 5 "$RUN/sshd.log" >&2
  die "the board's sshd did not start (log: $RUN/sshd.log)"
}

launch() {  # 0: up; 1: sshd exited; 2: it did not answer in time
  PORT=${ARM_BOARD_PORT:-$(free_port)}
  echo "$PORT" > "$RUN/port"
  echo "[127.0.0.1]:$PORT $(cut -d' ' -f1,2 "$ROOT/etc/ssh/ssh_host_ed25519_key.pub")" > "$RUN/known_hosts"
  # PID 1 of the new PID namespace mounts the chroot's /proc, /sys, /dev and the aarch64 cpuinfo (private
  # mounts), then becomes the board's sshd; --kill-child: if unshare dies, so does the namespace.
  # setsid: detached from the caller's terminal and process group.
  setsid $SUDO unshare --pid --fork --kill-child --mount --propagation private /bin/sh -euc '
    R=$1 C=$2 P=$3
    mount -t proc proc "$R/proc"; mount --bind "$C" "$R/proc/cpuinfo"
    mount -t sysfs sysfs "$R/sys"; mount --rbind /dev "$R/dev"; mount -t tmpfs tmpfs "$R/tmp"
    mkdir -p "$R/run/sshd"
    exec chroot "$R" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin LANG=C.UTF-8 \
      /usr/sbin/sshd -D -e -p "$P" -o ListenAddress=127.0.0.1 -o PasswordAuthentication=no \
      -o KbdInteractiveAuthentication=no -o UsePAM=no -o PermitRootLogin=prohibit-password \
      -o AuthorizedKeysFile=/etc/ofa-board/authorized_keys -o StrictModes=no -o UseDNS=no \
      -o PidFile=none -o MaxStartups=20 -o MaxSessions=20 -o AcceptEnv=none' \
    sh "$ROOT" "$DIR/cpuinfo" "$PORT" > "$RUN/sshd.log" 2>&1 < /dev/null 8>&- 9>&- &  # not holding our locks
  local launcher=$! i
  echo "$launcher" > "$RUN/pid"
  for ((i = 0; i < 120; i++)); do  # sshd under emulation takes a few seconds to start
    sleep 1
    running_pid >/dev/null || { kill_board "$launcher"; rm -f "$RUN/pid" "$RUN/port"; return 1; }
    if ssh_probe; then
      write_descriptors
      say "up: ssh root@127.0.0.1 -p $PORT -i $RUN/id_ed25519 (devices: arm-board, arm-board-tflrt, arm-board-ort in $DEVICES)"
      echo "root@127.0.0.1:$PORT"
      return 0
    fi
  done
  kill_board "$launcher"; rm -f "$RUN/pid" "$RUN/port"
  echo "no answer in 120 s" >> "$RUN/sshd.log"
  return 2
}

ssh_probe() {
  ssh -o BatchMode=yes -o ConnectTimeout=20 -o IdentitiesOnly=yes -i "$RUN/id_ed25519" \
    -o UserKnownHostsFile="$RUN/known_hosts" -o StrictHostKeyChecking=yes -o LogLevel=ERROR \
    -p "$PORT" root@127.0.0.1 'uname -m' 2>/dev/null | grep -q aarch64
}

write_descriptors() {
  write_descriptor arm-board tflite /opt/ofa/litert/bin/python "LiteRT (ai-edge-litert) fp32"
  write_descriptor arm-board-tflrt tflite /opt/ofa/tflrt/bin/python "LiteRT (tflite-runtime 2.14) fp32"
  write_descriptor arm-board-ort onnxruntime /opt/ofa/litert/bin/python "onnxruntime fp32"
}

children() { cat /proc/"$1"/task/*/children 2>/dev/null || true; }

kill_board() {  # launcher pid
  # The launcher blocks SIGTERM (unshare --fork does); the namespace's PID 1 (the board's sshd) is its child
  # (sudo's grandchild without root). SIGKILL to it ends the PID namespace: the kernel kills every process
  # of the board, the private mounts go with the namespace, and the launcher exits.
  local pid=$1 i ns p
  [ -r "/proc/$pid/cmdline" ] || return 0
  ns=$(children "$pid")
  if tr '\0\n' '  ' < "/proc/$pid/cmdline" | grep -q '^sudo'; then
    p=""; for i in $ns; do p="$p $(children "$i")"; done; ns=$p
  fi
  for p in $ns; do $SUDO kill -KILL "$p" 2>/dev/null || true; done
  for ((i = 0; i < 100; i++)); do
    [ -n "$(tr -d '\0' < "/proc/$pid/cmdline" 2>/dev/null)" ] || break; sleep 0.1  # gone, or a zombie
  done
  [ -z "$(tr -d '\0' < "/proc/$pid/cmdline" 2>/dev/null)" ] || $SUDO kill -KILL "$pid" 2>/dev/null || true
}

down_quiet() {
  local pid
  if pid=$(running_pid); then kill_board "$pid"; fi
  rm -f "$RUN/pid" "$RUN/port"
}

down() {
  if [ -d "$DIR" ]; then exec 9>"$DIR/.run.lock"; flock 9; fi
  down_quiet
  local n
  for n in arm-board arm-board-tflrt arm-board-ort; do
    [ -f "$DEVICES/$n.yaml" ] && grep -q 'Written by scripts/arm-board.sh' "$DEVICES/$n.yaml" && rm -f "$DEVICES/$n.yaml"
  done
  say "down"
}

status() {
  local pid
  if [ -e "$ROOT/opt/ofa/tflrt/.ok" ]; then say "built: $ROOT"; else say "not built ($ROOT)"; fi
  if pid=$(running_pid); then
    PORT=$(cat "$RUN/port")
    say "running (pid $pid), devices arm-board, arm-board-tflrt, arm-board-ort"
    echo "root@127.0.0.1:$PORT"
    return 0
  fi
  say "not running"; return 3
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  build) build; say "built: $ROOT ($(du -sh "$ROOT" 2>/dev/null | cut -f1))" ;;
  check) why=$(check) || die "$why" 3; echo "ok" ;;
  *) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
