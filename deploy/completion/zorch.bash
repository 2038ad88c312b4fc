# bash completion for zorch (installed as share/bash-completion/completions/zorch)
_zorch () {
    local cur prev cmd
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=( $(compgen -W "up inject dlq bench status cache pool scale workers proto-doc help --help --version" -- "$cur") )
        return
    fi
    cmd=${COMP_WORDS[1]}
    case $prev in
        --config|-c|--ndjson|--file|--results) COMPREPLY=( $(compgen -f -- "$cur") ); return ;;
    esac
    local opts="--config --set --help"
    case $cmd in
        up)     opts="$opts --workers --demo --once --no-monitor --no-cache --no-pool" ;;
        inject) opts="$opts --broker --type --source --payload --id --priority --file --ndjson --count --batch --inflight --rate --wait --timeout --results --json --quiet --no-retry" ;;
        dlq)
            if [ "$COMP_CWORD" -eq 2 ]; then
                COMPREPLY=( $(compgen -W "list replay purge" -- "$cur") ); return
            fi
            opts="$opts --broker --limit --json --timeout" ;;
        bench)
            if [ "$COMP_CWORD" -eq 2 ]; then
                COMPREPLY=( $(compgen -W "W1 W2 W3 W4" -- "$cur") ); return
            fi
            opts="$opts --events --inflight --rate --duration --sleep-ms --warmup --pace-slack --spawn --durable --workers --transport --endpoint --json" ;;
        status) opts="$opts --monitor --json --watch --timeout" ;;
        scale)  opts="--auto --endpoint --json --timeout --help" ;;
        workers) opts="--broker --json --watch --timeout --help" ;;
        pool)
            if [ "$COMP_CWORD" -eq 2 ]; then
                COMPREPLY=( $(compgen -W "request query stats" -- "$cur") ); return
            fi
            opts="--endpoint --timeout --body --header --json --help" ;;
        cache)
            if [ "$COMP_CWORD" -eq 2 ]; then
                COMPREPLY=( $(compgen -W "get set del touch invalidate stats sim" -- "$cur") ); return
            fi
            if [ "${COMP_WORDS[2]}" = sim ]; then
                opts="--policy --budget --trace --help"
            else
                opts="--endpoint --timeout --ttl --json --help"
            fi ;;
    esac
    COMPREPLY=( $(compgen -W "$opts" -- "$cur") )
}
complete -F _zorch zorch
