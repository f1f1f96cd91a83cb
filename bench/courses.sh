#!/usr/bin/env bash
# The CPD calendar under load: 10,000 courses with 30,000 sessions, then GET /api/v1/courses
# unfiltered and filtered at 50 concurrent connections, on SQLite and PostgreSQL.
#   bench/courses.sh [seconds]     (default 10 s per run)
source "$(dirname "$0")/lib.sh"
SECS=${1:-10}
need wrk wrk
build_release
for backend in sqlite postgres; do
    url=$(fresh_db "$backend" courses)
    DATABASE_URL="$url" "$BIN" seed-demo >/dev/null
    start=$(date +%s.%N)
    DATABASE_URL="$url" "$BENCH_BIN" bench-seed --courses 10000 --sessions-per-course 3 >/dev/null
    echo "[$backend] seeded 10,000 courses / 30,000 sessions in $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s"
    token=$(admin_token "$url")
    start_server "$url" 18182
    base="http://127.0.0.1:18182/api/v1/courses"
    wrk_run "[$backend] courses (unfiltered)" 50 "$SECS" "$base?limit=20" "$token"
    wrk_run "[$backend] courses ?q=reading" 50 "$SECS" "$base?limit=20&q=reading" "$token"
    wrk_run "[$backend] courses ?phase=primary&has_places=true" 50 "$SECS" "$base?limit=20&phase=primary&has_places=true" "$token"
    wrk_run "[$backend] courses ?from=2027-02-01&to=2027-03-01" 50 "$SECS" "$base?limit=20&from=2027-02-01&to=2027-03-01" "$token"
    echo "[$backend] RSS after load: $(rss_mb "$SERVER_PID") MB"
    stop_server
done
