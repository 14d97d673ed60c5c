#!/usr/bin/env bash
# Replica: clone the primary once (streaming, on its slot), then run as a hot standby.
set -euo pipefail
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until pg_isready -h pg-primary -p 5432; do sleep 1; done
  echo "pg-primary:5432:*:pgdr:${PGDR_PASSWORD}" > /tmp/pgpass && chmod 600 /tmp/pgpass
  PGPASSFILE=/tmp/pgpass pg_basebackup -h pg-primary -U pgdr -D "$PGDATA" -X stream -S demo_replica -R -c fast -d "application_name=replica"
  rm -f /tmp/pgpass
  chmod 700 "$PGDATA"
fi
exec postgres -D "$PGDATA"
