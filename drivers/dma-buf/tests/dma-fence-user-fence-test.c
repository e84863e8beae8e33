// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit tests for dma-fence-user-fence
 *
 * Copyright (C) 2026 The dma-fence-user-fence authors
 */

#include <kunit/resource.h>
#include <kunit/test.h>
#include <linux/dma-fence.h>
#include <linux/dma-fence-user-fence.h>
#include <linux/atomic.h>
#include <linux/completion.h>
#include <linux/cpumask.h>
#include <linux/iosys-map.h>
#include <linux/kthread.h>
#include <linux/limits.h>
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/slab.h>

/* Fills every word of a test buffer that the helper must not write. */
#define POISON		0x5a5a5a5a5a5a5a5aULL
#define NR_WORDS	64

static DEFINE_SPINLOCK(mock_fence_lock);

static const char *mock_fence_name(struct dma_fence *fence)
{
	return "user-fence-test";
}

static const struct dma_fence_ops mock_fence_ops = {
	.get_driver_name = mock_fence_name,
	.get_timeline_name = mock_fence_name,
};

static int mock_fence_res_init(struct kunit_resource *res, void *context)
{
	res->data = context;
	return 0;
}

/* Signal what a test left pending, so that its user fences are freed too. */
static void mock_fence_res_free(struct kunit_resource *res)
{
	struct dma_fence *fence = res->data;

	dma_fence_signal(fence);
	dma_fence_put(fence);
}

static struct dma_fence *mock_fence(struct kunit *test)
{
	struct dma_fence *fence;

	fence = kzalloc(sizeof(*fence), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, fence);
	dma_fence_init(fence, &mock_fence_ops, &mock_fence_lock,
		       dma_fence_context_alloc(1), 1);
	KUNIT_ASSERT_NOT_NULL(test,
			      kunit_alloc_resource(test, mock_fence_res_init,
						   mock_fence_res_free,
						   GFP_KERNEL, fence));
	return fence;
}

/* Signal the way a driver does: inside a fence signalling section. */
static void mock_fence_signal(struct dma_fence *fence, int error)
{
	bool cookie = dma_fence_begin_signalling();

	if (error)
		dma_fence_set_error(fence, error);
	dma_fence_signal(fence);
	dma_fence_end_signalling(cookie);
}

static struct dma_fence_user_fence *user_fence(struct kunit *test)
{
	struct dma_fence_user_fence *user_fence = dma_fence_user_fence_alloc();

	KUNIT_ASSERT_NOT_NULL(test, user_fence);
	return user_fence;
}

enum map_kind {
	MAP_SYSTEM,
	MAP_IO,
};

struct map_param {
	const char *desc;
	enum map_kind kind;
};

static const struct map_param map_params[] = {
	{ "system memory", MAP_SYSTEM },
	{ "I/O memory", MAP_IO },
};

/*
 * The I/O memory cases map RAM as __iomem, which is sound where the I/O
 * accessors are plain CPU loads and stores on any kernel address (x86). UML
 * routes them through logic_iomem, which refuses plain memory. Where they
 * cannot run, the parameter generators leave the I/O cases out and
 * test_io_memory() reports one skip for all of them.
 */
static bool io_on_ram(void)
{
	return IS_ENABLED(CONFIG_X86);
}

static const void *map_gen_params(const void *prev, char *desc)
{
	const struct map_param *p = prev ? (const struct map_param *)prev + 1 : map_params;

	for (; p < map_params + ARRAY_SIZE(map_params); p++) {
		if (p->kind == MAP_IO && !io_on_ram())
			continue;
		strscpy(desc, p->desc, KUNIT_PARAM_DESC_SIZE);
		return p;
	}
	return NULL;
}

/* A poisoned buffer of NR_WORDS u64 and a map of it of the given kind. */
static u64 *test_buffer(struct kunit *test, struct iosys_map *map,
			enum map_kind kind)
{
	u64 *buf;
	int i;

	KUNIT_ASSERT_TRUE(test, kind == MAP_SYSTEM || io_on_ram());
	buf = kunit_kmalloc_array(test, NR_WORDS, sizeof(*buf), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, buf);
	for (i = 0; i < NR_WORDS; i++)
		buf[i] = POISON;

