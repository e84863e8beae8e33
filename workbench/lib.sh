# SPDX-License-Identifier: GPL-2.0-only
# Shared by the workbench scripts: paths, messages and the results ledger.
#
# Every check appends lines "pass NAME", "fail NAME: why" or "skip NAME: why"
# to $RESULTS/<check>.txt; workbench/summary prints the closing line from them.

set -euo pipefail
shopt -s inherit_errexit
# The command that stopped the script (set -e), for wb_exit to say: the ERR
# trap runs in functions and subshells too (errtrace), where set -e stops
# them; not where a failure is expected (set +e).
set -o errtrace
WB_FAILED='' WB_DIED=''
wb_failed() {
	[[ $- == *e* ]] || return 0
	WB_FAILED="\`$2\` failed with status $1 (${4##*/} line $3${5:+, in $5})"
}
trap 'wb_failed $? "$BASH_COMMAND" "$LINENO" "${BASH_SOURCE[0]:-}" "${FUNCNAME[0]:-}"' ERR

WB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WB_CACHE=${WB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dma-fence-user-fence}
# BASE is the linux-source-BASE package the series is applied to. Unset, it
# is the newest one Debian's unstable and trixie-backports suites carry, as
# workbench/setup found it (it writes $WB_CACHE/default-base).
BASE_DEFAULT=0
if [ -z "${BASE:-}" ]; then
	BASE_DEFAULT=1
	BASE=$(cat "$WB_CACHE/default-base" 2>/dev/null || true)
fi
# The long-term trees of Debian 12, from the machine's own apt sources.
WB_LTS_BASES="6.12 6.1"
is_lts() { [[ " $WB_LTS_BASES " == *" $1 "* ]]; }
# The clang of the gate's clang build, as Kbuild's LLVM= names it: Debian
# 12's newest, clang-19 (its default clang, 14, is too old for 7.3).
WB_LLVM=-19
TREE=$WB_CACHE/trees/$BASE
BUILD=$WB_CACHE/build/$BASE
RESULTS=$WB_CACHE/results/$BASE
# Scratch worktrees of TREE where the series is written and checked, each
# of one command alone: workbench/static's, and make-series' (make series).
STATIC_TREE=$WB_CACHE/series-tree/$BASE
SERIES_TREE_OWN=$WB_CACHE/series-tree/make-series-$BASE
JOBS=${JOBS:-$(nproc)}

export CCACHE_DIR=${CCACHE_DIR:-$WB_CACHE/ccache}
# ccache's depend mode: on a miss it takes the list of headers from the
# compiler's own -MMD output (Kbuild asks for it) instead of running the
# preprocessor first. From an empty cache, `make -j2 mm/` with the x86_64
# run's config took 73 s through ccache in its default mode, 53 s in depend
# mode and 57 s without ccache; in depend mode a second build, into a fresh
# build directory, hit on every file.
# CCACHE_NODEPEND (set to anything) turns it off.
[ -n "${CCACHE_NODEPEND+set}" ] || export CCACHE_DEPEND=1

say() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { printf 'error: %s\n' "$*" >&2; WB_DIED=$*; exit 1; }

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

# start_check CHECK: hold CHECK's lock (its ledger, logs and builds) and,
# after need_tree, the cached tree (see the locks below); then forget the
# results of an earlier run of CHECK. From here on, a script that stops
# with a non-zero status without having recorded a failure (set -e, a
# crash) gets one, and one that set -e or die stopped gets one that says
# where and why, so that `make check` cannot pass a check that did not
# run to its end.
start_check() {
	lock_check "$1"
	[ -z "${WB_NEEDS_TREE:-}" ] || hold_tree
	mkdir -p "$RESULTS"
	rm -f "$RESULTS/$1.txt" "$RESULTS/$1.time"
	WB_CHECK=$1
	WB_CHECK_START=$SECONDS
}

# Children that must not outlive the script (kunit.py, make, the kernels):
# wb_run runs each under workbench/reaper, which ends everything the child
# started, the UML kernel's processes in sessions of their own included.
# It runs in the background and the script waits for it, because bash runs
# a trap only once a foreground command has ended, while a signal ends
# `wait` at once.
WB_CHILD=
# wb_run [--timeout SECONDS] CMD...: CMD's exit status, 124 if it ran past
# SECONDS (the reaper ends it then).
wb_run() {
	local rc=0
	"$WB_ROOT/workbench/reaper" "$@" &
	WB_CHILD=$!
	wait "$WB_CHILD" || rc=$?
	WB_CHILD=
	return "$rc"
}

