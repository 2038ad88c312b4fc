#!/usr/bin/env bash
#   install: `meson install --destdir` into a temporary folder puts the
#   binaries, the configuration, the plugin header, a man page for zorch
#   and each actor, and zorch's bash completion under the prefix; the
#   installed programs run, and the completion completes.
source "$(dirname "$0")/lib.sh"
zt_init install 17360

root="$T/root"
meson install -C "$ZT_BUILD_DIR" --no-rebuild --destdir "$root" >"$T/install.log" 2>&1 ||
    zt_fail "meson install failed: $(tail -n 20 "$T/install.log")"
#   s_one NAME PATTERN: exactly one installed file whose path matches.
s_one () {
    local found
    found=$(cd "$root" && find . -path "$2" | head -n 2)
    [ -n "$found" ] || zt_fail "$1: nothing installed matches $2"
    [ "$(wc -l <<<"$found")" -eq 1 ] || zt_fail "$1: more than one file matches $2: $found"
    zt_say "ok: $1: ${found#.}" >&2
    echo "$root/${found#./}"
}
for prog in zorch zorch-broker zorch-worker zorch-monitor zorch-cache zorch-pool zorch-autoscaler; do
    bin=$(s_one "the $prog binary" "*/bin/$prog")
    [ -x "$bin" ] || zt_fail "$bin is not executable"
    zt_assert "$prog --version runs from where it was installed" \
        bash -c "'$bin' --version | grep -q '^$prog [0-9]'"
    man=$(s_one "the $prog man page" "*/man/man1/$prog.1")
    zt_assert "$prog.1 has a NAME and the SYNOPSIS of its --help" \
        bash -c "grep -q '^.SH NAME' '$man' && grep -q '^.SH SYNOPSIS' '$man'"
done
conf=$(s_one "the configuration" "*/etc/zorch/zorch.conf")
zt_assert "the installed zorch.conf is the defaults" cmp -s "$conf" "$ZT_SRC_DIR/deploy/zorch.conf"
s_one "the plugin header" "*/include/zorch/handler.h" >/dev/null
comp=$(s_one "the bash completion" "*/bash-completion/completions/zorch")
got=$(bash -c "source '$comp'; COMP_WORDS=(zorch inj); COMP_CWORD=1; _zorch; echo \"\${COMPREPLY[*]}\"")
zt_eq "zorch inj<TAB>" "$got" "inject"
got=$(bash -c "source '$comp'; COMP_WORDS=(zorch bench W); COMP_CWORD=2; _zorch; echo \"\${COMPREPLY[*]}\"")
zt_eq "zorch bench W<TAB>" "$got" "W1 W2 W3 W4"
got=$(bash -c "source '$comp'; COMP_WORDS=(zorch inject --wa); COMP_CWORD=2; _zorch; echo \"\${COMPREPLY[*]}\"")
zt_eq "zorch inject --wa<TAB>" "$got" "--wait"
zt_say "ok"
