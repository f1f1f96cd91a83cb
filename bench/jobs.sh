#!/usr/bin/env bash
# One run of each background job when nothing has changed, on a national alliance: seeds
# (once, kept in NATIONAL_DIR) with `cpd-hub-bench bench-seed --national --scale S`, then runs
# `jobs_once` (tools/examples/jobs_once.rs), which applies any pending migration, runs each job
# once to do what is due, then times RUNS more runs of each.
#   bench/jobs.sh [runs]            (default 5)
# Environment:
#   SCALE=0.1        national size multiplier (1 for the full size: minutes to seed, 14 GB)
#   BACKENDS="sqlite postgres"
#   NATIONAL_DIR=/work/bench-data
#   PROFILE=release  (or fast-release or debug, for a quick look without a release build)
#   NOW=2026-11-20T12:00:00   the moment the jobs run at (the seed's own "now")
#   BUILT=DIR        time a saved build instead of building (see lib.sh)
#   JOBS_DB_SUFFIX=  keeps two builds' databases apart
source "$(dirname "$0")/lib.sh"
RUNS=${1:-5}
SCALE=${SCALE:-0.1}
BACKENDS=${BACKENDS:-sqlite postgres}
NATIONAL_DIR=${NATIONAL_DIR:-/work/bench-data}
PROFILE=${PROFILE:-$BENCH_PROFILE}
NOW=${NOW:-2026-11-20T12:00:00}
# JOBS_DB_SUFFIX keeps apart the databases of two builds timed side by side (their migrations
# may differ).
suffix="_jobs_${SCALE//./_}${JOBS_DB_SUFFIX:-}"
mkdir -p "$NATIONAL_DIR"

if [ -n "$BIN_GIVEN" ]; then
    TARGET="$BUILT"
elif [ "$PROFILE" = debug ]; then
    (cd "$ROOT" && cargo build --quiet -p cpd-hub-tools --bin cpd-hub-bench --example jobs_once)
    TARGET="$ROOT/target/debug"
else
    (cd "$ROOT" && cargo build --profile "$PROFILE" --quiet -p cpd-hub-tools --bin cpd-hub-bench --example jobs_once)
    TARGET="$ROOT/target/$PROFILE"
fi

for backend in $BACKENDS; do
    case "$backend" in
        sqlite) url="sqlite://$NATIONAL_DIR/national$suffix.db"
                seeded() { [ -s "$NATIONAL_DIR/national$suffix.db" ]; } ;;
        postgres) url=$(pg_url "cpd_national$suffix")
                seeded() { [ "$(psql "$PG_ADMIN_URL" -Atc "SELECT 1 FROM pg_database WHERE datname = 'cpd_national$suffix'")" = 1 ]; } ;;
    esac
    if ! seeded; then
        echo "== seeding $backend at scale $SCALE"
        [ "$backend" = postgres ] && psql "$PG_ADMIN_URL" -qc "CREATE DATABASE cpd_national$suffix" >/dev/null
        "$TARGET/examples/jobs_once" "$url" "$NOW" 0 >/dev/null   # migrates the empty database
        DATABASE_URL="$url" "$TARGET/cpd-hub-bench" bench-seed --national --scale "$SCALE" | tail -3
    fi
    echo "== $backend (scale $SCALE, $PROFILE build)"
    "$TARGET/examples/jobs_once" "$url" "$NOW" "$RUNS"
done
