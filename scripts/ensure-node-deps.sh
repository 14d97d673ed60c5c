#!/usr/bin/env bash
# Puts pgdr's Node first on PATH (scripts/node-runtime.sh), then installs node_modules from the
# lockfile when missing or stale. Sourced by test.sh, demo.sh and node.sh.
# `npm install` rather than `npm ci`: ci refuses a lockfile whose optional, other-platform
# packages (e.g. @swc/core-darwin-arm64) a registry mirror does not carry; install skips them
# and leaves the lockfile as it is.
source scripts/node-runtime.sh
if [ ! -x node_modules/.bin/vitest ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "pgdr: installing node dependencies (Node $(node --version))" >&2
  npm install --no-audit --no-fund --loglevel=error
fi
pgdr_link_runtime
