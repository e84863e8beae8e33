// SPDX-License-Identifier: GPL-2.0-only
/* KUnit tests for dma-fence-user-fence */

#include <kunit/test.h>
#include <linux/atomic.h>
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/dma-fence.h>
#include <linux/dma-fence-chain.h>
#include <linux/dma-fence-user-fence.h>
#include <linux/hrtimer.h>
#include <linux/iosys-map.h>
#include <linux/jiffies.h>
#include <linux/kref.h>
#include <linux/limits.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/spinlock.h>

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
 * Each mock fence has a lock of its own, the inline one, so that nothing
 * but the helper serialises the callbacks of two fences.
 */
static struct dma_fence *mock_fence_create(void)
{
	struct dma_fence *fence = kmalloc_obj(*fence);

	if (fence)
		dma_fence_init(fence, &mock_fence_ops, NULL,
			       dma_fence_context_alloc(1), 1);
	return fence;
}

/* Signal what a case left pending, so that its user fences are released. */
static void mock_fence_release(void *fence)
{
	dma_fence_signal(fence);
	dma_fence_put(fence);
}

static struct dma_fence *mock_fence(struct kunit *test)
{
	struct dma_fence *fence = mock_fence_create();

	KUNIT_ASSERT_NOT_NULL(test, fence);
	KUNIT_ASSERT_EQ(test, kunit_add_action_or_reset(test, mock_fence_release,
							fence), 0);
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
 * The storage behind a location, refcounted as a driver's would be. Its
 * release sleeps, as a driver's may, and records when and in which context
 * it ran, and what the location held by then.
 */
struct storage {
	struct kref ref;
	const u64 *loc;
	u64 at_release;
	atomic_t released;
	bool in_task;
	bool irqs_off;
	bool held;		/* the release waits for hold */
	struct completion hold;
	struct completion entered;
	struct completion done;
};

static DEFINE_MUTEX(storage_mutex);

static void storage_release(struct kref *ref)
{
	struct storage *st = container_of(ref, struct storage, ref);

	complete(&st->entered);
	if (st->held)
		wait_for_completion_timeout(&st->hold, 10 * HZ);
	mutex_lock(&storage_mutex);
	st->in_task = in_task();
	st->irqs_off = irqs_disabled();
	if (st->loc)
		st->at_release = loc_get(st->loc);
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
	init_completion(&st->hold);
	init_completion(&st->entered);
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
 * A user fence on the case's own storage, for a case that does not look at
 * its release: the case holds one reference, each user fence one more, and
 * the exit below checks that each of those was dropped.
 */
static struct dma_fence_user_fence *user_fence(struct kunit *test)
{
	struct storage *st = test->priv;

	kref_get(&st->ref);
	return stored_user_fence(test, st);
}

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
 * run, the case's reference is the only one left on its storage.
 */
static void user_fence_test_exit(struct kunit *test)
{
	struct storage *st = test->priv;

	KUNIT_EXPECT_TRUE_MSG(test, wait_until(kref_read(&st->ref) == 1),
			      "user fences still hold %u references on the case's storage",
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

struct map_case {
	const char *desc;
	enum map_kind kind;
};

static const struct map_case map_cases[] = {
	{ "system memory", MAP_SYSTEM },
	{ "I/O memory", MAP_IO },
};

KUNIT_ARRAY_PARAM_DESC(map, map_cases, desc);

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

/* The buffer of a case parametrised with map_gen_params. */
static u64 *test_map_buffer(struct kunit *test, struct iosys_map *map)
{
	const struct map_case *p = test->param_value;

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

struct store_case {
	const char *desc;
	enum map_kind kind;
	bool signal_first;
	int error;
};

static const struct store_case store_cases[] = {
	{ "system memory, signalled later", MAP_SYSTEM, false, 0 },
	{ "system memory, signalled before attach", MAP_SYSTEM, true, 0 },
	{ "system memory, signalled with an error", MAP_SYSTEM, false, -EIO },
	{ "I/O memory, signalled later", MAP_IO, false, 0 },
	{ "I/O memory, signalled before attach", MAP_IO, true, 0 },
	{ "I/O memory, signalled with an error", MAP_IO, false, -EIO },
};

KUNIT_ARRAY_PARAM_DESC(store, store_cases, desc);

/*
 * The seqno lands at the location when the fence signals, or before attach
 * returns if it has signalled already, with an error too; little-endian,
 * and nowhere else.
 */
static void test_store(struct kunit *test)
{
	static const u8 little_endian[8] = { 8, 7, 6, 5, 4, 3, 2, 1 };
	const struct store_case *p = test->param_value;
	struct dma_fence *fence = mock_fence(test);
	struct iosys_map map, loc;
	u64 *buf = test_buffer(test, &map, p->kind);

	loc_set(&buf[5], 0);
	loc = IOSYS_MAP_INIT_OFFSET(&map, 5 * sizeof(u64));
	if (p->signal_first)
		mock_fence_signal(fence, p->error);

	dma_fence_user_fence_attach(fence, user_fence(test), &loc,
				    0x0102030405060708ULL);
	if (!p->signal_first) {
		KUNIT_EXPECT_EQ_MSG(test, loc_get(&buf[5]), 0ULL,
				    "stored before the signal");
		mock_fence_signal(fence, p->error);
	}
	KUNIT_EXPECT_MEMEQ(test, &buf[5], little_endian, sizeof(little_endian));
	expect_untouched(test, buf, 5);
}

struct larger_case {
	const char *desc;
	enum map_kind kind;
	u64 before;
	u64 seqno;
	u64 after;
};

/* @after is the larger of @before and @seqno. */
static const struct larger_case larger_cases[] = {
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

KUNIT_ARRAY_PARAM_DESC(larger, larger_cases, desc);

/* The seqno is stored only if it is larger than the value there. */
static void test_only_larger(struct kunit *test)
{
	const struct larger_case *p = test->param_value;
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

#define CHAIN_POINTS	4

/*
 * The user fences of one location on the points of one dma_fence_chain:
 * the value v means that every fence up to v has signalled, although the
 * jobs behind the points finish out of order and the points signal out of
 * order, each from its own irq_work. The storage release of each point
 * says when its store is done.
 */
static void test_timeline_chain(struct kunit *test)
{
	static const int finish[CHAIN_POINTS] = { 2, 0, 3, 1 };
	struct dma_fence *job[CHAIN_POINTS], *prev = NULL;
	struct dma_fence_chain *chain[CHAIN_POINTS];
	struct storage *st[CHAIN_POINTS];
	struct iosys_map map, loc;
	u64 *buf = test_map_buffer(test, &map);
	int i, j;

	loc_set(&buf[7], 0);
	loc = IOSYS_MAP_INIT_OFFSET(&map, 7 * sizeof(u64));
	for (i = 0; i < CHAIN_POINTS; i++) {
		job[i] = mock_fence(test);
		chain[i] = dma_fence_chain_alloc();
		KUNIT_ASSERT_NOT_NULL(test, chain[i]);
		st[i] = storage(test, NULL);
		/* The chain takes over the previous point and a job reference. */
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
 * A location reused without a reset holds a stale value. Above the seqno,
 * it stays: a waiter for the value to reach the seqno wakes before the
 * fence has signalled, one for the exact seqno never wakes. Equal to the
 * seqno, both wake before the fence has signalled. Reset below the first
 * seqno, the location works.
 */
static void test_initial_value(struct kunit *test)
{
	struct dma_fence *stale = mock_fence(test), *equal = mock_fence(test);
	struct dma_fence *reset = mock_fence(test);
	struct iosys_map map, loc;
	u64 *buf = test_map_buffer(test, &map);

	loc = IOSYS_MAP_INIT_OFFSET(&map, 6 * sizeof(u64));
	loc_set(&buf[6], 10);	/* the end of an earlier timeline */
	dma_fence_user_fence_attach(stale, user_fence(test), &loc, 3);
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
 * The storage reference is dropped once, after the store: on the deferred
 * and on the immediate path, when the store is skipped, and when the user
 * fence is freed unattached. The fence reference attach takes goes with it,
 * so that the caller may drop its own at once.
 */
static void test_release_after_store(struct kunit *test)
{
	struct dma_fence *fence = mock_fence(test), *done = mock_fence(test);
	unsigned int refs = kref_read(&fence->refcount);
	struct iosys_map map;
	u64 *buf = test_map_buffer(test, &map);
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
	KUNIT_EXPECT_EQ(test, kref_read(&fence->refcount), refs + 2);

	wait_released(test, immediate);
	wait_released(test, unused);
	KUNIT_EXPECT_EQ(test, immediate->at_release, 12ULL);
	KUNIT_EXPECT_TRUE(test, wait_until(kref_read(&done->refcount) == refs));
	KUNIT_EXPECT_EQ_MSG(test, atomic_read(&deferred->released), 0,
			    "released before its fence signalled");

	mock_fence_signal(fence, 0);
	wait_released(test, deferred);
	wait_released(test, skipped);
	KUNIT_EXPECT_EQ_MSG(test, deferred->at_release, 11ULL,
			    "storage released before the store");
	KUNIT_EXPECT_EQ(test, skipped->at_release, 50ULL);
	KUNIT_EXPECT_TRUE(test, wait_until(kref_read(&fence->refcount) == refs));

	/* Put once more, a count at 0 saturates, with a WARN. */
	msleep(50);
	KUNIT_EXPECT_EQ(test, kref_read(&deferred->ref), 0U);
	KUNIT_EXPECT_EQ(test, kref_read(&immediate->ref), 0U);
	KUNIT_EXPECT_EQ(test, kref_read(&skipped->ref), 0U);
	KUNIT_EXPECT_EQ(test, kref_read(&unused->ref), 0U);
}

/* Signals a fence from a timer interrupt, as a GPU's completion irq does. */
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
 * Attach as a driver does, inside a fence signalling section and under a
 * spinlock, to a pending and to a signalled fence; the pending one then
 * signals from a timer in hard interrupt context (in the timer softirq on
 * PREEMPT_RT, where a fence's spinlock_t sleeps). Attach neither sleeps nor
 * allocates (DEBUG_ATOMIC_SLEEP and lockdep, which primes reclaim against
 * the signalling section, report either), and each release runs in process
 * context, where it sleeps.
 */
static void test_context(struct kunit *test)
{
	struct dma_fence *done = mock_fence(test);
	struct irq_signal *s = kunit_kzalloc(test, sizeof(*s), GFP_KERNEL);
	struct storage *from_irq = storage(test, NULL);
	struct storage *immediate = storage(test, NULL);
	struct dma_fence_user_fence *uf[2];
	spinlock_t driver_lock;	/* stands for a lock the driver holds */
	struct iosys_map map, loc;
	u64 *buf;
	bool cookie;

	KUNIT_ASSERT_NOT_NULL(test, s);
	buf = test_buffer(test, &map, MAP_SYSTEM);
	loc = IOSYS_MAP_INIT_OFFSET(&map, sizeof(u64));
	loc_set(&buf[0], 0);
	loc_set(&buf[1], 0);
	spin_lock_init(&driver_lock);
	s->fence = mock_fence(test);
	init_completion(&s->done);
	mock_fence_signal(done, 0);
	uf[0] = stored_user_fence(test, from_irq);
	uf[1] = stored_user_fence(test, immediate);

	cookie = dma_fence_begin_signalling();
	spin_lock_irq(&driver_lock);
	dma_fence_user_fence_attach(s->fence, uf[0], &map, 1);
	dma_fence_user_fence_attach(done, uf[1], &loc, 2);
	spin_unlock_irq(&driver_lock);
	dma_fence_end_signalling(cookie);
	KUNIT_EXPECT_EQ(test, loc_get(&buf[1]), 2ULL);

	hrtimer_setup(&s->timer, irq_signal_fn, CLOCK_MONOTONIC,
		      HRTIMER_MODE_REL);
	hrtimer_start(&s->timer, ms_to_ktime(1), HRTIMER_MODE_REL);
	KUNIT_ASSERT_TRUE(test, wait_for_completion_timeout(&s->done, 10 * HZ));
	KUNIT_EXPECT_EQ(test, loc_get(&buf[0]), 1ULL);

	wait_released(test, from_irq);
	wait_released(test, immediate);
	KUNIT_EXPECT_TRUE(test, from_irq->in_task);
	KUNIT_EXPECT_FALSE(test, from_irq->irqs_off);
	KUNIT_EXPECT_TRUE(test, immediate->in_task);
	KUNIT_EXPECT_FALSE(test, immediate->irqs_off);
}

/*
 * One work item runs every release, one after the other: while one blocks,
 * the next waits, whichever driver it belongs to.
 */
static void test_release_in_turn(struct kunit *test)
{
	struct dma_fence *fence = mock_fence(test);
	struct storage *first = storage(test, NULL);
	struct storage *second = storage(test, NULL);
	struct iosys_map map;

	test_buffer(test, &map, MAP_SYSTEM);
	first->held = true;
	dma_fence_user_fence_attach(fence, stored_user_fence(test, first),
				    &map, 1);
	dma_fence_user_fence_attach(fence, stored_user_fence(test, second),
				    &map, 2);
	mock_fence_signal(fence, 0);

	if (!wait_for_completion_timeout(&first->entered, 10 * HZ)) {
		complete(&first->hold);
		KUNIT_FAIL(test, "the first release never started");
		return;
	}
	msleep(100);
	KUNIT_EXPECT_EQ_MSG(test, atomic_read(&second->released), 0,
			    "a release ran while an earlier one blocked");
	complete(&first->hold);
	wait_released(test, first);
	wait_released(test, second);
}

/*
 * The module that contains a release function cannot be unloaded while a
 * release of it is pending: each user fence holds a reference on it, from
 * dma_fence_user_fence_alloc() until its release has returned.
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
	kunit_skip(test, "needs the suite built as a module, with MODULE_UNLOAD");
#endif
}

/*
 * Bad input: the locations check_map refuses, and the programming errors,
 * a WARN each, with nothing stored; a user fence that attach refuses is
 * released (the exit checks that).
 */
static void test_bad_input(struct kunit *test)
{
	struct dma_fence *fence = mock_fence(test);
	struct iosys_map map, loc, null_map = {};
	u64 *buf = test_buffer(test, &map, MAP_SYSTEM);
	struct storage *st = storage(test, NULL);
	struct dma_fence_user_fence *uf = NULL;

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

	expect_warnings(test, 1, uf = dma_fence_user_fence_alloc(&st->ref, NULL));
	KUNIT_EXPECT_PTR_EQ(test, uf, NULL);
	expect_warnings(test, 1, uf = dma_fence_user_fence_alloc(NULL, storage_release));
	KUNIT_EXPECT_PTR_EQ(test, uf, NULL);
	expect_warnings(test, 1, uf = dma_fence_user_fence_alloc(NULL, NULL));
	KUNIT_EXPECT_PTR_EQ(test, uf, NULL);
	KUNIT_EXPECT_EQ(test, kref_read(&st->ref), 1U);

	expect_warnings(test, 1,
			dma_fence_user_fence_attach(NULL, user_fence(test), &map, 1));
	expect_warnings(test, 1,
			dma_fence_user_fence_attach(fence, NULL, &map, 1));
	expect_warnings(test, 1,
			dma_fence_user_fence_attach(fence, user_fence(test), NULL, 1));
	expect_warnings(test, 1,
			dma_fence_user_fence_attach(fence, user_fence(test),
						    &null_map, 1));
	loc = IOSYS_MAP_INIT_OFFSET(&map, 8 * sizeof(u64) + 4);
	expect_warnings(test, 1,
			dma_fence_user_fence_attach(fence, user_fence(test), &loc,
						    U64_MAX));
	mock_fence_signal(fence, 0);
	expect_untouched(test, buf, -1);
}

static struct kunit_case dma_fence_user_fence_cases[] = {
	KUNIT_CASE_PARAM(test_store, store_gen_params),
	KUNIT_CASE_PARAM(test_only_larger, larger_gen_params),
	KUNIT_CASE_PARAM(test_timeline_chain, map_gen_params),
	KUNIT_CASE_PARAM(test_initial_value, map_gen_params),
	KUNIT_CASE_PARAM(test_release_after_store, map_gen_params),
	KUNIT_CASE(test_context),
	KUNIT_CASE(test_release_in_turn),
	KUNIT_CASE(test_module_reference),
	KUNIT_CASE(test_bad_input),
	{}
};

static struct kunit_suite dma_fence_user_fence_suite = {
	.name = "dma-buf-user-fence",
	.init = user_fence_test_init,
	.exit = user_fence_test_exit,
	.test_cases = dma_fence_user_fence_cases,
};

kunit_test_suite(dma_fence_user_fence_suite);

MODULE_DESCRIPTION("KUnit tests for dma-fence-user-fence");
MODULE_LICENSE("GPL");
