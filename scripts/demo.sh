#!/usr/bin/env bash
# `npm run demo`: brings up the embedded stack (Temporal, MinIO over TLS, a Postgres 15 primary
# and streaming replica), starts pgdr's worker and API, and shows the cluster's status.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-node-deps.sh
bash scripts/bootstrap.sh
node_modules/.bin/tsx scripts/stack/main.ts up --apps
source .pgdr-stack/demo/env
ui=$(node_modules/.bin/tsx -e 'import("./config/load.ts").then(m => console.log(m.loadConfig().temporal.uiUrl))')
api=$(node_modules/.bin/tsx -e 'import("./config/load.ts").then(m => { const c = m.loadConfig(); console.log(`http://${c.api.host}:${c.api.port}`) })')
cat <<MSG

pgdr demo is up.
  Temporal UI : $ui
  pgdr API    : $api  (token in .pgdr-stack/demo/secrets/api-token)
  config      : $PGDR_CONFIG
  CLI         : ./bin/pgdr status demo
  stop        : npm run stack:down

MSG
./bin/pgdr status demo
