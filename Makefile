# SPDX-License-Identifier: GPL-2.0-only
#
# Workbench for the dma-fence user fence series. See README.md.
#
#   make                 set up, apply the series, run the KUnit suite (UML)
#   make check           the test gate: everything below
#   make apply KERNEL=.. apply the series to your kernel git tree as commits
#   make series          write the patch series to out/series/
#                        (KERNEL=.. bases it on your tree's HEAD instead)
#   make bench           benchmark the helper (UML, x86_64); not part of check
#
# BASE=7.3, 6.12 or 6.1 picks Debian's linux-source package; without it,
# the newest that Debian's unstable and trixie-backports suites carry.

export BASE

WB := workbench

# What `make check` runs, in order; each leaves a ledger in the cache.
CHECK_RUNS := um um-nodebug x86_64 i386
CHECK_STATIC := mutants static tooling

# What `make bench` runs: a benchmark, not a gate (see the benchmark section of README.md).
BENCH_RUNS := bench-um bench-x86_64

.PHONY: all check setup tree kunit-% static mutants tooling apply series bench help

all: tree
	$(WB)/kunit um; $(WB)/summary um

# Each check records its own failures, a check that stops early included
# (workbench/lib.sh); the summary's exit status is the verdict.
check: tree
	@for r in $(CHECK_RUNS); do $(WB)/kunit $$r || true; done; \
	$(WB)/mutants || true; \
	$(WB)/static || true; \
	$(WB)/tooling || true; \
	$(WB)/summary $(CHECK_RUNS) $(CHECK_STATIC)

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

series: setup
	@if [ -z "$(KERNEL)" ]; then $(WB)/apply-series --workbench; fi
	KERNEL="$(KERNEL)" $(WB)/make-series

bench: tree
	@for r in $(BENCH_RUNS); do $(WB)/kunit $$r || true; done; \
	$(WB)/bench-report $(BENCH_RUNS); \
	$(WB)/summary $(BENCH_RUNS) bench-report

help:
	@sed -n '3,13s/^# \{0,1\}//p' Makefile
