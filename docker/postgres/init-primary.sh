#!/usr/bin/env bash
# Primary initialisation (runs once, on an empty volume): the pgdr role, a slot for the
# replica, replication access, and archive_mode on with WAL to S3 through pgdr's archive program
# (the same strings `pgdr archive enable` sets). Passwords come from the environment.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" -v pw="$PGDR_PASSWORD" <<'SQL'
create role pgdr login replication password :'pw';
grant pg_monitor, pg_checkpoint to pgdr;
grant execute on function pg_switch_wal(), pg_create_restore_point(text), pg_promote(boolean, integer),
  pg_wal_replay_pause(), pg_wal_replay_resume(), pg_backup_start(text, boolean), pg_backup_stop(boolean) to pgdr;
select pg_create_physical_replication_slot('demo_replica');
SQL
cat >>"$PGDATA/postgresql.conf" <<'CONF'
wal_level = replica
archive_mode = on
archive_command = '/opt/pgdr/bin/pgdr wal push --config /etc/pgdr/pgdr.yaml --cluster demo %p'
restore_command = '/opt/pgdr/bin/pgdr wal fetch --config /etc/pgdr/pgdr.yaml --cluster demo %f %p'
wal_log_hints = on
CONF
echo "host replication pgdr all scram-sha-256" >>"$PGDATA/pg_hba.conf"
echo "host all pgdr all scram-sha-256" >>"$PGDATA/pg_hba.conf"
