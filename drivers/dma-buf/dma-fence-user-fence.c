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
#include <linux/printk.h>
#include <linux/slab.h>
#include <linux/spinlock.h>

#include <asm/byteorder.h>

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
 *    seqno. It cannot fail and it never allocates; the user fence belongs to
 *    the helper from then on.
 * 4. dma_fence_user_fence_free() only for a user fence that was never
 *    attached, on an error path.
 *
 * Lifetime: the memory behind the location must stay valid, and mapped at
 * the same kernel address, until the helper drops the reference it was given
 * (calls the release function passed to dma_fence_user_fence_alloc()). The
 * fence being signalled is not enough: dma_fence_signal() marks the fence
 * signalled before it runs the callbacks, so dma_fence_is_signaled() and
 * the waits that skip a fence it reports signalled, dma_resv_wait_timeout()
 * and TTM eviction among them, may report the fence done while the store is
 * still to come. The reference is dropped exactly once:
 * after the store (or after deciding not to store, see below), when attach
 * refuses its input, or by dma_fence_user_fence_free(). The release function
 * may be called in any context, hard interrupt and the fence's lock included,
 * so it must not sleep nor take the fence's lock; what it cannot do there it
 * defers, for example to a workqueue. Without a reference (NULL), the memory
 * must outlive every fence it is attached to until dma_fence_signal() of that
 * fence has returned, which only the signaller of a fence can know.
 *
 * What the value means: one location is one timeline. The seqno is stored
 * only if it is larger than the value at the location, under a lock hashed
 * on its address, so the value is the largest seqno whose fence has
 * signalled, and a location that already holds the seqno or a larger value
 * is left as it is. If the fences attached to one location signal in the
 * order of their seqnos, as the points of a &dma_fence_chain do, the value v
 * means that every user fence on the location with a seqno up to v has
 * signalled. Fences that can signal out of order do not give that meaning:
 * the value then says only that the fence of v has signalled. Attach
 * timeline points, not the fences of independent jobs.
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
 * location that is NULL or not 8-byte aligned. Attaching such a location, a
 * NULL fence, or a user fence that is already attached is a programming
 * error: a WARN, and nothing is stored.
 */

/**
 * struct dma_fence_user_fence - a pending seqno write
 *
 * Allocated with dma_fence_user_fence_alloc(); 64 bytes on 64-bit, in a
 * cache of its own.
 */
struct dma_fence_user_fence {
	/** @cb: fence callback; @cb.func is NULL until the user fence is attached */
	struct dma_fence_cb cb;
	/** @map: where to store @seqno */
	struct iosys_map map;
	/** @seqno: the value to store */
	u64 seqno;
	/** @storage: the caller's reference on the memory behind @map, or NULL */
	struct kref *storage;
	/** @release: drops @storage */
	void (*release)(struct kref *storage);
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
	const void *last_addr;
	u64 last_value;
#endif
} ____cacheline_aligned_in_smp user_fence_locks[1 << USER_FENCE_LOCK_BITS];

static struct kmem_cache *user_fence_cache;

#ifdef CONFIG_DMABUF_DEBUG
static atomic_long_t user_fence_pending = ATOMIC_LONG_INIT(0);
static atomic_long_t user_fence_lowered = ATOMIC_LONG_INIT(0);
#endif

static const void *user_fence_addr(const struct iosys_map *map)
{
	return map->is_iomem ? (const void __force *)map->vaddr_iomem :
			       map->vaddr;
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
		return;
	}

	/*
	 * No single 64-bit store here: iosys_map_wr() would split the value
	 * in an order of its own (two 32-bit WRITE_ONCE() or a memcpy_toio()).
	 * Store the low word first. Since old < seqno, either the high words
	 * are equal and one store suffices, or the intermediate value
	 * (old.high, seqno.low) is below seqno and releases nobody early.
	 */
	user_fence_store32(map, 0, lower_32_bits(seqno));
	if (upper_32_bits(old) == upper_32_bits(seqno))
		return;
	wmb();	/* low word before high word: UF-split32+wmb.litmus */
	user_fence_store32(map, 4, upper_32_bits(seqno));
}

static void user_fence_write(struct dma_fence *fence,
			     struct dma_fence_user_fence *user_fence)
{
	const struct iosys_map *map = &user_fence->map;
	const void *addr = user_fence_addr(map);
	struct user_fence_lock *l;
	unsigned long flags;
	bool written = false;
	u64 old;

	l = &user_fence_locks[hash_ptr(addr, USER_FENCE_LOCK_BITS)];
	spin_lock_irqsave(&l->lock, flags);
	old = user_fence_load(map);
#ifdef CONFIG_DMABUF_DEBUG
	if (l->last_addr == addr && old < l->last_value) {
		atomic_long_inc(&user_fence_lowered);
		pr_debug("%p lowered from %llu to %llu by another writer\n",
			 addr, l->last_value, old);
	}
#endif
	if (user_fence->seqno > old) {
		user_fence_store(map, old, user_fence->seqno);
		written = true;
#ifdef CONFIG_DMABUF_DEBUG
		l->last_addr = addr;
		l->last_value = user_fence->seqno;
#endif
	}
	spin_unlock_irqrestore(&l->lock, flags);

