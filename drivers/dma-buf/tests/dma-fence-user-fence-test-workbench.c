// SPDX-License-Identifier: GPL-2.0-only
/*
 * Workbench only, never mailed (series/7-kunit-workbench): the cases that
 * exist for the workbench's mutants and debug runs, beside the mailed
 * suite. Included at the end of dma-fence-user-fence-test.c, so that they
 * use its helpers and are built into its module.
 */

#include <linux/cpumask.h>
#include <linux/dma-buf.h>
#include <linux/kthread.h>
#include <linux/math.h>
#include <linux/minmax.h>
#include <linux/moduleparam.h>
#include <linux/sched.h>

/* Many user fences on one fence, each its location: stored at the signal. */
static void test_many_on_one_fence(struct kunit *test)
{
	struct dma_fence *fence = mock_fence(test);
	struct iosys_map map;
	u64 *buf = test_map_buffer(test, &map);
	int i;

	for (i = 0; i < NR_WORDS; i++) {
		struct iosys_map loc = IOSYS_MAP_INIT_OFFSET(&map, i * sizeof(u64));

		loc_set(&buf[i], 0);
		dma_fence_user_fence_attach(fence, user_fence(test), &loc,
					    1000 + i);
	}
	for (i = 0; i < NR_WORDS; i++)
		KUNIT_EXPECT_EQ_MSG(test, loc_get(&buf[i]), 0ULL, "location %d early", i);

	mock_fence_signal(fence, 0);
	for (i = 0; i < NR_WORDS; i++)
		KUNIT_EXPECT_EQ_MSG(test, loc_get(&buf[i]), 1000ULL + i, "location %d", i);
}

/*
 * Fences of independent jobs on one location, signalling out of order: the
 * location holds the largest signalled seqno and is never lowered, but 10
 * then says nothing about 5. The documented meaning of the value needs a
 * timeline, test_timeline_chain below.
 */
static void test_out_of_order(struct kunit *test)
{
	struct dma_fence *f5 = mock_fence(test), *f10 = mock_fence(test);
	struct dma_fence *f7 = mock_fence(test);
	struct iosys_map map, loc;
	u64 *buf = test_map_buffer(test, &map);

	loc_set(&buf[1], 0);
	loc = IOSYS_MAP_INIT_OFFSET(&map, sizeof(u64));
	dma_fence_user_fence_attach(f5, user_fence(test), &loc, 5);
	dma_fence_user_fence_attach(f10, user_fence(test), &loc, 10);
	dma_fence_user_fence_attach(f7, user_fence(test), &loc, 7);

	mock_fence_signal(f10, 0);
	KUNIT_EXPECT_EQ(test, loc_get(&buf[1]), 10ULL);
	mock_fence_signal(f5, 0);
	KUNIT_EXPECT_EQ_MSG(test, loc_get(&buf[1]), 10ULL, "lowered below 10 by 5");
	mock_fence_signal(f7, 0);
	KUNIT_EXPECT_EQ_MSG(test, loc_get(&buf[1]), 10ULL, "lowered below 10 by 7");
	expect_untouched(test, buf, 1);
}

/*
 * Each path drops the reference once: the test holds a second one, so a
 * double put would not reach zero and hide in a saturated refcount, and
 * a missing one would leave three.
 */
static void test_exactly_one_release(struct kunit *test)
{
	struct dma_fence *fence = mock_fence(test), *done = mock_fence(test);
	struct iosys_map map;
	struct storage *st[4];
	int i;

	test_buffer(test, &map, MAP_SYSTEM);
	mock_fence_signal(done, 0);
	for (i = 0; i < ARRAY_SIZE(st); i++) {
		st[i] = storage(test, NULL);
		kref_get(&st[i]->ref);
	}

	dma_fence_user_fence_attach(fence, stored_user_fence(test, st[0]), &map, 1);
	dma_fence_user_fence_attach(done, stored_user_fence(test, st[1]), &map, 2);
	dma_fence_user_fence_free(stored_user_fence(test, st[2]));
	expect_warnings(test, 1,
			dma_fence_user_fence_attach(NULL, stored_user_fence(test, st[3]),
						    &map, 3));
	mock_fence_signal(fence, 0);

	for (i = 0; i < ARRAY_SIZE(st); i++) {
		KUNIT_EXPECT_TRUE_MSG(test, wait_until(kref_read(&st[i]->ref) <= 1),
				      "path %d never released", i);
		KUNIT_EXPECT_EQ_MSG(test, kref_read(&st[i]->ref), 1U, "path %d", i);
		KUNIT_EXPECT_EQ_MSG(test, atomic_read(&st[i]->released), 0,
				    "path %d", i);
	}
}

