#!/usr/bin/env bash
# Runs a command on pgdr's Node (scripts/node-runtime.sh), with node_modules installed: the npm
# scripts that run pgdr's own code go through here, whatever Node started npm.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-node-deps.sh
exec "$@"
