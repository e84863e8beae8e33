// SPDX-License-Identifier: GPL-2.0-only
/*
 * dma-fence-user-fence: write a seqno to memory when a dma_fence signals
 *
 * Copyright (C) 2026 The dma-fence-user-fence authors
 */

#define pr_fmt(fmt) "dma-fence-user-fence: " fmt

#include <linux/atomic.h>
#include <linux/build_bug.h>
#include <linux/bug.h>
#include <linux/cache.h>
#include <linux/dma-fence.h>
#include <linux/dma-fence-user-fence.h>
#include <linux/export.h>
#include <linux/hash.h>
#include <linux/init.h>
#include <linux/iosys-map.h>
#include <linux/kref.h>
#include <linux/llist.h>
#include <linux/module.h>
#include <linux/preempt.h>
#include <linux/printk.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>

#include <asm/byteorder.h>
#include <asm/sections.h>

#include <kunit/visibility.h>

#include "dma-fence-user-fence-debug.h"

#define CREATE_TRACE_POINTS
#include <trace/events/dma_fence_user_fence.h>

/**
 * DOC: user fence
 *
 * A user fence turns the signalling of a &dma_fence into a 64-bit value in
 * memory: once the fence signals, a seqno chosen by the driver is stored at a
 * location described by a &struct iosys_map, in system or I/O memory. A GPU
 * queue or a CPU thread that cannot wait on a &dma_fence polls the location
 * instead. This is the opposite direction of the "indefinite fences" that
 * Documentation/driver-api/dma-buf.rst forbids: a kernel fence, with all its
 * guarantees, produces a value in memory; nothing in memory is ever turned
 * back into a &dma_fence.
 *
 * Use:
 *
 * 1. dma_fence_user_fence_alloc() where allocating is allowed, before the
 *    driver enters a fence signalling critical section. It takes over a
 *    reference the caller holds on the memory of the location.
 * 2. dma_fence_user_fence_check_map() on a location derived from userspace
 *    input, where an error can still be returned to userspace.
 * 3. dma_fence_user_fence_attach() with the fence, the location and the
 *    seqno. It cannot fail, never allocates and never sleeps; the user fence
 *    belongs to the helper from then on.
 * 4. dma_fence_user_fence_free() only for a user fence that was never
 *    attached, on an error path.
 *
 * Lifetime: the memory behind the location must stay valid, and mapped at
 * the same kernel address, until the helper drops the reference it was given
 * by calling the release function passed to dma_fence_user_fence_alloc().
 * The fence being signalled is not enough: dma_fence_signal() marks the
 * fence signalled before it runs the callbacks, so dma_fence_is_signaled()
 * and the waits that skip a fence it reports signalled may report the fence
 * done while the store is still to come.
 *
 * Attach also takes a reference on the fence, so that a caller may drop its
 * own right after attaching: a fence callback keeps no fence alive.
 *
 * The helper drops the storage reference exactly once: after the store (or
 * after deciding not to store, see below), when attach refuses its input, or
 * after dma_fence_user_fence_free(), and the fence reference with it. It
 * does so in process context, from a work item, whatever context the fence
 * signalled in, so the release function may sleep: take a reservation lock,
 * unmap, unpin, put a device. It never runs inside
 * dma_fence_user_fence_attach() or dma_fence_user_fence_free(), but it may
 * run on another CPU before either returns: the caller must not touch the
 * user fence after handing it over, and must not assume that the reference
 * is still held when the call returns. Releases are batched: one work item
 * drains every release that is due, about a jiffy after the first of them.
 *
 * The module that contains the release function cannot be unloaded while a
 * release of it is pending or running: dma_fence_user_fence_alloc() takes a
 * reference on that module, which the helper drops after the release has
 * returned. A driver whose teardown must know that every release due has run
 * calls dma_fence_user_fence_flush(). User fences whose fences have not
 * signalled stay pending, with their references, until the fences signal.
 *
 * What the value means: one location is one timeline. The seqno is stored
 * only if it is larger than the value at the location, under a lock hashed
 * on its address, so the value is the largest seqno whose fence has
 * signalled, and a location that already holds the seqno or a larger value
 * is left as it is. What makes the value mean more is a timeline: if the
 * fences attached to one location are the points of one &dma_fence_chain,
 * with the point's seqno as the value, the value v means that every fence up
 * to v has signalled. Chain points do not necessarily signal in order, each
 * from its own irq_work; but point v signals only once every fence up to v
 * has, and the largest stored value is what counts. Fences of independent
 * jobs on one location do not give that meaning: the value then says only
 * that the fence of v has signalled.
 *
 * The initial value: a location must start below the first seqno attached to
 * it, and must be reset to below the next first seqno before it is reused
 * for a new timeline. The helper never lowers a location: on a location that
 * holds a stale value at or above the seqno, the seqno is never stored, so a
 * waiter that polls for the value to reach the seqno wakes before the fence
 * has signalled, and one that waits for that exact value never wakes.
 *
 * The value is stored little-endian, in system and in I/O memory, as devices
 * and the I/O accessors expect it; a CPU reader on a big-endian kernel
 * converts it with le64_to_cpu().
 *
 * What a reader may conclude when it sees the value:
 *
 * - A CPU reading system memory that sees the value and then issues
 *   smp_rmb() (or reads with smp_load_acquire()) sees the fence signalled,
 *   and everything the signalling CPU wrote before it signalled the fence.
 *   This holds whether the value was stored by the fence's callback or by
 *   dma_fence_user_fence_attach() for a fence that had signalled already.
 * - A CPU reading I/O memory reads the value with readq(), or issues rmb()
 *   after a raw read: smp_rmb() does not order reads from I/O memory.
 * - A 32-bit kernel has no single 64-bit store, so the helper stores the low
 *   word first and the high word last, with a write barrier between them. A
 *   32-bit reader reads the high word, then (after smp_rmb()) the low word:
 *   it never assembles a value above the new seqno. While the high word
 *   changes it can see a value below the previous one for a moment; reading
 *   the high word again and retrying if it changed narrows that window.
 * - Before the store the helper issues wmb(), so that the CPU's earlier
 *   writes, write-combined ones to system or I/O memory included, reach
 *   memory before the seqno does for a device that reads it.
 *
 * A fence signalled with an error still writes its seqno: the value says that
 * the fence signalled, not that the work behind it succeeded. The error is
 * available from the fence and in the trace event.
 *
 * What the helper cannot guarantee: it serialises only its own writers that
 * use the same kernel address. A location that is lowered by somebody else,
 * by the device, by userspace or through a second mapping of the same
 * memory, can end up below a seqno that has already signalled. With
 * CONFIG_DMABUF_DEBUG the helper remembers the last value it stored per lock
 * and counts, and reports with pr_debug(), each time it finds a location it
 * wrote lowered behind its back. Memory that held a location and is reused
 * for a new one that starts lower is counted too: the helper cannot tell the
 * two apart, which is why this is a debug count and not a warning.
 *
 * Bad input: dma_fence_user_fence_check_map() returns -EINVAL for a
 * location that is NULL or not 8-byte aligned. Allocating without a storage
 * reference or its release function, attaching such a location or a NULL
 * fence, and attaching a user fence a second time before the helper has
 * released it are programming errors: a WARN, and nothing is stored.
 */