	if (kind == MAP_IO)
		iosys_map_set_vaddr_iomem(map, (void __iomem __force *)buf);
	else
		iosys_map_set_vaddr(map, buf);
	return buf;
}

static u64 *test_param_buffer(struct kunit *test, struct iosys_map *map)
{
	const struct map_param *p = test->param_value;

	return test_buffer(test, map, p->kind);
}

/* Every word but @skip still holds POISON. */
static void expect_untouched(struct kunit *test, const u64 *buf, int skip)
{
	int i;

	for (i = 0; i < NR_WORDS; i++)
		if (i != skip)
			KUNIT_EXPECT_EQ_MSG(test, buf[i], POISON, "word %d", i);
}

static void test_signalled_before_attach(struct kunit *test)
{
	struct dma_fence *fence = mock_fence(test);
	struct iosys_map map, loc;
	u64 *buf = test_param_buffer(test, &map);

	buf[3] = 0;
	loc = IOSYS_MAP_INIT_OFFSET(&map, 3 * sizeof(u64));
	mock_fence_signal(fence, 0);

	dma_fence_user_fence_attach(fence, user_fence(test), &loc, 42);

	KUNIT_EXPECT_EQ(test, buf[3], 42ULL);
	expect_untouched(test, buf, 3);
}

static void test_deferred(struct kunit *test)
{
	struct dma_fence *fence = mock_fence(test);
	struct iosys_map map, loc;
	u64 *buf = test_param_buffer(test, &map);

	buf[5] = 0;
	loc = IOSYS_MAP_INIT_OFFSET(&map, 5 * sizeof(u64));

	dma_fence_user_fence_attach(fence, user_fence(test), &loc, 7);
	KUNIT_EXPECT_EQ_MSG(test, buf[5], 0ULL, "written before the signal");

	mock_fence_signal(fence, 0);
	KUNIT_EXPECT_EQ(test, buf[5], 7ULL);
	expect_untouched(test, buf, 5);
}

static void test_signalled_with_error(struct kunit *test)
{
	struct dma_fence *fence = mock_fence(test);
	struct iosys_map map, loc;
	u64 *buf = test_param_buffer(test, &map);

	buf[0] = 0;
	loc = map;

	dma_fence_user_fence_attach(fence, user_fence(test), &loc, 9);
	mock_fence_signal(fence, -EIO);

	KUNIT_EXPECT_EQ(test, dma_fence_get_status(fence), -EIO);
	KUNIT_EXPECT_EQ(test, buf[0], 9ULL);
	expect_untouched(test, buf, 0);
}

static void test_many_on_one_fence(struct kunit *test)
{
	struct dma_fence *fence = mock_fence(test);
	struct iosys_map map;
	u64 *buf = test_param_buffer(test, &map);
	int i;

	for (i = 0; i < NR_WORDS; i++) {
		struct iosys_map loc = IOSYS_MAP_INIT_OFFSET(&map, i * sizeof(u64));

		buf[i] = 0;
		dma_fence_user_fence_attach(fence, user_fence(test), &loc,
					    1000 + i);
	}
	for (i = 0; i < NR_WORDS; i++)
		KUNIT_EXPECT_EQ_MSG(test, buf[i], 0ULL, "location %d early", i);

	mock_fence_signal(fence, 0);
	for (i = 0; i < NR_WORDS; i++)
		KUNIT_EXPECT_EQ_MSG(test, buf[i], 1000ULL + i, "location %d", i);
}

/* One visible verdict on the I/O path: run here, or say loudly why not. */
static void test_io_memory(struct kunit *test)
{
	struct dma_fence *fence = mock_fence(test);
	struct iosys_map map;
	u64 *buf;

	if (!io_on_ram())
		kunit_skip(test,
			   "all I/O memory cases left out: this arch's I/O accessors do not work on RAM; run kunit.py --arch=x86_64");

	buf = test_buffer(test, &map, MAP_IO);
	KUNIT_ASSERT_TRUE(test, map.is_iomem);
	buf[0] = 0;
	dma_fence_user_fence_attach(fence, user_fence(test), &map, 77);
	mock_fence_signal(fence, 0);
	KUNIT_EXPECT_EQ(test, buf[0], 77ULL);
	expect_untouched(test, buf, 0);
}