/*
 * The lifetime rule at its limit: the location's memory is freed by the
 * storage release itself, the earliest moment the contract allows. Run
 * under KASAN, a store after that is a use-after-free report.
 */
static void freeing_release(struct kref *ref)
{
	struct storage *st = container_of(ref, struct storage, ref);
	const u64 *mem = st->loc;

	st->at_release = loc_get(mem);
	st->loc = NULL;
	kfree(mem);
	storage_release(ref);
}

static struct storage *freed_at_release(struct kunit *test,
					struct iosys_map *loc,
					struct dma_fence_user_fence **uf)
{
	u64 *mem = kmalloc(sizeof(*mem), GFP_KERNEL);
	struct storage *st;

	KUNIT_ASSERT_NOT_NULL(test, mem);
	loc_set(mem, 0);
	iosys_map_set_vaddr(loc, mem);
	st = storage(test, mem);
	*uf = dma_fence_user_fence_alloc(&st->ref, freeing_release);
	if (!*uf)
		kfree(mem);
	KUNIT_ASSERT_NOT_NULL(test, *uf);
	return st;
}

static void test_free_at_release(struct kunit *test)
{
	struct dma_fence *fence = mock_fence(test), *done = mock_fence(test);
	struct dma_fence_user_fence *uf;
	struct iosys_map loc;
	struct storage *st = freed_at_release(test, &loc, &uf);

	dma_fence_user_fence_attach(fence, uf, &loc, 3);
	mock_fence_signal(fence, 0);
	wait_released(test, st);
	KUNIT_EXPECT_EQ(test, atomic_read(&st->released), 1);
	KUNIT_EXPECT_EQ(test, st->at_release, 3ULL);

	/* The same on the immediate path. */
	st = freed_at_release(test, &loc, &uf);
	mock_fence_signal(done, 0);
	dma_fence_user_fence_attach(done, uf, &loc, 4);
	wait_released(test, st);
	KUNIT_EXPECT_EQ(test, atomic_read(&st->released), 1);
	KUNIT_EXPECT_EQ(test, st->at_release, 4ULL);
}

/*
 * A release that does what a driver's does: the location lives in a
 * dma-buf, mapped with dma_buf_vmap_unlocked(), and the release unmaps it
 * and puts the dma-buf, both of which take the dma-buf's reservation lock.
 * The fence signals inside a fence signalling section, where that lock must
 * not be taken: under lockdep and DEBUG_ATOMIC_SLEEP a release called from
 * the fence callback is a report, and the release records its context.
 */
static struct sg_table *test_dmabuf_map(struct dma_buf_attachment *attach,
					enum dma_data_direction dir)
{
	return ERR_PTR(-EOPNOTSUPP);
}

static void test_dmabuf_unmap(struct dma_buf_attachment *attach,
			      struct sg_table *sgt, enum dma_data_direction dir)
{
}

static void test_dmabuf_release(struct dma_buf *dmabuf)
{
	kfree(dmabuf->priv);
}

static int test_dmabuf_vmap(struct dma_buf *dmabuf, struct iosys_map *map)
{
	iosys_map_set_vaddr(map, dmabuf->priv);
	return 0;
}

static void test_dmabuf_vunmap(struct dma_buf *dmabuf, struct iosys_map *map)
{
}

