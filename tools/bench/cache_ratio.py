#!/usr/bin/python3
"""Hit ratios of the cache's memory level against LRU and against the optimum.

Generates traces with a fixed seed (Zipf 0.8, Zipf 0.99, and Zipf 0.99
with periodic scans of keys asked for once), replays each through
`zorch cache sim` with the cache's policy and with plain LRU at budgets of
1 % and 10 % of the key space, and computes Belady's optimum offline (on a
miss with the cache full, evict the entry whose next use is farthest) at
the same budget. Every entry has the same size (fixed-width keys, 100-byte
values), so a budget is a number of entries and the optimum is exact.

    tools/bench/cache_ratio.py                 # the table, markdown
    ZORCH=build/tools/zorch KEYS=100000 REQUESTS=1000000 tools/bench/cache_ratio.py
"""
import bisect
import heapq
import json
import os
import random
import subprocess
import sys
import tempfile

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ZORCH = os.environ.get("ZORCH", os.path.join(TOP, "build", "tools", "zorch"))
KEYS = int(os.environ.get("KEYS", "100000"))
REQUESTS = int(os.environ.get("REQUESTS", "1000000"))
SEED = int(os.environ.get("SEED", "7"))
VALUE = 100
OVERHEAD = 64          # ZO_L1_OVERHEAD, actors/cache/l1.h
KEY_LEN = 8            # "k%07d"


def zipf_trace(s, scans=False):
    rng = random.Random(SEED)
    weights = [1.0 / (k + 1) ** s for k in range(KEYS)]
    cdf, acc = [], 0.0
    for w in weights:
        acc += w
        cdf.append(acc)
    out, one_off = [], 0
    for r in range(REQUESTS):
        if scans and r % 10000 < 2000:
            out.append("s%07d" % (one_off % 10000000))
            one_off += 1
        else:
            out.append("k%07d" % bisect.bisect_left(cdf, rng.random() * acc))
    return out


def belady(trace, capacity):
    nxt, last = [0] * len(trace), {}
    for i in range(len(trace) - 1, -1, -1):
        nxt[i] = last.get(trace[i], len(trace) + i)
        last[trace[i]] = i
    cached, heap, hits = {}, [], 0
    for i, key in enumerate(trace):
        if key in cached:
            hits += 1
        elif len(cached) >= capacity:
            while True:                    # the farthest next use, skipping stale heap entries
                far, victim = heapq.heappop(heap)
                if cached.get(victim) == -far:
                    del cached[victim]
                    break
        cached[key] = nxt[i]
        heapq.heappush(heap, (-nxt[i], key))
    return hits / len(trace)


def sim(path, policy, budget):
    out = subprocess.run([ZORCH, "cache", "sim", "--policy", policy, "--budget", str(budget),
                          "--trace", path], check=True, capture_output=True, text=True).stdout
    return json.loads(out)["hit_ratio"]


def main():
    entry = OVERHEAD + KEY_LEN + VALUE
    print(f"{KEYS:,} keys, {REQUESTS:,} requests, seed {SEED}; hit ratios")
    print("| trace | budget | LRU | W-TinyLFU | optimum (Belady) |")
    print("|---|---|---|---|---|")
    for name, s, scans in (("Zipf 0.8", 0.8, False), ("Zipf 0.99", 0.99, False),
                           ("Zipf 0.99 + scans", 0.99, True)):
        trace = zipf_trace(s, scans)
        with tempfile.NamedTemporaryFile("w", suffix=".trace", delete=False) as f:
            for key in trace:
                f.write(f"{key} {VALUE}\n")
            path = f.name
        try:
            for share in (0.01, 0.10):
                capacity = int(KEYS * share)
                budget = capacity * entry
                lru, lfu = sim(path, "lru", budget), sim(path, "tinylfu", budget)
                print(f"| {name} | {share:.0%} ({capacity:,} entries) | {lru:.4f} | {lfu:.4f} "
                      f"| {belady(trace, capacity):.4f} |")
                sys.stdout.flush()
        finally:
            os.unlink(path)


if __name__ == "__main__":
    main()
