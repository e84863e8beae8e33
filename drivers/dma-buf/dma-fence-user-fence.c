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
#include <linux/dma-fence.h>
#include <linux/dma-fence-user-fence.h>
#include <linux/export.h>
#include <linux/hash.h>
#include <linux/init.h>
#include <linux/iosys-map.h>
#include <linux/printk.h>
#include <linux/slab.h>
#include <linux/spinlock.h>

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
 *    driver enters a fence signalling critical section.
 * 2. dma_fence_user_fence_attach() with the fence, the location and the
 *    seqno. It cannot fail and it never allocates; the user fence belongs to
 *    the helper from then on and is freed by it after the write.
 * 3. dma_fence_user_fence_free() only for a user fence that was never
 *    attached, on an error path.
 *
 * The caller guarantees that the memory behind the map stays valid and mapped
 * at the same address until the fence has signalled. A driver usually gets
 * this by adding the fence to the &dma_resv of the buffer object that holds
 * the location, with DMA_RESV_USAGE_BOOKKEEP, before the buffer could be
 * moved or unmapped, so that eviction waits for the fence.
 *
 * What a waiter may rely on:
 *
 * - Never early. The value is written after the fence is signalled: the
 *   store is issued from the fence's callback, after
 *   DMA_FENCE_FLAG_SIGNALED_BIT was set with a fully ordered atomic. A CPU
 *   reader that sees the value and then issues smp_rmb() (or reads with
 *   smp_load_acquire()) sees the fence signalled and everything the
 *   signalling CPU wrote before dma_fence_signal(). For a device reading
 *   system memory the helper issues dma_wmb() before the store; the I/O
 *   accessors order I/O stores after earlier memory writes themselves.
 * - Never torn into a larger value. On 64-bit kernels the value is stored
 *   with one 64-bit access (WRITE_ONCE() or writeq()). A 32-bit kernel has
 *   no such store, so the helper writes the low word first and the high word
 *   last, with a write barrier between them: every value a reader can see
 *   during the update is at most the new seqno. A 32-bit CPU reader must
 *   read high, low, high and retry if the two high words differ.
 * - Never stranded. The location only moves up: a seqno is stored only if it
 *   is larger than the current value, under a lock hashed on the address,
 *   so user fences on one location whose fences signal out of order leave it
 *   at the largest signalled seqno. No atomic read-modify-write on the target
 *   memory is needed, which write-combined and I/O memory do not offer on
 *   every architecture. A seqno of 0 therefore never changes a location.
 *   The price is a read of the location per store, an uncached read when
 *   the location is in I/O memory.
 * - A fence signalled with an error still writes its seqno: the value says
 *   that the fence signalled, not that the work behind it succeeded. The
 *   error is available from the fence and in the trace event.
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
 * Bad input is rejected with a WARN and no write: a NULL fence or map, a
 * location that is not 8-byte aligned, and a user fence that is attached
 * while still pending from an earlier attach. Attaching a user fence after
 * its write has happened is a use after free, which KASAN reports.
 */

/**
 * struct dma_fence_user_fence - a pending seqno write
 *
 * Allocated with dma_fence_user_fence_alloc(); 48 bytes on 64-bit, in a
 * cache of its own so that no slab rounding is wasted.
 */
struct dma_fence_user_fence {
	/** @cb: fence callback; @cb.func is NULL until the user fence is attached */
	struct dma_fence_cb cb;
	/** @map: where to store @seqno */
	struct iosys_map map;
	/** @seqno: the value to store */
	u64 seqno;
};

/* What a pending user fence costs; its cache adds no rounding on top. */
static_assert(!IS_ENABLED(CONFIG_64BIT) ||
	      sizeof(struct dma_fence_user_fence) == 48);

#define USER_FENCE_LOCK_BITS	6

/*
 * Writers to one location are serialised by a lock chosen by hashing the
 * address, so that the read-compare-store of two fences signalling on two
 * CPUs cannot interleave. The lock nests inside the fence lock.
 */
static struct user_fence_lock {
	/* serialises the read-compare-store of the locations hashed here */
	spinlock_t lock;
#ifdef CONFIG_DMABUF_DEBUG
	const void *last_addr;
	u64 last_value;
#endif
} user_fence_locks[1 << USER_FENCE_LOCK_BITS];

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
 * Offsets of the two halves of the u64 for a 32-bit kernel. iosys_map_wr()
 * stores a u64 in I/O memory in little-endian order (writeq()), in system
 * memory in CPU order; the halves follow the same layout.
 */