static const struct dma_buf_ops test_dmabuf_ops = {
	.map_dma_buf = test_dmabuf_map,
	.unmap_dma_buf = test_dmabuf_unmap,
	.release = test_dmabuf_release,
	.vmap = test_dmabuf_vmap,
	.vunmap = test_dmabuf_vunmap,
};

struct dmabuf_storage {
	struct kref ref;
	struct dma_buf *dmabuf;
	struct iosys_map map;
	u64 at_release;
	bool released_in_task;
	bool released_atomic;
	struct completion done;
};

static void dmabuf_storage_release(struct kref *ref)
{
	struct dmabuf_storage *ds = container_of(ref, typeof(*ds), ref);

	might_sleep();
	ds->released_in_task = in_task();
	ds->released_atomic = irqs_disabled() || preempt_count();
	ds->at_release = loc_get(ds->map.vaddr);
	dma_buf_vunmap_unlocked(ds->dmabuf, &ds->map);
	dma_buf_put(ds->dmabuf);
	complete(&ds->done);
}

/* A one-page dma-buf, vmapped, its first word at 0, with one reference. */
static struct dmabuf_storage *dmabuf_storage(struct kunit *test)
{
	struct dmabuf_storage *ds = kunit_kzalloc(test, sizeof(*ds), GFP_KERNEL);
	DEFINE_DMA_BUF_EXPORT_INFO(exp_info);
	void *mem;
	int ret;

	KUNIT_ASSERT_NOT_NULL(test, ds);
	mem = kzalloc(PAGE_SIZE, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, mem);
	exp_info.ops = &test_dmabuf_ops;
	exp_info.size = PAGE_SIZE;
	exp_info.flags = O_RDWR;
	exp_info.priv = mem;
	ds->dmabuf = dma_buf_export(&exp_info);
	if (IS_ERR(ds->dmabuf))
		kfree(mem);
	KUNIT_ASSERT_FALSE(test, IS_ERR(ds->dmabuf));
	ret = dma_buf_vmap_unlocked(ds->dmabuf, &ds->map);
	if (ret)
		dma_buf_put(ds->dmabuf);
	KUNIT_ASSERT_EQ(test, ret, 0);
	kref_init(&ds->ref);
	init_completion(&ds->done);
	return ds;
}

/* The suite's module references, where it is a module that can unload. */
static int test_module_refs(void)
{
#if defined(MODULE) && IS_ENABLED(CONFIG_MODULE_UNLOAD)
	return module_refcount(THIS_MODULE);
#else
	return 0;
#endif
}

static void test_dma_buf_release(struct kunit *test)
{
	int refs = test_module_refs();
	struct dma_fence *fence = mock_fence(test), *done = mock_fence(test);
	struct dmabuf_storage *deferred = dmabuf_storage(test);
	struct dmabuf_storage *immediate = dmabuf_storage(test);
	struct dma_fence_user_fence *uf[2];
	bool cookie;

	uf[0] = dma_fence_user_fence_alloc(&deferred->ref, dmabuf_storage_release);
	if (!uf[0])
		kref_put(&deferred->ref, dmabuf_storage_release);
	uf[1] = dma_fence_user_fence_alloc(&immediate->ref, dmabuf_storage_release);
	if (!uf[1])
		kref_put(&immediate->ref, dmabuf_storage_release);
	if (!uf[0] || !uf[1]) {
		dma_fence_user_fence_free(uf[0]);
		dma_fence_user_fence_free(uf[1]);
	}
	KUNIT_ASSERT_TRUE(test, uf[0] && uf[1]);
	mock_fence_signal(done, 0);

	dma_fence_user_fence_attach(fence, uf[0], &deferred->map, 5);
	cookie = dma_fence_begin_signalling();
	dma_fence_signal(fence);
	dma_fence_user_fence_attach(done, uf[1], &immediate->map, 6);
	dma_fence_end_signalling(cookie);

	KUNIT_ASSERT_TRUE(test, wait_for_completion_timeout(&deferred->done, 10 * HZ));
	KUNIT_ASSERT_TRUE(test, wait_for_completion_timeout(&immediate->done, 10 * HZ));
	KUNIT_EXPECT_EQ(test, deferred->at_release, 5ULL);
	KUNIT_EXPECT_EQ(test, immediate->at_release, 6ULL);
	KUNIT_EXPECT_TRUE(test, deferred->released_in_task);
	KUNIT_EXPECT_FALSE(test, deferred->released_atomic);
	KUNIT_EXPECT_TRUE(test, immediate->released_in_task);
	KUNIT_EXPECT_FALSE(test, immediate->released_atomic);

	/* Each dma-buf holds its exporter's module until its last fput(). */
	KUNIT_EXPECT_TRUE_MSG(test, wait_until(test_module_refs() == refs),
			      "the dma-bufs' module references were never dropped");
}