	trace_dma_fence_user_fence_write(fence, user_fence->seqno, old, written);
}

/* Free the user fence, then hand the memory of its location back. */
static void user_fence_release(struct dma_fence_user_fence *user_fence)
{
	struct kref *storage = user_fence->storage;
	void (*release)(struct kref *storage) = user_fence->release;

	kmem_cache_free(user_fence_cache, user_fence);
#ifdef CONFIG_DMABUF_DEBUG
	atomic_long_dec(&user_fence_pending);
#endif
	/*
	 * Last, after the store: from here on the caller may free the memory.
	 * kref_put() is a release: the store comes before the decrement, and
	 * whoever drops the last reference frees only after it, with acquire
	 * ordering (UF-release+kref.litmus; with a relaxed decrement,
	 * UF-release+relaxed.litmus, the store can land after the free).
	 */
	if (storage)
		kref_put(storage, release);
}

static void user_fence_cb(struct dma_fence *fence, struct dma_fence_cb *cb)
{
	struct dma_fence_user_fence *user_fence =
		container_of(cb, struct dma_fence_user_fence, cb);

	user_fence_write(fence, user_fence);
	user_fence_release(user_fence);
}

/**
 * dma_fence_user_fence_alloc() - allocate a user fence
 * @storage: a reference on the memory that will hold the location, or NULL
 * @release: drops @storage; NULL if and only if @storage is NULL
 *
 * Allocate the memory for one dma_fence_user_fence_attach() up front, so that
 * attaching never allocates. Call it outside of any fence signalling critical
 * section, before the fence the user fence will be attached to is published.
 *
 * On success the user fence owns the caller's reference @storage and drops it
 * with kref_put(@storage, @release) once it is done with the memory: after
 * its store, or when it is freed unattached. @release may then run in any
 * context, including hard interrupt context with the fence's lock held, see
 * "user fence" above. On failure the caller keeps its reference.
 *
 * Context: Process context; may sleep.
 * Return: a new user fence, or NULL if out of memory, or with a WARN if only
 * one of @storage and @release is given.
 */
struct dma_fence_user_fence *
dma_fence_user_fence_alloc(struct kref *storage,
			   void (*release)(struct kref *storage))
{
	struct dma_fence_user_fence *user_fence;

	if (WARN_ON(!storage != !release))
		return NULL;

	user_fence = kmem_cache_alloc(user_fence_cache, GFP_KERNEL);
	if (!user_fence)
		return NULL;

	/* Attach fills in the rest; cb.func tells it whether it already did. */
	user_fence->cb.func = NULL;
	user_fence->storage = storage;
	user_fence->release = release;
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
 * Drops the storage reference the user fence owns. An attached user fence
 * belongs to the helper, which frees it after its store; freeing one that is
 * still pending is refused with a WARN, and the pending store still happens.
 *
 * Context: Any context the storage's release function allows.
 */
void dma_fence_user_fence_free(struct dma_fence_user_fence *user_fence)
{
	if (!user_fence)
		return;

	/* The fence callback still points at it: freeing it now is a UAF. */
	if (WARN_ON(user_fence->cb.func))
		return;

	user_fence_release(user_fence);
}
EXPORT_SYMBOL_GPL(dma_fence_user_fence_free);

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
	    !IS_ALIGNED((unsigned long)user_fence_addr(map), sizeof(u64)))
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
 * there, see "user fence" above. The helper copies @map, then frees
 * @user_fence and drops its storage reference after the store, so the caller
 * must not touch @user_fence again, and must keep the memory behind @map until
 * that reference is dropped.
 *
 * A NULL @fence, a location that dma_fence_user_fence_check_map() refuses,
 * or a user fence that is already attached triggers a WARN and nothing is
 * stored; except in the last case, @user_fence is freed and its storage
 * reference dropped.
 *
 * Context: Any context dma_fence_add_callback() may be called in, including
 * inside a fence signalling critical section, but not with @fence's lock
 * held. The store itself may happen in interrupt context, from the fence
 * callback; on PREEMPT_RT the fence lock and the helper's locks are sleeping
 * locks, and so are the contexts they are taken in.
 */
void dma_fence_user_fence_attach(struct dma_fence *fence,
				 struct dma_fence_user_fence *user_fence,
				 const struct iosys_map *map, u64 seqno)
{
	if (WARN_ON(!user_fence))
		return;

	/* Attached twice while pending: the callback is on a fence list. */
	if (WARN_ON(user_fence->cb.func))
		return;

	if (WARN_ON(!fence) || WARN_ON(dma_fence_user_fence_check_map(map))) {
		user_fence_release(user_fence);
		return;
	}

	user_fence->map = *map;
	user_fence->seqno = seqno;
	user_fence->cb.func = user_fence_cb;

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
 * freed, either by their write or by dma_fence_user_fence_free().
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
