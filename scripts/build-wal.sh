#!/usr/bin/env bash
# Bundles `pgdr wal push|fetch` (archive/main.ts) into one file, dist/pgdr-wal.mjs, so that
# archive_command starts in a fraction of the time tsx needs. bin/pgdr runs it when present.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p dist
node_modules/.bin/esbuild archive/main.ts --bundle --platform=node --target=node20 --format=esm \
  --outfile=dist/pgdr-wal.mjs --minify --log-level=warning \
  --banner:js="import { createRequire as __pgdrCreateRequire } from 'node:module'; const require = __pgdrCreateRequire(import.meta.url);"