/*
 * A debugging aid, not a promise of the contract: while the first attach is
 * pending, a second attach or a free of the same user fence is a WARN and
 * changes nothing. Once the user fence is stored or refused it may have
 * been freed, and nothing can catch a second use then.
 */
static void test_misuse_attach_twice(struct kunit *test)
{
	struct dma_fence *fence = mock_fence(test), *other = mock_fence(test);
	struct dma_fence_user_fence *uf = user_fence(test);
	struct iosys_map map, loc;
	u64 *buf = test_buffer(test, &map, MAP_SYSTEM);

	loc_set(&buf[2], 0);
	loc_set(&buf[4], 0);
	loc = IOSYS_MAP_INIT_OFFSET(&map, 2 * sizeof(u64));
	dma_fence_user_fence_attach(fence, uf, &loc, 5);

	loc = IOSYS_MAP_INIT_OFFSET(&map, 4 * sizeof(u64));
	expect_warnings(test, 1, dma_fence_user_fence_attach(other, uf, &loc, 6));
	expect_warnings(test, 1, dma_fence_user_fence_free(uf));

	mock_fence_signal(other, 0);
	KUNIT_EXPECT_EQ_MSG(test, loc_get(&buf[4]), 0ULL, "second attach wrote");
	mock_fence_signal(fence, 0);
	KUNIT_EXPECT_EQ(test, loc_get(&buf[2]), 5ULL);
	buf[2] = POISON;
	buf[4] = POISON;
	expect_untouched(test, buf, -1);
}

/*
 * failslab fails the allocation: alloc returns NULL and the caller keeps its
 * reference; the next one works. GFP_KERNEL allocations fail only with
 * failslab's ignore-gfp-wait off, which the workbench's QEMU runs set from
 * their /init before loading the suite.
 */
static void test_alloc_failure(struct kunit *test)
{
#ifdef CONFIG_FAILSLAB
	struct storage *st = storage(test, NULL);
	struct dma_fence_user_fence *uf;
	bool armed;

	current->fail_nth = 1;
	uf = dma_fence_user_fence_alloc(&st->ref, storage_release);
	armed = !current->fail_nth;
	current->fail_nth = 0;
	if (!armed) {
		dma_fence_user_fence_free(uf);
		kunit_skip(test,
			   "failslab ignores GFP_KERNEL: write N to failslab/ignore-gfp-wait in debugfs first");
	}
	KUNIT_EXPECT_PTR_EQ(test, uf, NULL);
	KUNIT_EXPECT_EQ(test, kref_read(&st->ref), 1U);

	uf = dma_fence_user_fence_alloc(&st->ref, storage_release);
	KUNIT_EXPECT_NOT_ERR_OR_NULL(test, uf);
	dma_fence_user_fence_free(uf);
	wait_released(test, st);
#else
	kunit_skip(test, "needs CONFIG_FAILSLAB");
#endif
}

/*
 * Stress on two CPUs. Two kthreads meet at a barrier before and after each
 * round, then race: one attaches while the other signals the same fence, or
 * both signal fences whose user fences target the same location. Every
 * fence has a lock of its own, so that only the helper's location lock
 * serialises two callbacks on one location. After each round the location
 * must hold exactly the expected value.
 */
