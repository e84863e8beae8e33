/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Workbench only, never mailed: what the KUnit test of the series uses of
 * Linux 7.3 that the long-term bases 6.12 and 6.1 lack. workbench/lib.sh
 * force-includes it into dma-fence-user-fence-test.c alone on those bases
 * (wb_compat_make_args).
 */
#ifndef __WB_TEST_ON_LTS_H
#define __WB_TEST_ON_LTS_H

#include <kunit/test.h>
#include <linux/hrtimer.h>
#include <linux/module.h>
#include <linux/version.h>

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 13, 0)
/* 6.13 replaced hrtimer_init() and the assignment of the function. */
static inline void hrtimer_setup(struct hrtimer *timer,
				 enum hrtimer_restart (*function)(struct hrtimer *),
				 clockid_t clock_id, enum hrtimer_mode mode)
{
	hrtimer_init(timer, clock_id, mode);
	timer->function = function;
}

/* 6.13 takes the namespace as a string; before, as an identifier. */
#undef MODULE_IMPORT_NS
#define MODULE_IMPORT_NS(ns)	MODULE_INFO(import_ns, ns)
#endif

/*
 * 7.3 has no signal_on_any argument any more; the test wants an array
 * that signals when all of its fences have.
 */
#include <linux/dma-fence-array.h>
#define dma_fence_array_create(num, fences, context, seqno) \
	dma_fence_array_create(num, fences, context, seqno, false)

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 2, 0)
/* 6.2 added the variants that take the reservation lock themselves. */
#include <linux/dma-buf.h>
#define dma_buf_vmap_unlocked dma_buf_vmap
#define dma_buf_vunmap_unlocked dma_buf_vunmap
#endif

#ifndef KUNIT_CASE_SLOW
/* 6.6 added the speed attribute; before, every case runs alike. */
#define KUNIT_CASE_SLOW KUNIT_CASE
#endif

#ifndef kunit_warning_suppress
/*
 * No way to suppress and count a WARN: let it through, and announce each
 * one the case expects, which workbench/kunit-results.py matches with the
 * WARNING reports of the log, one for one.
 */
#define kunit_warning_suppress(test) \
	for (int __wb_once = 1; __wb_once; __wb_once = 0)
#define KUNIT_EXPECT_SUPPRESSED_WARNING_COUNT(test, n)			\
	do {								\
		int __wb_i;						\
									\
		for (__wb_i = 0; __wb_i < (n); __wb_i++)		\
			kunit_info(test, "expect WARNING: not suppressed on this kernel\n"); \
	} while (0)
#endif

#endif /* __WB_TEST_ON_LTS_H */
