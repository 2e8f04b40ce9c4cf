# shellcheck shell=bash
# Makes the C libraries behind SAML (libxmlsec1, libxml2, OpenSSL, ICU, zlib,
# liblzma) link statically into the +crt-static release binary. SOURCE it
# (scripts/image.sh does) after scripts/provision/packages.sh:
#
#   source scripts/provision/static-xmlsec.sh
#
# Debian ships the `.a` archive of every one of them except libxslt
# (libxmlsec1 needs it for its XSLT transform, which Tollgate refuses but
# cannot unlink): this builds libxslt's static archive from Debian's own
# source tarball (checked against the sha256 of Debian's .dsc), once, into
# $TOLLGATE_CACHE/libxslt-static-<version>. It then exports what the build
# scripts of samael, libxml and openssl-sys read: PKG_CONFIG_ALL_STATIC=1
# (pkg-config lists every transitive library) and OPENSSL_STATIC=1, and
# LIBRARY_PATH, where the linker finds libxslt.a. Debian's libxslt.pc stays
# the one pkg-config reads, so `-lxslt` keeps its place after libxmlsec1 on
# the link line (a pkg-config file outside /usr would make it a `static=`
# library bundled ahead of its users). ICU is C++: the caller adds
# `-C link-arg=-lstdc++` to RUSTFLAGS.
tollgate_xslt_version=1.1.35
tollgate_xslt_sha256=8247f33e9a872c6ac859aa45018bc4c4d00b97e2feac9eebc10c93ce1f34dd79
tollgate_xslt_prefix="${TOLLGATE_CACHE:-$HOME/.cache/tollgate}/libxslt-static-$tollgate_xslt_version"

tollgate_build_static_xslt() {
  local work tarball
  work=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-xslt.XXXXXX")
  tarball="$work/libxslt.tar.xz"
  echo "building libxslt $tollgate_xslt_version as a static archive (once, into $tollgate_xslt_prefix)"
  curl -fsSL -o "$tarball" \
    "https://deb.debian.org/debian/pool/main/libx/libxslt/libxslt_${tollgate_xslt_version}.orig.tar.xz" \
    || { echo "error: cannot download libxslt's source from deb.debian.org" >&2; rm -rf "$work"; return 1; }
  echo "$tollgate_xslt_sha256  $tarball" | sha256sum -c --quiet - \
    || { echo "error: libxslt's source does not have the expected sha256" >&2; rm -rf "$work"; return 1; }
  tar -xJf "$tarball" -C "$work"
  (
    cd "$work/libxslt-$tollgate_xslt_version" &&
      ./configure --quiet --disable-shared --enable-static --with-pic --without-python \
        --without-crypto --without-debugger --without-plugins --prefix="$tollgate_xslt_prefix" &&
      make -s -j"$(nproc)" -C libxslt &&
      make -s -C libxslt install
  ) >"$work/build.log" 2>&1 || {
    echo "error: building libxslt failed; the log:" >&2
    tail -30 "$work/build.log" >&2
    rm -rf "$work" "$tollgate_xslt_prefix"
    return 1
  }
  rm -rf "$work"
}

if [ ! -f "$tollgate_xslt_prefix/lib/libxslt.a" ]; then
  tollgate_build_static_xslt || return 1
fi
export LIBRARY_PATH="$tollgate_xslt_prefix/lib${LIBRARY_PATH:+:$LIBRARY_PATH}"
export PKG_CONFIG_ALL_STATIC=1
export OPENSSL_STATIC=1
