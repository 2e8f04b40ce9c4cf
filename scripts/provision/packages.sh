# Sourced by scripts/test.sh: installs the Debian packages the tests use,
# only those that are missing, so a provisioned machine pays nothing.
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v python3 >/dev/null 2>&1 || need+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
# scripts/crd_reference.py reads the CRD YAML in the lint step, before any venv.
python3 -c 'import yaml' >/dev/null 2>&1 || need+=(python3-yaml)
# Image and manifest checks: Lua for the Argo CD health checks, a daemonless
# image builder, `file` to see that the binaries are static, the CA bundle
# the image ships.
command -v lua5.4 >/dev/null 2>&1 || need+=(lua5.4)
command -v buildah >/dev/null 2>&1 || need+=(buildah)
command -v file >/dev/null 2>&1 || need+=(file)
command -v jq >/dev/null 2>&1 || need+=(jq)
[ -f /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)
# SAML: samael binds libxmlsec1 (OpenSSL backend) and libxml2 with bindgen,
# which needs libclang; openssl-sys needs OpenSSL's headers.
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
pkg-config --exists xmlsec1-openssl 2>/dev/null || need+=(libxmlsec1-dev)
pkg-config --exists libxml-2.0 2>/dev/null || need+=(libxml2-dev)
pkg-config --exists openssl 2>/dev/null || need+=(libssl-dev)
ls /usr/lib/llvm-*/lib/libclang.so* >/dev/null 2>&1 || need+=(libclang-dev)
command -v curl >/dev/null 2>&1 || need+=(curl)
# The real node (node.sh): container runtime, CNI plugins, kube-proxy's
# tools, the forwards into its namespace, gcc for the static pause binary.
command -v containerd >/dev/null 2>&1 || need+=(containerd)
command -v runc >/dev/null 2>&1 || need+=(runc)
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
command -v conntrack >/dev/null 2>&1 || need+=(conntrack)
command -v socat >/dev/null 2>&1 || need+=(socat)
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  need+=(postgresql)
fi
# The services' and the browser tests' packages too, so one apt-get run
# installs everything and the background preparation never waits on apt:
# OpenLDAP (no system directory: the package's own configuration step is
# skipped), Java 17 and unzip for Keycloak, Chromium and Node.js.
{ [ -x /usr/sbin/slapd ] && command -v ldapadd >/dev/null 2>&1; } || need+=(slapd ldap-utils)
java -XshowSettings:properties -version 2>&1 | grep -Eq 'java.specification.version = (1[7-9]|[2-9][0-9])' \
  || need+=(openjdk-17-jre-headless)
command -v unzip >/dev/null 2>&1 || need+=(unzip)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq "${need[@]}" >/dev/null; then
    apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null \
      || { echo "error: cannot install ${need[*]}" >&2; return 1; }
  fi
fi
