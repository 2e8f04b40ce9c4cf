# shellcheck shell=bash
# Starts a throwaway OpenLDAP slapd with a seeded tree for the directory
# tests. SOURCE it (do not run it):
#
#   export TOLLGATE_TEST_DIR=$(mktemp -d)
#   source scripts/provision/ldap.sh
#   trap tollgate_stop_ldap EXIT
#
# Installs Debian's slapd and ldap-utils when missing, with debconf told not
# to configure a system directory (nothing is started or changed for a system
# slapd). Runs its own slapd on 127.0.0.1 from "$TOLLGATE_TEST_DIR/ldap":
# plain LDAP (with StartTLS) on TOLLGATE_TEST_LDAP_PORT (default 55389) and
# LDAPS on TOLLGATE_TEST_LDAPS_PORT (default 55636), mdb backend, ppolicy
# overlay, a server certificate from a CA made here with openssl. Exports
# TOLLGATE_TEST_LDAP_URL, TOLLGATE_TEST_LDAPS_URL, TOLLGATE_TEST_LDAP_CA (PEM
# file), TOLLGATE_TEST_LDAP_BASE, TOLLGATE_TEST_LDAP_ADMIN_DN and
# TOLLGATE_TEST_LDAP_ADMIN_PASSWORD. Seeded users (password "<name>-password"):
#   alice    agents + supervisors groups, employeeNumber 1001
#   bob      agents, employeeNumber 1002
#   locked   locked by ppolicy (pwdAccountLockedTime)
#   expired  must change the password (pwdReset, ppolicy changeAfterReset)
#   carol    agents, for the browser's voluntary password change
#   renew    agents, must change the password (pwdReset), for the browser's
#            forced change (the e2e test resets carol and renew as the admin)
# and a search account cn=tollgate,ou=services (password in
# TOLLGATE_TEST_LDAP_SERVICE_PASSWORD). Safe under `set -euo pipefail`.

# shellcheck source=test-ca.sh
source "$(dirname "${BASH_SOURCE[0]}")/test-ca.sh"

_tg_ldap_log() { printf 'provision/ldap: %s\n' "$*" >&2; }
_tg_ldap_fail() { _tg_ldap_log "error: $*"; return 1; }

_tg_ldap_port_busy() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

_tg_ldap_install() {
  [ -x /usr/sbin/slapd ] && command -v ldapadd >/dev/null 2>&1 && return 0
  command -v apt-get >/dev/null 2>&1 \
    || { _tg_ldap_fail "slapd is missing and apt-get is not available: install slapd and ldap-utils"; return 1; }
  _tg_ldap_log "installing slapd and ldap-utils with apt-get"
  # No system directory: the package's own configuration step is skipped.
  echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq -o DPkg::Lock::Timeout=300 slapd ldap-utils >/dev/null \
    || { apt-get update -qq && apt-get install -y -qq -o DPkg::Lock::Timeout=300 slapd ldap-utils >/dev/null; } \
    || { _tg_ldap_fail "cannot install slapd and ldap-utils"; return 1; }
}


tollgate_stop_ldap() {
  local pidfile="${TOLLGATE_TEST_DIR:-/nonexistent}/ldap/slapd.pid" pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  # Only the slapd this script started, by its pid.
  if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$pidfile"
}

_tg_ldap_seed() {
  local base="$1" service_pw="$2"
  cat <<EOF
dn: $base
objectClass: dcObject
objectClass: organization
o: Tollgate test
dc: example

dn: ou=people,$base
objectClass: organizationalUnit
ou: people

dn: ou=groups,$base
objectClass: organizationalUnit
ou: groups

dn: ou=services,$base
objectClass: organizationalUnit
ou: services

dn: ou=policies,$base
objectClass: organizationalUnit
ou: policies

dn: cn=default,ou=policies,$base
objectClass: pwdPolicy
objectClass: device
cn: default
pwdAttribute: userPassword
pwdLockout: TRUE
pwdMaxFailure: 5
pwdLockoutDuration: 60
pwdMustChange: TRUE
pwdAllowUserChange: TRUE

dn: cn=tollgate,ou=services,$base
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: tollgate
userPassword: $service_pw

EOF
  local name dbid extra
  for entry in "alice 1001 Alice Liddell" "bob 1002 Bob Builder" "locked 1003 Lock Ed" "expired 1004 Ex Pired" \
    "carol 1005 Carol Changer" "renew 1006 Re New"; do
    # shellcheck disable=SC2086
    set -- $entry
    name=$1 dbid=$2
    extra=""
    [ "$name" = locked ] && extra="pwdAccountLockedTime: 000001010000Z"
    case "$name" in expired | renew) extra="pwdReset: TRUE" ;; esac
    cat <<EOF