struct seqno_param {
	const char *desc;
	enum map_kind kind;
	u64 before;
	u64 seqno;
	u64 after;
};

/* @after is the larger of @before and @seqno: a location only moves up. */
static const struct seqno_param seqno_params[] = {
	{ "0 on 0, system", MAP_SYSTEM, 0, 0, 0 },
	{ "0 on 0, I/O", MAP_IO, 0, 0, 0 },
	{ "U64_MAX, system", MAP_SYSTEM, 0, U64_MAX, U64_MAX },
	{ "U64_MAX, I/O", MAP_IO, 0, U64_MAX, U64_MAX },
	{ "carry into high word, system", MAP_SYSTEM, 0xffffffffULL,
	  0x100000000ULL, 0x100000000ULL },
	{ "carry into high word, I/O", MAP_IO, 0xffffffffULL,
	  0x100000000ULL, 0x100000000ULL },
	{ "both words change, system", MAP_SYSTEM, 0x00000001ffffffffULL,
	  0x0000000300000005ULL, 0x0000000300000005ULL },
	{ "low word only, I/O", MAP_IO, 0x0000000700000001ULL,
	  0x0000000700000002ULL, 0x0000000700000002ULL },
	{ "smaller seqno keeps the location, system", MAP_SYSTEM, 100, 99, 100 },
	{ "smaller seqno keeps the location, I/O", MAP_IO, 100, 99, 100 },
};

static const void *seqno_gen_params(const void *prev, char *desc)
{
	const struct seqno_param *p = prev ? (const struct seqno_param *)prev + 1 : seqno_params;

	for (; p < seqno_params + ARRAY_SIZE(seqno_params); p++) {
		if (p->kind == MAP_IO && !io_on_ram())
			continue;
		strscpy(desc, p->desc, KUNIT_PARAM_DESC_SIZE);
		return p;
	}
	return NULL;
}

/* The location sits in the middle of a larger, poisoned buffer. */
static void test_seqno_values(struct kunit *test)
{
	const struct seqno_param *p = test->param_value;
	struct dma_fence *fence = mock_fence(test);
	struct iosys_map map, loc;
	u64 *buf = test_buffer(test, &map, p->kind);

	buf[NR_WORDS / 2] = p->before;
	loc = IOSYS_MAP_INIT_OFFSET(&map, NR_WORDS / 2 * sizeof(u64));

	dma_fence_user_fence_attach(fence, user_fence(test), &loc, p->seqno);
	KUNIT_EXPECT_EQ(test, buf[NR_WORDS / 2], p->before);

	mock_fence_signal(fence, 0);
	KUNIT_EXPECT_EQ(test, buf[NR_WORDS / 2], p->after);
	expect_untouched(test, buf, NR_WORDS / 2);
}

/* Out of order on one location: the largest signalled seqno stays. */
static void test_out_of_order(struct kunit *test)
{
	struct dma_fence *f5 = mock_fence(test), *f10 = mock_fence(test);
	struct dma_fence *f7 = mock_fence(test);
	struct iosys_map map, loc;
	u64 *buf = test_param_buffer(test, &map);

	buf[1] = 0;
	loc = IOSYS_MAP_INIT_OFFSET(&map, sizeof(u64));
	dma_fence_user_fence_attach(f5, user_fence(test), &loc, 5);
	dma_fence_user_fence_attach(f10, user_fence(test), &loc, 10);
	dma_fence_user_fence_attach(f7, user_fence(test), &loc, 7);

	mock_fence_signal(f10, 0);
	KUNIT_EXPECT_EQ(test, buf[1], 10ULL);
	mock_fence_signal(f5, 0);
	KUNIT_EXPECT_EQ_MSG(test, buf[1], 10ULL, "stranded below 10 by 5");
	mock_fence_signal(f7, 0);
	KUNIT_EXPECT_EQ_MSG(test, buf[1], 10ULL, "stranded below 10 by 7");
	expect_untouched(test, buf, 1);
}

