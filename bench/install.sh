#!/usr/bin/env bash
# Install time and size of a packed celeriac (docs/benchmarks.md, "Installing
# the package"): the tarball installed into a fresh `npm init -y` project with
# an empty npm cache (cold), then again with the cache that run filled (warm),
# better-sqlite3 compiled from source as .ci/run does. Needs the network.
#
#   npm pack && bench/install.sh celeriac-0.1.0.tgz default
#   bench/install.sh celeriac-0.1.0.tgz redis-only ioredis --omit=optional
set -u
tgz=$(realpath "$1"); label=$2; shift 2
work=$(mktemp -d "${TMPDIR:-/tmp}/celeriac-install-XXXXXX")
trap 'rm -rf "$work"' EXIT
for run in cold warm; do
  project="$work/$run"; mkdir -p "$project"; cd "$project"; npm init -y >/dev/null
  start=$(date +%s.%N)
  npm_config_build_from_source=true npm install --cache "$work/cache" --no-audit --no-fund "$tgz" "$@" >"$work/$run.log" 2>&1 || { cat "$work/$run.log"; exit 1; }
  end=$(date +%s.%N)
  printf '%s %s: %.0f s, %s MB, %s packages\n' "$label" "$run" "$(echo "$end - $start" | bc)" "$(du -sm node_modules | cut -f1)" "$(ls node_modules | wc -l)"
done
