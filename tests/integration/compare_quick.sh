#!/usr/bin/env bash
#   compare_quick: tools/bench/compare.sh runs from the tree alone (its
#   baseline is built here, nothing outside the repository is needed):
#   one short repetition of every workload, QUICK=1 (a tenth of the
#   events), prints a table with a zorch/baseline ratio for each, and
#   zorch lost nothing. Figures of such a run mean nothing (a test suite
#   runs beside it); BENCHMARKS.md's are taken alone.
source "$(dirname "$0")/lib.sh"
zt_init compare_quick 17370
QUICK=1 REPS=1 SCRATCH="$T/scratch" ZORCH="$ZORCH_BIN" \
    timeout 240 bash "$ZT_SRC_DIR/tools/bench/compare.sh" >"$T/table.txt" 2>"$T/err.txt" ||
    zt_fail "compare.sh failed: $(tail -n 5 "$T/err.txt")"
cat "$T/table.txt"
for wl in W1 W2 W3 W4; do
    ratio=$(awk -F'|' -v w="$wl" '$2 ~ " "w" " && $3 ~ "events/s" { gsub(/ /, "", $6); print $6 }' "$T/table.txt")
    zt_assert "$wl has a ratio ($ratio)" bash -c "[[ '$ratio' =~ ^[0-9]+\.[0-9]+$ ]]"
    lost=$(awk -F'|' -v w="$wl" '$2 ~ " "w" " && $3 ~ "lost" { gsub(/ /, "", $5); print $5 }' "$T/table.txt")
    zt_eq "$wl: zorch lost" "$lost" 0
done
zt_say "ok"
