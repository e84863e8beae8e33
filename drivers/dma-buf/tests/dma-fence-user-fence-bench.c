// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit benchmark for dma-fence-user-fence: what the helper costs next to
 * the store a driver would open-code in a fence callback.
 *
 * Workbench only, not part of the series: enable it with
 * CONFIG_DMA_FENCE_USER_FENCE_KUNIT_BENCH=y in a kernel without debug
 * options (KASAN, lockdep, DMABUF_DEBUG, ...), or it measures them. Every
 * figure is printed on a line that starts with "user-fence-bench:";
 * workbench/bench-report turns them into a table. A case fails only if it
 * could not measure, or if a store it timed went wrong. Four figures are
 * targets (bench_target()), printed MET or MISSED with the margin; the
 * other ratios are figures, without a verdict. A ratio of two timed
 * variants is judged by the median of its per-turn ratios (see
 * bench_round()), and the ratio of the two medians is printed beside it.
 *
 * Times are per operation, from batches: each batch times many operations
 * with two ktime_get_ns() calls, so the clock's cost and granularity are
 * spread over the batch; the median, 10th and 90th percentile are taken
 * over the batches, after warm-up batches that are not counted.
 *
 * The helper's releases run from one delayed work item, queued a jiffy
 * after the first release that is due. The workbench's copy of the helper
 * (series/9-bench, not the mailed one) lets the benchmark set that delay:
 * with 0 the work is queued at once, which is what a plain work item does,
 * so that both are timed in one boot.
 */

#include <kunit/test.h>
#include <linux/atomic.h>
#include <linux/cache.h>
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/cpumask.h>
#include <linux/dma-fence.h>
#include <linux/dma-fence-user-fence.h>
#include <linux/hash.h>
#include <linux/iosys-map.h>
#include <linux/kref.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/utsname.h>
#include <linux/version.h>
#include <linux/workqueue.h>
#include <trace/events/kmem.h>
#include <trace/events/workqueue.h>

/*
 * The benchmark's hooks in the workbench's copy of the helper, not in its
 * header: the delay of the release work in jiffies (1 as mailed, 0 for a
 * plain work item), and a wait for every release that is due.
 */
extern unsigned long dma_fence_user_fence_bench_delay;
void dma_fence_user_fence_bench_flush(void);

#define BENCH_DELAYED	1UL	/* the helper as mailed */
#define BENCH_PLAIN	0UL	/* queued at once, as queue_work() */

static void bench_set_delay(unsigned long delay)
{
	WRITE_ONCE(dma_fence_user_fence_bench_delay, delay);
}

/*
 * batches=N: each figure from N timed batches (at most the case's own
 * count) after one warm-up batch, instead of the case's own 21 to 101
 * after 3 to 10. For a run whose figures are ignored: the benchmark's cases
 * on a debug kernel, which KASAN and lockdep make many times slower
 * (workbench/runs/bench-debug). 0, the default, keeps the cases' counts.
 */
static unsigned int batches;
module_param(batches, uint, 0444);
MODULE_PARM_DESC(batches,
		 "timed batches per figure, after one warm-up batch (0, the default: each case's own counts)");

static unsigned int bench_batches(unsigned int own)
{
	return batches ? min(batches, own) : own;
}

static unsigned int bench_warmup(unsigned int own)
{
	return batches ? 1 : own;
}