/* Bit 0 of &dma_fence_user_fence.addr: the location is in I/O memory. */
#define USER_FENCE_IOMEM	1UL

/**
 * struct dma_fence_user_fence - a pending seqno write
 *
 * Allocated with dma_fence_user_fence_alloc(); 64 bytes on 64-bit, in a
 * cache of its own. The location is kept as an address with a flag, not as
 * a &struct iosys_map, whose padded flag would cost 8 bytes more.
 */
struct dma_fence_user_fence {
	union {
		/**
		 * @cb: fence callback; @cb.func is NULL until the user fence
		 * is attached
		 */
		struct dma_fence_cb cb;
		/**
		 * @release_node: on the list of due releases, once the
		 * callback is done with @cb.node (@cb.func stays set)
		 */
		struct llist_node release_node;
	};
	union {
		/**
		 * @addr: the location's kernel address, USER_FENCE_IOMEM
		 * or'ed in
		 */
		unsigned long addr;
		/**
		 * @fence: once stored, the fence whose reference attach took,
		 * for the release work to drop; NULL if attach took none
		 */
		struct dma_fence *fence;
	};
	/** @seqno: the value to store */
	u64 seqno;
	/** @storage: the caller's reference on the memory behind @addr */
	struct kref *storage;
	/** @release: drops @storage, in process context */
	void (*release)(struct kref *storage);
	/** @owner: the module of @release, pinned until it has returned */
	struct module *owner;
};

