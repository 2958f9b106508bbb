#!/usr/bin/env bash
# docker-build.sh - builds the corral container image without a registry.
#
# Usage: scripts/docker-build.sh [TAG]        (default corral:latest)
#
# The image is FROM scratch (docker/Dockerfile): this script lays out its root file system
# in a temporary build context and runs `docker build` on it. Nothing is pulled.
#   /corral/bin/corral       the release binary (corral_bin: $CORRAL_BIN, or cargo's
#                            target dir, built when missing), stripped of its debug info
#   the shared libraries     ldd's list for that binary, and the loader, at their paths
#   /bin/busybox + /bin/*    Debian's busybox-static (installed when missing): the shell
#                            the scripts run in, su, nc, and the usual tools
#   /etc/passwd, /etc/group  root and the zookeeper user (uid and gid 1000, as in the
#                            official image), nobody
#   /corral/bin/zkServer.sh, /corral/bin/zkCli.sh, /docker-entrypoint.sh   from docker/
#   /data /datalog /logs /conf   empty, owned by zookeeper
#
# Environment: CORRAL_BIN, CARGO_TARGET_DIR (which binary), DOCKER (the docker command,
# default docker).
set -euo pipefail

cd "$(dirname "$0")/.."
. scripts/lib.sh
REPO=$(pwd)
TAG=${1:-corral:latest}
DOCKER=${DOCKER:-docker}

say() { echo "==> docker-build: $*" >&2; }

BIN=$(corral_bin "$REPO")
[ -x /bin/busybox ] || apt_ensure busybox-static
if ldd /bin/busybox >/dev/null 2>&1; then
  say "/bin/busybox is linked dynamically; the image needs a static one (busybox-static)"
  exit 1
fi

CTX=$(mktemp -d /tmp/corral-image.XXXXXX)
trap 'rm -rf "$CTX"' EXIT
ROOT=$CTX/rootfs
mkdir -p "$ROOT/bin" "$ROOT/etc" "$ROOT/corral/bin" "$ROOT/tmp" "$ROOT/root"
chmod 1777 "$ROOT/tmp"

# The binary, without the debug info the release profile keeps (49 MB -> 8 MB).
if command -v strip >/dev/null; then
  strip -o "$ROOT/corral/bin/corral" "$BIN"
else
  cp "$BIN" "$ROOT/corral/bin/corral"
fi

# Every library ldd resolves ("name => /path (addr)"), and the loader ("/path (addr)"),
# copied to the path the binary asks for, symlinks followed.
ldd "$BIN" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
  while read -r lib; do
    mkdir -p "$ROOT$(dirname "$lib")"
    cp -L "$lib" "$ROOT$lib"
  done

cp /bin/busybox "$ROOT/bin/busybox"
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -s busybox "$ROOT/bin/$applet"
done

cat >"$ROOT/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
zookeeper:x:1000:1000:zookeeper:/corral:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >"$ROOT/etc/group" <<'GROUP'
root:x:0:
zookeeper:x:1000:
nogroup:x:65534:
GROUP
# Member names (server.N=zoo2:...) resolve through Docker's DNS, after /etc/hosts.
echo 'hosts: files dns' >"$ROOT/etc/nsswitch.conf"

install -m 0755 docker/entrypoint.sh "$ROOT/docker-entrypoint.sh"
install -m 0755 docker/bin/zkServer.sh docker/bin/zkCli.sh "$ROOT/corral/bin/"
mkdir -p "$CTX/owned/data" "$CTX/owned/datalog" "$CTX/owned/logs" "$CTX/owned/conf"
cp docker/Dockerfile "$CTX/Dockerfile"

say "building $TAG from $BIN"
"$DOCKER" build --quiet -t "$TAG" "$CTX" >/dev/null
say "$TAG: $("$DOCKER" image inspect -f '{{.Size}}' "$TAG") bytes"
