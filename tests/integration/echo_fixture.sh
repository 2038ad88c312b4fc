#!/usr/bin/env bash
#   echo_fixture: real GitHub webhook payloads (nested objects, nulls,
#   unicode, long arrays) go through the echo route and come back equal as
#   JSON (compared with jq -S: same keys, same values, any order).
#   Payloads: deploy/demo/*.json, copied from the shared GitHub fixtures
#   with their licence.
source "$(dirname "$0")/lib.sh"
zt_init echo_fixture 17190

files=()
for f in "$ZT_SRC_DIR"/deploy/demo/*.json; do [ -f "$f" ] && files+=("$f"); done
[ "${#files[@]}" -gt 0 ] || zt_fail "no fixture files found"
zt_say "${#files[@]} payloads: ${files[*]##*/}"

#   One event per payload; a deploy/demo file is an event ({id?, type,
#   payload}), a bare payload is taken as it is.
: >"$T/events.ndjson"
i=0
for f in "${files[@]}"; do
    i=$((i + 1))
    jq -c --arg id "fx-$i" '
        if (type == "object" and has("type") and has("payload"))
        then {id: $id, type: "test.echo", payload: .payload}
        else {id: $id, type: "test.echo", payload: .} end' "$f" >>"$T/events.ndjson"
    jq -cS 'if (type == "object" and has("type") and has("payload")) then .payload else . end' \
        "$f" >"$T/want-fx-$i.json"
done

zt_broker
zt_worker w1
zt_inject --ndjson "$T/events.ndjson" --wait --timeout 20 --results "$T/results.ndjson" \
    >"$T/inject.txt" 2>&1 || zt_fail "inject failed: $(cat "$T/inject.txt")"
zt_eq "results" "$(zt_lines "$T/results.ndjson")" "$i"
for n in $(seq 1 "$i"); do
    jq -cS --arg id "fx-$n" 'select(.id == $id) | .result' "$T/results.ndjson" >"$T/got-fx-$n.json"
    if cmp -s "$T/want-fx-$n.json" "$T/got-fx-$n.json"; then
        zt_say "ok: fx-$n ($(basename "${files[$((n - 1))]}"), $(wc -c <"$T/want-fx-$n.json") B) came back equal"
    else
        diff <(jq -S . "$T/want-fx-$n.json") <(jq -S . "$T/got-fx-$n.json") | head -n 20 >&2 || true
        zt_fail "fx-$n (${files[$((n - 1))]}) came back different"
    fi
done