/* What a pending user fence costs; its cache adds no rounding on top. */
static_assert(!IS_ENABLED(CONFIG_64BIT) ||
	      sizeof(struct dma_fence_user_fence) == 64);

#define USER_FENCE_LOCK_BITS	6

/*
 * Writers to one location are serialised by a lock chosen by hashing the
 * address, so that the read-compare-store of two fences signalling on two
 * CPUs cannot interleave. The lock nests inside the fence lock. Each entry
 * has a cache line of its own (4 KiB in all with 64-byte lines and no lock
 * debugging), so that CPUs storing to locations hashed to different entries
 * do not bounce one line between them.
 */
static struct user_fence_lock {
	/* serialises the read-compare-store of the locations hashed here */
	spinlock_t lock;
#ifdef CONFIG_DMABUF_DEBUG
	unsigned long last_addr;
	u64 last_value;
#endif
} ____cacheline_aligned_in_smp user_fence_locks[1 << USER_FENCE_LOCK_BITS];

static struct kmem_cache *user_fence_cache;

/*
 * User fences whose release is due: stored, refused by attach, or freed
 * unattached. One work item drains them in process context, a jiffy after
 * the first of them, so that it finds them many at a time: woken at once,
 * it would run after each one on a CPU that signals fences back to back
 * and allocates in between (a GFP_KERNEL allocation is a point to switch
 * to it under voluntary preemption).
 */
static LLIST_HEAD(user_fence_releases);
static void user_fence_release_work(struct work_struct *work);
static DECLARE_DELAYED_WORK(user_fence_release, user_fence_release_work);

#ifdef CONFIG_DMABUF_DEBUG
static atomic_long_t user_fence_pending = ATOMIC_LONG_INIT(0);
static atomic_long_t user_fence_lowered = ATOMIC_LONG_INIT(0);
#endif

static struct iosys_map user_fence_map(const struct dma_fence_user_fence *uf)
{
	unsigned long addr = uf->addr & ~USER_FENCE_IOMEM;
	struct iosys_map map;

	if (uf->addr & USER_FENCE_IOMEM)
		iosys_map_set_vaddr_iomem(&map, (void __iomem __force *)addr);
	else
		iosys_map_set_vaddr(&map, (void *)addr);
	return map;
}

static unsigned long user_fence_map_addr(const struct iosys_map *map)
{
	return map->is_iomem ? (unsigned long __force)map->vaddr_iomem :
			       (unsigned long)map->vaddr;
}

/*
 * The value is little-endian in memory. The I/O accessors behind
 * iosys_map_rd() and iosys_map_wr() read and write I/O memory that way;
 * system memory is accessed in CPU order and converted here.
 */
