# SPDX-License-Identifier: GPL-2.0-only
#
# Workbench for the dma-fence user fence series. See README.md.
#
#   make                 set up, apply the series, run the KUnit suite (UML)
#   make check           the test gate, what CI runs: everything below
#   make check-all       the gate with every long-term base (6.1 too)
#                        and the arm64, s390, i386 and bench-debug runs
#   make apply KERNEL=.. apply the series to your kernel git tree as commits
#   make series          write the patch series to out/series/
#                        (KERNEL=.. bases it on your tree's HEAD instead)
#   make bench           benchmark the helper (UML, x86_64); not part of check
#   make litmus          the LKMM litmus tests of the ordering contract (herd7)
#
# BASE=7.3, 6.12 or 6.1 picks Debian's linux-source package; without it,
# the newest that Debian's unstable and trixie-backports suites carry.

export BASE

WB := workbench

# What `make check` runs on BASE, in order; each leaves a ledger in the cache.
CHECK_RUNS := um x86_64 x86_64-rt
# ...and beside them, from the start (its QEMU run is uniprocessor).
CHECK_BESIDE := powerpc32
# ...and in check-all only, in a side lane of their own from the start: the
# arm64 run, the 64-bit big-endian (s390) and 32-bit SMP (i386) runs, and
# the first user's suite (amdgpu, UML), and the benchmark's cases on a
# debug kernel (bench-debug: KASAN, lockdep, DEBUG_OBJECTS, figures
# ignored; `make kunit-bench-debug` alone), whose cold builds the gate's
# time has no room for (README.md, "How long make check takes").
CHECK_ALL_RUNS := arm64 s390 i386 amdgpu bench-debug
# The runs of that lane in this invocation (check-all sets it).
EXTRA_RUNS :=
CHECK_STATIC := mutants static tooling litmus
# ...and on each long-term base other than BASE (workbench/lts): 6.12 in
# the gate, which must fit CI's time, 6.1 too in check-all.
LTS_BASES := 6.12
LTS_BASES_ALL := 6.12 6.1
LTS_CHECKS := um static-lts
# How the side lanes of `make check` run (SIDE_NICE= runs them at full weight).
SIDE_NICE := nice -n 10

# What `make bench` runs: a benchmark, not a gate (see the benchmark section of README.md).
BENCH_RUNS := bench-um bench-x86_64

.PHONY: all check check-all setup tree kunit-% static mutants tooling litmus apply series bench help

all: tree
	$(WB)/kunit um; $(WB)/summary um

# Each check records its own failures, a check that stops early included
# (workbench/lib.sh); the summary's exit status is the verdict. The lanes
# are in workbench/check. The side lanes
# run niced: the main lane's QEMU guests have two vCPUs that wait for each
# other, and a vCPU the host descheduled stalls its sibling, so the main
# lane gets the cores it asks for and the side lanes share the rest. They
# are several so that when the main lane ends, what is left of them still
# fills both cores. Nothing in one lane writes what another reads: the
# static and tooling checks work in worktrees and scratch trees of their
# own, each base in a tree of its own, the KUnit runs each in a build
# directory of their own. Only the mutants write, into the cached tree's
# helper file, which the powerpc32 run and EXTRA_RUNS compile, so they
# wait for them. Under workbench/reaper, an interrupted make check ends
# every lane, and each lane puts back what it changed.
check: tree
	@CHECK_RUNS="$(CHECK_RUNS)" CHECK_BESIDE="$(CHECK_BESIDE)" \
	EXTRA_RUNS="$(strip $(EXTRA_RUNS))" LTS_BASES="$(LTS_BASES)" \
	LTS_CHECKS="$(LTS_CHECKS)" CHECK_STATIC="$(CHECK_STATIC)" \
	SIDE_NICE="$(SIDE_NICE)" $(WB)/reaper --grace 60 $(WB)/check

check-all:
	$(MAKE) check LTS_BASES="$(LTS_BASES_ALL)" EXTRA_RUNS="$(CHECK_ALL_RUNS)"

setup:
	$(WB)/setup

tree: setup
	$(WB)/apply-series --workbench

kunit-%: tree
	$(WB)/kunit $*; $(WB)/summary $*

static: tree
	$(WB)/static; $(WB)/summary static

mutants: tree
	$(WB)/mutants; $(WB)/summary mutants

tooling: tree
	$(WB)/tooling; $(WB)/summary tooling

apply:
	@test -n "$(KERNEL)" || { echo "usage: make apply KERNEL=<path to a kernel git tree>" >&2; exit 2; }
	$(WB)/setup --packages-only
	$(WB)/apply-series "$(KERNEL)"

# make-series reads the base's committed objects only: the series is not
# applied to the cached tree, which a make check may be using.
series: setup
	KERNEL="$(KERNEL)" $(WB)/make-series

bench: tree
	@for r in $(BENCH_RUNS); do $(WB)/kunit $$r || true; done; \
	$(WB)/bench-report $(BENCH_RUNS); \
	$(WB)/summary $(BENCH_RUNS) bench-report

litmus: tree
	$(WB)/litmus; $(WB)/summary litmus

help:
	@sed -n '3,16s/^# \{0,1\}//p' Makefile
