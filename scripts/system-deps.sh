#!/bin/sh
# Installs the system packages the portal needs where we are root and apt-get exists;
# otherwise names them in one message. Usage: system-deps.sh run|test|bench|chaos
set -u
want="$1"
missing=""
has_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }
need() { has_pkg "$1" || missing="$missing $1"; }

need libpango-1.0-0      # WeasyPrint
need libpangoft2-1.0-0   # WeasyPrint
need fonts-noto-cjk      # Chinese text in PDFs
case "$want" in
  test) need chromium; need poppler-utils     # browser tests; pdftotext in PDF tests
        # the page checks of the browser tests: the Nu HTML Checker runs on Java, Lighthouse on Node
        command -v java >/dev/null 2>&1 || need default-jre-headless
        command -v npm >/dev/null 2>&1 || { need nodejs; need npm; } ;;
  bench) need wrk ;;
  chaos) # a private PostgreSQL server of the scenarios' own (initdb, pg_ctl)
        ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || need postgresql ;;
esac
[ -z "$missing" ] && exit 0
# Right after a machine boots, another apt process (unattended upgrades, cloud-init) often holds the
# package lock for a while: wait for it, saying so, up to APT_LOCK_WAIT seconds (five minutes).
wait_limit=${APT_LOCK_WAIT:-300}
poll=${APT_LOCK_POLL:-5}
waited=0  # in all: update and install share the five minutes
apt_run() {  # apt-get with its arguments, retried while another process holds the lock
  while :; do
    out=$(apt-get -o DPkg::Lock::Timeout=0 "$@" 2>&1) && return 0
    case "$out" in
      *"Could not get lock"*|*"Unable to lock"*|*"Unable to acquire the dpkg frontend lock"*|*"is another process using it"*)
        if [ "$waited" -ge "$wait_limit" ]; then
          echo "Gave up after ${waited}s: another apt process still holds the package lock. Run 'make test' again when it has finished (see: ps aux | grep -E 'apt|dpkg')." >&2
          return 1
        fi
        [ -z "${told:-}" ] && told=1 && echo "Another apt process holds the package lock; waiting for it (up to ${wait_limit}s)..."
        sleep "$poll"; waited=$((waited + poll)) ;;
      *) printf '%s\n' "$out" >&2; return 1 ;;
    esac
  done
}
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing system packages:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt_run update -qq && apt_run install -y -qq --no-install-recommends $missing \
    || { echo "apt-get install failed for:$missing" >&2; exit 1; }
else
  echo "The portal needs these system packages; please install them (as root: apt-get install$missing):" >&2
  echo "  $missing" >&2
  exit 1
fi
