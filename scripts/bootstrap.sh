#!/usr/bin/env bash
# Installs the tools pgdr's dev stack and tests need, idempotently. Built tools live in a
# user-level cache (PGDR_TOOLS_DIR, default ~/.cache/pgdr/tools) and are reused: a fresh
# machine pays the Go builds once, later runs pay nothing.
#
# Order for each tool: a binary already on PATH, else the cache, else build it with
# `go install` at a pinned version, else (users with internet) the official release.
set -euo pipefail

TOOLS_DIR="${PGDR_TOOLS_DIR:-$HOME/.cache/pgdr/tools}"
BIN="$TOOLS_DIR/bin"
TEMPORAL_MODULE="github.com/temporalio/cli/cmd/temporal"
TEMPORAL_VERSION="v1.5.1"   # later tags carry a replace directive and cannot be go-installed
MINIO_MODULE="github.com/minio/minio"
MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"   # pinned commit of minio master (2026-02-12)
mkdir -p "$BIN"

log() { printf 'bootstrap: %s\n' "$*" >&2; }
die() { printf 'bootstrap: error: %s\n' "$*" >&2; exit 1; }

# on_path NAME: true when NAME is on PATH outside our own cache.
on_path() {
  local found
  found=$(PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -vx "$BIN" | paste -sd: -) command -v "$1" 2>/dev/null) || return 1
  [ -n "$found" ]
}

# go_tool NAME MODULE VERSION DOWNLOAD_HINT
go_tool() {
  local name=$1 module=$2 version=$3 hint=$4 stamp="$BIN/.$1.version"
  if on_path "$name"; then log "$name: using $(command -v "$name") from PATH"; return; fi
  if [ -x "$BIN/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then log "$name: cached ($version)"; return; fi
  if command -v go >/dev/null 2>&1; then
    log "$name: building $module@$version with go install (once per machine; several minutes)"
    local start=$SECONDS
    GOBIN="$BIN" GOFLAGS="${GOFLAGS:-} -trimpath" go install "$module@$version" || die "go install $module@$version failed. $hint"
    echo "$version" >"$stamp"
    log "$name: built in $((SECONDS - start))s"
    return
  fi
  die "$name is not on PATH and Go is not installed. $hint"
}

go_tool temporal "$TEMPORAL_MODULE" "$TEMPORAL_VERSION" \
  "Get the Temporal CLI from https://github.com/temporalio/cli/releases (or: brew install temporal) and put it on PATH."
go_tool minio "$MINIO_MODULE" "$MINIO_VERSION" \
  "Get MinIO from https://dl.min.io/server/minio/release/ and put it on PATH."

# Debian packages: PostgreSQL 15 server and tools, pgBackRest, zstd, PgBouncer, Patroni, etcd.
need_pkgs=()
[ -x /usr/lib/postgresql/15/bin/postgres ] || need_pkgs+=(postgresql-15 postgresql-client-15)
[ -x /usr/lib/postgresql/15/bin/pg_amcheck ] || need_pkgs+=(postgresql-client-15)
command -v pgbackrest >/dev/null 2>&1 || need_pkgs+=(pgbackrest)
command -v zstd >/dev/null 2>&1 || need_pkgs+=(zstd)
command -v age >/dev/null 2>&1 || need_pkgs+=(age) # client-side encryption at rest (age-encryption.org)
command -v openssl >/dev/null 2>&1 || need_pkgs+=(openssl)
[ -x /usr/sbin/pgbouncer ] || command -v pgbouncer >/dev/null 2>&1 || need_pkgs+=(pgbouncer)
command -v etcd >/dev/null 2>&1 || need_pkgs+=(etcd-server etcd-client)
command -v patroni >/dev/null 2>&1 || need_pkgs+=(patroni)
command -v runuser >/dev/null 2>&1 || need_pkgs+=(util-linux)
# The Temporal TLS test terminates mTLS in front of the dev server (which has no TLS flags).
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || need_pkgs+=(haproxy)
command -v systemd-analyze >/dev/null 2>&1 || need_pkgs+=(systemd) # test/package: verify the unit templates
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing from apt: ${need_pkgs[*]}"
    apt-get update -qq
    # The packages' own clusters and services are not used; pgdr runs its own instances.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
  else
    die "missing: ${need_pkgs[*]}. Install them as root (Debian/Ubuntu: apt-get install ${need_pkgs[*]}; PostgreSQL 15 from apt.postgresql.org elsewhere)."
  fi
fi
if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
  log "creating OS user postgres (PostgreSQL refuses to run as root)"
  useradd --system --home-dir /var/lib/postgresql --create-home --shell /bin/bash postgres
fi
log "tools ready in $BIN"