static u64 user_fence_load(const struct iosys_map *map)
{
	u32 lo, hi;

	if (IS_ENABLED(CONFIG_64BIT)) {
		u64 v = iosys_map_rd(map, 0, u64);

		return map->is_iomem ? v : le64_to_cpu((__force __le64)v);
	}

	lo = iosys_map_rd(map, 0, u32);
	hi = iosys_map_rd(map, 4, u32);
	if (!map->is_iomem) {
		lo = le32_to_cpu((__force __le32)lo);
		hi = le32_to_cpu((__force __le32)hi);
	}
	return (u64)hi << 32 | lo;
}

static void user_fence_store32(const struct iosys_map *map, size_t offset,
			       u32 v)
{
	if (!map->is_iomem)
		v = (__force u32)cpu_to_le32(v);
	iosys_map_wr(map, offset, u32, v);
}

static void user_fence_store(const struct iosys_map *map, u64 old, u64 seqno)
{
	/*
	 * Everything this CPU wrote before the store, write-combined writes to
	 * system or I/O memory included, reaches memory before the seqno, for
	 * a device that reads the value or a CPU that reads it from I/O memory
	 * with readq() or rmb(). (A CPU reading system memory needs no more
	 * than the fully ordered test_and_set_bit() of dma_fence_signal():
	 * UF-deferred+nowmb.litmus.)
	 */
	wmb();

	if (IS_ENABLED(CONFIG_64BIT)) {
		if (!map->is_iomem)
			seqno = (__force u64)cpu_to_le64(seqno);
		iosys_map_wr(map, 0, u64, seqno);
	} else {
		/*
		 * No single 64-bit store here: iosys_map_wr() would split the
		 * value in an order of its own (two 32-bit WRITE_ONCE() or a
		 * memcpy_toio()). Store the low word first. Since old < seqno,
		 * either the high words are equal and one store suffices, or
		 * the intermediate value (old.high, seqno.low) is below seqno
		 * and releases nobody early.
		 */
		user_fence_store32(map, 0, lower_32_bits(seqno));
		if (upper_32_bits(old) != upper_32_bits(seqno)) {
			wmb();	/* low word first: UF-split32+wmb.litmus */
			user_fence_store32(map, 4, upper_32_bits(seqno));
		}
	}

	/*
	 * The release, which may unmap the location, comes after the store.
	 * For system memory the fully ordered llist_add() that queues it is
	 * enough (UF-release+kref.litmus), but it does not order a write to
	 * I/O memory: arm64's writeq() has its barrier before the store and
	 * none after.
	 */
	if (map->is_iomem)
		wmb();	/* I/O store before llist_add() and the release */
}

static void user_fence_write(struct dma_fence *fence,
			     struct dma_fence_user_fence *user_fence)
{
	const struct iosys_map map = user_fence_map(user_fence);
	unsigned long addr = user_fence->addr;
	struct user_fence_lock *l;
	unsigned long flags;
	bool written = false;
	u64 old;

	l = &user_fence_locks[hash_long(addr, USER_FENCE_LOCK_BITS)];
	spin_lock_irqsave(&l->lock, flags);
	old = user_fence_load(&map);
#ifdef CONFIG_DMABUF_DEBUG
	if (l->last_addr == addr && old < l->last_value) {
		atomic_long_inc(&user_fence_lowered);
		pr_debug("%lx lowered from %llu to %llu by another writer\n",
			 addr, l->last_value, old);
	}
#endif
	if (user_fence->seqno > old) {
		user_fence_store(&map, old, user_fence->seqno);
		written = true;
#ifdef CONFIG_DMABUF_DEBUG
		l->last_addr = addr;
		l->last_value = user_fence->seqno;
#endif
	}
	spin_unlock_irqrestore(&l->lock, flags);

	trace_dma_fence_user_fence_write(fence, user_fence->seqno, old, written);
}

/*
 * Hand the user fence to the release work. Any context: the fence callback
 * runs in hard interrupt context, with the fence's lock held. Only the first
 * entry of an empty list queues the work; the others find it queued and not
 * yet started, or started and about to be queued again by the first entry
 * that follows its llist_del_all().
 */