# End the child of wb_run, if one is running, and wait until its reaper
# has ended everything under it.
wb_stop_child() {
	[ -n "$WB_CHILD" ] || return 0
	kill -TERM "$WB_CHILD" 2>/dev/null || true
	wait "$WB_CHILD" 2>/dev/null || true
	WB_CHILD=
}

# INT, TERM and HUP end the script through its EXIT trap, which ends the
# child and runs the hooks; the exit status says which signal it was.
# The trap may run inside a function whose output goes to a log: what it
# says goes to the script's own output, kept here.
exec {WB_STDOUT}>&1 {WB_STDERR}>&2
WB_SIGNAL=
wb_signal() {
	WB_SIGNAL=$1
	exit $((128 + $(kill -l "$1")))
}
trap 'wb_signal INT' INT
trap 'wb_signal TERM' TERM
trap 'wb_signal HUP' HUP

# Commands for the EXIT trap, run before the check above: WB_EXIT_HOOKS+=(cmd).
# They run after the child of wb_run has ended, so that they may restore
# files that a build or a kernel was still using.
WB_EXIT_HOOKS=()
wb_exit() {
	local status=$? hook name why=
	# A second Ctrl-C or a timeout's TERM must not cut the clean-up short.
	trap '' INT TERM HUP
	trap - ERR
	exec 1>&"$WB_STDOUT" 2>&"$WB_STDERR"
	# What stopped the script: die said it already, set -e did not.
	if [ "$status" -ne 0 ] && [ -z "$WB_SIGNAL" ]; then
		why=${WB_DIED:-$WB_FAILED}
		[ -n "$WB_DIED" ] || [ -z "$WB_FAILED" ] ||
			printf 'error: workbench/%s stopped: %s\n' "${0##*/}" "$WB_FAILED" >&2
	fi
	wb_stop_child
	for hook in "${WB_EXIT_HOOKS[@]}"; do
		eval "$hook" || true
	done
	# How long the check took, for the summary and the README's figures.
	if [ -n "${WB_CHECK:-}" ]; then
		echo $((SECONDS - WB_CHECK_START)) >"$RESULTS/$WB_CHECK.time"
	fi
	if [ -n "${WB_CHECK:-}" ] && [ -n "$WB_SIGNAL" ]; then
		record fail "$WB_CHECK" "$WB_CHECK" "interrupted by SIG$WB_SIGNAL before it finished"
	elif [ -n "${WB_CHECK:-}" ] && [ "$status" -ne 0 ] && [ -n "$why" ]; then
		record fail "$WB_CHECK" "$WB_CHECK" "stopped with exit status $status: $why"
	elif [ -n "${WB_CHECK:-}" ] && [ "$status" -ne 0 ] &&
	   ! grep -q '^fail ' "$RESULTS/$WB_CHECK.txt" 2>/dev/null; then
		record fail "$WB_CHECK" "$WB_CHECK" \
			"stopped with exit status $status before it recorded a result"
	fi
	# The locks go with the script; so does what says who holds them.
	for name in "${!WB_LOCK_FD[@]}"; do
		[ "${WB_LOCK_PID[$name]}" != "$BASHPID" ] ||
			rm -f "$WB_LOCK_DIR/$name.who/$BASHPID"
	done
	exit "$status"
}
trap wb_exit EXIT

# fits_tree DIR TREE: the patch in series/DIR applies to TREE. A patch
# with a "needs" file changes a driver that older bases lack (amdgpu's user
# queues): it applies only where TREE has every path that file lists.
fits_tree() {
	local f
	[ -n "${2:-}" ] && [ -f "$1/needs" ] || return 0
	while read -r f; do
		[ -z "$f" ] || [ -e "$2/$f" ] || return 1
	done <"$1/needs"
}

# all_patches [TREE]: the series/ directories of every patch, in order.
all_patches() {
	local p
	for p in "$WB_ROOT"/series/[0-9]*/; do
		! fits_tree "$p" "${1:-}" || echo "$p"
	done
}

# exported_patches [TREE]: those that are mailed and applied to a KERNEL=
# tree; those with a "local" file (the benchmark) are the workbench's own
# and go only into its cached tree.
exported_patches() {
	local p
	for p in $(all_patches "${1:-}"); do
		[ -e "$p/local" ] || echo "$p"
	done
}

