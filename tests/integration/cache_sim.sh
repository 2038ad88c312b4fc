#!/usr/bin/env bash
#   cache_sim: `zorch cache sim` replays traces through the cache's memory
#   level: exact counts on a small trace whose LRU result is worked out by
#   hand, the JSON fields, the policy beating LRU on a skewed trace made
#   here with a fixed seed, and usage errors exiting 2.
source "$(dirname "$0")/lib.sh"
zt_init cache_sim 17380

#   Entries of 64 + 1 + 3900 bytes: four fit in 16K, a fifth does not.
#   LRU: a b c d miss, a hits, e misses and pushes out b (the least recent),
#   a hits, b misses: 2 hits, 6 misses.
printf 'a 3900\nb 3900\nc 3900\nd 3900\na 3900\ne 3900\na 3900\nb 3900\n' >"$T/small.trace"
out=$("$ZORCH_BIN" cache sim --policy lru --budget 16K --trace "$T/small.trace")
zt_say "$out"
zt_eq "lru hits" "$(jq -r .hits <<<"$out")" 2
zt_eq "lru misses" "$(jq -r .misses <<<"$out")" 6
zt_eq "the fields" "$(jq -c 'keys' <<<"$out")" '["budget","hit_ratio","hits","misses","policy","requests"]'
zt_eq "from standard input, the same" \
    "$("$ZORCH_BIN" cache sim --policy lru --budget 16K <"$T/small.trace" | jq -r .hits)" 2

#   A skewed trace: key k chosen with weight 1/k (Zipf, s = 1) over 20,000
#   keys, 100,000 requests, awk's generator with a fixed seed.
awk 'BEGIN { srand(42); n = 20000; for (k = 1; k <= n; k++) { s += 1 / k; c[k] = s }
             for (r = 0; r < 100000; r++) { u = rand() * s; lo = 1; hi = n
                 while (lo < hi) { m = int((lo + hi) / 2); if (c[m] < u) lo = m + 1; else hi = m }
                 print "key" lo " 100" } }' >"$T/zipf.trace"
lru=$("$ZORCH_BIN" cache sim --policy lru --budget 350K --trace "$T/zipf.trace" | jq -r .hit_ratio)
lfu=$("$ZORCH_BIN" cache sim --policy tinylfu --budget 350K --trace "$T/zipf.trace" | jq -r .hit_ratio)
zt_say "zipf, about 10 % of the keys fit: lru $lru, tinylfu $lfu"
zt_assert "tinylfu beats lru by more than 0.02" awk -v a="$lfu" -v b="$lru" 'BEGIN { exit !(a > b + 0.02) }'

set +e
"$ZORCH_BIN" cache sim --policy mru --budget 16K </dev/null >/dev/null 2>&1; rc1=$?
"$ZORCH_BIN" cache sim </dev/null >/dev/null 2>&1; rc2=$?
"$ZORCH_BIN" cache sim --budget 16K --trace "$T/none" >/dev/null 2>&1; rc3=$?
set -e
zt_eq "an unknown policy" "$rc1" 2
zt_eq "no budget" "$rc2" 2
zt_eq "a trace that is not there" "$rc3" 1
zt_say "ok"
