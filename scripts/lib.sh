# shellcheck shell=bash
# lib.sh - helpers shared by corral's scripts (sourced, never run).

# apt_ensure PKG... - installs, with apt, those of the Debian packages PKG that are not
# installed yet (through sudo when not root). Says what it installs on stderr.
apt_ensure() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
      || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "==> installing ${missing[*]} (apt)" >&2
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
}

# free_port - prints a TCP port on 127.0.0.1 that is free now (the kernel's pick).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# four_letter WORD PORT - prints the answer of the server on 127.0.0.1:PORT to the four-letter
# word WORD, or nothing when it does not answer within 3 s.
four_letter() {
  timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$2 && printf '%s' '$1' >&3 && cat <&3" 2>/dev/null || true
}

# bench_server_cfg DIR PORT - writes DIR/zoo.cfg (and DIR/data, DIR/log) for a standalone
# server as the benchmarks run one: loopback on PORT, dataLogDir apart, fsync on, no
# per-IP connection limit, every four-letter word.
bench_server_cfg() {
  mkdir -p "$1/data" "$1/log"
  cat >"$1/zoo.cfg" <<CFG
tickTime=2000
clientPort=$2
clientPortAddress=127.0.0.1
dataDir=$1/data
dataLogDir=$1/log
maxClientCnxns=0
forceSync=yes
4lw.commands.whitelist=*
CFG
}

# cargo_target_dir REPO - prints cargo's target directory for the workspace at REPO, as
# cargo itself settles it ($CARGO_TARGET_DIR, build.target-dir in a .cargo/config.toml, or
# REPO/target), absolute.
cargo_target_dir() {
  (cd "$1" && cargo metadata --format-version 1 --no-deps) \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])'
}

# corral_bin REPO - prints the absolute path of the corral binary to run: $CORRAL_BIN when
# set, else release/corral in cargo's target directory for REPO (cargo_target_dir), built
# first when missing. Fails when it is not an executable.
corral_bin() {
  local bin=${CORRAL_BIN:-}
  if [ -z "$bin" ]; then
    bin=$(cargo_target_dir "$1")/release/corral || return 2
    if [ ! -x "$bin" ]; then
      echo "==> building corral (release)" >&2
      (cd "$1" && cargo build --release --bin corral >&2)
    fi
  fi
  bin=$(realpath -ms "$bin")
  [ -x "$bin" ] || { echo "==> $bin is not an executable" >&2; return 2; }
  echo "$bin"
}
