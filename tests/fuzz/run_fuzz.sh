#!/usr/bin/env bash
#   tests/fuzz/run_fuzz.sh TARGET SECONDS OUT_DIR
#
#   Builds the libFuzzer target tests/fuzz/fuzz_TARGET.c (proto, json or
#   journal)
#   with clang -fsanitize=fuzzer,address,undefined straight from the
#   sources it exercises, seeds a corpus with one valid message per
#   command (gen_seeds, encoded by the codec), and fuzzes for SECONDS.
#   Exits non-zero on any crash, leak, sanitizer report or build failure;
#   the failing input is left in OUT_DIR (crash-*, leak-*, timeout-*),
#   replayable with: OUT_DIR/fuzz_TARGET OUT_DIR/crash-...
#
#   The corpus in OUT_DIR/corpus-TARGET is kept between runs, so repeated
#   runs of the suite keep what earlier ones found. Inputs in
#   tests/fuzz/regress-TARGET/ (past findings) are replayed before fuzzing.
set -euo pipefail

target="${1:?usage: run_fuzz.sh proto|json|journal SECONDS OUT_DIR}"
secs="${2:-20}"
out="${3:-$(mktemp -d)}"
src="${ZT_SRC_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
CLANG="${CLANG:-clang}"

command -v "$CLANG" >/dev/null || { echo "run_fuzz: clang not found (deploy/setup.sh installs it)"; exit 1; }
mkdir -p "$out"

#   libczmq: the journal reader finds an event's id with broker/dlq.c,
#   which logs through zsys (and packs strings with the codec's helper).
deps="msgpack jansson libczmq libzmq"
cflags=(-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer
        -I"$src/proto" -I"$src/actors/runtime" -I"$src/broker" $(pkg-config --cflags $deps))
libs=($(pkg-config --libs $deps))
san=(-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)

case "$target" in
    proto) sources=("$src/proto/zo_mp.c" "$src/proto/zo_proto.c") ;;
    json)  sources=("$src/proto/zo_mp.c" "$src/actors/runtime/zo_json.c") ;;
    journal) sources=("$src/proto/zo_mp.c" "$src/proto/zo_proto.c" "$src/broker/jrec.c"
                      "$src/broker/dlq.c" "$src/actors/runtime/zo_file.c") ;;
    *) echo "run_fuzz: unknown target $target"; exit 2 ;;
esac
for f in "${sources[@]}"; do
    [ -f "$f" ] || { echo "run_fuzz: $f does not exist yet"; exit 1; }
done

echo "run_fuzz: building fuzz_$target"
"$CLANG" "${cflags[@]}" "${san[@]}" "$src/tests/fuzz/fuzz_$target.c" "${sources[@]}" \
    "${libs[@]}" -o "$out/fuzz_$target"

corpus="$out/corpus-$target"
mkdir -p "$corpus"
"$CLANG" "${cflags[@]}" "$src/tests/fuzz/gen_seeds.c" "$src/proto/zo_mp.c" "$src/proto/zo_proto.c" \
    "${libs[@]}" -o "$out/gen_seeds"
"$out/gen_seeds" "$corpus"
if [ "$target" = json ]; then
    #   Plain msgpack values as well as whole messages.
    printf '\x93\x01\xa1x\xc0' >"$corpus/array.bin"
    printf '\x82\xa1a\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00\xa1b\xc4\x02hi' >"$corpus/map-bin.bin"
    printf '\xcf\xff\xff\xff\xff\xff\xff\xff\xff' >"$corpus/u64max.bin"
fi
if [ "$target" = journal ]; then
    #   Record bodies the target seals with a CRC (first byte odd): an add
    #   of {"id": "a", "type": "t"} and a del of "a".
    printf '\x01\x95\x01\x82\xa2id\xa1a\xa4type\xa1t\x00\x00' >"$corpus/add.bin"
    printf '\x01\x93\x02\xa1a' >"$corpus/del.bin"
fi

export ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"

#   Inputs that once crashed, hung or blew up a target are kept in
#   tests/fuzz/regress-TARGET/ and replayed first, every run: a bug the
#   fuzzer found by chance fails the suite every time until it is fixed.
regress="$src/tests/fuzz/regress-$target"
if compgen -G "$regress/*" >/dev/null; then
    echo "run_fuzz: replaying $(ls "$regress" | wc -l) regression inputs from tests/fuzz/regress-$target"
    set +e
    (cd "$out" && "./fuzz_$target" -timeout=10 -rss_limit_mb=2048 "$regress"/* >"$out/regress-$target.log" 2>&1)
    rc=$?
    set -e
    if [ "$rc" -ne 0 ]; then
        grep -E 'Running:|ERROR|SUMMARY|timeout|out-of-memory' "$out/regress-$target.log" | head -n 20
        echo "run_fuzz: fuzz_$target FAILED on a regression input (exit $rc); full log $out/regress-$target.log"
        exit 1
    fi
fi

echo "run_fuzz: fuzzing fuzz_$target for ${secs}s ($(ls "$corpus" | wc -l) inputs in the corpus)"
cd "$out"
set +e
"./fuzz_$target" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$out/" "$corpus" >"$out/fuzz_$target.log" 2>&1
rc=$?
set -e
tail -n 25 "$out/fuzz_$target.log"
if [ "$rc" -ne 0 ]; then
    echo "run_fuzz: fuzz_$target FAILED (exit $rc); artifacts:"
    ls -la "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-* 2>/dev/null || true
    exit 1
fi
echo "run_fuzz: fuzz_$target ran ${secs}s without a finding"
