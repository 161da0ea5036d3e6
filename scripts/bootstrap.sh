#!/usr/bin/env bash
# Installs what a fresh Debian/Ubuntu machine lacks for Portico: a virtualenv with the pinned
# requirements, the xmlsec1 binary pysaml2 signs and verifies with and, for the test suite,
# Debian's Chromium for the browser journeys and PgBouncer for the fault tests. Safe to run again: it only does what is missing.
#   scripts/bootstrap.sh            runtime only (requirements.txt)
#   scripts/bootstrap.sh --dev      development tools too (requirements-dev.txt: honcho, aiosmtpd, ...)
#   scripts/bootstrap.sh --tests    the same, Chromium for the browser tests, PgBouncer for tests/faults
set -euo pipefail
cd "$(dirname "$0")/.."

want_tests=0
want_dev=0
[ "${1:-}" = "--tests" ] && want_tests=1 && want_dev=1
[ "${1:-}" = "--dev" ] && want_dev=1

apt_packages=()
command -v xmlsec1 >/dev/null 2>&1 || apt_packages+=(xmlsec1)
if [ "$want_tests" = 1 ] && ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  apt_packages+=(chromium)
fi
if [ "$want_tests" = 1 ] && ! command -v pgbouncer >/dev/null 2>&1 && [ ! -x /usr/sbin/pgbouncer ]; then
  apt_packages+=(pgbouncer)
fi
if [ ${#apt_packages[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "==> installing ${apt_packages[*]} with apt-get"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null
  else
    echo "!! Portico needs: ${apt_packages[*]} (xmlsec1 from your package manager, e.g. 'brew install libxmlsec1')." >&2
    if ! command -v xmlsec1 >/dev/null 2>&1; then exit 1; fi
  fi
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -c 'import sys; assert sys.version_info >= (3, 11), "Portico needs Python 3.11+"'
  echo "==> creating .venv"
  "$python" -m venv .venv
fi
requirements=requirements.txt
[ "$want_dev" = 1 ] && requirements=requirements-dev.txt
# The stamp covers both files and which of them was installed, so editing either (or switching
# from runtime to dev) installs again.
stamp=.venv/.requirements.sha
want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)-$requirements
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "==> installing $requirements into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check -r "$requirements"
  echo "$want" > "$stamp"
fi
