# SPDX-License-Identifier: GPL-2.0-only
# Shared by the workbench scripts: paths, messages and the results ledger.
#
# Every check appends lines "pass NAME", "fail NAME: why" or "skip NAME: why"
# to $RESULTS/<check>.txt; workbench/summary prints the closing line from them.

set -euo pipefail
shopt -s inherit_errexit

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

# start_check CHECK: forget the results of an earlier run of CHECK. From
# here on, a script that stops with a non-zero status without having
# recorded a failure (set -e, a crash) gets one, so that `make check`
# cannot pass a check that did not run to its end.
start_check() {
	mkdir -p "$RESULTS"
	rm -f "$RESULTS/$1.txt"
	WB_CHECK=$1
}

# Commands for the EXIT trap, run before the check above: WB_EXIT_HOOKS+=(cmd)
WB_EXIT_HOOKS=()
wb_exit() {
	local status=$? hook
	for hook in "${WB_EXIT_HOOKS[@]}"; do
		eval "$hook" || true
	done
	if [ -n "${WB_CHECK:-}" ] && [ "$status" -ne 0 ] &&
	   ! grep -q '^fail ' "$RESULTS/$WB_CHECK.txt" 2>/dev/null; then
		record fail "$WB_CHECK" "$WB_CHECK" \
			"stopped with exit status $status before it recorded a result"
	fi
	exit "$status"
}
trap wb_exit EXIT

# The series/ directories of the patches that are mailed and applied to a
# KERNEL= tree; those with a "local" file (the benchmark) are the
# workbench's own and go only into its cached tree.
exported_patches() {
	local p
	for p in "$WB_ROOT"/series/[0-9]*/; do
		[ -e "$p/local" ] || echo "$p"
	done
}

# The numbered patches of a format-patch directory, cover letter left out.
series_patches() {
	ls "$1"/[0-9][0-9][0-9][0-9]-*.patch | grep -v '/0000-'
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
