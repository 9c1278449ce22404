#!/usr/bin/env bash
# Installs what finshard needs on Debian 12, only what is missing: PostgreSQL 15 (server, client,
# contrib), pg_cron, pgBackRest, pgbouncer, etcd, python3-venv; Patroni (for --ha) in its own
# virtualenv; then a virtualenv in .venv with finshard and its test tools.
# Citus is used when it is installed for PostgreSQL 15 (it is not in Debian's archive).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pkg in postgresql-15 postgresql-client-15 postgresql-contrib postgresql-15-cron postgresql-15-pgaudit pgbackrest pgbouncer etcd-server python3-venv; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "finshard setup: installing ${need[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian starts a default cluster on 5432 with the package; finshard runs its own on free ports.
# Debian's etcd package starts a member on 2379; finshard runs its own, so stop that one.
if [ -d /run/systemd/system ] && systemctl is-active --quiet etcd 2>/dev/null; then systemctl disable --now etcd >/dev/null 2>&1 || true; fi

# Patroni 4 from PyPI (Debian's 3.0.2 registers no Citus standbys in pg_dist_node; docs/ha.md), in a
# virtualenv of Debian's python3 so that the postgres OS user, which runs it, can read it.
PATRONI_VENV=${FINSHARD_PATRONI_VENV:-/opt/finshard/patroni}
if [ ! -x "$PATRONI_VENV/bin/patroni" ] || ! "$PATRONI_VENV/bin/patroni" --version 2>/dev/null | grep -q "^patroni 4.1.5$"; then
  echo "finshard setup: installing Patroni 4.1.5 into $PATRONI_VENV" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO /usr/bin/python3 -m venv "$PATRONI_VENV"
  log=$(mktemp)
  if ! $SUDO "$PATRONI_VENV/bin/pip" install -q --disable-pip-version-check 'patroni[etcd3,psycopg3]==4.1.5' >"$log" 2>&1; then
    cat "$log" >&2; echo "finshard setup: installing Patroni failed (above)" >&2; exit 1
  fi
  rm -f "$log"
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
log=$(mktemp)
if ! { .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip \
       && .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'; } >"$log" 2>&1; then
  cat "$log" >&2; echo "finshard setup: pip install failed (above)" >&2; exit 1
fi
rm -f "$log"
if .venv/bin/python -c "from finshard.local.postgres import citus_installed; raise SystemExit(0 if citus_installed() else 1)"; then
  echo "finshard setup: citus is installed: clusters and tests use it" >&2
else
  echo "finshard setup: citus is not installed for PostgreSQL 15: one plain node; Citus tests will skip" >&2
fi
