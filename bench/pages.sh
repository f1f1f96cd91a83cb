#!/usr/bin/env bash
# The pages people read most, under load, on SQLite: the CPD calendar (`GET /courses`, signed
# out, first page and a filtered page) and one course's page signed in as a member of staff
# (`GET /courses/{id}` with the `cpd_session` cookie), over the seed-demo alliance plus 10,000
# generated courses with 30,000 sessions. Each case: a warm-up, then wrk at CONNS connections
# for the given seconds, `Accept: text/html`; prints requests/s, p50/p90/p99 and non-2xx
# answers, then the server's peak RSS.
#   bench/pages.sh [seconds]      (default 20 s per case)
#   CONNS=16 WARMUP=5 bench/pages.sh 20
#   NO_BUILD=1 bench/pages.sh      (use the release binaries already in target/release)
# Targets (issue 16): calendar >= 2,000 pages/s with p99 < 30 ms; signed-in course page
# >= 1,500 pages/s.
source "$(dirname "$0")/lib.sh"
SECS=${1:-20}
CONNS=${CONNS:-32}
WARMUP=${WARMUP:-5}
PORT=18183
BASE="http://127.0.0.1:$PORT"
need wrk wrk
need jq jq
[ -n "${NO_BUILD:-}" ] || build_release

url=$(fresh_db sqlite pages)
demo=$(DATABASE_URL="$url" "$BIN" seed-demo)
start=$(date +%s.%N)
DATABASE_URL="$url" "$BENCH_BIN" bench-seed --courses 10000 --sessions-per-course 3 >/dev/null
echo "seeded seed-demo + 10,000 courses / 30,000 sessions in $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s"
token=$(admin_token "$url")
# The demo's first member of staff (no role beyond staff), as seed-demo names them.
email=$(sed -n 's/^ *member of staff .*<\([^>]*\)>$/\1/p' <<<"$demo" | head -n 1)
[ -n "$email" ] || { echo "seed-demo named no member of staff" >&2; exit 1; }

# Server jobs that would write during the runs are left at their defaults except the email
# worker (nothing is queued) and the report refresher (no bookings change).
start_server "$url" "$PORT" OUTBOX_WORKER=off REPORT_REFRESH_SECONDS=0
trap stop_server EXIT

# Sign in as a person does: a one-time link (as `cpd-hub admin sign-in-link` prints it, the
# same link the sign-in email carries), its confirm page, then the confirm form's POST, which
# answers with the session cookie.
link=$(DATABASE_URL="$url" "$BIN" admin sign-in-link --email "$email" | tail -n 1)
magic_token=${link##*token=}
curl -fs -o /dev/null "$BASE/auth/magic?token=$magic_token" \
    || { echo "the sign-in link's page did not open" >&2; exit 1; }
cookie=$(curl -s -o /dev/null -D - -X POST -H "Origin: $BASE" \
    --data-urlencode "token=$magic_token" "$BASE/auth/magic" \
    | sed -n 's/^[Ss]et-[Cc]ookie: cpd_session=\([^;]*\);.*/\1/p' | head -n 1)
[ -n "$cookie" ] || { echo "signing in gave no cpd_session cookie" >&2; exit 1; }

# A published course a week or more ahead with places left, open to every staff group and phase, so the
# member of staff's page offers "Book a place".
week=$(TZ=Europe/London date -d '+7 days' +%F)
course=$(curl -fs -H "Authorization: Bearer $token" \
    "$BASE/api/v1/courses?limit=200&has_places=true&from=$week" \
    | jq -r '[.items[] | select((.staff_groups | length) == 0 and (.phases | length) == 0
               and (.requires_approval | not))][0].id')
[ -n "$course" ] && [ "$course" != null ] || { echo "no open course found" >&2; exit 1; }
# A filter a reader would use: words and a strategy priority the generated courses carry.
priority=$(curl -fs -H "Authorization: Bearer $token" "$BASE/api/v1/priorities?limit=100" \
    | jq -r '.items[] | select(.key | test("read")) | .key' | head -n 1)
priority=${priority:-$(curl -fs -H "Authorization: Bearer $token" "$BASE/api/v1/priorities?limit=1" | jq -r '.items[0].key')}

calendar="$BASE/courses"
filtered="$BASE/courses?q=reading&priority=$priority"
one="$BASE/courses/$course"

# check URL WHAT [curl args...]: the page answers 200 as HTML; prints its size and what it shows.
check() {
    local u=$1 what=$2
    shift 2
    local body code
    body=$(curl -s -H 'Accept: text/html' "$@" -w '\n%{http_code}' "$u")
    code=${body##*$'\n'}
    body=${body%$'\n'*}
    [ "$code" = 200 ] || { echo "$u answered $code" >&2; exit 1; }
    printf '  %-28s %6d bytes; %s\n' "$what" "${#body}" "$(
        sed -n 's/.*id="course-count" role="status">\([^<]*\)<.*/\1/p' <<<"$body" | head -n 1
        ) $(grep -c '<li class="course-card">' <<<"$body" || true) listed, signed in: $(
        grep -q 'Sign out' <<<"$body" && echo yes || echo no)$(
        sed -n 's/.*id="cta-button">\([^<]*\)<.*/, offers: \1/p' <<<"$body" | head -n 1)"
}
echo "member of staff: $email; course: $course; filter: q=reading&priority=$priority"
check "$calendar" "calendar, first page"
check "$filtered" "calendar, filtered"
check "$one" "course, signed in" -H "Cookie: cpd_session=$cookie"

# run LABEL URL [header] -> one line: requests/s, p50, p90, p99, non-2xx, load average
run() {
    local label=$1 u=$2 extra=${3:-}
    local args=(-t2 -c"$CONNS" --latency -H 'Accept: text/html')
    [ -n "$extra" ] && args+=(-H "$extra")
    wrk "${args[@]}" -d"${WARMUP}s" "$u" >/dev/null
    local out
    out=$(wrk "${args[@]}" -d"${SECS}s" "$u")
    local loadavg
    loadavg=$(cut -d' ' -f1 /proc/loadavg)
    awk -v label="$label" -v la="$loadavg" '
        /Requests\/sec/ {rps = $2}
        $1 == "50%" {p50 = $2} $1 == "90%" {p90 = $2} $1 == "99%" {p99 = $2}
        /Non-2xx/ {non2xx = $5}
        /requests in/ {n = $1}
        END {printf "%-34s %9s req/s  p50 %-8s p90 %-8s p99 %-8s (%s requests, non-2xx %d, load %s)\n",
                    label, rps, p50, p90, p99, n, non2xx, la}' <<<"$out"
}

echo "idle RSS: $(rss_mb "$SERVER_PID") MB; $CONNS connections, ${WARMUP} s warm-up, ${SECS} s per case; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
run "GET /courses (signed out)" "$calendar"
run "GET /courses?q=reading&priority=$priority" "$filtered"
run "GET /courses/{id} (signed in)" "$one" "Cookie: cpd_session=$cookie"
echo "server RSS: $(rss_mb "$SERVER_PID") MB now, peak $(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$SERVER_PID/status") MB"
