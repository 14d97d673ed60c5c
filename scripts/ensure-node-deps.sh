#!/usr/bin/env bash
# Installs node_modules from the lockfile when missing or stale. Sourced by test.sh and demo.sh.
if [ ! -x node_modules/.bin/vitest ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "pgdr: installing node dependencies (npm ci)" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