#ifdef CONFIG_DMABUF_DEBUG
static void test_no_leak(struct kunit *test)
{
	unsigned long before = dma_fence_user_fence_debug_pending();
	struct dma_fence *early = mock_fence(test), *late = mock_fence(test);
	struct iosys_map map;
	u64 *buf = test_buffer(test, &map, MAP_SYSTEM);
	int i;

	mock_fence_signal(early, 0);
	for (i = 0; i < NR_WORDS; i++) {
		struct iosys_map loc = IOSYS_MAP_INIT_OFFSET(&map, i * sizeof(u64));

		buf[i] = 0;
		dma_fence_user_fence_attach(i & 1 ? early : late,
					    user_fence(test), &loc, i + 1);
	}
	/* One allocated and never attached, as on a driver's error path. */
	dma_fence_user_fence_free(user_fence(test));
	KUNIT_EXPECT_EQ(test, dma_fence_user_fence_debug_pending(),
			before + NR_WORDS / 2);

	mock_fence_signal(late, 0);
	KUNIT_EXPECT_EQ(test, dma_fence_user_fence_debug_pending(), before);
	for (i = 0; i < NR_WORDS; i++)
		KUNIT_EXPECT_EQ(test, buf[i], (u64)i + 1);
}

/* The documented hole: somebody else lowers a location the helper wrote. */
static void test_lowered_behind_helper(struct kunit *test)
{
	struct dma_fence *fence = mock_fence(test);
	struct iosys_map map;
	u64 *buf = test_buffer(test, &map, MAP_SYSTEM);
	unsigned long before;

	buf[0] = 0;
	mock_fence_signal(fence, 0);
	dma_fence_user_fence_attach(fence, user_fence(test), &map, 10);
	KUNIT_ASSERT_EQ(test, buf[0], 10ULL);
	/* Only now: memory reused from earlier cases may count as lowered. */
	before = dma_fence_user_fence_debug_lowered();

	/* Another writer, e.g. a second mapping of the same memory. */
	WRITE_ONCE(buf[0], 3);
	dma_fence_user_fence_attach(fence, user_fence(test), &map, 5);

	KUNIT_EXPECT_EQ(test, buf[0], 5ULL);
	KUNIT_EXPECT_EQ(test, dma_fence_user_fence_debug_lowered(), before + 1);
}
#else
static void test_no_leak(struct kunit *test)
{
	kunit_skip(test, "needs CONFIG_DMABUF_DEBUG for the pending count");
}

static void test_lowered_behind_helper(struct kunit *test)
{
	kunit_skip(test, "needs CONFIG_DMABUF_DEBUG");
}
#endif

/*
 * Misuse: each case announces the WARNING it provokes, so that the
 * workbench's log check can tell it from an unexpected one.
 */
static void expect_warning(struct kunit *test, const char *what)
{
	kunit_info(test, "expect WARNING: %s\n", what);
}

static void test_misuse_null_map(struct kunit *test)
{
	struct dma_fence *fence = mock_fence(test);
	struct iosys_map null_map = {};
	struct iosys_map map;
	u64 *buf = test_buffer(test, &map, MAP_SYSTEM);

	expect_warning(test, "NULL map");
	dma_fence_user_fence_attach(fence, user_fence(test), NULL, 1);
	expect_warning(test, "map of a NULL address");
	dma_fence_user_fence_attach(fence, user_fence(test), &null_map, 1);
	mock_fence_signal(fence, 0);
	expect_untouched(test, buf, -1);
}

static void test_misuse_null_fence(struct kunit *test)
{
	struct iosys_map map;
	u64 *buf = test_buffer(test, &map, MAP_SYSTEM);

	expect_warning(test, "NULL fence");
	dma_fence_user_fence_attach(NULL, user_fence(test), &map, 1);
	expect_untouched(test, buf, -1);
}

static void test_misuse_misaligned(struct kunit *test)
{
	struct dma_fence *fence = mock_fence(test);
	struct iosys_map map, loc;
	u64 *buf = test_buffer(test, &map, MAP_SYSTEM);

	loc = IOSYS_MAP_INIT_OFFSET(&map, 8 * sizeof(u64) + 4);
	expect_warning(test, "location not 8-byte aligned");
	dma_fence_user_fence_attach(fence, user_fence(test), &loc, U64_MAX);
	mock_fence_signal(fence, 0);
	expect_untouched(test, buf, -1);
}