#define STRESS_LOCS	8

static unsigned int stress_rounds = 100000;
module_param(stress_rounds, uint, 0444);
MODULE_PARM_DESC(stress_rounds,
		 "rounds of the two-CPU stress case (default 100000; rounded up to a multiple of 8)");

struct stress {
	unsigned int rounds;
	atomic_t arrived;
	struct iosys_map map;
	u64 *buf;
	struct dma_fence *fence[2];
	struct dma_fence_user_fence *uf[2];
	bool signal_both;
	struct kref storage;	/* the test's, and one per user fence */
	unsigned long wrong;
	unsigned int first_wrong;
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

/* The test holds a reference on the storage throughout: never called. */
static void stress_storage_release(struct kref *ref)
{
}

static struct dma_fence_user_fence *stress_user_fence(struct stress *st)
{
	struct dma_fence_user_fence *uf;

	kref_get(&st->storage);
	uf = dma_fence_user_fence_alloc(&st->storage, stress_storage_release);
	if (!uf)
		kref_put(&st->storage, stress_storage_release);
	return uf;
}

/* Allocate a round's fences and user fences, all or none. */
static bool stress_prepare(struct stress *st)
{
	int i;

	for (i = 0; i < 2; i++) {
		st->fence[i] = mock_fence_create();
		st->uf[i] = stress_user_fence(st);
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
	unsigned int r;
	int n = 0;

	for (r = 0; r < st->rounds; r++) {
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
		value = loc_get(&st->buf[r % STRESS_LOCS]);
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
	kthread_complete_and_exit(&st->done[0], 0);
}

/* Thread 1 signals fence 0 (attach race) or fence 1 (signal race). */
static int stress_thread1(void *arg)
{
	struct stress *st = arg;
	unsigned int r;
	int n = 0;

	for (r = 0; r < st->rounds; r++) {
		struct dma_fence *fence;

		stress_barrier(st, &n);
		fence = st->signal_both ? st->fence[1] : st->fence[0];
		if (fence)
			dma_fence_signal(fence);
		stress_barrier(st, &n);
	}
	kthread_complete_and_exit(&st->done[1], 0);
}

/*
 * Run @fn[0] on the first online CPU and @fn[1] on the second, with @data,
 * and wait until each has completed @done[i]. False if a thread could not
 * be created, which fails the case.
 */
static bool run_on_two_cpus(struct kunit *test, int (*const fn[2])(void *),
			    void *data, const char *name,
			    struct completion *done, int *cpu)
{
	struct task_struct *thread[2];
	int i;

	cpu[0] = cpumask_first(cpu_online_mask);
	cpu[1] = cpumask_next(cpu[0], cpu_online_mask);
	for (i = 0; i < 2; i++) {
		thread[i] = kthread_create(fn[i], data, "%s/%d", name, i);
		if (IS_ERR(thread[i])) {
			if (i)
				kthread_stop(thread[0]);
			KUNIT_FAIL(test, "cannot create thread %d", i);
			return false;
		}
	}
	for (i = 0; i < 2; i++) {
		kthread_bind(thread[i], cpu[i]);
		wake_up_process(thread[i]);
	}
	wait_for_completion(&done[0]);
	wait_for_completion(&done[1]);
	return true;
}

static void test_stress_two_cpus(struct kunit *test)
{
	int (*const fn[2])(void *) = { stress_thread0, stress_thread1 };
	struct stress *st;
	int i, cpu[2];

	if (num_online_cpus() < 2)
		kunit_skip(test,
			   "needs two online CPUs; run with kunit.py --arch=x86_64 --qemu_args='-smp 2'");

	st = kunit_kzalloc(test, sizeof(*st), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, st);
	st->buf = kunit_kcalloc(test, STRESS_LOCS, sizeof(u64), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, st->buf);
	iosys_map_set_vaddr(&st->map, st->buf);
	/* Whole turns over the locations, for the final check below. */
	st->rounds = roundup(max_t(unsigned int, stress_rounds, STRESS_LOCS),
			     STRESS_LOCS);
	atomic_set(&st->arrived, 0);
	kref_init(&st->storage);
	init_completion(&st->done[0]);
	init_completion(&st->done[1]);

	if (!run_on_two_cpus(test, fn, st, "uf-stress", st->done, cpu))
		return;

	kunit_info(test, "%u rounds on CPUs %d and %d, %lu allocation failures\n",
		   st->rounds, cpu[0], cpu[1], st->alloc_failed);
	KUNIT_EXPECT_EQ_MSG(test, st->wrong, 0UL,
			    "first in round %u: read %llu, expected %llu",
			    st->first_wrong, st->first_wrong_value,
			    2 * (u64)st->first_wrong + 2);
	KUNIT_EXPECT_EQ(test, st->alloc_failed, 0UL);
	for (i = 0; i < STRESS_LOCS; i++)
		KUNIT_EXPECT_EQ_MSG(test, loc_get(&st->buf[i]),
				    2 * (u64)(st->rounds - STRESS_LOCS + i) + 2,
				    "location %d", i);
	KUNIT_EXPECT_TRUE_MSG(test, wait_until(kref_read(&st->storage) == 1),
			      "the stress user fences were never all released");
}

/*
 * The 32-bit store on two CPUs: one thread has the helper store values whose
 * high word changes, low word first, the other reads the location high word
 * first, as the documentation tells a 32-bit reader to. It must never
 * assemble a value above the one being stored: stored the other way round,
 * (0x1ffffffff -> 0x200000000) shows 0x2ffffffff for a moment. A 64-bit
 * kernel stores the value at once, and the case is for 32-bit kernels.
 */
static unsigned int split_rounds = 20000;
module_param(split_rounds, uint, 0444);
MODULE_PARM_DESC(split_rounds,
		 "rounds of the two-CPU 32-bit store case (default 20000)");

struct split {
	unsigned int rounds;
	u64 *loc;
	u32 step;		/* whose value is being stored, published first */
	bool stop;
	unsigned long reads;
	unsigned long above;
	u64 first_above;
	u64 first_target;
	unsigned long alloc_failed;
	struct kref storage;	/* the test's, and one per user fence */
	struct completion done[2];
};

/*
 * The value of each step changes the high word, and sets both words apart:
 * (2r) << 32 | U32_MAX, then (2r + 1) << 32. The step is published rather
 * than the value, which a 32-bit kernel would write in two halves, so that
 * the reader cannot see it torn.
 */
static u64 split_seqno(u32 step)
{
	return (u64)step << 32 | (step & 1 ? 0 : U32_MAX);
}

static int split_writer(void *arg)
{
	struct split *sp = arg;
	struct iosys_map map;
	unsigned int r;
	int i;

	iosys_map_set_vaddr(&map, sp->loc);
	for (r = 0; r < sp->rounds; r++) {
		for (i = 0; i < 2; i++) {
			u32 step = 2 * r + i;
			struct dma_fence *fence = mock_fence_create();
			struct dma_fence_user_fence *uf = NULL;

			if (fence) {
				kref_get(&sp->storage);
				uf = dma_fence_user_fence_alloc(&sp->storage,
								stress_storage_release);
				if (!uf)
					kref_put(&sp->storage, stress_storage_release);
			}
			if (!uf) {
				sp->alloc_failed++;
				if (fence) {
					dma_fence_signal(fence);
					dma_fence_put(fence);
				}
				continue;
			}
			dma_fence_user_fence_attach(fence, uf, &map,
						    split_seqno(step));
			WRITE_ONCE(sp->step, step);
			smp_wmb();	/* the step, then the value */
			dma_fence_signal(fence);
			dma_fence_put(fence);
		}
		cond_resched();
	}
	WRITE_ONCE(sp->stop, true);
	kthread_complete_and_exit(&sp->done[0], 0);
}

static int split_reader(void *arg)
{
	struct split *sp = arg;
	const u32 *word = (const u32 *)sp->loc;

	while (!READ_ONCE(sp->stop)) {
		u32 hi, lo;
		u64 v, t;

		hi = le32_to_cpu((__force __le32)READ_ONCE(word[1]));
		smp_rmb();	/* the high word, then the low word */
		lo = le32_to_cpu((__force __le32)READ_ONCE(word[0]));
		smp_rmb();	/* the value, then the step it was stored for */
		t = split_seqno(READ_ONCE(sp->step));
		v = (u64)hi << 32 | lo;
		if (v > t && !sp->above++) {
			sp->first_above = v;
			sp->first_target = t;
		}
		sp->reads++;
		if (!(sp->reads % 1024))
			cond_resched();
	}
	kthread_complete_and_exit(&sp->done[1], 0);
}

static void test_split_store_two_cpus(struct kunit *test)
{
	int (*const fn[2])(void *) = { split_writer, split_reader };
	struct split *sp;
	int cpu[2];

	if (IS_ENABLED(CONFIG_64BIT))
		kunit_skip(test,
			   "a 64-bit kernel stores the value at once; run with kunit.py --arch=i386 --qemu_args='-smp 2'");
	if (num_online_cpus() < 2)
		kunit_skip(test,
			   "needs two online CPUs; run with kunit.py --arch=i386 --qemu_args='-smp 2'");

	sp = kunit_kzalloc(test, sizeof(*sp), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, sp);
	sp->loc = kunit_kzalloc(test, sizeof(*sp->loc), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, sp->loc);
	sp->rounds = max(split_rounds, 1U);
	kref_init(&sp->storage);
	init_completion(&sp->done[0]);
	init_completion(&sp->done[1]);

	if (!run_on_two_cpus(test, fn, sp, "uf-split", sp->done, cpu))
		return;

	kunit_info(test, "%u rounds, %lu reads on CPUs %d and %d\n", sp->rounds,
		   sp->reads, cpu[0], cpu[1]);
	KUNIT_EXPECT_EQ_MSG(test, sp->above, 0UL,
			    "first: read %#llx while storing %#llx",
			    sp->first_above, sp->first_target);
	KUNIT_EXPECT_EQ(test, sp->alloc_failed, 0UL);
	KUNIT_EXPECT_EQ(test, loc_get(sp->loc), (u64)(2 * sp->rounds - 1) << 32);
	KUNIT_EXPECT_TRUE_MSG(test, wait_until(kref_read(&sp->storage) == 1),
			      "the user fences were never all released");
}

static struct kunit_case dma_fence_user_fence_workbench_cases[] = {
	KUNIT_CASE_PARAM(test_many_on_one_fence, map_gen_params),
	KUNIT_CASE_PARAM(test_out_of_order, map_gen_params),
	KUNIT_CASE(test_exactly_one_release),
	KUNIT_CASE(test_free_at_release),
	KUNIT_CASE(test_dma_buf_release),
	KUNIT_CASE(test_misuse_attach_twice),
	KUNIT_CASE(test_alloc_failure),
	{}
};

static struct kunit_suite dma_fence_user_fence_workbench_suite = {
	.name = "dma-buf-user-fence-workbench",
	.init = user_fence_test_init,
	.exit = user_fence_test_exit,
	.test_cases = dma_fence_user_fence_workbench_cases,
};

static struct kunit_case dma_fence_user_fence_stress_cases[] = {
	KUNIT_CASE_SLOW(test_stress_two_cpus),
	KUNIT_CASE_SLOW(test_split_store_two_cpus),
	{}
};

static struct kunit_suite dma_fence_user_fence_stress_suite = {
	.name = "dma-buf-user-fence-stress",
	.test_cases = dma_fence_user_fence_stress_cases,
};

kunit_test_suites(&dma_fence_user_fence_workbench_suite,
		  &dma_fence_user_fence_stress_suite);

/* dma_buf_export() and the other dma-buf functions of test_dma_buf_release() */
MODULE_IMPORT_NS("DMA_BUF");