# The patches make-series wrote to DIR, in the order they apply: those
# mailed on their own (DIR/separate/) first, then the series, without its
# cover letter. With --main, the series alone.
series_patches() {
	[ "$1" = --main ] && shift ||
		ls "$1"/separate/[0-9][0-9][0-9][0-9]-*.patch 2>/dev/null || true
	ls "$1"/[0-9][0-9][0-9][0-9]-*.patch | grep -v '/0000-'
}

# need_tree: the script works on the cached tree with the series applied;
# start_check then holds the tree (hold_tree).
need_tree() {
	[ -n "$BASE" ] || die "no default base chosen yet; run 'make' (or 'make BASE=6.12') first"
	[ -d "$TREE/.git" ] || die "no patched tree at $TREE; run 'make BASE=$BASE' first"
	WB_NEEDS_TREE=1
}

# Locks: two workbench commands on one cache (say `make series` while
# `make check` runs) work beside each other, or the second waits for the
# first with a line that names it and what it waits for. A lock is a file
# in $WB_CACHE/locks/, taken with flock(1) on a descriptor the script keeps
# open, so that the kernel releases it when the script ends, however it
# ends (the scripts and builds it starts inherit it, and workbench/reaper
# ends those with it). What reads committed objects of a git tree only
# (git show, git worktree add) needs none. Each command takes them in this
# order, never the other way round, so that no two wait for each other:
#
#   make-check        the gate, for its whole run: one at a time (its lane
#                     logs in $WB_CACHE/results/)
#   check-BASE-NAME   a check's ledger, logs and build directories
#                     (start_check); make check takes those of all its
#                     checks when it starts and keeps them to its summary
#   tree-BASE         the cached tree: shared by what reads it (the checks,
#                     make-series, make check for its whole run), exclusive
#                     for setup's unpacking and apply-series' re-applying
#   files-BASE        its source files: shared by the KUnit runs, which
#                     compile them, exclusive for the mutants, which
#                     rewrite them (and use the runs' build directories)
#   worktree-*, out-*, sparse, herd7, packages, apt
#                     a scratch worktree, make-series' output directory,
#                     the tools built into the cache, the machine's
#                     packages, the apt state of the cache
#
# A lock held by the script or by one that started it (make check's lanes)
# is not taken again; held shared there and asked for exclusively, it is
# an error that says so, not a wait that would never end.
WB_LOCK_DIR=$WB_CACHE/locks
declare -A WB_LOCK_FD=() WB_LOCK_PID=()
WB_LOCK_TOOK=0

# wb_who: this script, as another one's waiting line names it (make check
# sets WB_WHO for itself and WB_WITHIN for its lanes)
wb_who() {
	echo "${WB_WHO:-workbench/${0##*/} (pid $BASHPID)${WB_WITHIN:+ of $WB_WITHIN}}"
}

# wb_holders NAME: who holds the lock NAME, as each wrote it down
wb_holders() {
	local f who=()
	for f in "$WB_LOCK_DIR/$1.who"/*; do
		[ -f "$f" ] || continue
		if [ -d "/proc/${f##*/}" ]; then
			who+=("$(cat "$f" 2>/dev/null || true)")
		else
			rm -f "$f"	# its holder ended without a word (SIGKILL)
		fi
	done
	if [ ${#who[@]} -eq 0 ]; then
		echo "another workbench command"
	else
		printf '%s, ' "${who[@]}" | sed 's/, $//'
	fi
}

# wb_lock [--shared] NAME WHAT: hold the lock NAME until the script ends or
# wb_unlock NAME; WHAT is what it guards, for the waiting line. Sets
# WB_LOCK_TOOK to 1 if it took it, 0 if the script or its caller had it.
wb_lock() {
	local mode=x
	[ "$1" != --shared ] || { mode=s; shift; }
	local name=$1 what=$2 file=$WB_LOCK_DIR/$1.lock fd rc=0 t0
	WB_LOCK_TOOK=0
	case " ${WB_LOCKS:-} " in
	*" $file:x "*) return 0 ;;
	*" $file:s "*)
		[ $mode = x ] || return 0
		die "workbench/${0##*/} needs $what to itself, and the command that started it uses it ($(wb_holders "$name")); run it on its own" ;;
	esac
	mkdir -p "$WB_LOCK_DIR/$name.who"
	exec {fd}<>"$file"
	flock -n "-$mode" "$fd" || rc=$?
	if [ $rc -eq 1 ]; then
		say "waiting for $(wb_holders "$name") to finish with $what" >&2
		t0=$SECONDS rc=0
		# In the background, so that a signal ends the wait (see wb_run).
		flock "-$mode" "$fd" &
		WB_CHILD=$!
		wait "$WB_CHILD" || rc=$?
		WB_CHILD=
		[ $rc -ne 0 ] || say "waited $((SECONDS - t0)) s for $what" >&2
	fi
	[ $rc -eq 0 ] || die "flock $file failed (exit status $rc)"
	wb_who >"$WB_LOCK_DIR/$name.who/$BASHPID"
	# A subshell (apt's in setup's $(fetch_source)) has no wb_exit.
	[ "$BASHPID" = $$ ] || trap 'rm -f "$WB_LOCK_DIR"/*.who/$BASHPID' EXIT
	WB_LOCK_FD[$name]=$fd
	WB_LOCK_PID[$name]=$BASHPID
	WB_LOCK_TOOK=1
	export WB_LOCKS="${WB_LOCKS:-} $file:$mode"
}

