// SPDX-License-Identifier: GPL-2.0-only
/* KUnit tests for dma-fence-user-fence */

#include <kunit/resource.h>
#include <kunit/test.h>
#include <linux/atomic.h>
#include <linux/completion.h>
#include <linux/cpumask.h>
#include <linux/delay.h>
#include <linux/dma-buf.h>
#include <linux/dma-fence.h>
#include <linux/dma-fence-array.h>
#include <linux/dma-fence-chain.h>
#include <linux/dma-fence-unwrap.h>
#include <linux/dma-fence-user-fence.h>
#include <linux/hrtimer.h>
#include <linux/iosys-map.h>
#include <linux/jiffies.h>
#include <linux/kref.h>
#include <linux/kthread.h>
#include <linux/limits.h>
#include <linux/math.h>
#include <linux/minmax.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/preempt.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/vmalloc.h>

#include <asm/byteorder.h>

/* Fills every word of a test buffer that the helper must not write. */
#define POISON		0x5a5a5a5a5a5a5a5aULL
#define NR_WORDS	64

static const char *mock_fence_name(struct dma_fence *fence)
{
	return "user-fence-test";
}

static const struct dma_fence_ops mock_fence_ops = {
	.get_driver_name = mock_fence_name,
	.get_timeline_name = mock_fence_name,
};

/*
 * Each mock fence has a lock of its own, so that nothing but the helper
 * serialises the callbacks of two fences.
 */
struct mock_fence {
	struct dma_fence base;
	spinlock_t lock;	/* this fence's, and no other's */
};

static struct dma_fence *mock_fence_create(void)
{
	struct mock_fence *f = kzalloc(sizeof(*f), GFP_KERNEL);

	if (!f)
		return NULL;
	spin_lock_init(&f->lock);
	dma_fence_init(&f->base, &mock_fence_ops, &f->lock,
		       dma_fence_context_alloc(1), 1);
	return &f->base;
}

static int mock_fence_res_init(struct kunit_resource *res, void *context)
{
	res->data = context;
	return 0;
}

/* Signal what a test left pending, so that its user fences are freed too. */
static void mock_fence_res_free(struct kunit_resource *res)
{
	dma_fence_signal(res->data);
	dma_fence_put(res->data);
}

static struct dma_fence *mock_fence(struct kunit *test)
{
	struct dma_fence *fence = mock_fence_create();
	struct kunit_resource *res;

	KUNIT_ASSERT_NOT_NULL(test, fence);
	res = kunit_alloc_resource(test, mock_fence_res_init,
				   mock_fence_res_free, GFP_KERNEL, fence);
	if (!res)
		dma_fence_put(fence);
	KUNIT_ASSERT_NOT_NULL(test, res);
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

/* The location is little-endian in memory, whatever the CPU. */
static u64 loc_get(const u64 *p)
{
	return le64_to_cpu((__force __le64)READ_ONCE(*p));
}

static void loc_set(u64 *p, u64 v)
{
	WRITE_ONCE(*p, (__force u64)cpu_to_le64(v));
}

/*
 * The storage of a location, refcounted as a driver would. Its release
 * records what the location held and in which context it ran, and can free
 * a buffer at once: the earliest moment the contract allows.
 */
struct storage {
	struct kref ref;
	const u64 *loc;
	u64 at_release;
	void *free_at_release;
	atomic_t released;
	bool released_in_task;
	bool released_irqs_off;
	struct completion done;
};

/* What every release may do: sleep. */
static DEFINE_MUTEX(storage_mutex);

static void storage_release(struct kref *ref)
{
	struct storage *st = container_of(ref, struct storage, ref);

	might_sleep();
	st->released_in_task = in_task();
	st->released_irqs_off = irqs_disabled();
	mutex_lock(&storage_mutex);
	if (st->loc)
		st->at_release = loc_get(st->loc);
	kfree(st->free_at_release);
	atomic_inc(&st->released);
	mutex_unlock(&storage_mutex);
	complete_all(&st->done);
}

/* Storage with one reference, for one user fence; kref_get() for more. */
static struct storage *storage(struct kunit *test, const u64 *loc)
{
	struct storage *st = kunit_kzalloc(test, sizeof(*st), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, st);
	kref_init(&st->ref);
	init_completion(&st->done);
	st->loc = loc;
	return st;
}

/* A user fence that takes over the reference @st was created with. */
static struct dma_fence_user_fence *stored_user_fence(struct kunit *test,
						      struct storage *st)
{
	struct dma_fence_user_fence *user_fence =
		dma_fence_user_fence_alloc(&st->ref, storage_release);

	KUNIT_ASSERT_NOT_NULL(test, user_fence);
	return user_fence;
}

/*
 * The test's own storage, for the user fences whose release a case does not
 * look at: the test holds one reference, each user fence one more. The
 * suite's exit checks that every one of them was dropped, once.
 */
static struct dma_fence_user_fence *user_fence(struct kunit *test)
{
	struct storage *st = test->priv;