static size_t user_fence_lo_offset(const struct iosys_map *map)
{
	return map->is_iomem || !IS_ENABLED(CONFIG_CPU_BIG_ENDIAN) ? 0 : 4;
}

static u64 user_fence_load(const struct iosys_map *map)
{
	size_t lo = user_fence_lo_offset(map);

	if (IS_ENABLED(CONFIG_64BIT))
		return iosys_map_rd(map, 0, u64);

	return (u64)iosys_map_rd(map, 4 - lo, u32) << 32 |
	       iosys_map_rd(map, lo, u32);
}

static void user_fence_store(const struct iosys_map *map, u64 old, u64 seqno)
{
	size_t lo;

	/* Make earlier writes visible to a device before the seqno. */
	if (!map->is_iomem)
		dma_wmb();

	if (IS_ENABLED(CONFIG_64BIT)) {
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
	lo = user_fence_lo_offset(map);
	iosys_map_wr(map, lo, u32, lower_32_bits(seqno));
	if (upper_32_bits(old) == upper_32_bits(seqno))
		return;
	wmb();	/* the low word lands before the high word, for any reader */
	iosys_map_wr(map, 4 - lo, u32, upper_32_bits(seqno));
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

static void user_fence_release(struct dma_fence_user_fence *user_fence)
{
	kmem_cache_free(user_fence_cache, user_fence);
#ifdef CONFIG_DMABUF_DEBUG
	atomic_long_dec(&user_fence_pending);
#endif
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
 *
 * Allocate the memory for one dma_fence_user_fence_attach() up front, so that
 * attaching never allocates. Call it outside of any fence signalling critical
 * section, before the fence the user fence will be attached to is published.
 *
 * Context: Process context; may sleep.
 * Return: a new user fence, or NULL if out of memory.
 */
struct dma_fence_user_fence *dma_fence_user_fence_alloc(void)
{
	struct dma_fence_user_fence *user_fence;

	user_fence = kmem_cache_zalloc(user_fence_cache, GFP_KERNEL);
#ifdef CONFIG_DMABUF_DEBUG
	if (user_fence)
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
 * An attached user fence belongs to the helper, which frees it after its
 * write; freeing one that is still pending is refused with a WARN, and the
 * pending write still happens.
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

	user_fence_release(user_fence);
}
EXPORT_SYMBOL_GPL(dma_fence_user_fence_free);

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
 * there, see "user fence" above. The helper copies @map and frees
 * @user_fence after the store, so the caller must not touch @user_fence
 * again.
 *
 * The memory behind @map must stay valid until @fence has signalled; adding
 * @fence to the reservation object of the buffer that holds the location is
 * the usual way to ensure it.
 *
 * A NULL @fence or @map, a location that is not 8-byte aligned, or a user
 * fence that is already attached and still pending triggers a WARN; the
 * seqno is not written and, but for the last case, @user_fence is freed.
 *
 * Context: Any context, including inside a fence signalling critical section
 * and with interrupts disabled. Must not be called with @fence's lock held.
 * The store itself may happen in interrupt context, from the fence callback.
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

	if (WARN_ON(!fence || !map || iosys_map_is_null(map)) ||
	    WARN_ON(!IS_ALIGNED((unsigned long)user_fence_addr(map),
				sizeof(u64)))) {
		dma_fence_user_fence_free(user_fence);
		return;
	}

	user_fence->map = *map;
	user_fence->seqno = seqno;
	user_fence->cb.func = user_fence_cb;

	/* Only fails with -ENOENT here: the fence has signalled already. */
	if (dma_fence_add_callback(fence, &user_fence->cb, user_fence_cb))
		user_fence_cb(fence, &user_fence->cb);
}
EXPORT_SYMBOL_GPL(dma_fence_user_fence_attach);

#ifdef CONFIG_DMABUF_DEBUG
/**
 * dma_fence_user_fence_debug_pending() - count user fences not yet freed
 *
 * For tests and debugging: the number of user fences allocated and not yet
 * freed, either by their write or by dma_fence_user_fence_free().
 *
 * Context: Any context.
 * Return: the number of live user fences.
 */
unsigned long dma_fence_user_fence_debug_pending(void)
{
	return atomic_long_read(&user_fence_pending);
}
EXPORT_SYMBOL_GPL(dma_fence_user_fence_debug_pending);

/**
 * dma_fence_user_fence_debug_lowered() - count locations lowered behind us
 *
 * For tests and debugging: how often the helper found a location below the
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
EXPORT_SYMBOL_GPL(dma_fence_user_fence_debug_lowered);
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
