#!/usr/bin/env bash
#   strict_config: what an operator mistypes stops every program at start
#   with exit code 2 and a message naming it (and the nearest known key or
#   flag when there is one), instead of starting on a default: an unknown
#   flag, an unknown --set path, an unknown key in a config file, a stray
#   argument. --print-config prints ZPL that reads back to the same
#   configuration, quotes in values included. --version is the same build
#   on every program, with the git revision.
source "$(dirname "$0")/lib.sh"
zt_init strict_config 17350
MONITOR_BIN="$ZT_BUILD_DIR/actors/monitor/zorch-monitor"

#   s_refused WHAT TEXT command...: exit 2, TEXT in the output.
s_refused () {
    local what="$1" text="$2"; shift 2
    set +e
    timeout 10 "$@" >"$T/out.log" 2>&1
    local rc=$?
    set -e
    zt_say "$what: exit $rc: $(grep -m1 -- "$text" "$T/out.log" || head -n 1 "$T/out.log")"
    zt_eq "$what: exit code" "$rc" 2
    zt_assert "$what: says '$text'" grep -qF -- "$text" "$T/out.log"
}

cat >"$T/typo.conf" <<CONF
broker
    queue_mx = 5
CONF
B=(--broker-front "$FRONT" --broker-back "$BACK" --broker-data-dir "$DATA")
for prog in broker worker monitor; do
    case $prog in
        broker) bin=$BROKER_BIN; args=("${B[@]}") ;;
        worker) bin=$WORKER_BIN; args=(--worker-broker "$BACK") ;;
        monitor) bin=$MONITOR_BIN; args=(--monitor-http 127.0.0.1:0) ;;
    esac
    s_refused "$prog: an unknown flag" "unknown flag --bogus-flag" "$bin" "${args[@]}" --bogus-flag
    s_refused "$prog: a mistyped flag" "unknown flag --broker-fornt (did you mean --broker-front?)" \
        "$bin" "${args[@]}" --broker-fornt tcp://0.0.0.0:7010
    s_refused "$prog: an unknown --set path" "did you mean worker/capacity?" \
        "$bin" "${args[@]}" --set worker/capacty=5
    s_refused "$prog: an unknown key in a file" \
        "unknown key broker/queue_mx (did you mean broker/queue_max?)" \
        "$bin" "${args[@]}" --config "$T/typo.conf"
    s_refused "$prog: a stray argument" "unexpected argument 'stray'" "$bin" "${args[@]}" stray
done
for cmd in inject status dlq bench up; do
    s_refused "zorch $cmd: a mistyped flag" "did you mean --broker-front?" \
        "$ZORCH_BIN" "$cmd" --broker-fornt tcp://127.0.0.1:1
    s_refused "zorch $cmd: an unknown key in a file" "unknown key broker/queue_mx" \
        "$ZORCH_BIN" "$cmd" --config "$T/typo.conf"
done
#   Every subcommand with options reads them alike: an unknown one and one
#   without its value are refused by name, --help is answered.
for spec in inject:--type dlq:--limit bench:--events up:--workers cache:--ttl pool:--body \
            scale:--timeout workers:--watch "cache sim:--budget"; do
    cmd=${spec%%:*} flag=${spec#*:}
    read -r -a words <<<"$cmd"
    s_refused "zorch $cmd: an unknown option" "zorch $cmd: unknown option '--bogus'" \
        "$ZORCH_BIN" "${words[@]}" --bogus
    s_refused "zorch $cmd: an option without its value" "zorch $cmd: $flag needs a value" \
        "$ZORCH_BIN" "${words[@]}" "$flag"
    zt_assert "zorch $cmd --help is answered" bash -c '"$@" --help | grep -qi usage' _ "$ZORCH_BIN" "${words[@]}"
done
zt_assert "nothing was left listening" bash -c "! ss -ltn 2>/dev/null | grep -q ':$PORT_BASE '"

zt_say "--print-config reads back to the same configuration, quotes included"
"$BROKER_BIN" --set 'broker/data_dir=/tmp/a "quoted" dir' --set "log/level=it's" \
    --worker-name 'w "1"' --print-config >"$T/once.zpl"
"$BROKER_BIN" --config "$T/once.zpl" --print-config >"$T/twice.zpl" 2>"$T/twice.err" ||
    zt_fail "the printed configuration does not read back: $(cat "$T/twice.err")"
zt_assert "the same text twice" cmp -s "$T/once.zpl" "$T/twice.zpl"
zt_assert "the quoted value is there" grep -qF '/tmp/a "quoted" dir' "$T/twice.zpl"
zt_assert "the apostrophe is there" grep -qF "it's" "$T/twice.zpl"
"$WORKER_BIN" --config "$T/once.zpl" --print-config >"$T/worker.zpl" ||
    zt_fail "the worker does not read the broker's printed configuration"
zt_assert "every actor prints the same configuration" cmp -s "$T/once.zpl" "$T/worker.zpl"
zt_say "--version: every program, the same build"
want="$("$ZORCH_BIN" --version)"
zt_say "zorch --version: $want"
[[ "$want" =~ ^zorch\ [0-9]+\.[0-9]+\.[0-9]+ ]] || zt_fail "zorch --version printed '$want'"
if git -C "$ZT_SRC_DIR" rev-parse --git-dir >/dev/null 2>&1; then
    rev="$(git -C "$ZT_SRC_DIR" rev-parse --short=10 HEAD)"
    zt_assert "the version names the git revision $rev" grep -qF "$rev" <<<"$want"
fi
for prog in broker worker monitor; do
    case $prog in broker) bin=$BROKER_BIN ;; worker) bin=$WORKER_BIN ;; monitor) bin=$MONITOR_BIN ;; esac
    zt_eq "zorch-$prog --version" "$("$bin" --version)" "zorch-$prog ${want#zorch }"
done
zt_say "ok"
