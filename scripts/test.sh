#!/usr/bin/env bash
# `npm test`: installs what the tests need (node deps, Temporal CLI, MinIO, Postgres tools),
# typechecks, lints, then runs vitest against one real shared stack (test/globalSetup.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-node-deps.sh
bash scripts/bootstrap.sh
echo "pgdr: typecheck and lint" >&2
node_modules/.bin/tsc --noEmit
# The shell scripts and launchers parse (a merge once left conflict markers in one).
for f in scripts/*.sh bin/*; do bash -n "$f"; done
node_modules/.bin/eslint --max-warnings=0 .
# One format (Prettier, 140 columns: .prettierrc.json); `npx prettier --write .` applies it.
node_modules/.bin/prettier --check --log-level=warn .
# Layers point down and nothing imports in a circle (.dependency-cruiser.cjs).
node_modules/.bin/depcruise --config .dependency-cruiser.cjs domain config adapters activities workflows control api cli worker archive
report=$(mktemp)
status=0
node_modules/.bin/vitest run --reporter=default --reporter=json --outputFile="$report" "$@" || status=$?
# A plain closing line that any CI reader understands.
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  // The slowest files, for a CI log that keeps only its tail.
  const files = r.testResults.map((f) => ({ ms: f.endTime - f.startTime, name: f.name.replace(process.cwd() + "/", "") }));
  files.sort((a, b) => b.ms - a.ms);
  console.log("slowest files: " + files.slice(0, 12).map((f) => `${f.name} ${(f.ms / 1000).toFixed(0)} s`).join("; "));
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$report" || true
rm -f "$report"
exit $status
