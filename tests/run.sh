#!/usr/bin/env bash
# `npm test`: installs what is missing, type-checks, then runs the unit tests and (as root)
# the namespace tests, in one `node --test` run so there is one summary at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash lab/setup.sh
echo "== build dist/ (the cron path: scripts bundled, no tsx at run time)"
npm run --silent build
echo "== biome check (format and lint)"
node_modules/.bin/biome check --error-on-warnings .
echo "== tsc --noEmit"
node_modules/.bin/tsc --noEmit -p .
shopt -s nullglob
files=(tests/unit/*.test.ts)
if [ "$(id -u)" = 0 ]; then
  files+=(tests/ns/*.test.ts)
else
  echo "== not root: the namespace tests (tests/ns) are skipped; run as root to include them" >&2
fi
echo "== node --test (${#files[@]} files)"
exec node --import tsx --test --test-reporter=spec --test-concurrency=3 "${files[@]}"