static void test_misuse_attach_twice(struct kunit *test)
{
	struct dma_fence *fence = mock_fence(test), *other = mock_fence(test);
	struct dma_fence_user_fence *uf = user_fence(test);
	struct iosys_map map, loc;
	u64 *buf = test_buffer(test, &map, MAP_SYSTEM);

	buf[2] = 0;
	buf[4] = 0;
	loc = IOSYS_MAP_INIT_OFFSET(&map, 2 * sizeof(u64));
	dma_fence_user_fence_attach(fence, uf, &loc, 5);

	loc = IOSYS_MAP_INIT_OFFSET(&map, 4 * sizeof(u64));
	expect_warning(test, "user fence attached twice");
	dma_fence_user_fence_attach(other, uf, &loc, 6);
	expect_warning(test, "attached user fence freed");
	dma_fence_user_fence_free(uf);

	mock_fence_signal(other, 0);
	KUNIT_EXPECT_EQ_MSG(test, buf[4], 0ULL, "second attach wrote");
	mock_fence_signal(fence, 0);
	KUNIT_EXPECT_EQ(test, buf[2], 5ULL);
	buf[2] = POISON;
	buf[4] = POISON;
	expect_untouched(test, buf, -1);
}

#ifdef CONFIG_DMABUF_DEBUG
/* A user fence refused by attach is freed, not leaked. */
static void test_misuse_nothing_leaked(struct kunit *test)
{
	unsigned long before = dma_fence_user_fence_debug_pending();
	struct dma_fence *fence = mock_fence(test);
	struct iosys_map map;

	test_buffer(test, &map, MAP_SYSTEM);
	expect_warning(test, "NULL fence");
	dma_fence_user_fence_attach(NULL, user_fence(test), &map, 1);
	expect_warning(test, "NULL map");
	dma_fence_user_fence_attach(fence, user_fence(test), NULL, 1);
	KUNIT_EXPECT_EQ(test, dma_fence_user_fence_debug_pending(), before);
}
#else
static void test_misuse_nothing_leaked(struct kunit *test)
{
	kunit_skip(test, "needs CONFIG_DMABUF_DEBUG for the pending count");
}
#endif

/*
 * Stress on two CPUs. Two kthreads meet at a barrier before and after each
 * round, then race: one attaches while the other signals the same fence, or
 * both signal fences whose user fences target the same location. After
 * each round the location must hold exactly the expected value.
 */
#define STRESS_ROUNDS	100000
#define STRESS_LOCS	8

struct stress {
	struct kunit *test;
	atomic_t arrived;
	struct iosys_map map;
	u64 *buf;
	struct dma_fence *fence[2];
	struct dma_fence_user_fence *uf[2];
	bool signal_both;
	unsigned long wrong;
	int first_wrong;
	u64 first_wrong_value;
	unsigned long alloc_failed;
	struct completion done[2];
};

/*
 * Wait for the other thread; orders everything before it against after.
 * The spin yields when asked to, so that a slow partner (preempted, or
 * waiting for work queued on this CPU) neither stalls RCU nor deadlocks.
 */
static void stress_barrier(struct stress *st, int *n)
{
	*n += 2;
	atomic_inc_return(&st->arrived);
	while (atomic_read_acquire(&st->arrived) < *n) {
		cond_resched();
		cpu_relax();
	}
}

static struct dma_fence *stress_fence(void)
{
	struct dma_fence *fence = kzalloc(sizeof(*fence), GFP_KERNEL);

	if (fence)
		dma_fence_init(fence, &mock_fence_ops, &mock_fence_lock,
			       dma_fence_context_alloc(1), 1);
	return fence;
}

/* Allocate a round's fences and user fences, all or none. */
static bool stress_prepare(struct stress *st)
{
	int i;

	for (i = 0; i < 2; i++) {
		st->fence[i] = stress_fence();
		st->uf[i] = dma_fence_user_fence_alloc();
	}
	if (st->fence[0] && st->fence[1] && st->uf[0] && st->uf[1])
		return true;

	for (i = 0; i < 2; i++) {
		if (st->fence[i]) {
			dma_fence_signal(st->fence[i]);
			dma_fence_put(st->fence[i]);
		}
		dma_fence_user_fence_free(st->uf[i]);
		st->fence[i] = NULL;
	}
	return false;
}

