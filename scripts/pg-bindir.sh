#!/usr/bin/env bash
# Prints the directory with PostgreSQL's server programs (initdb, pg_ctl,
# postgres, psql), searched as the tests' harness (tests/e2e/common/postgres.rs)
# does: $ZKSERVER_PG_BINDIR, else `pg_config --bindir`, else the highest
# /usr/lib/postgresql/*/bin (Debian), else where `initdb` on PATH really lives.
# Exits 1, saying so on stderr, when there is none.
set -euo pipefail

complete() {
  local dir=$1 p
  for p in initdb pg_ctl postgres psql; do [ -f "$dir/$p" ] || return 1; done
}

if [ -n "${ZKSERVER_PG_BINDIR:-}" ]; then
  complete "$ZKSERVER_PG_BINDIR" && { echo "$ZKSERVER_PG_BINDIR"; exit 0; }
  echo "ZKSERVER_PG_BINDIR=$ZKSERVER_PG_BINDIR lacks initdb, pg_ctl, postgres or psql" >&2
  exit 1
fi
candidates=()
if command -v pg_config >/dev/null 2>&1; then
  candidates+=("$(pg_config --bindir 2>/dev/null || true)")
fi
while IFS= read -r dir; do
  candidates+=("$dir")
done < <(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r)
if command -v initdb >/dev/null 2>&1; then
  candidates+=("$(dirname "$(readlink -f "$(command -v initdb)")")")
fi
for dir in "${candidates[@]}"; do
  if [ -n "$dir" ] && complete "$dir"; then echo "$dir"; exit 0; fi
done
echo "PostgreSQL server programs (initdb, pg_ctl, postgres, psql) not found (apt-get install postgresql)" >&2
exit 1
