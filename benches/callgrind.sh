#!/usr/bin/env bash
# Instruction counts per SortedSet core operation, under valgrind's callgrind
# with its cache simulator: exact and repeatable on a noisy machine, where
# wall-clock times are not. Random seeded keys; the set is built outside the
# counted function. std's BTreeSet<i64> is the baseline where it has the op.
#
#   benches/callgrind.sh [N_ITEMS] [N_OPS]     (defaults: 1000000 10000)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
n="${1:-1000000}"
ops="${2:-10000}"
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
cargo build --quiet --release -p realtime_benches --bin sorted_set_instructions --manifest-path "$root/Cargo.toml"
bin="$root/target/release/sorted_set_instructions"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

# Prints "instructions LL-data-misses" per op for one run.
count() {
  valgrind --tool=callgrind --cache-sim=yes --collect-atstart=no "--toggle-collect=*measure_$1*" \
    --callgrind-out-file="$out/$1" "$bin" "$1" "$n" "$ops" >/dev/null 2>&1
  callgrind_annotate "$out/$1" | awk -v ops="$ops" '
    /^Events shown:/ { for (i = 3; i <= NF; i++) col[$i] = i - 2 }
    /PROGRAM TOTALS/ { gsub(",", ""); printf "%.0f %.2f\n", $col["Ir"] / ops, ($col["DLmr"] + $col["DLmw"]) / ops }'
}

printf '%-12s %14s %12s %16s %12s %10s\n' op "ours instr/op" "LL miss/op" "BTreeSet instr/op" "LL miss/op" "instr ratio"
for pair in add:btree_add remove:btree_remove find_index:btree_contains at: slice100:; do
  ours="${pair%%:*}"; base="${pair#*:}"
  read -r oi om < <(count "$ours")
  if [ -n "$base" ]; then
    read -r bi bm < <(count "$base")
    printf '%-12s %14s %12s %16s %12s %10.2f\n' "$ours" "$oi" "$om" "$bi" "$bm" "$(echo "$oi / $bi" | bc -l)"
  else
    printf '%-12s %14s %12s %16s %12s %10s\n' "$ours" "$oi" "$om" - - -
  fi
done
