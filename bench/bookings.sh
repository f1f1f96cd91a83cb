#!/usr/bin/env bash
# Booking speed on SQLite and PostgreSQL: contention (300 people at once for 30 places on one
# course: wall time and p99), throughput at 16 and 64 concurrent requests spread over many
# courses (bookings/s, p50/p99, errors), throughput on a single course, and the server's RSS.
#   bench/bookings.sh [requests per throughput run]   (default 20000)
# Extra server settings can be passed in the environment, e.g. DATABASE_POOL_SIZE=16, or
# OUTBOX_WORKER=off to measure bookings without the email worker running. BACKENDS=postgres
# (or sqlite) runs one backend only.
source "$(dirname "$0")/lib.sh"
REQUESTS=${1:-20000}
BACKENDS=${BACKENDS:-sqlite postgres}
PORT=18282
build_release
[ -n "$BIN_GIVEN" ] || (cd "$ROOT" && cargo build --profile "$BENCH_PROFILE" --quiet -p cpd-hub-tools --example book_load)
LOAD="$BUILT/examples/book_load"
BASE="http://127.0.0.1:$PORT"
SERVER_ENV=(${DATABASE_POOL_SIZE:+DATABASE_POOL_SIZE=$DATABASE_POOL_SIZE} ${WORKERS:+WORKERS=$WORKERS} ${OUTBOX_WORKER:+OUTBOX_WORKER=$OUTBOX_WORKER})

for backend in $BACKENDS; do
    echo "== $backend"
    # Contention: 300 people, one course of 30 places, all at once.
    url=$(fresh_db "$backend" book_contention)
    "$LOAD" setup "$url" 300 1 30 "$OUT/contention"
    start_server "$url" "$PORT" "${SERVER_ENV[@]}"
    printf '[%s] contention 300 vs 30 places:   ' "$backend"
    "$LOAD" run "$BASE" "$OUT/contention" 300 300 one
    confirmed=$(curl -fs "$BASE/api/v1/courses/$(head -n1 "$OUT/contention/courses.txt")" | sed -E 's/.*"places_left":([0-9]+).*"waitlist_length":([0-9]+).*/places_left=\1 waitlist_length=\2/')
    echo "[$backend] after contention: $confirmed"
    stop_server

    # Throughput: 3000 people, 100 courses with room for everyone.
    url=$(fresh_db "$backend" book_throughput)
    "$LOAD" setup "$url" 3000 100 10000 "$OUT/throughput"
    start_server "$url" "$PORT" "${SERVER_ENV[@]}"
    echo "[$backend] idle RSS: $(rss_mb "$SERVER_PID") MB"
    first=0
    "$LOAD" run "$BASE" "$OUT/throughput" 16 2000 spread "$first" >/dev/null  # warm-up
    first=$((first + 2000))
    for c in 16 64; do
        printf '[%s] spread over courses, %2d at once: ' "$backend" "$c"
        server0=$(cpu_ms "$SERVER_PID"); pg0=$(cpu_ms $(pgrep -x postgres))
        times >"$OUT/times.before"
        "$LOAD" run "$BASE" "$OUT/throughput" "$c" "$REQUESTS" spread "$first"
        times >"$OUT/times.after"
        server1=$(cpu_ms "$SERVER_PID"); pg1=$(cpu_ms $(pgrep -x postgres))
        load=$(( $(children_ms "$OUT/times.after") - $(children_ms "$OUT/times.before") ))
        # CPU per booking: the service's own, (PostgreSQL only) all of PostgreSQL's processes
        # (its backends, WAL writer and checkpointer), and the load generator's, in
        # microseconds. Two cores give 2,000,000 us a second for all three together.
        printf '[%s]   CPU per booking: service %d us' "$backend" $(((server1 - server0) * 1000 / REQUESTS))
        [ "$backend" = postgres ] && printf ', PostgreSQL %d us' $(((pg1 - pg0) * 1000 / REQUESTS))
        printf ', load generator %d us' $((load * 1000 / REQUESTS))
        echo
        first=$((first + REQUESTS))
    done
    echo "[$backend] RSS after load: $(rss_mb "$SERVER_PID") MB"
    stop_server

    # One course taking every booking (each waits for the course lock in turn).
    url=$(fresh_db "$backend" book_one)
    "$LOAD" setup "$url" 5000 1 10000 "$OUT/one"
    start_server "$url" "$PORT" "${SERVER_ENV[@]}"
    printf '[%s] one course, 64 at once:          ' "$backend"
    "$LOAD" run "$BASE" "$OUT/one" 64 5000 one
    echo "[$backend] RSS after load: $(rss_mb "$SERVER_PID") MB"
    stop_server
done