# wb_unlock NAME: let go of the lock NAME before the script ends, if this
# script (not its caller, nor the shell this subshell came from) took it
wb_unlock() {
	local name=$1 fd=${WB_LOCK_FD[$1]:-} file=$WB_LOCK_DIR/$1.lock
	[ -n "$fd" ] && [ "${WB_LOCK_PID[$name]}" = "$BASHPID" ] || return 0
	rm -f "$WB_LOCK_DIR/$name.who/$BASHPID"
	flock -u "$fd"
	exec {fd}>&-
	unset "WB_LOCK_FD[$name]" "WB_LOCK_PID[$name]"
	WB_LOCKS=${WB_LOCKS// "$file":[sx]/}
}

# lock_check CHECK [BASE]: CHECK's ledger, logs and builds, to this script
lock_check() {
	local base=${2:-$BASE}
	wb_lock "check-$base-$1" \
		"check $1 of BASE=$base (its ledger, logs and builds in $WB_CACHE/{results,build}/$base/)"
}

# hold_tree [--base]: hold the cached tree of BASE shared, so that no
# command applies the series again or unpacks the tree meanwhile; it must
# have the series applied (with --base: be unpacked).
hold_tree() {
	wb_lock --shared "tree-$BASE" "the cached tree $TREE"
	if [ "${1:-}" = --base ]; then
		[ -f "$TREE/.workbench-base-version" ] ||
			die "no tree at $TREE; run 'make setup BASE=$BASE' first"
	else
		[ -e "$TREE/.workbench-series" ] ||
			die "no patched tree at $TREE; run 'make BASE=$BASE' first"
	fi
}

# hold_tree_files [--shared]: the source files of the cached tree and the
# build directories of its runs (the mutants rewrite the one and build in
# the other)
hold_tree_files() {
	wb_lock ${1:+"$1"} "files-$BASE" \
		"the source files of $TREE and the KUnit runs' build directories"
}

# lock_worktree DIR: the scratch worktree DIR, to this script alone
lock_worktree() {
	wb_lock "worktree-$(printf %s "$1" | sha1sum | cut -c1-12)" "the scratch worktree $1"
}

# The files whose contents make up the series; series_hash: their hash, as
# .workbench-series in the cached tree holds it once the series is applied.
series_files() {
	local p
	for p in $(all_patches "$TREE"); do
		echo "$p"message "$p"files
		ls "$p"*.edit "$p"needs 2>/dev/null || true
		sed "s|^|$WB_ROOT/|" "$p"files
	done
}

series_hash() {
	series_files | sort | xargs cat | sha256sum | cut -d' ' -f1
}

# Make variables for builds on a long-term base, one per line: the series
# is written for the newest kernel, and workbench/compat/ gives the helper
# and its test what 6.12 and 6.1 lack, force-included into each alone.
wb_compat_make_args() {
	is_lts "$BASE" || return 0
	echo "CFLAGS_dma-fence-user-fence.o=-include $WB_ROOT/workbench/compat/helper-on-lts.h"
	echo "CFLAGS_dma-fence-user-fence-test.o=-include $WB_ROOT/workbench/compat/test-on-lts.h"
}

# The compiler for kernel builds, through ccache when it is there.
wb_cc() {
	if command -v ccache >/dev/null; then echo "ccache ${1:-gcc}"; else echo "${1:-gcc}"; fi
}

# The Debian mirror the machine's own apt sources name for its main suite
# (deb822 .sources or one-line sources.list); WB_DEBIAN_MIRROR overrides it.
debian_mirror() {
	local uri
	if [ -n "${WB_DEBIAN_MIRROR:-}" ]; then
		echo "$WB_DEBIAN_MIRROR"
		return
	fi
	uri=$(awk '
		/^URIs:/ { u = $2 }
		/^Suites:/ { for (i = 2; i <= NF; i++) if ($i !~ /-(security|updates|backports)$/) s = 1 }
		/^$/ { if (u && s && !found) { print u; found = 1 } u = ""; s = 0 }
		END { if (u && s && !found) print u }
	' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -n 1)
	[ -n "$uri" ] || uri=$(awk '$1 == "deb" && $0 !~ /security/ {
			for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' \
		/etc/apt/sources.list 2>/dev/null)
	[ -n "$uri" ] || die "cannot tell which Debian mirror this machine uses; set WB_DEBIAN_MIRROR=http://deb.debian.org/debian"
	echo "${uri%/}"
}

# The suites newer kernel sources and herdtools7 come from, and apt with a
# state of its own under the cache: the machine's sources, lists and
# installed packages are never touched (the .debs are unpacked, not installed).
WB_NEW_SUITES=${WB_NEW_SUITES:-"unstable trixie-backports"}
WB_APT=$WB_CACHE/apt
wb_apt() {
	local cmd=$1 took rc=0; shift
	# apt itself does not lock this state (Debug::NoLocking): one at a time
	wb_lock apt "the apt state in $WB_APT"
	took=$WB_LOCK_TOOK
	"$cmd" -q -o Dir::Etc::SourceList="$WB_APT/sources.list" \
		-o Dir::Etc::SourceParts="$WB_APT/empty" -o Dir::Etc::Preferences="$WB_APT/empty/none" \
		-o Dir::Etc::PreferencesParts="$WB_APT/empty" -o Dir::State::Lists="$WB_APT/lists" \
		-o Dir::Cache="$WB_APT/cache" -o Debug::NoLocking=1 \
		-o APT::Sandbox::User=root "$@" || rc=$?
	[ "$took" = 0 ] || wb_unlock apt
	return $rc
}

# wb_apt_update: (re)read the new suites' indexes, at most once an hour.
wb_apt_update() {
	local mirror suite stamp=$WB_APT/lists/.updated took
	if [ -f "$stamp" ] && [ -z "$(find "$stamp" -mmin +60)" ]; then
		return 0
	fi
	wb_lock apt "the apt state in $WB_APT"
	took=$WB_LOCK_TOOK
	if [ -f "$stamp" ] && [ -z "$(find "$stamp" -mmin +60)" ]; then
		[ "$took" = 0 ] || wb_unlock apt	# read meanwhile
		return 0
	fi
	mirror=$(debian_mirror)
	mkdir -p "$WB_APT/lists/partial" "$WB_APT/cache/archives/partial" "$WB_APT/empty"
	: >"$WB_APT/sources.list"
	for suite in $WB_NEW_SUITES; do
		printf 'deb%s [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' \
			"" "$mirror" "$suite" "-src" "$mirror" "$suite" >>"$WB_APT/sources.list"
	done
	# stderr: fetch_source, whose stdout is its answer, may be the caller
	say "reading the package indexes of $WB_NEW_SUITES from $mirror (private apt state in $WB_APT)" >&2
	wb_apt apt-get update >"$WB_APT/update.log" 2>&1 ||
		die "apt-get update of $WB_NEW_SUITES from $mirror failed, see $WB_APT/update.log; without network access, copy a cache from a machine that has one (WB_CACHE)"
	touch "$stamp"
	[ "$took" = 0 ] || wb_unlock apt
}

# QEMU runs are emulated (TCG) unless WB_KVM=1: /dev/kvm exists on the
# machines this was built on, but a guest under it hangs before its first
# line of output, and a probe cannot tell that apart from a slow boot.
kvm_works() {
	[ "${WB_KVM:-0}" = 1 ] && [ -w /dev/kvm ]
}
