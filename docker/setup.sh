#!/usr/bin/env bash
# One-shot: register the workers with the coordinator, then install finshard (re-runnable).
set -euo pipefail
export PGHOST=coordinator PGDATABASE=finshard
psql -v ON_ERROR_STOP=1 -c "SELECT citus_set_coordinator_host('coordinator', 5432)"
for w in worker1 worker2; do
  psql -v ON_ERROR_STOP=1 -tA -c "SELECT 1 FROM pg_dist_node WHERE nodename = '$w'" | grep -q 1 \
    || psql -v ON_ERROR_STOP=1 -c "SELECT citus_add_node('$w', 5432)"
done
cd /finshard/finshard/sql
psql -v ON_ERROR_STOP=1 -f install.sql
echo "finshard installed on the Citus cluster"