#define bench_out(test, fmt, ...) \
	kunit_info(test, "user-fence-bench: " fmt "\n", ##__VA_ARGS__)

/* Per-operation times are kept in picoseconds, printed in ns. */
#define PS_PER_NS	1000ULL

/*
 * The storage reference every user fence needs: the benchmark holds one
 * that never goes, and each user fence one more, dropped by the helper.
 */
static struct kref bench_storage = KREF_INIT(1);

static void bench_storage_release(struct kref *ref)
{
}

static struct dma_fence_user_fence *bench_uf_alloc(void)
{
	struct dma_fence_user_fence *uf;

	kref_get(&bench_storage);
	uf = dma_fence_user_fence_alloc(&bench_storage, bench_storage_release);
	if (!uf)
		kref_put(&bench_storage, bench_storage_release);
	return uf;
}

static const char *bench_fence_name(struct dma_fence *fence)
{
	return "user-fence-bench";
}

static const struct dma_fence_ops bench_fence_ops = {
	.get_driver_name = bench_fence_name,
	.get_timeline_name = bench_fence_name,
};

/*
 * The fences are initialised before a batch and only signalled in it, so
 * that creating them costs nothing in any variant. They are never put: a
 * signalled fence with its one reference is initialised again for the next
 * batch, and the array is freed by KUnit, after bench_case_exit() has
 * waited for the releases that still hold references on its fences.
 */
static struct dma_fence *bench_fences(struct kunit *test, unsigned int n)
{
	struct dma_fence *f = kunit_kcalloc(test, n, sizeof(*f), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, f);
	return f;
}

/*
 * @n fences on a new context, each with a lock of its own: dma_fence_init()
 * with a NULL lock, as 7.3 asks of new users. 6.12 and 6.1 have no lock in
 * the fence (nor dma_fence_lock_irqsave(), which came with it): there the
 * fences share @lts_lock.
 */
static void bench_fences_init_lock(struct dma_fence *f, unsigned int n,
				   spinlock_t *lts_lock)
{
	u64 context = dma_fence_context_alloc(1);
	spinlock_t *lock = NULL;
	unsigned int i;

#ifndef dma_fence_lock_irqsave
	lock = lts_lock;
#endif
	/*
	 * The fences are reused, not refcounted: the user fences of their
	 * last use hold references until their releases have run.
	 */
	dma_fence_user_fence_bench_flush();
	for (i = 0; i < n; i++)
		dma_fence_init(&f[i], &bench_fence_ops, lock, context, i + 1);
}

static void bench_fences_init(struct dma_fence *f, unsigned int n)
{
	static DEFINE_SPINLOCK(lts_lock);

	bench_fences_init_lock(f, n, &lts_lock);
}

struct bench_stats {
	u64 median, p10, p90, min, max;	/* picoseconds per operation */
};

static int cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

static void bench_stats(u64 *v, unsigned int n, struct bench_stats *s)
{
	sort(v, n, sizeof(*v), cmp_u64, NULL);
	s->min = v[0];
	s->max = v[n - 1];
	s->p10 = v[(n - 1) / 10];
	s->p90 = v[(n - 1) * 9 / 10];
	s->median = n & 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#define NUM_LEN		24

/* @ps as ns with one decimal, "123.4", in @buf of NUM_LEN */
static const char *ns(char *buf, u64 ps)
{
	snprintf(buf, NUM_LEN, "%llu.%llu", ps / PS_PER_NS,
		 ps % PS_PER_NS / 100);
	return buf;
}

/* @a - @b in ps, as signed ns with one decimal, in @buf of NUM_LEN */
static const char *ps_delta(char *buf, u64 a, u64 b)
{
	u64 d = a >= b ? a - b : b - a;

	snprintf(buf, NUM_LEN, "%s%llu.%llu", a >= b ? "" : "-",
		 d / PS_PER_NS, d % PS_PER_NS / 100);
	return buf;
}

/* A ratio in thousandths as "1.034", in @buf of NUM_LEN */
static const char *milli(char *buf, u64 m)
{
	snprintf(buf, NUM_LEN, "%llu.%03llu", m / 1000, m % 1000);
	return buf;
}

static void bench_row(struct kunit *test, const char *id, const char *unit,
		      const struct bench_stats *s, unsigned int batches,
		      unsigned int per_batch)
{
	char b[5][NUM_LEN];

	bench_out(test,
		  "row %s median=%s p10=%s p90=%s min=%s max=%s unit=%s batches=%u per_batch=%u",
		  id, ns(b[0], s->median), ns(b[1], s->p10), ns(b[2], s->p90),
		  ns(b[3], s->min), ns(b[4], s->max), unit, batches,
		  per_batch);
}

/*
 * The four targets of the helper: the signal path against the open-coded
 * callback's, the round against the same guarantees by hand, the bytes of
 * a pending user fence, the allocations in attach and signal. Every other
 * ratio is a figure without a verdict (bench_ratio()). @how says what the
 * value is, for the two timed ratios ("" for the others): printed before
 * the verdict, as fields of the target's line.
 */
static void bench_target(struct kunit *test, const char *id, u64 value_milli,
			 bool at_most, u64 limit_milli, const char *how)
{
	bool met = at_most ? value_milli <= limit_milli :
			     value_milli >= limit_milli;
	u64 miss = at_most ? value_milli - limit_milli :
			     limit_milli - value_milli;
	char b[3][NUM_LEN], pct[32] = "";

	if (met) {
		bench_out(test, "target %s value=%s limit=%s%s%s MET", id,
			  milli(b[0], value_milli), at_most ? "<=" : ">=",
			  milli(b[1], limit_milli), how);
		return;
	}
	if (limit_milli)
		snprintf(pct, sizeof(pct), " (%llu.%llu%% of the limit)",
			 miss * 100 / limit_milli,
			 miss * 1000 / limit_milli % 10);
	bench_out(test, "target %s value=%s limit=%s%s%s MISSED by=%s%s", id,
		  milli(b[0], value_milli), at_most ? "<=" : ">=",
		  milli(b[1], limit_milli), how, milli(b[2], miss), pct);
}

/* A ratio in thousandths, printed without a verdict */
static void bench_ratio(struct kunit *test, const char *id, u64 value_milli)
{
	char b[NUM_LEN];

	bench_out(test, "ratio %s value=%s", id, milli(b, value_milli));
}

/*
 * The preemption model, PREEMPT_DYNAMIC's as booted: whether a woken
 * worker takes the CPU from the signalling thread, and when.
 */
static const char *bench_preempt(void)
{
	if (IS_ENABLED(CONFIG_PREEMPT_RT))
		return "rt";
#ifdef CONFIG_PREEMPT_DYNAMIC
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 13, 0)
	if (preempt_model_lazy())
		return "dynamic-lazy";
#endif
	if (preempt_model_full())
		return "dynamic-full";
	if (preempt_model_voluntary())
		return "dynamic-voluntary";
	return "dynamic-none";
#else
	return IS_ENABLED(CONFIG_PREEMPT_LAZY) ? "lazy" :
	       IS_ENABLED(CONFIG_PREEMPT) ? "full" :
	       IS_ENABLED(CONFIG_PREEMPT_VOLUNTARY) ? "voluntary" : "none";
#endif
}

/* What was measured: the kernel, and the options that would skew it. */
static void bench_config(struct kunit *test)
{
	const unsigned int calls = 10000;
	u64 t0, t1, sink = 0, v[21];
	unsigned int b, i, nb = bench_batches(ARRAY_SIZE(v));
	struct bench_stats s;

	bench_out(test,
		  "config linux=%s arch=%s cpus=%u hz=%u preempt=%s batches=%u kasan=%d lockdep=%d debug_objects=%d kfence=%d ubsan=%d kcsan=%d dmabuf_debug=%d slub_debug_on=%d init_on_alloc=%d tracepoints=%d",
		  init_utsname()->release,
		  IS_ENABLED(CONFIG_UML) ? "um" : init_utsname()->machine,
		  num_online_cpus(), HZ, bench_preempt(), batches,
		  IS_ENABLED(CONFIG_KASAN), IS_ENABLED(CONFIG_LOCKDEP),
		  IS_ENABLED(CONFIG_DEBUG_OBJECTS), IS_ENABLED(CONFIG_KFENCE),
		  IS_ENABLED(CONFIG_UBSAN), IS_ENABLED(CONFIG_KCSAN),
		  IS_ENABLED(CONFIG_DMABUF_DEBUG),
		  IS_ENABLED(CONFIG_SLUB_DEBUG_ON),
		  IS_ENABLED(CONFIG_INIT_ON_ALLOC_DEFAULT_ON),
		  IS_ENABLED(CONFIG_TRACEPOINTS));

	/* What one clock read costs, next to the batches it brackets. */
	for (b = 0; b < nb; b++) {
		t0 = ktime_get_ns();
		for (i = 0; i < calls; i++)
			sink += ktime_get_ns();
		t1 = ktime_get_ns();
		v[b] = (t1 - t0) * PS_PER_NS / calls;
	}
	bench_stats(v, nb, &s);
	bench_row(test, "clock/ktime_get_ns", "ns/call", &s, nb, calls);
	KUNIT_EXPECT_NE(test, sink, 0ULL);
}

/*
 * 1. One user fence, timed in two ways whose batches take turns:
 *
 * - the signal path, what runs in the fence's signalling context: the
 *   callback, the store and queueing the release. The callbacks are
 *   attached before the batch and only the dma_fence_signal() calls are
 *   timed; the releases they queued are waited for after the batch.
 * - the round: allocation, attach, signal and release; the releases are
 *   waited for at the end of the batch, and timed.
 *
 * Each for the helper with its release work delayed by a jiffy (as mailed)
 * and queued at once (a plain work item), the minimal open-coded callback,
 * the same guarantees written by hand, and the floor: a fence with an empty
 * callback on a preallocated dma_fence_cb.
 */
#define ROUND_PER_BATCH	1000
#define ROUND_WARMUP	10
#define ROUND_BATCHES	101

/*
 * What a driver writes without the helper: a kmalloc'd callback that
 * stores and frees itself, without the max rule or a safe lifetime.
 */
struct open_uf {
	struct dma_fence_cb cb;
	u64 *addr;
	u64 seqno;
};

static void open_uf_cb(struct dma_fence *fence, struct dma_fence_cb *cb)
{
	struct open_uf *o = container_of(cb, struct open_uf, cb);

	WRITE_ONCE(*o->addr, o->seqno);
	kfree(o);
}

static void empty_cb(struct dma_fence *fence, struct dma_fence_cb *cb)
{
}

/*
 * What a driver writes by hand with the helper's guarantees: the store
 * under a lock that keeps the largest value, then the storage reference
 * dropped by a work item of its own, in process context.
 */
struct hand_uf {
	struct dma_fence_cb cb;
	struct work_struct work;
	u64 *addr;
	u64 seqno;
	struct kref *storage;
};

static DEFINE_SPINLOCK(hand_lock);
static struct workqueue_struct *hand_wq;

static void hand_uf_work(struct work_struct *work)
{
	struct hand_uf *h = container_of(work, struct hand_uf, work);

	kref_put(h->storage, bench_storage_release);
	kfree(h);
}

static void hand_uf_cb(struct dma_fence *fence, struct dma_fence_cb *cb)
{
	struct hand_uf *h = container_of(cb, struct hand_uf, cb);
	unsigned long flags;

	spin_lock_irqsave(&hand_lock, flags);
	if (h->seqno > READ_ONCE(*h->addr)) {
		wmb();	/* as the helper's, before the store */
		WRITE_ONCE(*h->addr, h->seqno);
	}
	spin_unlock_irqrestore(&hand_lock, flags);
	queue_work(hand_wq, &h->work);
}

/*
 * The signal path, then the round. The last two only allocate and free,
 * without a fence: they split what a round costs into the allocator's part
 * and the rest.
 */
enum round_variant {
	SIGNAL_HELPER, SIGNAL_HELPER_PLAIN, SIGNAL_OPEN, SIGNAL_BY_HAND,
	SIGNAL_FLOOR,
	ROUND_HELPER, ROUND_HELPER_PLAIN, ROUND_OPEN, ROUND_BY_HAND,
	ROUND_FLOOR, ROUND_HELPER_ALLOC, ROUND_OPEN_ALLOC, NR_ROUND
};

#define NR_SIGNAL	(SIGNAL_FLOOR + 1)

static const char *const round_ids[NR_ROUND] = {
	[SIGNAL_HELPER] = "signal/helper-delayed",
	[SIGNAL_HELPER_PLAIN] = "signal/helper-plain",
	[SIGNAL_OPEN] = "signal/open-coded",
	[SIGNAL_BY_HAND] = "signal/by-hand",
	[SIGNAL_FLOOR] = "signal/floor",
	[ROUND_HELPER] = "round/helper-delayed",
	[ROUND_HELPER_PLAIN] = "round/helper-plain",
	[ROUND_OPEN] = "round/open-coded",
	[ROUND_BY_HAND] = "round/by-hand",
	[ROUND_FLOOR] = "round/floor",
	[ROUND_HELPER_ALLOC] = "round/helper-alloc+free",
	[ROUND_OPEN_ALLOC] = "round/open-coded-kmalloc+kfree",
};

/* What a variant attaches to a fence. */
enum cb_kind { KIND_HELPER, KIND_OPEN, KIND_BY_HAND, KIND_FLOOR };

static const enum cb_kind signal_kind[NR_SIGNAL] = {
	[SIGNAL_HELPER] = KIND_HELPER,
	[SIGNAL_HELPER_PLAIN] = KIND_HELPER,
	[SIGNAL_OPEN] = KIND_OPEN,
	[SIGNAL_BY_HAND] = KIND_BY_HAND,
	[SIGNAL_FLOOR] = KIND_FLOOR,
};

/* The variants whose store is checked after each batch. */
static bool round_stores(enum round_variant v)
{
	return v != SIGNAL_FLOOR && v != ROUND_FLOOR &&
	       v != ROUND_HELPER_ALLOC && v != ROUND_OPEN_ALLOC;
}

/*
 * Allocate @kind's callback and attach it to @f, to store @seqno at @loc;
 * false if the allocation failed. Inlined into each timed loop with a
 * constant @kind.
 */
static __always_inline bool attach_one(enum cb_kind kind, struct dma_fence *f,
				       struct dma_fence_cb *cb,
				       const struct iosys_map *map, u64 *loc,
				       u64 seqno)
{
	struct dma_fence_user_fence *uf;
	struct open_uf *o;
	struct hand_uf *h;

	switch (kind) {
	case KIND_HELPER:
		uf = bench_uf_alloc();
		if (unlikely(!uf))
			return false;
		dma_fence_user_fence_attach(f, uf, map, seqno);
		return true;
	case KIND_OPEN:
		o = kmalloc(sizeof(*o), GFP_KERNEL);
		if (unlikely(!o))
			return false;
		o->addr = loc;
		o->seqno = seqno;
		if (dma_fence_add_callback(f, &o->cb, open_uf_cb))
			open_uf_cb(f, &o->cb);
		return true;
	case KIND_BY_HAND:
		h = kmalloc(sizeof(*h), GFP_KERNEL);
		if (unlikely(!h))
			return false;
		INIT_WORK(&h->work, hand_uf_work);
		h->addr = loc;
		h->seqno = seqno;
		kref_get(&bench_storage);
		h->storage = &bench_storage;
		if (dma_fence_add_callback(f, &h->cb, hand_uf_cb))
			hand_uf_cb(f, &h->cb);
		return true;
	default:
		if (dma_fence_add_callback(f, cb, empty_cb))
			empty_cb(f, cb);
		return true;
	}
}

/* A round's loop: allocate, attach and signal, fence after fence. */
static __always_inline unsigned int attach_signal(enum cb_kind kind,
						  struct dma_fence *f,
						  struct dma_fence_cb *cbs,
						  const struct iosys_map *map,
						  u64 *loc, u64 *seq)
{
	unsigned int i, failed = 0;

	for (i = 0; i < ROUND_PER_BATCH; i++) {
		if (unlikely(!attach_one(kind, &f[i], &cbs[i], map, loc,
					 ++*seq)))
			failed++;
		dma_fence_signal(&f[i]);
	}
	return failed;
}

/* Wait for the releases @kind queued. */
static void release_all(enum cb_kind kind)
{
	if (kind == KIND_HELPER)
		dma_fence_user_fence_bench_flush();
	else if (kind == KIND_BY_HAND)
		flush_workqueue(hand_wq);
}

/* One timed batch; returns the allocations that failed. */
static noinline unsigned int round_batch(enum round_variant v,
					 struct dma_fence *f,
					 struct dma_fence_cb *cbs,
					 const struct iosys_map *map, u64 *loc,
					 u64 *seq, u64 *ns)
{
	unsigned int i, failed = 0;
	u64 t0, t1;

	bench_set_delay(v == SIGNAL_HELPER_PLAIN || v == ROUND_HELPER_PLAIN ?
			BENCH_PLAIN : BENCH_DELAYED);

	if (v < NR_SIGNAL) {
		enum cb_kind kind = signal_kind[v];

		for (i = 0; i < ROUND_PER_BATCH; i++)
			if (!attach_one(kind, &f[i], &cbs[i], map, loc, ++*seq))
				failed++;
		t0 = ktime_get_ns();
		for (i = 0; i < ROUND_PER_BATCH; i++)
			dma_fence_signal(&f[i]);
		t1 = ktime_get_ns();
		release_all(kind);
		goto out;
	}

	t0 = ktime_get_ns();
	switch (v) {
	case ROUND_HELPER:
	case ROUND_HELPER_PLAIN:
		failed = attach_signal(KIND_HELPER, f, cbs, map, loc, seq);
		/* The releases are part of the round: run and wait for them. */
		release_all(KIND_HELPER);
		break;
	case ROUND_BY_HAND:
		failed = attach_signal(KIND_BY_HAND, f, cbs, map, loc, seq);
		release_all(KIND_BY_HAND);
		break;
	case ROUND_OPEN:
		/* It frees itself in the callback. */
		failed = attach_signal(KIND_OPEN, f, cbs, map, loc, seq);
		break;
	case ROUND_FLOOR:
		attach_signal(KIND_FLOOR, f, cbs, map, loc, seq);
		break;
	case ROUND_HELPER_ALLOC:
		for (i = 0; i < ROUND_PER_BATCH; i++) {
			struct dma_fence_user_fence *uf;

			uf = bench_uf_alloc();
			if (unlikely(!uf))
				failed++;
			dma_fence_user_fence_free(uf);
		}
		release_all(KIND_HELPER);
		break;
	default:
		for (i = 0; i < ROUND_PER_BATCH; i++) {
			struct open_uf *o = kmalloc(sizeof(*o), GFP_KERNEL);

			if (unlikely(!o))
				failed++;
			kfree(o);
		}
		break;
	}
	t1 = ktime_get_ns();
out:
	bench_set_delay(BENCH_DELAYED);
	*ns = t1 - t0;
	return failed;
}

/*
 * Ratios of two variants: of their medians, and per turn, of the two
 * batches that ran in the same turn, whose spread says how far one turn
 * is from the next. Two are targets of the helper as mailed (its release
 * work delayed), at most @limit thousandths. Their verdict is the median
 * of the per-turn ratios: the two batches of a turn run a few
 * milliseconds apart and see the same load of the host, while the ratio
 * of the two medians divides batches of different turns, and a host
 * whose load changes during the run moves it (under TCG, 1.088 where
 * the per-turn median was 1.029). The line is printed on every arch;
 * workbench/bench-report judges the signal path on UML only, where the
 * kernel's code runs natively.
 */
static const struct {
	const char *id;
	enum round_variant num, den;
	u64 limit;
} round_ratios[] = {
	{ "signal/plain-vs-delayed", SIGNAL_HELPER_PLAIN, SIGNAL_HELPER },
	{ "round/plain-vs-delayed", ROUND_HELPER_PLAIN, ROUND_HELPER },
	{ "signal/helper-vs-by-hand", SIGNAL_HELPER, SIGNAL_BY_HAND },
	{ "signal/helper-vs-open-coded", SIGNAL_HELPER, SIGNAL_OPEN, 1050 },
	{ "round/helper-plain-vs-by-hand", ROUND_HELPER_PLAIN, ROUND_BY_HAND },
	{ "round/helper-vs-by-hand", ROUND_HELPER, ROUND_BY_HAND, 1000 },
	{ "round/helper-vs-open-coded", ROUND_HELPER, ROUND_OPEN },
};

static void bench_round(struct kunit *test)
{
	const unsigned int nr_ratios = ARRAY_SIZE(round_ratios);
	struct dma_fence *f = bench_fences(test, ROUND_PER_BATCH);
	struct dma_fence_cb *cbs;
	struct bench_stats s[NR_ROUND], sr[ARRAY_SIZE(round_ratios)];
	u64 *loc, *v[NR_ROUND], *r[ARRAY_SIZE(round_ratios)], seq = 0, ns;
	u64 medians[ARRAY_SIZE(round_ratios)];
	unsigned int nw = bench_warmup(ROUND_WARMUP);
	unsigned int nb = bench_batches(ROUND_BATCHES);
	unsigned int b, k, failed = 0;
	struct iosys_map map;
	char buf[4][NUM_LEN], how[80];

	cbs = kunit_kcalloc(test, ROUND_PER_BATCH, sizeof(*cbs), GFP_KERNEL);
	loc = kunit_kzalloc(test, sizeof(*loc), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, cbs);
	KUNIT_ASSERT_NOT_NULL(test, loc);
	iosys_map_set_vaddr(&map, loc);
	for (k = 0; k < NR_ROUND; k++) {
		v[k] = kunit_kcalloc(test, nb, sizeof(u64), GFP_KERNEL);
		KUNIT_ASSERT_NOT_NULL(test, v[k]);
	}
	for (k = 0; k < nr_ratios; k++) {
		r[k] = kunit_kcalloc(test, nb, sizeof(u64), GFP_KERNEL);
		KUNIT_ASSERT_NOT_NULL(test, r[k]);
	}

	/* The variants take turns, starting with a different one each time. */
	for (b = 0; b < nw + nb; b++) {
		for (k = 0; k < NR_ROUND; k++) {
			enum round_variant var = (b + k) % NR_ROUND;

			bench_fences_init(f, ROUND_PER_BATCH);
			failed += round_batch(var, f, cbs, &map, loc, &seq, &ns);
			if (round_stores(var))
				KUNIT_EXPECT_EQ_MSG(test, READ_ONCE(*loc), seq,
						    "%s: the last store is missing",
						    round_ids[var]);
			if (b >= nw)
				v[var][b - nw] =
					ns * PS_PER_NS / ROUND_PER_BATCH;
		}
		cond_resched();
	}
	KUNIT_ASSERT_EQ_MSG(test, failed, 0U, "allocations failed");

	/* Per turn, before bench_stats() sorts the batches. */
	for (k = 0; k < nr_ratios; k++)
		for (b = 0; b < nb; b++)
			r[k][b] = v[round_ratios[k].num][b] * 1000 /
				  max(v[round_ratios[k].den][b], 1ULL);

	for (k = 0; k < NR_ROUND; k++) {
		bench_stats(v[k], nb, &s[k]);
		bench_row(test, round_ids[k],
			  k < NR_SIGNAL ? "ns/signal" : "ns/round", &s[k],
			  nb, ROUND_PER_BATCH);
		KUNIT_ASSERT_GT(test, s[k].median, 0ULL);
	}
	for (k = 0; k < nr_ratios; k++) {
		bench_stats(r[k], nb, &sr[k]);
		medians[k] = s[round_ratios[k].num].median * 1000 /
			     s[round_ratios[k].den].median;
		bench_out(test,
			  "ratio %s value=%s median=%s p10=%s p90=%s pairs=%u",
			  round_ratios[k].id, milli(buf[0], medians[k]),
			  milli(buf[1], sr[k].median), milli(buf[2], sr[k].p10),
			  milli(buf[3], sr[k].p90), nb);
	}
	/* The targets: the median of the per-turn ratios, see round_ratios. */
	for (k = 0; k < nr_ratios; k++) {
		if (!round_ratios[k].limit)
			continue;
		snprintf(how, sizeof(how), " of=per-turn-median pairs=%u medians=%s",
			 nb, milli(buf[0], medians[k]));
		bench_target(test, round_ratios[k].id, sr[k].median, true,
			     round_ratios[k].limit, how);
	}
	/* What each adds over signalling a fence with an empty callback. */
	bench_out(test,
		  "info round: over the floor, the helper adds %s ns per round, the open-coded callback %s ns",
		  ps_delta(buf[0], s[ROUND_HELPER].median, s[ROUND_FLOOR].median),
		  ps_delta(buf[1], s[ROUND_OPEN].median, s[ROUND_FLOOR].median));
	bench_out(test,
		  "info round: without allocating and freeing, a round costs %s ns with the helper, %s ns open-coded",
		  ps_delta(buf[0], s[ROUND_HELPER].median,
			   s[ROUND_HELPER_ALLOC].median),
		  ps_delta(buf[1], s[ROUND_OPEN].median,
			   s[ROUND_OPEN_ALLOC].median));
	bench_out(test,
		  "info signal: over the floor's signal, the signal path adds %s ns with the helper's delayed work, %s ns with a plain work item",
		  ps_delta(buf[0], s[SIGNAL_HELPER].median,
			   s[SIGNAL_FLOOR].median),
		  ps_delta(buf[1], s[SIGNAL_HELPER_PLAIN].median,
			   s[SIGNAL_FLOOR].median));
}

/*
 * 2. Signal-to-visible latency: from the call to dma_fence_signal() until
 * the value can be read at the location, the helper against a callback
 * that queues a work item on an ordered workqueue, whose worker stores the
 * value (what xe_sync.c does for its user fences, less copy_to_user()).
 *
 * With more than one CPU the signalling thread spins on the location with
 * cpu_relax(); the worker runs on another CPU. With one CPU (UML) the
 * worker cannot run while we spin, so the signalling thread waits with
 * flush_work(): the figure includes switching to the worker and back.
 */
#define LAT_PER_BATCH	500
#define LAT_WARMUP	5
#define LAT_BATCHES	51
/* Spin this long at most, then flush_work(), and count it. */
#define LAT_SPIN_NS	(10 * NSEC_PER_MSEC)

struct wq_uf {
	struct dma_fence_cb cb;
	struct work_struct work;
	struct workqueue_struct *wq;
	u64 *addr;
	u64 seqno;
};

static void wq_uf_work(struct work_struct *work)
{
	struct wq_uf *w = container_of(work, struct wq_uf, work);

	WRITE_ONCE(*w->addr, w->seqno);
}

static void wq_uf_cb(struct dma_fence *fence, struct dma_fence_cb *cb)
{
	struct wq_uf *w = container_of(cb, struct wq_uf, cb);

	INIT_WORK(&w->work, wq_uf_work);
	queue_work(w->wq, &w->work);
}

/*
 * Wait until @loc holds @seq. Returns true if the value was seen without
 * flush_work(); the helper's value must be there at once (@work is NULL).
 */
static bool wait_visible(u64 *loc, u64 seq, struct work_struct *work,
			 bool spin)
{
	unsigned int n = 0;
	u64 deadline = 0;

	if (READ_ONCE(*loc) == seq)
		return true;
	if (!work)
		return false;
	while (spin && READ_ONCE(*loc) != seq) {
		cpu_relax();
		if (++n % 1024)
			continue;
		if (!deadline)
			deadline = ktime_get_ns() + LAT_SPIN_NS;
		else if (ktime_get_ns() > deadline)
			break;
	}
	if (READ_ONCE(*loc) == seq)
		return true;
	flush_work(work);
	return false;
}

static void bench_latency(struct kunit *test)
{
	struct dma_fence *f = bench_fences(test, LAT_PER_BATCH);
	bool spin = num_online_cpus() > 1;
	struct workqueue_struct *wq;
	struct bench_stats sh, sw;
	u64 *loc, *vh, *vw, seq = 0, t0, t1;
	unsigned int nw = bench_warmup(LAT_WARMUP);
	unsigned int nb = bench_batches(LAT_BATCHES);
	unsigned int b, i, late = 0, flushed = 0, failed = 0;
	struct wq_uf *w;
	struct iosys_map map;

	loc = kunit_kzalloc(test, sizeof(*loc), GFP_KERNEL);
	w = kunit_kcalloc(test, LAT_PER_BATCH, sizeof(*w), GFP_KERNEL);
	vh = kunit_kcalloc(test, nb, sizeof(u64), GFP_KERNEL);
	vw = kunit_kcalloc(test, nb, sizeof(u64), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, loc);
	KUNIT_ASSERT_NOT_NULL(test, w);
	KUNIT_ASSERT_NOT_NULL(test, vh);
	KUNIT_ASSERT_NOT_NULL(test, vw);
	iosys_map_set_vaddr(&map, loc);
	wq = alloc_ordered_workqueue("user-fence-bench", 0);
	KUNIT_ASSERT_NOT_NULL(test, wq);

	for (b = 0; b < nw + nb; b++) {
		u64 first = seq + 1;

		/* The helper: user fences attached before the batch. */
		bench_fences_init(f, LAT_PER_BATCH);
		for (i = 0; i < LAT_PER_BATCH; i++) {
			struct dma_fence_user_fence *uf;

			uf = bench_uf_alloc();
			if (!uf) {
				failed++;
				continue;
			}
			dma_fence_user_fence_attach(&f[i], uf, &map, ++seq);
		}
		t0 = ktime_get_ns();
		for (i = 0; i < LAT_PER_BATCH; i++) {
			dma_fence_signal(&f[i]);
			if (!wait_visible(loc, first + i, NULL, spin))
				late++;
		}
		t1 = ktime_get_ns();
		if (b >= nw)
			vh[b - nw] = (t1 - t0) * PS_PER_NS / LAT_PER_BATCH;

		/* The worker: callbacks added before the batch. */
		first = seq + 1;
		bench_fences_init(f, LAT_PER_BATCH);
		for (i = 0; i < LAT_PER_BATCH; i++) {
			w[i].wq = wq;
			w[i].addr = loc;
			w[i].seqno = ++seq;
			if (dma_fence_add_callback(&f[i], &w[i].cb, wq_uf_cb))
				wq_uf_cb(&f[i], &w[i].cb);
		}
		t0 = ktime_get_ns();
		for (i = 0; i < LAT_PER_BATCH; i++) {
			dma_fence_signal(&f[i]);
			if (!wait_visible(loc, first + i, &w[i].work, spin))
				flushed++;
		}
		t1 = ktime_get_ns();
		if (b >= nw)
			vw[b - nw] = (t1 - t0) * PS_PER_NS / LAT_PER_BATCH;
		/* The last worker may still be returning: reuse w[] after. */
		flush_workqueue(wq);
		cond_resched();
	}
	destroy_workqueue(wq);
	KUNIT_ASSERT_EQ_MSG(test, failed, 0U, "allocations failed");
	KUNIT_EXPECT_EQ_MSG(test, late, 0U,
			    "the helper's value was not there when dma_fence_signal() returned");

	bench_stats(vh, nb, &sh);
	bench_stats(vw, nb, &sw);
	bench_row(test, "latency/helper", "ns", &sh, nb, LAT_PER_BATCH);
	bench_row(test, "latency/worker", "ns", &sw, nb, LAT_PER_BATCH);
	if (spin)
		bench_out(test,
			  "info latency: %u CPUs; the signalling thread spins with cpu_relax() until the value is visible; %u of %u worker stores were not visible after %llu ms of spinning and were waited for with flush_work()",
			  num_online_cpus(), flushed,
			  (nw + nb) * LAT_PER_BATCH,
			  (u64)(LAT_SPIN_NS / NSEC_PER_MSEC));
	else
		bench_out(test,
			  "info latency: 1 CPU; the worker cannot run while the signalling thread spins, so it waits for each worker store with flush_work(): the worker figure includes switching to the worker and back");
	KUNIT_ASSERT_GT(test, sh.median, 0ULL);
	bench_ratio(test, "latency/worker-vs-helper",
		    sw.median * 1000 / sh.median);
}

/*
 * 3. What dma_fence_signal() costs per user fence with N of them on one
 * fence. For small N a batch signals several fences, so that every batch
 * runs at least SCALE_MIN_CBS callbacks; the fixed cost of signalling a
 * fence is part of the figure, shared by N callbacks.
 */
static const unsigned int scale_n[] = { 1, 16, 256, 4096, 65536 };
#define SCALE_MIN_CBS	4096
#define SCALE_WARMUP	3
#define SCALE_ROUNDS	21
#define SCALE_MAX_N	65536

static void bench_scaling(struct kunit *test)
{
	const unsigned int nr = ARRAY_SIZE(scale_n);
	struct dma_fence *f = bench_fences(test, SCALE_MIN_CBS);
	struct bench_stats s[ARRAY_SIZE(scale_n)], s0;
	u64 *buf, *v[ARRAY_SIZE(scale_n)], *v0, seq = 0, t0, t1;
	u64 lo = U64_MAX, hi = 0;
	unsigned int nw = bench_warmup(SCALE_WARMUP);
	unsigned int nb = bench_batches(SCALE_ROUNDS);
	unsigned int k, r, i, j, failed = 0, wrong = 0;
	char b[NUM_LEN];
	struct iosys_map map;

	v0 = kunit_kcalloc(test, nb, sizeof(u64), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, v0);
	buf = kvcalloc(SCALE_MAX_N, sizeof(*buf), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, buf);
	iosys_map_set_vaddr(&map, buf);
	for (k = 0; k < nr; k++) {
		v[k] = kunit_kcalloc(test, nb, sizeof(u64), GFP_KERNEL);
		if (!v[k]) {
			kvfree(buf);
			KUNIT_ASSERT_NOT_NULL(test, v[k]);
		}
	}

	/* The sizes take turns, so that drift hits all of them alike. */
	for (r = 0; r < nw + nb; r++) {
		/* What signalling costs without a callback, per fence. */
		bench_fences_init(f, SCALE_MIN_CBS);
		t0 = ktime_get_ns();
		for (i = 0; i < SCALE_MIN_CBS; i++)
			dma_fence_signal(&f[i]);
		t1 = ktime_get_ns();
		if (r >= nw)
			v0[r - nw] = (t1 - t0) * PS_PER_NS / SCALE_MIN_CBS;

		for (k = 0; k < nr; k++) {
			unsigned int n = scale_n[k];
			unsigned int fences = max(1U, SCALE_MIN_CBS / n);
			u64 first = seq + 1;

			bench_fences_init(f, fences);
			for (i = 0; i < fences; i++) {
				seq++;
				for (j = 0; j < n; j++) {
					struct iosys_map loc =
						IOSYS_MAP_INIT_OFFSET(&map, j * sizeof(u64));
					struct dma_fence_user_fence *uf;

					uf = bench_uf_alloc();
					if (!uf) {
						failed++;
						continue;
					}
					dma_fence_user_fence_attach(&f[i], uf,
								    &loc, seq);
				}
			}
			t0 = ktime_get_ns();
			for (i = 0; i < fences; i++)
				dma_fence_signal(&f[i]);
			t1 = ktime_get_ns();
			if (r >= nw)
				v[k][r - nw] = (t1 - t0) * PS_PER_NS /
							 ((u64)fences * n);
			/* Every location holds the last fence's seqno. */
			for (j = 0; j < n; j++)
				if (buf[j] != first + fences - 1)
					wrong++;
			/* The deferred releases, outside the timed part. */
			dma_fence_user_fence_bench_flush();
			cond_resched();
		}
	}
	dma_fence_user_fence_bench_flush();
	kvfree(buf);
	KUNIT_ASSERT_EQ_MSG(test, failed, 0U, "allocations failed");
	KUNIT_EXPECT_EQ_MSG(test, wrong, 0U, "locations with a wrong value");

	for (k = 0; k < nr; k++) {
		char id[32];
		unsigned int fences = max(1U, SCALE_MIN_CBS / scale_n[k]);

		bench_stats(v[k], nb, &s[k]);
		snprintf(id, sizeof(id), "signal-per-cb/N=%u", scale_n[k]);
		bench_row(test, id, "ns/callback", &s[k], nb,
			  fences * scale_n[k]);
		lo = min(lo, s[k].median);
		hi = max(hi, s[k].median);
	}
	bench_stats(v0, nb, &s0);
	bench_row(test, "signal-per-fence/no-callback", "ns/fence", &s0,
		  nb, SCALE_MIN_CBS);
	KUNIT_ASSERT_GT(test, lo, 0ULL);
	bench_ratio(test, "signal-per-cb/max-vs-min", hi * 1000 / lo);
	/* The fixed cost of a signal is shared by N: N = 1 carries it all. */
	lo = U64_MAX;
	hi = 0;
	for (k = 1; k < nr; k++) {
		lo = min(lo, s[k].median);
		hi = max(hi, s[k].median);
	}
	bench_out(test,
		  "info signal-per-cb: max/min over N >= %u is %s; N = 1 carries the whole fixed cost of one dma_fence_signal(), see signal-per-fence/no-callback",
		  scale_n[1], milli(b, hi * 1000 / lo));
}

/* 4. What a pending user fence costs in memory. */
static void bench_bytes(struct kunit *test)
{
	struct dma_fence_user_fence *uf = bench_uf_alloc();
	struct open_uf *o = kmalloc(sizeof(*o), GFP_KERNEL);
	size_t helper, open;

	if (!uf || !o) {
		dma_fence_user_fence_free(uf);
		kfree(o);
		KUNIT_FAIL(test, "allocation failed");
		return;
	}
	helper = ksize(uf);
	open = ksize(o);
	dma_fence_user_fence_free(uf);
	kfree(o);

	/*
	 * The helper's struct is private to it; on 64-bit its size is fixed
	 * at 64 bytes by a static_assert in dma-fence-user-fence.c.
	 */
	bench_out(test,
		  "bytes helper_slab_object=%zu helper_struct=%s open_slab_object=%zu open_struct=%zu",
		  helper, IS_ENABLED(CONFIG_64BIT) ? "64" : "?", open,
		  sizeof(*o));
	KUNIT_ASSERT_GT(test, helper, (size_t)0);
	bench_target(test, "bytes/slab-object", helper * 1000, true, 64000, "");
}

/*
 * And no allocation when attaching or signalling: count the slab
 * allocations this thread makes, through the kmalloc and kmem_cache_alloc
 * tracepoints, while it allocates, attaches and signals user fences.
 * Allocating must count one per user fence, or the counter is broken and
 * the zeros below prove nothing.
 */
#define ALLOC_N		4096

#ifdef CONFIG_TRACEPOINTS
static struct task_struct *count_task;
static unsigned long count_allocs;

static void count_alloc(void)
{
	if (in_task() && current == READ_ONCE(count_task))
		count_allocs++;
}

static void count_kmalloc(void *data, unsigned long call_site,
			  const void *ptr, size_t bytes_req, size_t bytes_alloc,
			  gfp_t gfp_flags, int node)
{
	count_alloc();
}

static void count_cache_alloc(void *data, unsigned long call_site,
			      const void *ptr, struct kmem_cache *s,
			      gfp_t gfp_flags, int node)
{
	count_alloc();
}

static void bench_allocations(struct kunit *test)
{
	struct dma_fence_user_fence **uf;
	struct dma_fence *f = bench_fences(test, 2);
	unsigned long allocs, attach, signal, open;
	struct iosys_map map;
	u64 *buf;
	int i, ret;

	uf = kvcalloc(ALLOC_N, sizeof(*uf), GFP_KERNEL);
	buf = kvcalloc(ALLOC_N, sizeof(*buf), GFP_KERNEL);
	if (!uf || !buf) {
		kvfree(uf);
		kvfree(buf);
		KUNIT_FAIL(test, "allocation failed");
		return;
	}
	iosys_map_set_vaddr(&map, buf);
	bench_fences_init(f, 2);
	/* f[1] is signalled: half the attaches store at once. */
	dma_fence_signal(&f[1]);

	ret = register_trace_kmalloc(count_kmalloc, NULL);
	if (!ret) {
		ret = register_trace_kmem_cache_alloc(count_cache_alloc, NULL);
		if (ret)
			unregister_trace_kmalloc(count_kmalloc, NULL);
	}
	if (ret) {
		kvfree(uf);
		kvfree(buf);
		KUNIT_FAIL(test, "cannot register the slab tracepoints: %d", ret);
		return;
	}
	WRITE_ONCE(count_task, current);

	count_allocs = 0;
	for (i = 0; i < ALLOC_N; i++)
		uf[i] = bench_uf_alloc();
	allocs = count_allocs;

	count_allocs = 0;
	for (i = 0; i < ALLOC_N; i++) {
		struct iosys_map loc = IOSYS_MAP_INIT_OFFSET(&map, i * sizeof(u64));

		if (uf[i])
			dma_fence_user_fence_attach(&f[i & 1], uf[i], &loc, i + 1);
	}
	attach = count_allocs;

	count_allocs = 0;
	dma_fence_signal(&f[0]);
	signal = count_allocs;

	/* The open-coded callback allocates when it is attached. */
	bench_fences_init(f, 1);
	count_allocs = 0;
	for (i = 0; i < ALLOC_N; i++) {
		struct open_uf *o = kmalloc(sizeof(*o), GFP_KERNEL);

		if (!o)
			continue;
		o->addr = &buf[i];
		o->seqno = i + 2;
		if (dma_fence_add_callback(&f[0], &o->cb, open_uf_cb))
			open_uf_cb(&f[0], &o->cb);
	}
	open = count_allocs;
	dma_fence_signal(&f[0]);

	WRITE_ONCE(count_task, NULL);
	unregister_trace_kmem_cache_alloc(count_cache_alloc, NULL);
	unregister_trace_kmalloc(count_kmalloc, NULL);
	tracepoint_synchronize_unregister();

	for (i = 0; i < ALLOC_N; i++)
		KUNIT_EXPECT_EQ_MSG(test, buf[i], (u64)i + 2, "location %d", i);
	kvfree(uf);
	kvfree(buf);

	bench_out(test,
		  "allocations n=%d helper_alloc=%lu helper_attach=%lu helper_signal=%lu open_attach=%lu",
		  ALLOC_N, allocs, attach, signal, open);
	/* The counter must see what alloc does, or its zeros mean nothing. */
	KUNIT_ASSERT_GE_MSG(test, allocs, (unsigned long)ALLOC_N,
			    "the tracepoints missed allocations: no evidence");
	KUNIT_ASSERT_GE_MSG(test, open, (unsigned long)ALLOC_N,
			    "the tracepoints missed allocations: no evidence");
	bench_target(test, "allocations/attach+signal",
		     (u64)(attach + signal) * 1000, true, 0, "");
}
#else
static void bench_allocations(struct kunit *test)
{
	kunit_skip(test,
		   "needs CONFIG_TRACEPOINTS (e.g. FTRACE and ENABLE_DEFAULT_TRACERS) to count allocations");
}
#endif

/*
 * 5. Two CPUs at once: a thread on each CPU allocates, attaches and
 * signals user fences on fences of its own, each fence with a lock of its
 * own (on 6.12 and 6.1, each thread's fences one), storing either to a
 * location of its own or to one location both share. Alone, the first
 * thread does the same while the other CPU idles: the baseline. The two
 * locations of their own are picked so that their entries in the helper's
 * lock table differ but would share a cache line in a table of bare
 * four-byte spinlocks: the case that such a table bounces between the CPUs
 * and a table of one entry per line does not. Needs two CPUs:
 * bench-x86_64.
 */
#define TWO_PER_BATCH	500
#define TWO_WARMUP	5
#define TWO_BATCHES	51
/* USER_FENCE_LOCK_BITS of dma-fence-user-fence.c */
#define HELPER_LOCK_BITS	6
#define TWO_BUF_WORDS	4096

enum two_mode { TWO_ALONE, TWO_DISTINCT, TWO_SHARED, NR_TWO };

static const char *const two_ids[NR_TWO] = {
	[TWO_ALONE] = "two-cpus/alone",
	[TWO_DISTINCT] = "two-cpus/distinct-locations",
	[TWO_SHARED] = "two-cpus/one-location",
};

struct two_cpus;

struct two_thread {
	struct two_cpus *two;
	spinlock_t lts_lock;	/* of this thread's fences on 6.12 and 6.1 */
	struct dma_fence *f;
	struct iosys_map map;
	u64 first;		/* this thread's seqnos: first, first + 2, ... */
	u64 last;
	u64 *v;			/* per batch, picoseconds per round */
	unsigned int failed;
	struct completion done;
} ____cacheline_aligned;	/* no line shared with the other thread */

struct two_cpus {
	atomic_t arrived;
	unsigned int threads;
	unsigned int warmup, batches;	/* per thread and mode */
	struct two_thread t[2];
};

/* Start each batch on both CPUs together. */
static void two_barrier(struct two_cpus *two, unsigned int *n)
{
	*n += two->threads;
	atomic_inc(&two->arrived);
	while (atomic_read_acquire(&two->arrived) < *n) {
		cond_resched();
		cpu_relax();
	}
}

static int two_thread_fn(void *arg)
{
	struct two_thread *t = arg;
	unsigned int nw = t->two->warmup, nb = t->two->batches;
	unsigned int b, i, n = 0;
	u64 seq = t->first, t0, t1;

	for (b = 0; b < nw + nb; b++) {
		bench_fences_init_lock(t->f, TWO_PER_BATCH, &t->lts_lock);
		two_barrier(t->two, &n);
		t0 = ktime_get_ns();
		for (i = 0; i < TWO_PER_BATCH; i++) {
			struct dma_fence_user_fence *uf;

			uf = bench_uf_alloc();
			if (likely(uf))
				dma_fence_user_fence_attach(&t->f[i], uf,
							    &t->map, seq);
			else
				t->failed++;
			t->last = seq;
			seq += 2;
			dma_fence_signal(&t->f[i]);
		}
		t1 = ktime_get_ns();
		if (b >= nw)
			t->v[b - nw] = (t1 - t0) * PS_PER_NS /
					       TWO_PER_BATCH;
	}
	kthread_complete_and_exit(&t->done, 0);
}

/* Run one mode; false if a thread could not be started. */
static bool two_run(struct two_cpus *two, enum two_mode mode, u64 *loc[2],
		    const int cpu[2])
{
	struct task_struct *task[2];
	unsigned int i;

	two->threads = mode == TWO_ALONE ? 1 : 2;
	atomic_set(&two->arrived, 0);
	for (i = 0; i < two->threads; i++) {
		struct two_thread *t = &two->t[i];

		*loc[i] = 0;
		iosys_map_set_vaddr(&t->map,
				    mode == TWO_SHARED ? loc[0] : loc[i]);
		t->first = i + 1;
		t->failed = 0;
		init_completion(&t->done);
		task[i] = kthread_create(two_thread_fn, t, "uf-bench/%u", i);
		if (IS_ERR(task[i])) {
			/* Nobody waits at the barrier yet: stop the first. */
			if (i)
				kthread_stop(task[0]);
			return false;
		}
		kthread_bind(task[i], cpu[i]);
	}
	for (i = 0; i < two->threads; i++)
		wake_up_process(task[i]);
	for (i = 0; i < two->threads; i++)
		wait_for_completion(&two->t[i].done);
	return true;
}

static void bench_two_cpus(struct kunit *test)
{
	struct bench_stats s[NR_TWO];
	struct two_cpus *two;
	u64 *buf, *loc[2], *v[NR_TWO], expect;
	unsigned int h0, h1 = 0, i, k, failed = 0;
	bool same_line = false;
	int cpu[2];
	char b[2][NUM_LEN];

	if (num_online_cpus() < 2)
		kunit_skip(test,
			   "needs two online CPUs: run bench-x86_64 (kunit.py --arch=x86_64 --qemu_args='-smp 2')");

	two = kunit_kzalloc(test, sizeof(*two), GFP_KERNEL);
	buf = kunit_kcalloc(test, TWO_BUF_WORDS, sizeof(*buf), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, two);
	KUNIT_ASSERT_NOT_NULL(test, buf);
	two->warmup = bench_warmup(TWO_WARMUP);
	two->batches = bench_batches(TWO_BATCHES);
	for (k = 0; k < NR_TWO; k++) {
		v[k] = kunit_kcalloc(test, 2 * two->batches, sizeof(u64),
				     GFP_KERNEL);
		KUNIT_ASSERT_NOT_NULL(test, v[k]);
	}
	for (i = 0; i < 2; i++) {
		two->t[i].two = two;
		spin_lock_init(&two->t[i].lts_lock);
		two->t[i].f = bench_fences(test, TWO_PER_BATCH);
		two->t[i].v = v[0];
	}

	/*
	 * Locations a cache line apart whose lock entries differ, in one
	 * line of a packed table if there is such a pair nearby.
	 */
	loc[0] = &buf[0];
	h0 = hash_ptr(loc[0], HELPER_LOCK_BITS);
	loc[1] = NULL;
	for (i = 8; i < TWO_BUF_WORDS; i += 8) {
		unsigned int h = hash_ptr(&buf[i], HELPER_LOCK_BITS);

		if (h == h0)
			continue;
		if (!loc[1]) {
			loc[1] = &buf[i];
			h1 = h;
		}
		if (h / 16 == h0 / 16) {
			loc[1] = &buf[i];
			h1 = h;
			same_line = true;
			break;
		}
	}
	KUNIT_ASSERT_NOT_NULL_MSG(test, loc[1], "no location with another lock");

	cpu[0] = cpumask_first(cpu_online_mask);
	cpu[1] = cpumask_next(cpu[0], cpu_online_mask);

	/* The modes take turns, three times, so that drift hits all alike. */
	for (i = 0; i < 3 * NR_TWO; i++) {
		enum two_mode mode = i % NR_TWO;
		unsigned int t;

		for (t = 0; t < 2; t++)
			two->t[t].v = v[mode] + t * two->batches;
		KUNIT_ASSERT_TRUE_MSG(test, two_run(two, mode, loc, cpu),
				      "cannot start the threads");
		for (t = 0; t < two->threads; t++)
			failed += two->t[t].failed;

		/* Each location holds the largest seqno stored to it. */
		if (mode == TWO_SHARED) {
			expect = max(two->t[0].last, two->t[1].last);
			KUNIT_EXPECT_EQ_MSG(test, *loc[0], expect, "%s",
					    two_ids[mode]);
		} else {
			for (t = 0; t < two->threads; t++)
				KUNIT_EXPECT_EQ_MSG(test, *loc[t],
						    two->t[t].last, "%s",
						    two_ids[mode]);
		}
		cond_resched();
	}
	KUNIT_ASSERT_EQ_MSG(test, failed, 0U, "allocations failed");

	/* The last turn of each mode is the one kept: a batch per thread. */
	for (k = 0; k < NR_TWO; k++) {
		unsigned int n = k == TWO_ALONE ? two->batches :
						  2 * two->batches;

		bench_stats(v[k], n, &s[k]);
		bench_row(test, two_ids[k], "ns/round", &s[k], n,
			  TWO_PER_BATCH);
	}
	KUNIT_ASSERT_GT(test, s[TWO_ALONE].median, 0ULL);
	bench_ratio(test, "two-cpus/distinct-vs-alone",
		    s[TWO_DISTINCT].median * 1000 / s[TWO_ALONE].median);
	bench_ratio(test, "two-cpus/one-location-vs-alone",
		    s[TWO_SHARED].median * 1000 / s[TWO_ALONE].median);
	bench_out(test,
		  "info two-cpus: CPUs %d and %d; the two locations are a cache line apart, with lock entries %u and %u%s; on one location the two threads contend for one lock entry and one line of memory: %s of the time alone, against %s for locations of their own",
		  cpu[0], cpu[1], h0, h1,
		  same_line ? ", which would share a line in a table of bare spinlocks" : "",
		  milli(b[0], s[TWO_SHARED].median * 1000 / s[TWO_ALONE].median),
		  milli(b[1], s[TWO_DISTINCT].median * 1000 / s[TWO_ALONE].median));
}

/*
 * 6. A burst: 4096 fences, each with a user fence, signalled back to back,
 * with the release work delayed (as mailed), then queued at once (a plain
 * work item). From each dma_fence_signal() to the return of its release,
 * unflushed, and how many releases one run of the helper's release work
 * drains, counted on the workqueue_execute_end tracepoint for the work item
 * the releases run in.
 */
#define BURST_N		4096

struct burst_ref {
	struct kref ref;
	u64 released_ns;
};

static struct work_struct *burst_work;
static unsigned long burst_runs;
static atomic_t burst_released;

static void burst_release(struct kref *ref)
{
	struct burst_ref *b = container_of(ref, struct burst_ref, ref);

	b->released_ns = ktime_get_ns();
	WRITE_ONCE(burst_work, current_work());
	atomic_inc(&burst_released);
}

#ifdef CONFIG_TRACEPOINTS
static void burst_count_run(void *data, struct work_struct *work,
			    work_func_t function)
{
	if (work == READ_ONCE(burst_work))
		burst_runs++;
}
#endif

static void burst_once(struct kunit *test, struct dma_fence *f,
		       struct burst_ref *b, u64 *signal_ns, u64 *lat,
		       const struct iosys_map *map, unsigned long delay,
		       const char *name)
{
	struct bench_stats s;
	unsigned int i, attached;
	unsigned long runs;
	char id[48];

	bench_fences_init(f, BURST_N);
	memset(b, 0, BURST_N * sizeof(*b));
	burst_runs = 0;
	for (attached = 0; attached < BURST_N; attached++) {
		struct dma_fence_user_fence *uf;

		kref_init(&b[attached].ref);
		uf = dma_fence_user_fence_alloc(&b[attached].ref, burst_release);
		if (!uf)
			break;
		dma_fence_user_fence_attach(&f[attached], uf, map, attached + 1);
	}
	if (attached < BURST_N) {
		/*
		 * No user fence left pending on a fence that nobody signals:
		 * bench_case_exit() waits for their releases.
		 */
		for (i = 0; i < attached; i++)
			dma_fence_signal(&f[i]);
	}
	KUNIT_ASSERT_EQ_MSG(test, attached, (unsigned int)BURST_N,
			    "%s: allocation %u failed", name, attached);
	atomic_set(&burst_released, 0);
	bench_set_delay(delay);
	for (i = 0; i < BURST_N; i++) {
		signal_ns[i] = ktime_get_ns();
		dma_fence_signal(&f[i]);
	}
	/* Wait for the releases as they come, without flushing them. */
	for (i = 0; i < 2000 && atomic_read(&burst_released) < BURST_N; i++)
		usleep_range(500, 1000);
	/* Before the flush, whose run of the work may find nothing. */
	runs = burst_runs;
	dma_fence_user_fence_bench_flush();
	bench_set_delay(BENCH_DELAYED);
	for (i = 0; i < BURST_N; i++) {
		KUNIT_ASSERT_NE_MSG(test, b[i].released_ns, 0ULL,
				    "%s: release %u did not run", name, i);
		lat[i] = (b[i].released_ns - signal_ns[i]) * PS_PER_NS;
	}
	bench_stats(lat, BURST_N, &s);
	snprintf(id, sizeof(id), "burst/signal-to-release-%s", name);
	bench_row(test, id, "ns", &s, 1, BURST_N);
	if (IS_ENABLED(CONFIG_TRACEPOINTS) && runs)
		bench_out(test,
			  "info burst-%s: %u releases in %lu run(s) of the release work, %lu per run",
			  name, BURST_N, runs, BURST_N / runs);
	else
		bench_out(test,
			  "info burst-%s: the runs of the release work were not counted (no tracepoints)",
			  name);
}

static void bench_release_burst(struct kunit *test)
{
	struct dma_fence *f = bench_fences(test, BURST_N);
	struct burst_ref *b;
	u64 *signal_ns, *lat, *loc;
	struct iosys_map map;

	b = kunit_kcalloc(test, BURST_N, sizeof(*b), GFP_KERNEL);
	signal_ns = kunit_kcalloc(test, BURST_N, sizeof(u64), GFP_KERNEL);
	lat = kunit_kcalloc(test, BURST_N, sizeof(u64), GFP_KERNEL);
	loc = kunit_kzalloc(test, sizeof(*loc), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, b);
	KUNIT_ASSERT_NOT_NULL(test, signal_ns);
	KUNIT_ASSERT_NOT_NULL(test, lat);
	KUNIT_ASSERT_NOT_NULL(test, loc);
	iosys_map_set_vaddr(&map, loc);

#ifdef CONFIG_TRACEPOINTS
	KUNIT_ASSERT_EQ(test,
			register_trace_workqueue_execute_end(burst_count_run, NULL), 0);
#endif
	burst_once(test, f, b, signal_ns, lat, &map, BENCH_DELAYED, "delayed");
	*loc = 0;
	burst_once(test, f, b, signal_ns, lat, &map, BENCH_PLAIN, "plain");
#ifdef CONFIG_TRACEPOINTS
	unregister_trace_workqueue_execute_end(burst_count_run, NULL);
	tracepoint_synchronize_unregister();
#endif
}

/*
 * Whatever a case left, the next one finds the helper as mailed, and none
 * of its releases runs after it. Until its release, a user fence holds a
 * reference on its fence and on its storage, which must outlive it (the
 * rst's Lifetime section); the benchmark's fences and the burst's storage
 * are not freed by their last put but with the case's memory, which KUnit
 * frees after this (a suite's exit runs before a case's resources are
 * released), whether the case returned or stopped on an assertion. So wait
 * for the releases here, for every case: the two-CPU case returned with
 * its threads' last releases due a jiffy later, on fences KUnit had freed.
 */
static void bench_case_exit(struct kunit *test)
{
	bench_set_delay(BENCH_DELAYED);
	dma_fence_user_fence_bench_flush();
}

static int bench_suite_init(struct kunit_suite *suite)
{
	hand_wq = alloc_workqueue("uf-bench-by-hand", WQ_UNBOUND, 0);
	return hand_wq ? 0 : -ENOMEM;
}

static void bench_suite_exit(struct kunit_suite *suite)
{
	destroy_workqueue(hand_wq);
}

static struct kunit_case dma_fence_user_fence_bench_cases[] = {
	KUNIT_CASE(bench_config),
	KUNIT_CASE(bench_round),
	KUNIT_CASE(bench_latency),
	KUNIT_CASE(bench_scaling),
	KUNIT_CASE(bench_bytes),
	KUNIT_CASE(bench_allocations),
	KUNIT_CASE(bench_two_cpus),
	KUNIT_CASE(bench_release_burst),
	{}
};

static struct kunit_suite dma_fence_user_fence_bench_suite = {
	.name = "dma-buf-user-fence-bench",
	.suite_init = bench_suite_init,
	.suite_exit = bench_suite_exit,
	.exit = bench_case_exit,
	.test_cases = dma_fence_user_fence_bench_cases,
};

kunit_test_suites(&dma_fence_user_fence_bench_suite);

MODULE_DESCRIPTION("KUnit benchmark for dma-fence-user-fence");
MODULE_LICENSE("GPL");
