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