/* Thread 0 prepares each round, attaches or signals, and checks. */
static int stress_thread0(void *arg)
{
	struct stress *st = arg;
	int n = 0, r;

	for (r = 0; r < STRESS_ROUNDS; r++) {
		struct iosys_map loc = IOSYS_MAP_INIT_OFFSET(&st->map,
				(r % STRESS_LOCS) * sizeof(u64));
		u64 seqno = 2 * (u64)r + 2, value;
		bool ok = stress_prepare(st);

		st->signal_both = r & 1;
		if (!ok)
			st->alloc_failed++;
		if (ok && st->signal_both) {
			/* Two fences carry seqnos for loc; they race below. */
			dma_fence_user_fence_attach(st->fence[0], st->uf[0],
						    &loc, seqno - 1);
			dma_fence_user_fence_attach(st->fence[1], st->uf[1],
						    &loc, seqno);
		}

		stress_barrier(st, &n);
		if (ok && st->signal_both)
			dma_fence_signal(st->fence[0]);
		else if (ok)
			dma_fence_user_fence_attach(st->fence[0], st->uf[0],
						    &loc, seqno);
		stress_barrier(st, &n);

		if (!ok)
			continue;
		value = iosys_map_rd(&loc, 0, u64);
		if (value != seqno && !st->wrong++) {
			st->first_wrong = r;
			st->first_wrong_value = value;
		}
		if (!st->signal_both) {
			dma_fence_user_fence_free(st->uf[1]);
			dma_fence_signal(st->fence[1]);
		}
		dma_fence_put(st->fence[0]);
		dma_fence_put(st->fence[1]);
		cond_resched();
	}
	complete(&st->done[0]);
	return 0;
}

/* Thread 1 signals fence 0 (attach race) or fence 1 (signal race). */
static int stress_thread1(void *arg)
{
	struct stress *st = arg;
	int n = 0, r;

	for (r = 0; r < STRESS_ROUNDS; r++) {
		struct dma_fence *fence;

		stress_barrier(st, &n);
		fence = st->signal_both ? st->fence[1] : st->fence[0];
		if (fence)
			dma_fence_signal(fence);
		stress_barrier(st, &n);
	}
	complete(&st->done[1]);
	return 0;
}

static void test_stress_two_cpus(struct kunit *test)
{
	struct task_struct *thread[2];
	struct stress *st;
	unsigned long before = 0;
	int i, cpu[2];

	if (num_online_cpus() < 2)
		kunit_skip(test,
			   "needs two online CPUs; run with kunit.py --arch=x86_64 --qemu_args='-smp 2'");

	st = kunit_kzalloc(test, sizeof(*st), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, st);
	st->test = test;
	st->buf = kunit_kcalloc(test, STRESS_LOCS, sizeof(u64), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, st->buf);
	iosys_map_set_vaddr(&st->map, st->buf);
	atomic_set(&st->arrived, 0);
	init_completion(&st->done[0]);
	init_completion(&st->done[1]);
#ifdef CONFIG_DMABUF_DEBUG
	before = dma_fence_user_fence_debug_pending();
#endif

	cpu[0] = cpumask_first(cpu_online_mask);
	cpu[1] = cpumask_next(cpu[0], cpu_online_mask);
	thread[0] = kthread_create(stress_thread0, st, "uf-stress/0");
	KUNIT_ASSERT_FALSE(test, IS_ERR(thread[0]));
	thread[1] = kthread_create(stress_thread1, st, "uf-stress/1");
	if (IS_ERR(thread[1])) {
		kthread_stop(thread[0]);
		KUNIT_FAIL(test, "cannot create the second thread");
		return;
	}
	for (i = 0; i < 2; i++) {
		kthread_bind(thread[i], cpu[i]);
		wake_up_process(thread[i]);
	}
	wait_for_completion(&st->done[0]);
	wait_for_completion(&st->done[1]);

	kunit_info(test, "%d rounds on CPUs %d and %d, %lu allocation failures\n",
		   STRESS_ROUNDS, cpu[0], cpu[1], st->alloc_failed);
	KUNIT_EXPECT_EQ_MSG(test, st->wrong, 0UL,
			    "first in round %d: read %llu, expected %llu",
			    st->first_wrong, st->first_wrong_value,
			    2 * (u64)st->first_wrong + 2);
	KUNIT_EXPECT_EQ(test, st->alloc_failed, 0UL);
	for (i = 0; i < STRESS_LOCS; i++)
		KUNIT_EXPECT_EQ_MSG(test, st->buf[i],
				    2 * (u64)(STRESS_ROUNDS - STRESS_LOCS + i) + 2,
				    "location %d", i);
#ifdef CONFIG_DMABUF_DEBUG
	KUNIT_EXPECT_EQ(test, dma_fence_user_fence_debug_pending(), before);
#endif
}

