# Sourced by the other scripts: find Python 3.11+, make .venv, install the
# locked dependencies when pyproject.toml or the lock changed. Sets $PY.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${REGULARS_VENV:-$ROOT/.venv}"

find_python() {
  for cand in python3.13 python3.12 python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1 &&
      "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$cand"
      return 0
    fi
  done
  echo "Regulars needs Python 3.11 or newer (python3.11, python3.12 or python3.13)." >&2
  return 1
}

if [ ! -x "$VENV/bin/python" ]; then
  BASE_PY="$(find_python)"
  echo "==> Creating virtualenv $VENV with $BASE_PY"
  "$BASE_PY" -m venv "$VENV" || {
    echo "Could not create a virtualenv. On Debian/Ubuntu: apt-get install python3-venv" >&2
    exit 1
  }
fi
PY="$VENV/bin/python"

stamp="$(cat pyproject.toml requirements/lock.txt | sha256sum | cut -c1-16)"
if [ "$(cat "$VENV/.regulars-installed" 2>/dev/null)" != "$stamp" ]; then
  echo "==> Installing dependencies (pinned by requirements/lock.txt)"
  "$PY" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$PY" -m pip install --quiet --disable-pip-version-check \
    -c requirements/lock.txt -e ".[dev]"
  echo "$stamp" >"$VENV/.regulars-installed"
fi