dn: uid=$name,ou=people,$base
objectClass: inetOrgPerson
uid: $name
cn: $3 $4
givenName: $3
sn: $4
mail: $name@example.org
employeeNumber: $dbid
departmentNumber: 4$dbid
userPassword: $name-password
$extra

EOF
  done
  cat <<EOF
dn: cn=agents,ou=groups,$base
objectClass: groupOfNames
cn: agents
member: uid=alice,ou=people,$base
member: uid=bob,ou=people,$base
member: uid=locked,ou=people,$base
member: uid=expired,ou=people,$base
member: uid=carol,ou=people,$base
member: uid=renew,ou=people,$base

dn: cn=supervisors,ou=groups,$base
objectClass: groupOfNames
cn: supervisors
member: uid=alice,ou=people,$base
EOF
}

tollgate_start_ldap() {
  local port="${TOLLGATE_TEST_LDAP_PORT:-55389}"
  local tls_port="${TOLLGATE_TEST_LDAPS_PORT:-55636}"
  local dir="$TOLLGATE_TEST_DIR/ldap"
  local base="dc=example,dc=org"
  _tg_ldap_install || return 1
  tollgate_stop_ldap
  for p in "$port" "$tls_port"; do
    if _tg_ldap_port_busy "$p"; then
      _tg_ldap_fail "port $p on 127.0.0.1 is already in use; choose others with TOLLGATE_TEST_LDAP_PORT, TOLLGATE_TEST_LDAPS_PORT"
      return 1
    fi
  done
  rm -rf "$dir"
  mkdir -p "$dir/db"
  tollgate_test_certs "$dir" LDAP || { _tg_ldap_fail "openssl failed"; return 1; }
  local admin_pw service_pw
  admin_pw="$(openssl rand -hex 12)"
  service_pw="$(openssl rand -hex 12)"
  cat >"$dir/slapd.conf" <<EOF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
pidfile $dir/slapd.pid
argsfile $dir/slapd.args
TLSCACertificateFile $dir/ca.pem
TLSCertificateFile $dir/server.pem
TLSCertificateKeyFile $dir/server.key
database mdb
maxsize 67108864
suffix "$base"
rootdn "cn=admin,$base"
rootpw $admin_pw
directory $dir/db
overlay ppolicy
ppolicy_default "cn=default,ou=policies,$base"
ppolicy_use_lockout
access to attrs=userPassword
  by self =wx
  by anonymous auth
  by * none
access to *
  by self read
  by dn.exact="cn=tollgate,ou=services,$base" read
  by users read
  by * none
EOF
  /usr/sbin/slapd -f "$dir/slapd.conf" -h "ldap://127.0.0.1:$port/ ldaps://127.0.0.1:$tls_port/" \
    >"$dir/slapd.log" 2>&1 || { cat "$dir/slapd.log" >&2; _tg_ldap_fail "slapd did not start"; return 1; }
  local ok=""
  for _ in $(seq 100); do
    if ldapwhoami -x -H "ldap://127.0.0.1:$port" >/dev/null 2>&1; then ok=1; break; fi
    sleep 0.1
  done
  [ -n "$ok" ] || { _tg_ldap_fail "slapd does not answer on port $port"; return 1; }
  _tg_ldap_seed "$base" "$service_pw" >"$dir/seed.ldif"
  ldapadd -x -H "ldap://127.0.0.1:$port" -D "cn=admin,$base" -w "$admin_pw" -f "$dir/seed.ldif" \
    >"$dir/seed.log" 2>&1 || { cat "$dir/seed.log" >&2; _tg_ldap_fail "seeding the tree failed"; return 1; }
  export TOLLGATE_TEST_LDAP_URL="ldap://127.0.0.1:$port"
  export TOLLGATE_TEST_LDAPS_URL="ldaps://127.0.0.1:$tls_port"
  export TOLLGATE_TEST_LDAP_CA="$dir/ca.pem"
  export TOLLGATE_TEST_LDAP_BASE="$base"
  export TOLLGATE_TEST_LDAP_ADMIN_DN="cn=admin,$base"
  export TOLLGATE_TEST_LDAP_ADMIN_PASSWORD="$admin_pw"
  export TOLLGATE_TEST_LDAP_SERVICE_PASSWORD="$service_pw"
  _tg_ldap_log "slapd ready: $TOLLGATE_TEST_LDAP_URL (StartTLS), $TOLLGATE_TEST_LDAPS_URL (data in $dir)"
}

tollgate_start_ldap