static void user_fence_release_later(struct dma_fence_user_fence *user_fence)
{
	if (llist_add(&user_fence->release_node, &user_fence_releases))
		queue_delayed_work(system_unbound_wq, &user_fence_release, 1);
}

/* Free each user fence, then hand the memory of its location back. */
static void user_fence_release_work(struct work_struct *work)
{
	struct llist_node *list = llist_del_all(&user_fence_releases);
	struct dma_fence_user_fence *user_fence, *next;

	llist_for_each_entry_safe(user_fence, next, llist_reverse_order(list),
				  release_node) {
		struct kref *storage = user_fence->storage;
		void (*release)(struct kref *storage) = user_fence->release;
		struct module *owner = user_fence->owner;

		dma_fence_put(user_fence->fence);
		kmem_cache_free(user_fence_cache, user_fence);
#ifdef CONFIG_DMABUF_DEBUG
		atomic_long_dec(&user_fence_pending);
#endif
		/*
		 * After the store: from here on the caller may free the
		 * memory. The store was ordered before llist_add() and its
		 * llist_del_all() above, both fully ordered; kref_put() is a
		 * release, and whoever drops the last reference frees only
		 * after it (UF-release+kref.litmus).
		 */
		kref_put(storage, release);
		/* Only now may the module that contains release() go. */
		module_put(owner);
		cond_resched();
	}
}

static void user_fence_cb(struct dma_fence *fence, struct dma_fence_cb *cb)
{
	struct dma_fence_user_fence *user_fence =
		container_of(cb, struct dma_fence_user_fence, cb);

	user_fence_write(fence, user_fence);
	/* The location is done with: keep the fence for its reference. */
	user_fence->fence = fence;
	/* dma_fence_signal() is done with cb.node: it becomes release_node. */
	user_fence_release_later(user_fence);
}

/**
 * dma_fence_user_fence_alloc() - allocate a user fence
 * @storage: a reference on the memory that will hold the location
 * @release: drops @storage; called in process context, where it may sleep
 *
 * Allocate the memory for one dma_fence_user_fence_attach() up front, so that
 * attaching never allocates. Call it outside of any fence signalling critical
 * section, before the fence the user fence will be attached to is published.
 *
 * On success the user fence owns the caller's reference @storage and drops it
 * with kref_put(@storage, @release) once it is done with the memory: after
 * its store, or after it is freed unattached; see "user fence" above. It also
 * holds a reference on the module that contains @release until @release has
 * returned. On failure the caller keeps its reference.
 *
 * Context: Process context; may sleep.
 * Return: a new user fence; NULL if out of memory or if the module that
 * contains @release is being unloaded; NULL with a WARN if @storage or
 * @release is NULL.
 */
struct dma_fence_user_fence *
dma_fence_user_fence_alloc(struct kref *storage,
			   void (*release)(struct kref *storage))
{
	struct dma_fence_user_fence *user_fence;
	struct module *owner;

	/* Without the reference, nothing keeps the location until the store. */
	if (WARN_ON(!storage || !release))
		return NULL;

	user_fence = kmem_cache_alloc(user_fence_cache, GFP_KERNEL);
	if (!user_fence)
		return NULL;

	/*
	 * Preemption off is the RCU read-side section the module lookup needs,
	 * on kernels whose module code asks for either.
	 */
	preempt_disable();
	owner = __module_text_address((unsigned long)
			dereference_function_descriptor(release));
	if (!try_module_get(owner)) {
		preempt_enable();
		kmem_cache_free(user_fence_cache, user_fence);
		return NULL;
	}
	preempt_enable();

	/* Attach fills in the rest; cb.func tells it whether it already did. */
	user_fence->cb.func = NULL;
	user_fence->fence = NULL;
	user_fence->storage = storage;
	user_fence->release = release;
	user_fence->owner = owner;
#ifdef CONFIG_DMABUF_DEBUG
	atomic_long_inc(&user_fence_pending);
#endif
	return user_fence;
}
EXPORT_SYMBOL_GPL(dma_fence_user_fence_alloc);

