#!/usr/bin/env bash
# Builds the container image of Containerfile:
#   1. `tollgate` (and `tollgate-operator`, when the workspace has it) as
#      release binaries, in a target directory of their own under
#      $TOLLGATE_CACHE/image-target so rebuilds are incremental;
#   2. the build context $TOLLGATE_CACHE/image-context: rootfs/ with the
#      binaries, exactly the shared libraries they load (the closure ldd
#      reports: glibc, libxmlsec1, libxml2, OpenSSL, ICU, ... from Debian),
#      Debian's CA bundle and passwd/group entries for 65532;
#   3. proves the binaries need nothing from the host: `tollgate dev` runs in
#      a chroot of that rootfs and answers /health/ready;
#   4. builds the image with buildah (vfs storage, chroot isolation) and runs
#      `tollgate --version` in it, or says in one line why this machine
#      cannot (the README documents `docker build` / `podman build`).
#
#   scripts/image.sh [--build-only | --context-only]
#     --build-only: step 1 (the test command runs it in the background, at
#     low priority, while the tests run); --context-only: steps 1-2, prints
#     the context
#
# Ports of the chroot run: TOLLGATE_TEST_IMAGE_PORT and the next, or two free
# ports the kernel picks (a fixed default in the ephemeral range can be taken
# by an outgoing connection of the tests that ran before).
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${TOLLGATE_CACHE:-$HOME/.cache/tollgate}"
target_dir="$cache/image-target"
context="$cache/image-context"
triple=x86_64-unknown-linux-gnu
tag="${TOLLGATE_IMAGE_TAG:-localhost/tollgate:dev}"
log() { printf 'image: %s\n' "$*" >&2; }

bins=(tollgate)
packages=(-p tollgate)
if cargo metadata --no-deps --format-version 1 --locked | grep -q '"name":"tollgate-operator"'; then
  bins+=(tollgate-operator)
  packages+=(-p tollgate-operator)
fi
# Dynamically linked: SAML's XML signatures come from libxmlsec1 (C, with
# libxml2, OpenSSL and ICU), and a static glibc build of that stack does not
# start. The image carries the same Debian shared libraries the tests ran on.
log "release build of ${bins[*]} (target dir $target_dir)"
CARGO_TARGET_DIR="$target_dir" cargo build --release --locked --target "$triple" "${packages[@]}" --bins >&2
[ "${1:-}" = --build-only ] && exit 0

rm -rf "$context"
mkdir -p "$context/rootfs/usr/local/bin" "$context/rootfs/etc/ssl/certs" "$context/rootfs/tmp"
cp Containerfile "$context/"
for bin in "${bins[@]}"; do
  file="$target_dir/$triple/release/$bin"
  install -m 0555 "$file" "$context/rootfs/usr/local/bin/$bin"
  # Every library the loader maps, and the loader itself, at the path the
  # binary names it by ("not found" means the build host lacks one: stop).
  if ldd "$file" | grep -q 'not found'; then
    log "$bin needs a shared library this host does not have:"
    ldd "$file" | grep 'not found' >&2
    exit 1
  fi
  ldd "$file" | awk '/=> \//{print $3} /^\t\//{print $1}' | while read -r lib; do
    mkdir -p "$context/rootfs$(dirname "$lib")"
    # The host's modes without write: the loader stays executable (the
    # kernel refuses an interpreter without x), the libraries readable.
    cp -L --preserve=mode "$lib" "$context/rootfs$lib"
    chmod a-w "$context/rootfs$lib"
  done
done
[ -f /etc/ssl/certs/ca-certificates.crt ] || { log "Debian's ca-certificates is missing"; exit 1; }
install -m 0444 /etc/ssl/certs/ca-certificates.crt "$context/rootfs/etc/ssl/certs/"
printf 'root:x:0:0:root:/:/nonexistent\nnonroot:x:65532:65532:nonroot:/:/nonexistent\n' > "$context/rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' > "$context/rootfs/etc/group"
chmod 1777 "$context/rootfs/tmp"
if [ "${1:-}" = --context-only ]; then
  printf '%s\n' "$context"
  exit 0
fi

# 3. The rootfs alone runs the service: a chroot holds nothing else.
if [ -n "${TOLLGATE_TEST_IMAGE_PORT:-}" ]; then
  port=$TOLLGATE_TEST_IMAGE_PORT mgmt=$((TOLLGATE_TEST_IMAGE_PORT + 1))
else
  read -r port mgmt < <(python3 -c '
import socket
a, b = socket.socket(), socket.socket()
a.bind(("127.0.0.1", 0)); b.bind(("127.0.0.1", 0))
print(a.getsockname()[1], b.getsockname()[1])')
fi
jail=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-image.XXXXXX")
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$jail"; }
trap cleanup EXIT
cp -a "$context/rootfs/." "$jail/"
# A container runtime gives every container /dev; OpenSSL and getrandom's
# fallback read /dev/random and /dev/urandom.
mkdir -p "$jail/dev"
mknod -m 444 "$jail/dev/urandom" c 1 9
mknod -m 444 "$jail/dev/random" c 1 8
"$jail/usr/local/bin/tollgate" --version >&2
chroot --userspec=65532:65532 "$jail" /usr/local/bin/tollgate dev --data-dir /tmp/data \
  --listen "127.0.0.1:$port" --management-listen "127.0.0.1:$mgmt" > "$jail/dev.log" 2>&1 &
pid=$!
ready=
for _ in $(seq 1 100); do
  if curl -sf "http://127.0.0.1:$mgmt/health/ready" >/dev/null 2>&1; then ready=1; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.2
done
if [ -z "$ready" ]; then
  log "tollgate dev in a chroot of the image's rootfs did not become ready:"
  tail -n 20 "$jail/dev.log" >&2
  exit 1
fi
curl -sf "http://127.0.0.1:$port/.well-known/openid-configuration" | grep -q '"issuer"' \
  || { log "the chrooted tollgate served no discovery document"; exit 1; }
log "tollgate dev runs from the rootfs alone (chroot, user 65532): /health/ready answered"
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=

# 4. The image itself, where a daemonless builder may run.
if ! command -v buildah >/dev/null 2>&1; then
  log "buildah is not installed: image not built here; build it with 'docker build -f Containerfile -t $tag $context'"
  exit 0
fi
store=(--root "$cache/containers/storage" --runroot "$jail/run" --storage-driver vfs)
if ! out=$(buildah "${store[@]}" bud --isolation chroot -f Containerfile -t "$tag" "$context" 2>&1); then
  log "buildah cannot build on this machine ($(printf '%s' "$out" | tail -n 1)); build with 'docker build -f Containerfile -t $tag $context'"
  exit 0
fi
ctr=$(buildah "${store[@]}" from "$tag")
version=$(buildah "${store[@]}" run --isolation chroot "$ctr" -- /usr/local/bin/tollgate --version 2>&1) || version=
buildah "${store[@]}" rm "$ctr" >/dev/null
[ -n "$version" ] || { log "the image $tag was built but its tollgate did not run"; exit 1; }
size=$(buildah "${store[@]}" images --format '{{.Size}}' "$tag" | head -n 1)
log "built $tag ($size); in it: $version"