/*
 * failslab fails the allocation: alloc returns NULL, and the next one works.
 * GFP_KERNEL allocations fail only with failslab's ignore-gfp-wait off, which
 * the workbench's QEMU run sets from its /init before loading the suite.
 */
static void test_alloc_failure(struct kunit *test)
{
#ifdef CONFIG_FAILSLAB
	struct dma_fence_user_fence *uf;
	bool armed;

	current->fail_nth = 1;
	uf = dma_fence_user_fence_alloc();
	armed = !current->fail_nth;
	current->fail_nth = 0;
	if (!armed) {
		dma_fence_user_fence_free(uf);
		kunit_skip(test,
			   "failslab ignores GFP_KERNEL: write N to failslab/ignore-gfp-wait in debugfs first");
	}
	KUNIT_EXPECT_PTR_EQ(test, uf, NULL);
	dma_fence_user_fence_free(uf);

	uf = dma_fence_user_fence_alloc();
	KUNIT_EXPECT_NOT_ERR_OR_NULL(test, uf);
	dma_fence_user_fence_free(uf);
#else
	kunit_skip(test, "needs CONFIG_FAILSLAB");
#endif
}

static struct kunit_case dma_fence_user_fence_cases[] = {
	KUNIT_CASE_PARAM(test_signalled_before_attach, map_gen_params),
	KUNIT_CASE_PARAM(test_deferred, map_gen_params),
	KUNIT_CASE_PARAM(test_signalled_with_error, map_gen_params),
	KUNIT_CASE_PARAM(test_many_on_one_fence, map_gen_params),
	KUNIT_CASE(test_io_memory),
	KUNIT_CASE_PARAM(test_seqno_values, seqno_gen_params),
	KUNIT_CASE_PARAM(test_out_of_order, map_gen_params),
	KUNIT_CASE(test_no_leak),
	KUNIT_CASE(test_lowered_behind_helper),
	KUNIT_CASE(test_alloc_failure),
	{}
};

static struct kunit_suite dma_fence_user_fence_suite = {
	.name = "dma-buf-user-fence",
	.test_cases = dma_fence_user_fence_cases,
};

static struct kunit_case dma_fence_user_fence_misuse_cases[] = {
	KUNIT_CASE(test_misuse_null_map),
	KUNIT_CASE(test_misuse_null_fence),
	KUNIT_CASE(test_misuse_misaligned),
	KUNIT_CASE(test_misuse_attach_twice),
	KUNIT_CASE(test_misuse_nothing_leaked),
	{}
};

static struct kunit_suite dma_fence_user_fence_misuse_suite = {
	.name = "dma-buf-user-fence-misuse",
	.test_cases = dma_fence_user_fence_misuse_cases,
};

static struct kunit_case dma_fence_user_fence_stress_cases[] = {
	KUNIT_CASE(test_stress_two_cpus),
	{}
};

static struct kunit_suite dma_fence_user_fence_stress_suite = {
	.name = "dma-buf-user-fence-stress",
	.test_cases = dma_fence_user_fence_stress_cases,
};

kunit_test_suites(&dma_fence_user_fence_suite,
		  &dma_fence_user_fence_misuse_suite,
		  &dma_fence_user_fence_stress_suite);

MODULE_DESCRIPTION("KUnit tests for dma-fence-user-fence");
MODULE_LICENSE("GPL");