/**
 * dma_fence_user_fence_free() - free a user fence that was never attached
 * @user_fence: user fence from dma_fence_user_fence_alloc(), or NULL
 *
 * For error paths that allocated a user fence and then did not attach it.
 * The storage reference the user fence owns is dropped later, in process
 * context, as after a store. An attached user fence belongs to the helper;
 * freeing one that the helper has not released yet is refused with a WARN,
 * and its pending store still happens.
 *
 * Context: Any context.
 */
void dma_fence_user_fence_free(struct dma_fence_user_fence *user_fence)
{
	if (!user_fence)
		return;

	/* The fence callback still points at it: freeing it now is a UAF. */
	if (WARN_ON(user_fence->cb.func))
		return;

	user_fence_release_later(user_fence);
}
EXPORT_SYMBOL_GPL(dma_fence_user_fence_free);

/**
 * dma_fence_user_fence_flush() - wait for the releases that are due
 *
 * Wait until the release function has returned for every user fence that
 * was stored, refused by dma_fence_user_fence_attach() or freed with
 * dma_fence_user_fence_free() before this call. For a driver's teardown,
 * which must not free what its release functions use before they have run.
 * User fences whose fences have not signalled are not waited for.
 *
 * Context: Process context; may sleep. Not from a release function, nor with
 * a lock held that a release function takes.
 */
void dma_fence_user_fence_flush(void)
{
	/*
	 * A release whose llist_add() did not queue the work may have found
	 * it neither queued nor started: its first entry's queue is still to
	 * come. Queue it here, now, then wait for it; a run that took entries
	 * earlier finishes before the queued one starts.
	 */
	mod_delayed_work(system_unbound_wq, &user_fence_release, 0);
	flush_delayed_work(&user_fence_release);
}
EXPORT_SYMBOL_GPL(dma_fence_user_fence_flush);

/**
 * dma_fence_user_fence_check_map() - check a location before attaching it
 * @map: the location
 *
 * For a location a driver derives from userspace input: check it while an
 * error can still be returned, before the fence signalling critical section.
 * dma_fence_user_fence_attach() takes any location this accepts without a
 * warning. That the location lies within the buffer, and that the buffer is
 * mapped, remains the caller's to check.
 *
 * Context: Any context.
 * Return: 0, or -EINVAL if @map is NULL, maps NULL or is not 8-byte aligned.
 */
int dma_fence_user_fence_check_map(const struct iosys_map *map)
{
	if (!map || iosys_map_is_null(map) ||
	    !IS_ALIGNED(user_fence_map_addr(map), sizeof(u64)))
		return -EINVAL;
	return 0;
}
EXPORT_SYMBOL_GPL(dma_fence_user_fence_check_map);

/**
 * dma_fence_user_fence_attach() - write a seqno to memory when a fence signals
 * @fence: the fence to wait for
 * @user_fence: user fence from dma_fence_user_fence_alloc(); owned by the
 *	helper from now on
 * @map: the location, 8-byte aligned, in system or I/O memory
 * @seqno: the value to store at @map once @fence has signalled
 *
 * Store @seqno at @map when @fence signals, or before returning if it already
 * has; the store happens only if @seqno is larger than the value already
 * there, see "user fence" above. The helper copies the location from @map,
 * and takes a reference on @fence, so the caller may drop its own once
 * attach returns. After the store it frees @user_fence and drops the fence
 * and storage references, in process context and possibly before attach
 * returns. The caller must not touch @user_fence again, and must keep the
 * memory behind @map until the storage reference is dropped.
 *
 * A NULL @fence or a location that dma_fence_user_fence_check_map() refuses
 * triggers a WARN: nothing is stored, and @user_fence is released as after a
 * store. A user fence attached again before the helper has released it
 * triggers a WARN and is left as it is.
 *
 * Context: Any context dma_fence_add_callback() may be called in, including
 * inside a fence signalling critical section, but not with @fence's lock
 * held. Never sleeps and never allocates. The store itself may happen in
 * interrupt context, from the fence callback; on PREEMPT_RT the fence lock
 * and the helper's locks are sleeping locks, and so are the contexts they are
 * taken in.
 */
