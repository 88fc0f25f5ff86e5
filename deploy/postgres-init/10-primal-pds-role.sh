#!/usr/bin/env bash
# Runs once, when the postgres container starts on an empty data volume: creates the role
# primal-pds connects as. primal-pds creates the management database (dbName) itself.
set -euo pipefail
: "${PRIMAL_PDS_DB_PASSWORD:?PRIMAL_PDS_DB_PASSWORD is not set}"
# The password goes through a psql variable (:'pass' quotes it), never into the SQL text.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v pass="$PRIMAL_PDS_DB_PASSWORD" <<'SQL'
CREATE ROLE dba_primal_pds LOGIN CREATEDB PASSWORD :'pass';
SQL
