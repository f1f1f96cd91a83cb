# Shared helpers for the cpd-hub benchmarks: build, start the service on a fresh database of
# either backend, take a token, run wrk, read RSS. Sourced by the bench/*.sh scripts.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# BENCH_PROFILE=fast-release builds quicker (no LTO, incremental) for trying a change; the
# figures in docs/performance.md come from the release profile. BIN and BENCH_BIN point at
# other binaries (a saved "before" build, say) and then nothing is built.
BENCH_PROFILE=${BENCH_PROFILE:-release}
# BUILT=DIR names a directory holding a saved build (cpd-hub, cpd-hub-bench and examples/ as
# cargo lays them out), e.g. one build from before a change and one from after, timed in the
# same session; then nothing is built.
BIN_GIVEN=${BIN:+yes}${BUILT:+yes}
BUILT=${BUILT:-"$ROOT/target/$BENCH_PROFILE"}
BIN=${BIN:-"$BUILT/cpd-hub"}
# The benchmark data (bench-seed, bench-token) comes from the tools package, apart from the service.
BENCH_BIN=${BENCH_BIN:-"$BUILT/cpd-hub-bench"}
PG_ADMIN_URL=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}

# pg_url NAME -> the URL of database NAME on the server of PG_ADMIN_URL, keeping its query
# (e.g. BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable).
pg_url() {
    local base=${PG_ADMIN_URL%%\?*}
    echo "${base%/*}/$1${PG_ADMIN_URL#"$base"}"
}
OUT="$ROOT/bench/out"
mkdir -p "$OUT"

need() {
    command -v "$1" >/dev/null 2>&1 && return 0
    echo "installing $2" >&2
    (apt-get update -q && apt-get install -y -q "$2") >/dev/null
}

build_release() {
    [ -n "$BIN_GIVEN" ] && return 0
    (cd "$ROOT" && cargo build --profile "$BENCH_PROFILE" --quiet -p cpd-hub -p cpd-hub-tools \
        --bin cpd-hub --bin cpd-hub-bench)
}

# fresh_db BACKEND NAME -> prints a DATABASE_URL for an empty database
fresh_db() {
    case "$1" in
        sqlite)
            rm -f "$OUT/$2.db" "$OUT/$2.db-wal" "$OUT/$2.db-shm"
            echo "sqlite://$OUT/$2.db" ;;
        postgres)
            psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS bench_$2 WITH (FORCE)" >/dev/null
            psql "$PG_ADMIN_URL" -qc "CREATE DATABASE bench_$2" >/dev/null
            pg_url "bench_$2" ;;
    esac
}

# start_server URL PORT [extra env...] -> sets SERVER_PID
start_server() {
    local url=$1 port=$2
    shift 2
    env DATABASE_URL="$url" BIND="127.0.0.1:$port" RUST_LOG=warn "$@" "$BIN" serve \
        >"$OUT/server-$port.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 100); do
        curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "server did not start; see $OUT/server-$port.log" >&2
    return 1
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
}

# admin_token URL -> prints a new admin API token
admin_token() {
    DATABASE_URL="$1" "$BIN" admin create --email bench@alliance.test --name "Bench Admin" | tail -n 1
}

# cpu_ms PID... -> prints the CPU time (user + system) the live processes have used, in ms.
# Over a run, the difference is what the service (or PostgreSQL's processes) spent on it:
# a figure the other load on a shared machine changes far less than wall-clock throughput.
cpu_ms() {
    local ticks=0 p hz
    hz=$(getconf CLK_TCK)
    for p in "$@"; do
        [ -r "/proc/$p/stat" ] || continue
        ticks=$((ticks + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
    done
    echo $((ticks * 1000 / hz))
}

# children_ms FILE -> the CPU time (user + system) of this shell's finished children, in ms,
# from what `times > FILE` wrote (its second line). Written before and after a command run
# in the foreground, the difference is that command's own CPU time: the load generator's,
# which shares the machine's cores with the service and the database.
children_ms() {
    awk 'NR == 2 {
        n = split($0, t, " "); ms = 0
        for (i = 1; i <= n; i++) { split(t[i], p, "m"); sub("s", "", p[2]); ms += (p[1] * 60 + p[2]) * 1000 }
        printf "%d", ms }' "$1"
}

rss_mb() {
    awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"
}

# wrk_run LABEL CONNECTIONS SECONDS URL TOKEN -> prints "LABEL: N req/s, p50 X, p99 Y, errors E"
wrk_run() {
    local label=$1 conns=$2 secs=$3 url=$4 token=$5
    local out
    out=$(wrk -t2 -c"$conns" -d"${secs}s" --latency -H "Authorization: Bearer $token" "$url")
    local rps p50 p99 non2xx
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
    printf '%-44s %9s req/s   p50 %-8s p99 %-8s non-2xx %s\n' "$label" "$rps" "$p50" "$p99" "${non2xx:-0}"
}
