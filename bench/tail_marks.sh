#!/usr/bin/env bash
# What marking a school's kept tail adds to a write of a counted response, on PostgreSQL.
# pgbench changes one counted response per transaction (its time by a microsecond: a change
# that fires every trigger a changed response fires, the report cells' and the kept tails'),
# ROUNDS times with the kept-tail triggers on and off in turn, on the national database that
# bench/reports.sh seeds (SCALE=1). The triggers are turned back on at the end, and on exit.
#   bench/tail_marks.sh [seconds per run]        (default 15)
# Environment:
#   NATIONAL_PG_DB=cpd_national   the seeded database
#   CLIENTS=4 ROUNDS=3            pgbench clients; runs with the triggers on, and off
# The responses changed keep their changes: a microsecond later each time. The marks taken are
# left for the refresher (a running service) to work out.
source "$(dirname "$0")/lib.sh"
SECONDS_PER_RUN=${1:-15}
PG_DB=${NATIONAL_PG_DB:-cpd_national}
CLIENTS=${CLIENTS:-4}
ROUNDS=${ROUNDS:-3}
URL=$(pg_url "$PG_DB")
need pgbench postgresql-client

psql "$URL" -qc "DROP TABLE IF EXISTS bench_response_ids" \
    -c "CREATE TABLE bench_response_ids AS
          SELECT row_number() OVER (ORDER BY id) AS n, id FROM evaluation_responses
           WHERE counted AND course_year IS NOT NULL
           ORDER BY random() LIMIT 100000" \
    -c "CREATE UNIQUE INDEX ON bench_response_ids (n)" -c "ANALYZE bench_response_ids"
IDS=$(psql "$URL" -Atc "SELECT COUNT(*) FROM bench_response_ids")
SCRIPT="$OUT/tail_marks.pgbench"
cat >"$SCRIPT" <<SQL
\set n random(1, $IDS)
UPDATE evaluation_responses SET submitted_at = submitted_at + INTERVAL '1 microsecond'
 WHERE id = (SELECT id FROM bench_response_ids WHERE n = :n);
SQL

triggers() {
    psql "$URL" -qc "ALTER TABLE evaluation_responses $1 TRIGGER report_tails_evaluation_responses_update" \
        -c "ALTER TABLE evaluation_responses $1 TRIGGER report_tails_evaluation_responses_insert"
}
cleanup() {
    triggers ENABLE
    psql "$URL" -qc "DROP TABLE IF EXISTS bench_response_ids"
}
trap cleanup EXIT

echo "== $(nproc) cores; $PG_DB, $IDS counted responses to change; $CLIENTS clients, ${SECONDS_PER_RUN} s a run"
printf '%-6s %-14s %10s %12s\n' round "tail triggers" "tx/s" "latency ms"
for round in $(seq 1 "$ROUNDS"); do
    for state in on off; do
        if [ "$state" = on ]; then triggers ENABLE; else triggers DISABLE; fi
        out=$(pgbench -n -c "$CLIENTS" -j 2 -T "$SECONDS_PER_RUN" -f "$SCRIPT" "$URL" 2>&1)
        tps=$(awk '/^tps/ {print $3; exit}' <<<"$out")
        lat=$(awk '/latency average/ {print $4; exit}' <<<"$out")
        printf '%-6s %-14s %10.0f %12.3f\n' "$round" "$state" "$tps" "$lat"
    done
done
echo "marks left for the refresher: $(psql "$URL" -Atc "SELECT COUNT(*) FROM report_school_tail_marks")"
