#!/usr/bin/env bash
# Reports at national scale: seeds (once) a national alliance with `cpd-hub-bench bench-seed
# --national` (24,000 schools, 500,000 staff, 20,000 courses, 5,000,000 bookings with
# registers and evaluations at SCALE=1), then times every engagement and impact grouping over
# one academic year as a cpd_group member: first (cold) run, then min/median/max of RUNS more,
# on SQLite and PostgreSQL, and the dashboard page (with curl, and loaded in Chromium where it is
# installed). Also the server's peak RSS (VmHWM) over the CSV runs.
#   bench/reports.sh [runs]                         (default 5)
# Environment:
#   SCALE=1                 national size multiplier (0.01 for a quick look)
#   BACKENDS="sqlite postgres"
#   NATIONAL_DIR=/work/bench-data   where the SQLite file is kept between runs
#   NATIONAL_PG_DB=cpd_national     the PostgreSQL database kept between runs (SCALE=1)
#   RESEED=1                 seed again even when the database is there
#   FROM=2025-09-01 TO=2026-08-31   the report window
#   ENGAGEMENT_GROUPS="school cluster staff_group priority course term cluster,staff_group"
#   IMPACT_GROUPS="school cluster staff_group priority course term"   the groupings timed
#   THIS_YEAR="from=2026-09-01&to=2027-08-31"   a second window, with courses still to come
#   SETTLE=15                seconds to wait after start-up before timing
#   PAGE_LOADS=3             loads of the dashboard in Chromium (bench/page_load.py), where
#                            chromedriver is installed
#   REFRESH_WAIT=900         then at most this long for the report refresher to sum what
#                            start-up marked
# A seeded database is reused: seeding the full size takes minutes and gigabytes.
source "$(dirname "$0")/lib.sh"
RUNS=${1:-5}
SCALE=${SCALE:-1}
BACKENDS=${BACKENDS:-sqlite postgres}
NATIONAL_DIR=${NATIONAL_DIR:-/work/bench-data}
FROM=${FROM:-2025-09-01}
TO=${TO:-2026-08-31}
PORT=18382
BASE="http://127.0.0.1:$PORT"
suffix=$([ "$SCALE" = 1 ] && echo "" || echo "_${SCALE//./_}")
PG_DB=${NATIONAL_PG_DB:-cpd_national$suffix}
# No background work while timing: no email worker, jobs once a day.
SERVER_ENV=(OUTBOX_WORKER=off EVALUATION_JOBS_SECONDS=86400 BOOKING_JOBS_SECONDS=86400)

mkdir -p "$NATIONAL_DIR"
echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo) RAM, $(uname -sr)"
echo "== disk: $(df -h "$NATIONAL_DIR" | awk 'NR == 2 {print $4 " free on " $6}')"
build_release

db_url() {
    case "$1" in
        sqlite) echo "sqlite://$NATIONAL_DIR/national$suffix.db" ;;
        postgres) pg_url "$PG_DB" ;;
    esac
}

is_seeded() {
    case "$1" in
        sqlite) [ -s "$NATIONAL_DIR/national$suffix.db" ] && [ -s "$NATIONAL_DIR/national$suffix.seed.txt" ] ;;
        postgres)
            [ "$(psql "$PG_ADMIN_URL" -Atc "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")" = 1 ] \
                && [ -s "$OUT/national-postgres$suffix.seed.txt" ] ;;
    esac
}

seed_log() {
    case "$1" in
        sqlite) echo "$NATIONAL_DIR/national$suffix.seed.txt" ;;
        postgres) echo "$OUT/national-postgres$suffix.seed.txt" ;;
    esac
}

db_size() {
    case "$1" in
        sqlite) du -h "$NATIONAL_DIR/national$suffix.db" | cut -f1 ;;
        postgres) psql "$PG_ADMIN_URL" -Atc "SELECT pg_size_pretty(pg_database_size('$PG_DB'))" ;;
    esac
}

seed() {
    local backend=$1 url
    case "$backend" in
        sqlite) rm -f "$NATIONAL_DIR/national$suffix.db"{,-wal,-shm} ;;
        postgres)
            psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null
            psql "$PG_ADMIN_URL" -qc "CREATE DATABASE $PG_DB" >/dev/null ;;
    esac
    url=$(db_url "$backend")
    DATABASE_URL="$url" "$BIN" migrate >/dev/null
    local start end
    start=$(date +%s.%N)
    DATABASE_URL="$url" "$BENCH_BIN" bench-seed --national --scale "$SCALE" | tee "$(seed_log "$backend").tmp"
    end=$(date +%s.%N)
    awk -v a="$start" -v b="$end" 'BEGIN {printf "wall time %.1f s\n", b - a}' >>"$(seed_log "$backend").tmp"
    mv "$(seed_log "$backend").tmp" "$(seed_log "$backend")"
}

# marks_left BACKEND URL -> how many courses and school-years are marked for the report
# refresher to sum again. A database of a build from before the marks were kept in place
# (no `marked` column, no school-year marks: a saved "before" build timed beside this one)
# has a row in report_dirty for each course marked. (`marked` is a generated column, which
# SQLite lists in `table_xinfo` only.)
marks_left() {
    local sql="SELECT (SELECT count(*) FROM report_dirty WHERE marked)
                      + (SELECT count(*) FROM report_school_tail_marks)"
    local old="SELECT count(*) FROM report_dirty"
    case "$1" in
        sqlite) python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
