/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Workbench only, never mailed: what the KUnit test of the series uses of
 * Linux 7.3 that the long-term bases 6.12 and 6.1 lack. workbench/lib.sh
 * force-includes it into dma-fence-user-fence-test.c alone on those bases
 * (wb_compat_make_args), and with it the workbench's suites, which that
 * file includes.
 */
#ifndef __WB_TEST_ON_LTS_H
#define __WB_TEST_ON_LTS_H

#include <kunit/test.h>
#include <kunit/resource.h>
#include <linux/dma-fence.h>
#include <linux/hash.h>
#include <linux/hrtimer.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/version.h>

/*
 * A fence initialised with a NULL lock uses a lock inside the fence on 7.3
 * (its inline lock), what 7.3 asks of new users; 6.12 and 6.1 would take
 * NULL for the lock. Here such a fence gets a lock from a table hashed on
 * its address, so that two fences seldom share one: nothing but the helper
 * should serialise the callbacks of two fences. The test nests no fence
 * lock in another.
 */
#define WB_FENCE_LOCK_BITS	6
static spinlock_t wb_fence_locks[1 << WB_FENCE_LOCK_BITS] = {
	[0 ... (1 << WB_FENCE_LOCK_BITS) - 1] =
		__SPIN_LOCK_UNLOCKED(wb_fence_locks),
};

static inline void wb_dma_fence_init(struct dma_fence *fence,
				     const struct dma_fence_ops *ops,
				     spinlock_t *lock, u64 context, u64 seqno)
{
	if (!lock)
		lock = &wb_fence_locks[hash_ptr(fence, WB_FENCE_LOCK_BITS)];
	dma_fence_init(fence, ops, lock, context, seqno);
}
#define dma_fence_init wb_dma_fence_init

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

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 2, 0)
/* 6.2 added the variants that take the reservation lock themselves. */
#include <linux/dma-buf.h>
#define dma_buf_vmap_unlocked dma_buf_vmap
#define dma_buf_vunmap_unlocked dma_buf_vunmap
#endif

#ifndef kmalloc_obj
/* kmalloc_obj(var): one object of var's type, GFP_KERNEL (6.12 has it). */
#define kmalloc_obj(var) kmalloc(sizeof(var), GFP_KERNEL)
#endif

#ifndef KUNIT_EXPECT_MEMEQ
/* 6.0 has it, not Debian's 6.1; the failure message is less telling. */
#define KUNIT_EXPECT_MEMEQ(test, left, right, size)			\
	KUNIT_EXPECT_EQ(test, memcmp(left, right, size), 0)
#endif

#ifndef KUNIT_ARRAY_PARAM_DESC
/* 6.6 added it; generators then took no struct kunit. */
#define KUNIT_ARRAY_PARAM_DESC(name, array, desc_member)		\
	static const void *name##_gen_params(const void *prev, char *desc) \
	{								\
		typeof((array)[0]) *__next = prev ?			\
			((typeof(__next))prev) + 1 : (array);		\
		if (__next - (array) < ARRAY_SIZE((array))) {		\
			strscpy(desc, __next->desc_member,		\
				KUNIT_PARAM_DESC_SIZE);			\
			return __next;					\
		}							\
		return NULL;						\
	}
#endif

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 5, 0)
/* 6.5 added deferred actions; here, a resource whose free runs one. */
typedef void (kunit_action_t)(void *);

struct wb_action {
	kunit_action_t *action;
	void *data;
};

static inline int wb_action_init(struct kunit_resource *res, void *context)
{
	res->data = context;
	return 0;
}

static inline void wb_action_free(struct kunit_resource *res)
{
	struct wb_action *a = res->data;

	a->action(a->data);
	kfree(a);
}

static inline int kunit_add_action_or_reset(struct kunit *test,
					    kunit_action_t *action, void *data)
{
	struct wb_action *a = kmalloc(sizeof(*a), GFP_KERNEL);

	if (a) {
		a->action = action;
		a->data = data;
		if (kunit_alloc_resource(test, wb_action_init, wb_action_free,
					 GFP_KERNEL, a))
			return 0;
		kfree(a);
	}
	action(data);
	return -ENOMEM;
}
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
