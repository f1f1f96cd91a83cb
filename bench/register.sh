#!/usr/bin/env bash
# Taking a register on SQLite and PostgreSQL: a course lead saves a 30-person register with
# one PUT, REQUESTS times in a row, every PUT changing every mark (two whole registers in
# turn), and the p50/p95/p99 of those PUTs; then the history rows written (one per change).
#   bench/register.sh [requests]   (default 500)
source "$(dirname "$0")/lib.sh"
REQUESTS=${1:-500}
PEOPLE=${PEOPLE:-30}
PORT=18283
build_release
[ -n "$BIN_GIVEN" ] || (cd "$ROOT" && cargo build --profile "$BENCH_PROFILE" --quiet -p cpd-hub-tools --example register_load)
LOAD="$BUILT/examples/register_load"
BASE="http://127.0.0.1:$PORT"
SERVER_ENV=(OUTBOX_WORKER=off ${DATABASE_POOL_SIZE:+DATABASE_POOL_SIZE=$DATABASE_POOL_SIZE})

for backend in sqlite postgres; do
    url=$(fresh_db "$backend" register)
    "$LOAD" setup "$url" "$OUT/register" "$PEOPLE"
    start_server "$url" "$PORT" "${SERVER_ENV[@]}"
    printf '[%s] ' "$backend"
    "$LOAD" run "$BASE" "$OUT/register" "$REQUESTS"
    echo "[$backend] RSS after load: $(rss_mb "$SERVER_PID") MB"
    stop_server
done
