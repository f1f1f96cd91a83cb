#!/usr/bin/env bash
# Read throughput of the reference-data API: GET /api/v1/schools at 50 concurrent connections on
# the seed-demo alliance, on SQLite and PostgreSQL, with idle and loaded RSS.
#   bench/http.sh [seconds]     (default 10 s per run)
source "$(dirname "$0")/lib.sh"
SECS=${1:-10}
need wrk wrk
build_release
echo "binary: $(du -h "$BIN" | cut -f1) ($(stat -c %s "$BIN") bytes)"
for backend in sqlite postgres; do
    url=$(fresh_db "$backend" http)
    DATABASE_URL="$url" "$BIN" seed-demo >/dev/null
    token=$(admin_token "$url")
    start_server "$url" 18181
    sleep 1
    echo "[$backend] idle RSS: $(rss_mb "$SERVER_PID") MB"
    wrk_run "[$backend] GET /api/v1/schools?limit=50" 50 "$SECS" "http://127.0.0.1:18181/api/v1/schools?limit=50" "$token"
    wrk_run "[$backend] GET /api/v1/schools?limit=100" 50 "$SECS" "http://127.0.0.1:18181/api/v1/schools?limit=100" "$token"
    echo "[$backend] RSS after load: $(rss_mb "$SERVER_PID") MB"
    stop_server
done
