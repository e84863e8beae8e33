# SPDX-License-Identifier: GPL-2.0-only
# Shared by the workbench scripts: paths, messages and the results ledger.
#
# Every check appends lines "pass NAME", "fail NAME: why" or "skip NAME: why"
# to $RESULTS/<check>.txt; workbench/summary prints the closing line from them.

set -euo pipefail

WB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BASE=${BASE:-6.12}
WB_CACHE=${WB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dma-fence-user-fence}
TREE=$WB_CACHE/trees/$BASE
BUILD=$WB_CACHE/build/$BASE
RESULTS=$WB_CACHE/results/$BASE
JOBS=${JOBS:-$(nproc)}

export CCACHE_DIR=${CCACHE_DIR:-$WB_CACHE/ccache}

say() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# record pass|fail|skip CHECK NAME [DETAIL]
record() {
	local verdict=$1 check=$2 name=$3 detail=${4:-}
	mkdir -p "$RESULTS"
	printf '%s %s%s\n' "$verdict" "$name" "${detail:+: $detail}" >>"$RESULTS/$check.txt"
	case $verdict in
	pass) say "ok    $name" ;;
	skip) say "SKIP  $name${detail:+: $detail}" ;;
	*)    say "FAIL  $name${detail:+: $detail}" ;;
	esac
}

# start_check CHECK: forget the results of an earlier run of CHECK
start_check() {
	mkdir -p "$RESULTS"
	rm -f "$RESULTS/$1.txt"
}

need_tree() {
	[ -e "$TREE/.workbench-series" ] ||
		die "no patched tree at $TREE; run 'make BASE=$BASE' first"
}

# The compiler for kernel builds, through ccache when it is there.
wb_cc() {
	if command -v ccache >/dev/null; then echo "ccache ${1:-gcc}"; else echo "${1:-gcc}"; fi
}

# QEMU runs are emulated (TCG) unless WB_KVM=1: /dev/kvm exists on the
# machines this was built on, but a guest under it hangs before its first
# line of output, and a probe cannot tell that apart from a slow boot.
kvm_works() {
	[ "${WB_KVM:-0}" = 1 ] && [ -w /dev/kvm ]
}
