# shellcheck shell=bash
# Sourced by the provision scripts: a throwaway CA and a server certificate
# for 127.0.0.1 / localhost, for the test servers' TLS.
#
#   tollgate_test_certs DIR NAME
#
# writes DIR/ca.pem (readable by all: the tests may run as another user),
# DIR/ca.key, DIR/server.pem and DIR/server.key (mode 600). NAME goes into
# the CA's common name. Returns non-zero, with openssl's output on stderr,
# when it cannot.
tollgate_test_certs() {
  local d="$1" name="$2"
  mkdir -p "$d" || return 1
  (
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -sha256 \
      -keyout "$d/ca.key" -out "$d/ca.pem" -subj "/CN=Tollgate test $name CA" \
      -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" &&
      openssl req -newkey rsa:2048 -nodes -sha256 \
        -keyout "$d/server.key" -out "$d/server.csr" -subj "/CN=localhost" &&
      printf '%s\n' \
        "basicConstraints=critical,CA:FALSE" \
        "keyUsage=critical,digitalSignature,keyEncipherment" \
        "extendedKeyUsage=serverAuth" \
        "subjectAltName=IP:127.0.0.1,DNS:localhost" >"$d/server.ext" &&
      openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
        -CAcreateserial -days 2 -sha256 -extfile "$d/server.ext" -out "$d/server.pem"
  ) >"$d/openssl.log" 2>&1 || {
    cat "$d/openssl.log" >&2
    return 1
  }
  chmod 644 "$d/ca.pem"
}