kept = db.execute("SELECT count(*) FROM pragma_table_xinfo(?) WHERE name = ?", ("report_dirty", "marked")).fetchone()[0]
print(db.execute(sys.argv[2] if kept else sys.argv[3]).fetchone()[0])' "${2#sqlite://}" "$sql" "$old" ;;
        postgres)
            if [ "$(psql "$2" -Atc "SELECT count(*) FROM information_schema.columns
                                    WHERE table_name = 'report_dirty' AND column_name = 'marked'")" = 1 ]; then
                psql "$2" -Atc "$sql"
            else
                psql "$2" -Atc "$old"
            fi ;;
    esac
}

# time_report LABEL PATH -> "LABEL  first  min  median  max  bytes"
time_report() {
    local label=$1 path=$2 times=() out code t size first
    out=$(curl -s -o /dev/null -w '%{http_code} %{time_total} %{size_download}' -H "Authorization: Bearer $TOKEN" "$BASE$path")
    read -r code first size <<<"$out"
    if [ "$code" != 200 ]; then
        printf '%-44s HTTP %s\n' "$label" "$code"
        curl -s -H "Authorization: Bearer $TOKEN" "$BASE$path" | head -c 300
        echo
        return
    fi
    for _ in $(seq 1 "$RUNS"); do
        t=$(curl -s -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $TOKEN" "$BASE$path")
        times+=("$t")
    done
    printf '%s\n' "${times[@]}" | sort -n | awk -v label="$label" -v first="$first" -v size="$size" '
        {v[NR] = $1}
        END {
            med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf "%-44s %7.3f %7.3f %7.3f %7.3f %10d\n", label, first, v[1], med, v[NR], size
        }'
}

vm() { awk -v k="$2:" '$1 == k {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }

W="from=$FROM&to=$TO"
THIS_YEAR=${THIS_YEAR:-from=2026-09-01&to=2027-08-31}
for backend in $BACKENDS; do
    echo "== $backend (scale $SCALE)"
    if [ "${RESEED:-0}" = 1 ] || ! is_seeded "$backend"; then
        seed "$backend"
    else
        echo "reusing the seeded database; seeded as follows:"
        cat "$(seed_log "$backend")"
    fi
    url=$(db_url "$backend")
    echo "database size: $(db_size "$backend")"
    TOKEN=$(DATABASE_URL="$url" "$BENCH_BIN" bench-token --role cpd_group | tail -n 1)
    start_server "$url" "$PORT" "${SERVER_ENV[@]}"
    # The evaluation job looks over every register once at start (about 5 s on PostgreSQL at
    # national scale); timing starts when it is done...
    sleep "${SETTLE:-15}"
    # ...and when the report refresher has summed what start-up changed. On a fresh seed the
    # evaluation job sends every invitation fallen due between the seed's day and today (about
    # 54,000 at scale 1), which marks their courses and schools: until the refresher has summed
    # them again, reports work those courses out live while the refresher takes the other
    # core. A service that has been running has done that long before.
    waited=0
    left=$(marks_left "$backend" "$url")
    echo "marked when timing would start: $left (courses and school-years)"
    while [ "$left" != 0 ] && [ "$waited" -lt "${REFRESH_WAIT:-900}" ]; do
        sleep 5
        waited=$((waited + 5))
        left=$(marks_left "$backend" "$url")
    done
    echo "waited $waited s more for the report refresher; marked now: $left"
    echo "idle RSS: $(vm "$SERVER_PID" VmRSS) MB"
    printf '%-44s %7s %7s %7s %7s %10s\n' "report ($FROM to $TO)" first min median max bytes
    time_report "engagement CSV by school" "/api/v1/reports/engagement?$W&group_by=school&format=csv"
    echo "peak RSS after the CSV runs (VmHWM): $(vm "$SERVER_PID" VmHWM) MB"
    for g in ${ENGAGEMENT_GROUPS:-school cluster staff_group priority course term cluster,staff_group}; do
        time_report "engagement by $g" "/api/v1/reports/engagement?$W&group_by=$g"
    done
    for g in ${IMPACT_GROUPS:-school cluster staff_group priority course term}; do
        time_report "impact by $g" "/api/v1/reports/impact?$W&group_by=$g"
    done
    # The dashboard page (`/reports`): four engagement and two impact reports and their
    # tables, as HTML; by school, then by cluster and staff group.
    time_report "dashboard page" "/reports?$W"
    time_report "dashboard page, cluster then staff group" "/reports?$W&group_by=cluster&then_by=staff_group"
    # A page deep into the long tables (REPORT_TABLE_ROWS a page): the same reports, other rows.
    time_report "dashboard page, page 120 of each table" "/reports?$W&engagement_page=120&impact_page=120&cold_page=120&costs_page=120"
    # The dashboard as a person's browser loads it, where Chromium and chromedriver are here.
    if command -v chromedriver >/dev/null 2>&1; then
        echo "dashboard page in Chromium (navigation timing from the request):"
        python3 "$(dirname "$0")/page_load.py" "$TOKEN" "$BASE/reports?$W" "${PAGE_LOADS:-3}"
    fi
    # This academic year: courses in progress and to come, read by month.
    time_report "engagement by school, $THIS_YEAR" "/api/v1/reports/engagement?$THIS_YEAR&group_by=school"
    time_report "engagement by term, $THIS_YEAR" "/api/v1/reports/engagement?$THIS_YEAR&group_by=term"
    echo "peak RSS over all runs (VmHWM): $(vm "$SERVER_PID" VmHWM) MB"
    stop_server
done
