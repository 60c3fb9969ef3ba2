#!/usr/bin/env bash
# Print the path of a working Python 3.10 interpreter (Rasa 3.6 needs 3.8-3.10).
# Looks on PATH, then in pyenv, then asks uv. Exits 1 with what to install when none.
set -u
works() { [ -x "$1" ] && "$1" -c 'import sys, venv; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1; }

if [ -n "${PYTHON310:-}" ] && works "$PYTHON310"; then echo "$PYTHON310"; exit 0; fi
for name in python3.10 python3 python; do
  p=$(command -v "$name" 2>/dev/null) && works "$p" && { echo "$p"; exit 0; }
done
if command -v pyenv >/dev/null 2>&1; then
  for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.10(\.[0-9]+)?$' | sort -t. -k3 -n -r); do
    p="$(pyenv prefix "$v" 2>/dev/null)/bin/python"
    works "$p" && { echo "$p"; exit 0; }
  done
fi
if command -v uv >/dev/null 2>&1; then
  p=$(uv python find 3.10 2>/dev/null) && works "$p" && { echo "$p"; exit 0; }
fi
cat >&2 <<'MSG'
error: no Python 3.10 found (Rasa 3.6 runs on Python 3.8-3.10 only).
Install one of:
  - pyenv:   pyenv install 3.10.13
  - uv:      uv python install 3.10
  - Debian/Ubuntu: apt-get install python3.10 python3.10-venv
or point PYTHON310 at a 3.10 interpreter.
MSG
exit 1