	kref_get(&st->ref);
	return stored_user_fence(test, st);
}

/* Wait until the helper has dropped every reference on @st. */
static void wait_released(struct kunit *test, struct storage *st)
{
	KUNIT_ASSERT_TRUE_MSG(test,
			      wait_for_completion_timeout(&st->done, 10 * HZ),
			      "storage never released");
}

/*
 * Releases run from a work item, a jiffy or so after they are due: wait for
 * @cond for up to 10 s, and say whether it came true.
 */
#define wait_until(cond)						\
	({								\
		unsigned long __end = jiffies + 10 * HZ;		\
		bool __ok;						\
									\
		while (!(__ok = (cond)) && time_before(jiffies, __end))	\
			usleep_range(1000, 2000);			\
		__ok;							\
	})

static int user_fence_test_init(struct kunit *test)
{
	test->priv = storage(test, NULL);
	return 0;
}

/*
 * Every case signals its fences before it ends: once the releases due have
 * run, the test's reference must be the only one left on its storage.
 */
static void user_fence_test_exit(struct kunit *test)
{
	struct storage *st = test->priv;

	KUNIT_EXPECT_TRUE_MSG(test, wait_until(kref_read(&st->ref) == 1),
			      "user fences still hold %u references on the test's storage",
			      kref_read(&st->ref) - 1);
	KUNIT_EXPECT_EQ(test, atomic_read(&st->released), 0);
}

/* Misuse: each case counts the WARNs it provokes, and suppresses them. */
#define expect_warnings(test, n, stmt)					\
	do {								\
		struct kunit *__t = (test);				\
									\
		kunit_warning_suppress(__t) {				\
			stmt;						\
			KUNIT_EXPECT_SUPPRESSED_WARNING_COUNT(__t, n);	\
		}							\
	} while (0)

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

static void map_param_desc(const struct map_param *p, char *desc)
{
	strscpy(desc, p->desc, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(map, map_params, map_param_desc);

/*
 * The I/O memory cases map RAM as __iomem, which is sound where the I/O
 * accessors are plain CPU loads and stores on any kernel address. UML routes
 * them through logic_iomem, which refuses plain memory.
 */
static bool io_on_ram(void)
{
	return IS_ENABLED(CONFIG_X86) || IS_ENABLED(CONFIG_ARM64) ||
	       IS_ENABLED(CONFIG_ARM) || IS_ENABLED(CONFIG_PPC32);
}

/* A poisoned buffer of NR_WORDS u64 and a map of it of the given kind. */
static u64 *test_buffer(struct kunit *test, struct iosys_map *map,
			enum map_kind kind)
{
	u64 *buf;
	int i;

	if (kind == MAP_IO && !io_on_ram())
		kunit_skip(test,
			   "I/O memory: this arch's I/O accessors do not work on RAM; run kunit.py --arch=x86_64, arm64 or powerpc32");
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

	loc_set(&buf[3], 0);
	loc = IOSYS_MAP_INIT_OFFSET(&map, 3 * sizeof(u64));
	mock_fence_signal(fence, 0);

	dma_fence_user_fence_attach(fence, user_fence(test), &loc, 42);

	KUNIT_EXPECT_EQ(test, loc_get(&buf[3]), 42ULL);
	expect_untouched(test, buf, 3);
}

static void test_deferred(struct kunit *test)
{
	struct dma_fence *fence = mock_fence(test);
	struct iosys_map map, loc;
	u64 *buf = test_param_buffer(test, &map);

	loc_set(&buf[5], 0);
	loc = IOSYS_MAP_INIT_OFFSET(&map, 5 * sizeof(u64));

	dma_fence_user_fence_attach(fence, user_fence(test), &loc, 7);
	KUNIT_EXPECT_EQ_MSG(test, loc_get(&buf[5]), 0ULL, "written before the signal");

	mock_fence_signal(fence, 0);
	KUNIT_EXPECT_EQ(test, loc_get(&buf[5]), 7ULL);
	expect_untouched(test, buf, 5);
}

/* The value says that the fence signalled, not that its work succeeded. */
static void test_signalled_with_error(struct kunit *test)
{
	struct dma_fence *fence = mock_fence(test);
	struct iosys_map map;
	u64 *buf = test_param_buffer(test, &map);

	loc_set(&buf[0], 0);
	dma_fence_user_fence_attach(fence, user_fence(test), &map, 9);
	mock_fence_signal(fence, -EIO);

	KUNIT_EXPECT_EQ(test, loc_get(&buf[0]), 9ULL);
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

/* The value is little-endian in memory, in system and I/O memory alike. */
static void test_byte_order(struct kunit *test)
{
	struct dma_fence *fence = mock_fence(test);
	struct iosys_map map;
	u64 *buf = test_param_buffer(test, &map);
	int i;

	buf[0] = 0;
	dma_fence_user_fence_attach(fence, user_fence(test), &map,
				    0x0102030405060708ULL);
	mock_fence_signal(fence, 0);
	for (i = 0; i < 8; i++)
		KUNIT_EXPECT_EQ_MSG(test, ((u8 *)buf)[i], 8 - i, "byte %d", i);
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
	{ "location above the seqno stays, I/O", MAP_IO, 100, 99, 100 },
	{ "high word above, low word below, system", MAP_SYSTEM,
	  0x0000000200000000ULL, 0x00000001ffffffffULL, 0x0000000200000000ULL },
};

static void seqno_param_desc(const struct seqno_param *p, char *desc)
{
	strscpy(desc, p->desc, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(seqno, seqno_params, seqno_param_desc);

/* The location sits in the middle of a larger, poisoned buffer. */
static void test_seqno_values(struct kunit *test)
{
	const struct seqno_param *p = test->param_value;
	struct dma_fence *fence = mock_fence(test);
	struct iosys_map map, loc;
	u64 *buf = test_buffer(test, &map, p->kind);

	loc_set(&buf[NR_WORDS / 2], p->before);
	loc = IOSYS_MAP_INIT_OFFSET(&map, NR_WORDS / 2 * sizeof(u64));

	dma_fence_user_fence_attach(fence, user_fence(test), &loc, p->seqno);
	KUNIT_EXPECT_EQ(test, loc_get(&buf[NR_WORDS / 2]), p->before);

	mock_fence_signal(fence, 0);
	KUNIT_EXPECT_EQ(test, loc_get(&buf[NR_WORDS / 2]), p->after);
	expect_untouched(test, buf, NR_WORDS / 2);
}

/*
 * The initial value, as documented: a location reused without a reset
 * holds a stale value. At or above the seqno, a waiter polling for the
 * seqno to be reached wakes before the fence signals, and the seqno is never
 * stored, so a waiter for that exact value never wakes. Reset below the
 * first seqno, the location works.
 */
static void test_initial_value(struct kunit *test)
{
	struct dma_fence *stale = mock_fence(test), *equal = mock_fence(test);
	struct dma_fence *reset = mock_fence(test);
	struct iosys_map map, loc;
	u64 *buf = test_buffer(test, &map, MAP_SYSTEM);

	loc = IOSYS_MAP_INIT_OFFSET(&map, 6 * sizeof(u64));
	loc_set(&buf[6], 10);	/* the end of an earlier timeline */
	dma_fence_user_fence_attach(stale, user_fence(test), &loc, 3);
	KUNIT_EXPECT_GE_MSG(test, loc_get(&buf[6]), 3ULL,
			    "the stale value is gone before the signal");
	mock_fence_signal(stale, 0);
	KUNIT_EXPECT_EQ_MSG(test, loc_get(&buf[6]), 10ULL,
			    "a stale value above the seqno was lowered");

	loc_set(&buf[6], 4);
	dma_fence_user_fence_attach(equal, user_fence(test), &loc, 4);
	KUNIT_EXPECT_EQ(test, loc_get(&buf[6]), 4ULL);
	KUNIT_EXPECT_FALSE(test, dma_fence_is_signaled(equal));
	mock_fence_signal(equal, 0);

	loc_set(&buf[6], 0);
	dma_fence_user_fence_attach(reset, user_fence(test), &loc, 1);
	KUNIT_EXPECT_EQ_MSG(test, loc_get(&buf[6]), 0ULL, "early after a reset");
	mock_fence_signal(reset, 0);
	KUNIT_EXPECT_EQ(test, loc_get(&buf[6]), 1ULL);
	expect_untouched(test, buf, 6);
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
	u64 *buf = test_param_buffer(test, &map);

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

#define CHAIN_POINTS	4

/*
 * The recommended pattern: the user fences of one location are attached to
 * the points of one dma_fence_chain, so the value v means that every fence
 * up to v has signalled, even when the jobs behind them finish out of order
 * and the points signal out of order, each from its own irq_work. The
 * storage release of each point says when its store is done.
 */
static void test_timeline_chain(struct kunit *test)
{
	static const int finish[CHAIN_POINTS] = { 2, 0, 3, 1 };
	struct dma_fence *job[CHAIN_POINTS], *prev = NULL;
	struct dma_fence_chain *chain[CHAIN_POINTS];
	struct storage *st[CHAIN_POINTS];
	struct iosys_map map, loc;
	u64 *buf = test_buffer(test, &map, MAP_SYSTEM);
	int i, j;

	loc_set(&buf[7], 0);
	loc = IOSYS_MAP_INIT_OFFSET(&map, 7 * sizeof(u64));
	for (i = 0; i < CHAIN_POINTS; i++) {
		job[i] = mock_fence(test);
		chain[i] = dma_fence_chain_alloc();
		KUNIT_ASSERT_NOT_NULL(test, chain[i]);
		st[i] = storage(test, NULL);
		/* The chain takes over one reference of each fence. */
		dma_fence_chain_init(chain[i], prev, dma_fence_get(job[i]),
				     10 * (i + 1));
		prev = &chain[i]->base;
		dma_fence_user_fence_attach(&chain[i]->base,
					    stored_user_fence(test, st[i]),
					    &loc, chain[i]->base.seqno);
	}

	for (i = 0; i < CHAIN_POINTS; i++) {
		mock_fence_signal(job[finish[i]], 0);
		/* Points whose jobs are all done signal; wait for their stores. */
		for (j = 0; j < CHAIN_POINTS && dma_fence_is_signaled(job[j]); j++)
			wait_released(test, st[j]);
		KUNIT_EXPECT_EQ_MSG(test, loc_get(&buf[7]), 10ULL * j,
				    "after job %d finished", finish[i]);
	}
	dma_fence_put(prev);
	expect_untouched(test, buf, 7);
}

/*
 * The storage reference is dropped after the store: on the deferred and on
 * the immediate path, when the store is skipped, and when the user fence is
 * freed unattached.
 */
static void test_release_after_store(struct kunit *test)
{
	struct dma_fence *fence = mock_fence(test), *done = mock_fence(test);
	struct iosys_map map;
	u64 *buf = test_param_buffer(test, &map);
	struct iosys_map loc1 = IOSYS_MAP_INIT_OFFSET(&map, sizeof(u64));
	struct iosys_map loc2 = IOSYS_MAP_INIT_OFFSET(&map, 2 * sizeof(u64));
	struct iosys_map loc3 = IOSYS_MAP_INIT_OFFSET(&map, 3 * sizeof(u64));
	struct storage *deferred = storage(test, &buf[1]);
	struct storage *immediate = storage(test, &buf[2]);
	struct storage *skipped = storage(test, &buf[3]);
	struct storage *unused = storage(test, NULL);

	loc_set(&buf[1], 0);
	loc_set(&buf[2], 0);
	loc_set(&buf[3], 50);
	mock_fence_signal(done, 0);

	dma_fence_user_fence_attach(fence, stored_user_fence(test, deferred),
				    &loc1, 11);
	dma_fence_user_fence_attach(done, stored_user_fence(test, immediate),
				    &loc2, 12);
	dma_fence_user_fence_attach(fence, stored_user_fence(test, skipped),
				    &loc3, 13);
	dma_fence_user_fence_free(stored_user_fence(test, unused));

	wait_released(test, immediate);
	wait_released(test, unused);
	KUNIT_EXPECT_EQ(test, atomic_read(&immediate->released), 1);
	KUNIT_EXPECT_EQ(test, immediate->at_release, 12ULL);
	KUNIT_EXPECT_EQ(test, atomic_read(&unused->released), 1);
	KUNIT_EXPECT_EQ_MSG(test, atomic_read(&deferred->released), 0,
			    "released before its fence signalled");

	mock_fence_signal(fence, 0);
	wait_released(test, deferred);
	wait_released(test, skipped);
	KUNIT_EXPECT_EQ(test, atomic_read(&deferred->released), 1);
	KUNIT_EXPECT_EQ_MSG(test, deferred->at_release, 11ULL,
			    "storage released before the store");
	KUNIT_EXPECT_EQ(test, atomic_read(&skipped->released), 1);
	KUNIT_EXPECT_EQ(test, skipped->at_release, 50ULL);
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
static struct storage *freed_at_release(struct kunit *test,
					struct iosys_map *loc)
{
	u64 *mem = kmalloc(sizeof(*mem), GFP_KERNEL);
	struct storage *st;

	KUNIT_ASSERT_NOT_NULL(test, mem);
	loc_set(mem, 0);
	iosys_map_set_vaddr(loc, mem);
	st = storage(test, mem);
	st->free_at_release = mem;
	return st;
}

static void test_free_at_release(struct kunit *test)
{
	struct dma_fence *fence = mock_fence(test), *done = mock_fence(test);
	struct iosys_map loc;
	struct storage *st = freed_at_release(test, &loc);

	dma_fence_user_fence_attach(fence, stored_user_fence(test, st), &loc, 3);
	mock_fence_signal(fence, 0);
	wait_released(test, st);
	KUNIT_EXPECT_EQ(test, atomic_read(&st->released), 1);
	KUNIT_EXPECT_EQ(test, st->at_release, 3ULL);

	/* The same on the immediate path. */
	st = freed_at_release(test, &loc);
	mock_fence_signal(done, 0);
	dma_fence_user_fence_attach(done, stored_user_fence(test, st), &loc, 4);
	wait_released(test, st);
	KUNIT_EXPECT_EQ(test, atomic_read(&st->released), 1);
	KUNIT_EXPECT_EQ(test, st->at_release, 4ULL);
}

/*
 * Attach as a driver does, inside a fence signalling section and in atomic
 * context, on both paths. With lockdep an allocation that may reclaim is a
 * report (dma-resv primes reclaim against the signalling section); with
 * DEBUG_ATOMIC_SLEEP so is anything that may sleep.
 */
static void test_attach_in_signalling_section(struct kunit *test)
{
	struct dma_fence *fence = mock_fence(test), *done = mock_fence(test);
	struct iosys_map map;
	struct dma_fence_user_fence *uf[2];
	u64 *buf = test_buffer(test, &map, MAP_SYSTEM);
	struct iosys_map loc = IOSYS_MAP_INIT_OFFSET(&map, sizeof(u64));
	spinlock_t driver_lock;	/* stands for a lock the driver holds */
	bool cookie;

	spin_lock_init(&driver_lock);
	loc_set(&buf[0], 0);
	loc_set(&buf[1], 0);
	mock_fence_signal(done, 0);
	uf[0] = user_fence(test);
	uf[1] = user_fence(test);

	cookie = dma_fence_begin_signalling();
	spin_lock_irq(&driver_lock);
	dma_fence_user_fence_attach(fence, uf[0], &map, 1);
	dma_fence_user_fence_attach(done, uf[1], &loc, 2);
	spin_unlock_irq(&driver_lock);
	dma_fence_end_signalling(cookie);

	KUNIT_EXPECT_EQ(test, loc_get(&buf[1]), 2ULL);
	mock_fence_signal(fence, 0);
	KUNIT_EXPECT_EQ(test, loc_get(&buf[0]), 1ULL);
}

/*
 * Signals a fence from a timer interrupt, as a GPU's completion irq does:
 * in hard interrupt context, but on PREEMPT_RT, where a fence's spinlock_t
 * cannot be taken there, in the timer softirq.
 */
struct irq_signal {
	struct hrtimer timer;
	struct dma_fence *fence;
	struct completion done;
};

static enum hrtimer_restart irq_signal_fn(struct hrtimer *timer)
{
	struct irq_signal *s = container_of(timer, struct irq_signal, timer);

	dma_fence_signal(s->fence);
	complete(&s->done);
	return HRTIMER_NORESTART;
}

/*
 * The release may sleep, whether the fence signalled in interrupt context
 * or before attach, which the driver called under a spinlock: it takes a
 * mutex, and DEBUG_ATOMIC_SLEEP checks its might_sleep().
 */
static void test_release_may_sleep(struct kunit *test)
{
	struct dma_fence *done = mock_fence(test);
	struct irq_signal *s = kunit_kzalloc(test, sizeof(*s), GFP_KERNEL);
	struct storage *from_irq = storage(test, NULL);
	struct storage *immediate = storage(test, NULL);
	spinlock_t driver_lock;	/* stands for a lock the driver holds */
	struct dma_fence_user_fence *uf;
	struct iosys_map map;

	KUNIT_ASSERT_NOT_NULL(test, s);
	spin_lock_init(&driver_lock);
	test_buffer(test, &map, MAP_SYSTEM);
	s->fence = mock_fence(test);
	init_completion(&s->done);
	dma_fence_user_fence_attach(s->fence, stored_user_fence(test, from_irq),
				    &map, 1);
	hrtimer_setup(&s->timer, irq_signal_fn, CLOCK_MONOTONIC,
		      HRTIMER_MODE_REL);
	hrtimer_start(&s->timer, ms_to_ktime(1), HRTIMER_MODE_REL);
	KUNIT_ASSERT_TRUE(test, wait_for_completion_timeout(&s->done, 10 * HZ));

	mock_fence_signal(done, 0);
	uf = stored_user_fence(test, immediate);
	spin_lock_irq(&driver_lock);
	dma_fence_user_fence_attach(done, uf, &map, 2);
	spin_unlock_irq(&driver_lock);

	wait_released(test, from_irq);
	wait_released(test, immediate);
	KUNIT_EXPECT_TRUE(test, from_irq->released_in_task);
	KUNIT_EXPECT_FALSE(test, from_irq->released_irqs_off);
	KUNIT_EXPECT_TRUE(test, immediate->released_in_task);
	KUNIT_EXPECT_FALSE(test, immediate->released_irqs_off);
}

/*
 * The module that contains a release function cannot be unloaded while a
 * release of it is pending: each user fence holds a reference on it, from
 * dma_fence_user_fence_alloc() until its release has returned. Nothing else
 * holds a reference on this module while its suites run.
 */
static void test_module_reference(struct kunit *test)
{
#if defined(MODULE) && IS_ENABLED(CONFIG_MODULE_UNLOAD)
	struct dma_fence *fence = mock_fence(test);
	struct dma_fence_user_fence *unattached;
	struct iosys_map map;

	/*
	 * Not 0: KUnit runs a module's suites before the module loader drops
	 * the reference it holds during init. Earlier cases wait for their
	 * own releases, so nothing else changes it meanwhile.
	 */
	unsigned int base = module_refcount(THIS_MODULE);

	test_buffer(test, &map, MAP_SYSTEM);
	dma_fence_user_fence_attach(fence, user_fence(test), &map, 1);
	dma_fence_user_fence_attach(fence, user_fence(test), &map, 2);
	unattached = user_fence(test);
	KUNIT_EXPECT_EQ(test, module_refcount(THIS_MODULE), base + 3);

	dma_fence_user_fence_free(unattached);
	KUNIT_EXPECT_TRUE(test, wait_until(module_refcount(THIS_MODULE) == base + 2));
	KUNIT_EXPECT_EQ(test, module_refcount(THIS_MODULE), base + 2);

	mock_fence_signal(fence, 0);
	KUNIT_EXPECT_TRUE(test, wait_until(module_refcount(THIS_MODULE) == base));
#else
	kunit_skip(test,
		   "needs the suite built as a module, with MODULE_UNLOAD (the workbench's x86_64 and arm64 runs have both)");
#endif
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
 * Attach holds a reference on the fence until the store: the caller may
 * drop its own at once, as a driver tearing down a queue does.
 */
static void test_fence_reference(struct kunit *test)
{
	struct dma_fence *fence = mock_fence(test), *done = mock_fence(test);
	unsigned int before = kref_read(&fence->refcount);
	struct iosys_map map;

	test_buffer(test, &map, MAP_SYSTEM);
	mock_fence_signal(done, 0);
	dma_fence_user_fence_attach(fence, user_fence(test), &map, 1);
	KUNIT_EXPECT_EQ(test, kref_read(&fence->refcount), before + 1);

	dma_fence_user_fence_attach(done, user_fence(test), &map, 2);
	KUNIT_EXPECT_TRUE_MSG(test, wait_until(kref_read(&done->refcount) == before),
			      "the reference on a signalled fence was kept");

	mock_fence_signal(fence, 0);
	KUNIT_EXPECT_TRUE_MSG(test, wait_until(kref_read(&fence->refcount) == before),
			      "the fence reference was kept after the store");
}

/*
 * The first user's pattern, amdgpu's user queue wait ioctl, with mock
 * fences. The ioctl unwraps the fences it is given (a syncobj can hold a
 * dma_fence_chain, a sync_file a dma_fence_array) and leaves out those that
 * have signalled, in the call that counts them and in the call that hands
 * out the values alike. Each remaining fence becomes the next point of the
 * queue's dma_fence_chain timeline, with consecutive values, and one user
 * fence on the last point stores its value into the queue's slot in a pool
 * of memory (seq64), made on first use and set to 0. Each store holds a
 * reference on the slot, whose release sleeps and frees it.
 */
#define MODEL_FENCES	6

struct model_slot {
	struct kref ref;
	u64 *word;		/* in the pool; reused once freed */
	atomic_t *used;
	struct completion released;
	bool released_in_task;
};

struct model_queue {
	struct mutex lock;	/* serialises the "ioctls" of the queue */
	struct model_slot *slot;
	struct dma_fence *point;
	u64 seqno;
	atomic_t *pool_used;
	u64 *pool_word;
	/* the test's record: the fence behind each point, 1-based */
	struct dma_fence *by_point[MODEL_FENCES + 1];
};

static void model_slot_release(struct kref *ref)
{
	struct model_slot *slot = container_of(ref, struct model_slot, ref);

	might_sleep();
	slot->released_in_task = in_task();
	mutex_lock(&storage_mutex);
	atomic_set(slot->used, 0);	/* back to the pool, like seq64_free */
	mutex_unlock(&storage_mutex);
	complete_all(&slot->released);
}

/*
 * The fences of @in that the ioctl waits for, unwrapped, without those
 * that have signalled: counted, and with @leaves, each taken a reference
 * of into it.
 */
static int model_unwrap(struct dma_fence **in, int n_in,
			struct dma_fence **leaves)
{
	struct dma_fence_unwrap iter;
	struct dma_fence *f;
	int i, n = 0;

	for (i = 0; i < n_in; i++) {
		dma_fence_unwrap_for_each(f, &iter, in[i]) {
			if (dma_fence_is_signaled(f))
				continue;
			if (leaves)
				leaves[n] = dma_fence_get(f);
			n++;
		}
	}
	return n;
}

/*
 * One wait ioctl on @q for the fences @in: the counting call, then the
 * call that hands out the value to poll, or 0 when there is nothing to
 * wait for.
 */
static u64 model_wait_ioctl(struct kunit *test, struct model_queue *q,
			    struct model_slot *slot_mem,
			    struct dma_fence **in, int n_in)
{
	struct dma_fence *leaves[MODEL_FENCES];
	struct dma_fence_chain *chains[MODEL_FENCES];
	struct dma_fence_user_fence *uf;
	struct iosys_map map;
	int count, i, n;

	count = model_unwrap(in, n_in, NULL);
	if (!count)
		return 0;
	KUNIT_ASSERT_LE(test, count, MODEL_FENCES - (int)q->seqno);
	for (i = 0; i < count; i++) {
		chains[i] = dma_fence_chain_alloc();
		KUNIT_ASSERT_NOT_NULL(test, chains[i]);
	}
	if (!q->slot)
		KUNIT_ASSERT_EQ(test, atomic_cmpxchg(q->pool_used, 0, 1), 0);

	/* Nothing happens between the two calls here: they must agree. */
	n = model_unwrap(in, n_in, leaves);
	KUNIT_EXPECT_EQ_MSG(test, n, count, "the two calls disagree");
	for (i = n; i < count; i++)
		dma_fence_chain_free(chains[i]);
	KUNIT_ASSERT_GT(test, n, 0);

	mutex_lock(&q->lock);
	if (!q->slot) {
		kref_init(&slot_mem->ref);
		init_completion(&slot_mem->released);
		slot_mem->word = q->pool_word;
		slot_mem->used = q->pool_used;
		loc_set(slot_mem->word, 0);	/* below the first value */
		q->slot = slot_mem;
	}
	kref_get(&q->slot->ref);
	uf = dma_fence_user_fence_alloc(&q->slot->ref, model_slot_release);
	if (!uf) {
		kref_put(&q->slot->ref, model_slot_release);
		mutex_unlock(&q->lock);
		KUNIT_FAIL(test, "out of memory");
		return 0;
	}

	for (i = 0; i < n; i++) {
		/* The chain takes over the previous point and the leaf. */
		dma_fence_chain_init(chains[i], q->point, leaves[i], ++q->seqno);
		q->point = &chains[i]->base;
		q->by_point[q->seqno] = leaves[i];
	}
	iosys_map_set_vaddr(&map, q->slot->word);
	dma_fence_user_fence_attach(q->point, uf, &map, q->seqno);
	mutex_unlock(&q->lock);
	return q->seqno;
}

/* Queue destroy: drop the queue's references, wait for nothing. */
static void model_queue_destroy(struct model_queue *q)
{
	dma_fence_put(q->point);
	q->point = NULL;
	kref_put(&q->slot->ref, model_slot_release);
	q->slot = NULL;
}

struct model_signaller {
	struct dma_fence **fences;
	const int *order;
	int count;
	struct completion done;
};

static int model_signal_thread(void *arg)
{
	struct model_signaller *s = arg;
	int i;

	for (i = 0; i < s->count; i++) {
		mock_fence_signal(s->fences[s->order[i]], 0);
		usleep_range(100, 200);
	}
	kthread_complete_and_exit(&s->done, 0);
}

/*
 * What a poller of the slot may conclude: value v means that the fences of
 * points 1..v have all signalled. Checked against the fences, which are
 * marked signalled before their callbacks run.
 */
static void model_check(struct kunit *test, struct model_queue *q,
			const u64 *word, bool *bad)
{
	u64 v = loc_get(word);
	u64 k;

	smp_rmb();	/* the value, then the fences it stands for */
	if (v > MODEL_FENCES && !*bad) {
		*bad = true;
		KUNIT_FAIL(test, "value %llu, above the last point", v);
	}
	for (k = 1; k <= min_t(u64, v, MODEL_FENCES); k++) {
		if (!dma_fence_is_signaled(q->by_point[k]) && !*bad) {
			*bad = true;
			KUNIT_FAIL(test, "value %llu, but point %llu is pending", v, k);
		}
	}
}

/* A dma_fence_array of @a and @b, as a merged sync_file holds. */
static struct dma_fence *model_array(struct kunit *test, struct dma_fence *a,
				     struct dma_fence *b)
{
	struct dma_fence **fences = kmalloc_array(2, sizeof(*fences), GFP_KERNEL);
	struct dma_fence_array *array;

	KUNIT_ASSERT_NOT_NULL(test, fences);
	fences[0] = dma_fence_get(a);
	fences[1] = dma_fence_get(b);
	array = dma_fence_array_create(2, fences, dma_fence_context_alloc(1), 1);
	if (!array) {
		dma_fence_put(a);
		dma_fence_put(b);
		kfree(fences);
	}
	KUNIT_ASSERT_NOT_NULL(test, array);
	return &array->base;
}

/* Two dma_fence_chain points on @a and @b, as a timeline syncobj holds. */
static struct dma_fence *model_chain(struct kunit *test, struct dma_fence *a,
				     struct dma_fence *b)
{
	struct dma_fence_chain *first = dma_fence_chain_alloc();
	struct dma_fence_chain *second = dma_fence_chain_alloc();

	if (!first || !second) {
		dma_fence_chain_free(first);
		dma_fence_chain_free(second);
	}
	KUNIT_ASSERT_TRUE(test, first && second);
	dma_fence_chain_init(first, NULL, dma_fence_get(a), 1);
	dma_fence_chain_init(second, &first->base, dma_fence_get(b), 2);
	return &second->base;
}

static void test_driver_pattern(struct kunit *test)
{
	/* Fences 0-2 go into the first ioctl, 3-5 into the second. */
	static const int other_cpu[] = { 5, 1, 4 };
	static const int this_cpu[] = { 2, 3, 0 };
	struct dma_fence *fences[MODEL_FENCES], *done, *again;
	struct dma_fence *in[3], *array, *chain, *done_chain;
	struct model_slot *slot_mem, *slot_mem2;
	struct model_signaller *s;
	struct task_struct *thread;
	struct model_queue *q;
	u64 *pool;
	atomic_t *used;
	bool bad = false;
	int i;

	q = kunit_kzalloc(test, sizeof(*q), GFP_KERNEL);
	s = kunit_kzalloc(test, sizeof(*s), GFP_KERNEL);
	slot_mem = kunit_kzalloc(test, sizeof(*slot_mem), GFP_KERNEL);
	slot_mem2 = kunit_kzalloc(test, sizeof(*slot_mem2), GFP_KERNEL);
	pool = kunit_kzalloc(test, sizeof(*pool), GFP_KERNEL);
	used = kunit_kzalloc(test, sizeof(*used), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, q);
	KUNIT_ASSERT_NOT_NULL(test, s);
	KUNIT_ASSERT_NOT_NULL(test, slot_mem);
	KUNIT_ASSERT_NOT_NULL(test, slot_mem2);
	KUNIT_ASSERT_NOT_NULL(test, pool);
	KUNIT_ASSERT_NOT_NULL(test, used);
	mutex_init(&q->lock);
	q->pool_word = pool;
	q->pool_used = used;
	for (i = 0; i < MODEL_FENCES; i++)
		fences[i] = mock_fence(test);	/* each its own context */
	done = mock_fence(test);
	mock_fence_signal(done, 0);
	done_chain = model_chain(test, done, done);

	/* Only signalled fences: no value, no slot. A slot of an earlier user. */
	loc_set(pool, 1000);
	in[0] = done;
	in[1] = done_chain;
	KUNIT_EXPECT_EQ(test, model_wait_ioctl(test, q, slot_mem, in, 2), 0ULL);
	KUNIT_EXPECT_PTR_EQ(test, q->slot, NULL);
	KUNIT_EXPECT_EQ(test, atomic_read(used), 0);

	/* A fence, an array and a signalled fence, then a chain and a fence. */
	array = model_array(test, fences[1], fences[2]);
	in[0] = fences[0];
	in[1] = array;
	in[2] = done;
	KUNIT_EXPECT_EQ(test, model_wait_ioctl(test, q, slot_mem, in, 3), 3ULL);
	chain = model_chain(test, fences[3], fences[4]);
	in[0] = chain;
	in[1] = fences[5];
	KUNIT_EXPECT_EQ(test, model_wait_ioctl(test, q, slot_mem, in, 2), 6ULL);
	KUNIT_EXPECT_EQ_MSG(test, loc_get(pool), 0ULL, "the slot was not reset");

	/* The queue goes while every store is pending. */
	model_queue_destroy(q);

	/* Out of order, half of them from another CPU where there is one. */
	s->fences = fences;
	s->order = other_cpu;
	s->count = ARRAY_SIZE(other_cpu);
	init_completion(&s->done);
	thread = kthread_create(model_signal_thread, s, "uf-model");
	KUNIT_ASSERT_FALSE(test, IS_ERR(thread));
	if (num_online_cpus() > 1)
		kthread_bind(thread, cpumask_any_but(cpu_online_mask,
						     raw_smp_processor_id()));
	wake_up_process(thread);
	for (i = 0; i < ARRAY_SIZE(this_cpu); i++) {
		mock_fence_signal(fences[this_cpu[i]], 0);
		model_check(test, q, pool, &bad);
	}
	while (!try_wait_for_completion(&s->done)) {
		model_check(test, q, pool, &bad);
		cond_resched();
	}

	/* The last release sleeps and returns the slot to the pool. */
	KUNIT_ASSERT_TRUE(test,
			  wait_for_completion_timeout(&slot_mem->released, 10 * HZ));
	model_check(test, q, pool, &bad);
	KUNIT_EXPECT_EQ(test, loc_get(pool), 6ULL);
	KUNIT_EXPECT_TRUE(test, slot_mem->released_in_task);
	KUNIT_EXPECT_EQ(test, atomic_read(used), 0);
	dma_fence_put(array);
	dma_fence_put(chain);
	dma_fence_put(done_chain);

	/* A new queue reuses the slot, reset below its first value. */
	memset(q->by_point, 0, sizeof(q->by_point));
	q->seqno = 0;
	again = mock_fence(test);
	KUNIT_EXPECT_EQ(test, model_wait_ioctl(test, q, slot_mem2, &again, 1), 1ULL);
	KUNIT_EXPECT_EQ(test, loc_get(pool), 0ULL);
	mock_fence_signal(again, 0);
	model_queue_destroy(q);
	KUNIT_ASSERT_TRUE(test,
			  wait_for_completion_timeout(&slot_mem2->released, 10 * HZ));
	KUNIT_EXPECT_EQ(test, loc_get(pool), 1ULL);
}

static void test_check_map(struct kunit *test)
{
	struct iosys_map map, loc, null_map = {};
	u64 *buf = test_buffer(test, &map, MAP_SYSTEM);

	KUNIT_EXPECT_EQ(test, dma_fence_user_fence_check_map(&map), 0);
	loc = IOSYS_MAP_INIT_OFFSET(&map, 8);
	KUNIT_EXPECT_EQ(test, dma_fence_user_fence_check_map(&loc), 0);
	loc = IOSYS_MAP_INIT_OFFSET(&map, 4);
	KUNIT_EXPECT_EQ(test, dma_fence_user_fence_check_map(&loc), -EINVAL);
	loc = IOSYS_MAP_INIT_OFFSET(&map, 1);
	KUNIT_EXPECT_EQ(test, dma_fence_user_fence_check_map(&loc), -EINVAL);
	KUNIT_EXPECT_EQ(test, dma_fence_user_fence_check_map(&null_map), -EINVAL);
	KUNIT_EXPECT_EQ(test, dma_fence_user_fence_check_map(NULL), -EINVAL);
	if (io_on_ram()) {
		iosys_map_set_vaddr_iomem(&loc, (void __iomem __force *)buf + 4);
		KUNIT_EXPECT_EQ(test, dma_fence_user_fence_check_map(&loc), -EINVAL);
		iosys_map_set_vaddr_iomem(&loc, (void __iomem __force *)buf);
		KUNIT_EXPECT_EQ(test, dma_fence_user_fence_check_map(&loc), 0);
	}
}

/*
 * failslab fails the allocation: alloc returns NULL and the caller keeps its
 * reference; the next one works. GFP_KERNEL allocations fail only with
 * failslab's ignore-gfp-wait off, which the workbench's QEMU run sets from
 * its /init before loading the suite.
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

static void test_misuse_null_map(struct kunit *test)
{
	struct dma_fence *fence = mock_fence(test);
	struct iosys_map null_map = {};
	struct iosys_map map;
	u64 *buf = test_buffer(test, &map, MAP_SYSTEM);
	struct storage *st = storage(test, NULL);

	expect_warnings(test, 1,
			dma_fence_user_fence_attach(fence, user_fence(test), NULL, 1));
	expect_warnings(test, 1,
			dma_fence_user_fence_attach(fence, stored_user_fence(test, st),
						    &null_map, 1));
	wait_released(test, st);
	mock_fence_signal(fence, 0);
	expect_untouched(test, buf, -1);
}

static void test_misuse_null_fence(struct kunit *test)
{
	struct iosys_map map;
	u64 *buf = test_buffer(test, &map, MAP_SYSTEM);

	expect_warnings(test, 1,
			dma_fence_user_fence_attach(NULL, user_fence(test), &map, 1));
	expect_warnings(test, 1,
			dma_fence_user_fence_attach(NULL, NULL, &map, 1));
	expect_untouched(test, buf, -1);
}

static void test_misuse_misaligned(struct kunit *test)
{
	struct dma_fence *fence = mock_fence(test);
	struct iosys_map map, loc;
	u64 *buf = test_buffer(test, &map, MAP_SYSTEM);

	loc = IOSYS_MAP_INIT_OFFSET(&map, 8 * sizeof(u64) + 4);
	expect_warnings(test, 1,
			dma_fence_user_fence_attach(fence, user_fence(test), &loc,
						    U64_MAX));
	mock_fence_signal(fence, 0);
	expect_untouched(test, buf, -1);
}

/* Attached again, or freed, while still pending: refused, nothing changes. */
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

/* The storage reference and its release are both required. */
static void test_misuse_alloc(struct kunit *test)
{
	struct storage *st = storage(test, NULL);
	struct dma_fence_user_fence *uf = NULL;

	expect_warnings(test, 1, uf = dma_fence_user_fence_alloc(&st->ref, NULL));
	KUNIT_EXPECT_PTR_EQ(test, uf, NULL);
	expect_warnings(test, 1, uf = dma_fence_user_fence_alloc(NULL, storage_release));
	KUNIT_EXPECT_PTR_EQ(test, uf, NULL);
	expect_warnings(test, 1, uf = dma_fence_user_fence_alloc(NULL, NULL));
	KUNIT_EXPECT_PTR_EQ(test, uf, NULL);
	KUNIT_EXPECT_EQ(test, kref_read(&st->ref), 1U);
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

static void test_stress_two_cpus(struct kunit *test)
{
	struct task_struct *thread[2];
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

static struct kunit_case dma_fence_user_fence_cases[] = {
	KUNIT_CASE_PARAM(test_signalled_before_attach, map_gen_params),
	KUNIT_CASE_PARAM(test_deferred, map_gen_params),
	KUNIT_CASE_PARAM(test_signalled_with_error, map_gen_params),
	KUNIT_CASE_PARAM(test_many_on_one_fence, map_gen_params),
	KUNIT_CASE_PARAM(test_byte_order, map_gen_params),
	KUNIT_CASE_PARAM(test_seqno_values, seqno_gen_params),
	KUNIT_CASE(test_initial_value),
	KUNIT_CASE_PARAM(test_out_of_order, map_gen_params),
	KUNIT_CASE(test_timeline_chain),
	KUNIT_CASE_PARAM(test_release_after_store, map_gen_params),
	KUNIT_CASE(test_exactly_one_release),
	KUNIT_CASE(test_free_at_release),
	KUNIT_CASE(test_attach_in_signalling_section),
	KUNIT_CASE(test_release_may_sleep),
	KUNIT_CASE(test_dma_buf_release),
	KUNIT_CASE(test_module_reference),
	KUNIT_CASE(test_fence_reference),
	KUNIT_CASE(test_driver_pattern),
	KUNIT_CASE(test_check_map),
	KUNIT_CASE(test_alloc_failure),
	{}
};

static struct kunit_suite dma_fence_user_fence_suite = {
	.name = "dma-buf-user-fence",
	.init = user_fence_test_init,
	.exit = user_fence_test_exit,
	.test_cases = dma_fence_user_fence_cases,
};

static struct kunit_case dma_fence_user_fence_misuse_cases[] = {
	KUNIT_CASE(test_misuse_null_map),
	KUNIT_CASE(test_misuse_null_fence),
	KUNIT_CASE(test_misuse_misaligned),
	KUNIT_CASE(test_misuse_attach_twice),
	KUNIT_CASE(test_misuse_alloc),
	{}
};

static struct kunit_suite dma_fence_user_fence_misuse_suite = {
	.name = "dma-buf-user-fence-misuse",
	.init = user_fence_test_init,
	.exit = user_fence_test_exit,
	.test_cases = dma_fence_user_fence_misuse_cases,
};

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
	u64 target;		/* the value being stored, published first */
	bool stop;
	unsigned long reads;
	unsigned long above;
	u64 first_above;
	u64 first_target;
	unsigned long alloc_failed;
	struct kref storage;	/* the test's, and one per user fence */
	struct completion done[2];
};

static int split_writer(void *arg)
{
	struct split *sp = arg;
	struct iosys_map map;
	unsigned int r;
	int i;

	iosys_map_set_vaddr(&map, sp->loc);
	for (r = 0; r < sp->rounds; r++) {
		/* Each step changes the high word and both are set apart. */
		u64 seqno[2] = { (u64)(2 * r) << 32 | U32_MAX,
				 (u64)(2 * r + 1) << 32 };

		for (i = 0; i < 2; i++) {
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
			dma_fence_user_fence_attach(fence, uf, &map, seqno[i]);
			WRITE_ONCE(sp->target, seqno[i]);
			smp_wmb();	/* the target, then the value */
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
		smp_rmb();	/* the value, then the target it was stored for */
		t = READ_ONCE(sp->target);
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
	int (*fn[2])(void *) = { split_writer, split_reader };
	struct task_struct *thread[2];
	struct split *sp;
	int i, cpu[2];

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

	cpu[0] = cpumask_first(cpu_online_mask);
	cpu[1] = cpumask_next(cpu[0], cpu_online_mask);
	for (i = 0; i < 2; i++) {
		thread[i] = kthread_create(fn[i], sp, "uf-split/%d", i);
		if (IS_ERR(thread[i])) {
			if (i)
				kthread_stop(thread[0]);
			KUNIT_FAIL(test, "cannot create thread %d", i);
			return;
		}
	}
	for (i = 0; i < 2; i++) {
		kthread_bind(thread[i], cpu[i]);
		wake_up_process(thread[i]);
	}
	wait_for_completion(&sp->done[0]);
	wait_for_completion(&sp->done[1]);

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

static struct kunit_case dma_fence_user_fence_stress_cases[] = {
	KUNIT_CASE_SLOW(test_stress_two_cpus),
	KUNIT_CASE_SLOW(test_split_store_two_cpus),
	{}
};

static struct kunit_suite dma_fence_user_fence_stress_suite = {
	.name = "dma-buf-user-fence-stress",
	.test_cases = dma_fence_user_fence_stress_cases,
};

kunit_test_suites(&dma_fence_user_fence_suite,
		  &dma_fence_user_fence_misuse_suite,
		  &dma_fence_user_fence_stress_suite);

MODULE_IMPORT_NS("DMA_BUF");
MODULE_DESCRIPTION("KUnit tests for dma-fence-user-fence");
MODULE_LICENSE("GPL");