void dma_fence_user_fence_attach(struct dma_fence *fence,
				 struct dma_fence_user_fence *user_fence,
				 const struct iosys_map *map, u64 seqno)
{
	if (WARN_ON(!user_fence))
		return;

	/* Attached twice before its release: the callback is on a fence list. */
	if (WARN_ON(user_fence->cb.func))
		return;

	if (WARN_ON(!fence) || WARN_ON(dma_fence_user_fence_check_map(map))) {
		user_fence_release_later(user_fence);
		return;
	}

	user_fence->addr = user_fence_map_addr(map) |
			   (map->is_iomem ? USER_FENCE_IOMEM : 0);
	user_fence->seqno = seqno;
	user_fence->cb.func = user_fence_cb;

	/*
	 * A callback keeps no fence alive: hold it until the store, so that
	 * the caller may drop its references. The release work drops it.
	 */
	dma_fence_get(fence);
	/* Only fails with -ENOENT here: the fence has signalled already. */
	if (!dma_fence_add_callback(fence, &user_fence->cb, user_fence_cb))
		return;

	/*
	 * dma_fence_add_callback() found the signalled bit without the fence
	 * lock, which orders nothing for a third CPU. The full barrier is
	 * cumulative: whoever sees our store and then issues smp_rmb() sees
	 * the bit set too (UF-immediate+mb.litmus; without it, the WRC shape
	 * of UF-immediate+nomb.litmus is Sometimes). What the signaller wrote
	 * before it set the bit is ordered by its test_and_set_bit() already
	 * (UF-immediate-data+nomb.litmus).
	 */
	smp_mb();
	user_fence_cb(fence, &user_fence->cb);
}
EXPORT_SYMBOL_GPL(dma_fence_user_fence_attach);

#if IS_ENABLED(CONFIG_DMABUF_DEBUG) && IS_ENABLED(CONFIG_KUNIT)
/**
 * dma_fence_user_fence_debug_pending() - count user fences not yet freed
 *
 * For the KUnit tests: the number of user fences allocated and not yet
 * freed by the release work.
 *
 * Context: Any context.
 * Return: the number of live user fences.
 */
unsigned long dma_fence_user_fence_debug_pending(void)
{
	return atomic_long_read(&user_fence_pending);
}
EXPORT_SYMBOL_IF_KUNIT(dma_fence_user_fence_debug_pending);

/**
 * dma_fence_user_fence_debug_lowered() - count locations lowered behind us
 *
 * For the KUnit tests: how often the helper found a location below the
 * last value it stored there, the case in which it cannot keep a location at
 * the largest signalled seqno.
 *
 * Context: Any context.
 * Return: the number of lowered locations seen since boot.
 */
unsigned long dma_fence_user_fence_debug_lowered(void)
{
	return atomic_long_read(&user_fence_lowered);
}
EXPORT_SYMBOL_IF_KUNIT(dma_fence_user_fence_debug_lowered);
#endif

static int __init dma_fence_user_fence_init(void)
{
	unsigned int i;

	/*
	 * Initialised here rather than statically so that the locks share one
	 * lockdep class: a static initialiser would make each its own class.
	 */
	for (i = 0; i < (1 << USER_FENCE_LOCK_BITS); i++)
		spin_lock_init(&user_fence_locks[i].lock);

	user_fence_cache = KMEM_CACHE(dma_fence_user_fence, SLAB_PANIC);
	return 0;
}
subsys_initcall(dma_fence_user_fence_init);
