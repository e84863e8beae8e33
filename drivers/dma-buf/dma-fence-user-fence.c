// SPDX-License-Identifier: GPL-2.0-only
/*
 * dma-fence-user-fence: store a seqno in memory when a dma_fence signals
 */

#include <linux/bits.h>
#include <linux/cache.h>
#include <linux/dma-fence.h>
#include <linux/dma-fence-user-fence.h>
#include <linux/export.h>
#include <linux/hash.h>
#include <linux/iosys-map.h>
#include <linux/kref.h>
#include <linux/llist.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>

#include <asm/byteorder.h>

#define CREATE_TRACE_POINTS
#include <trace/events/dma_fence_user_fence.h>

/**
 * DOC: overview
 *
 * A user fence stores a 64-bit seqno at a location in system or I/O memory
 * once a &dma_fence has signalled, for a GPU queue or a CPU thread that polls
 * the location instead of waiting on the fence. The driver allocates it with
 * dma_fence_user_fence_alloc(), which may fail, before any fence signalling
 * critical section, and hands it over with dma_fence_user_fence_attach(),
 * which cannot fail. The seqno is stored little-endian, only if it is larger
 * than the value already at the location, and the reference on the
 * location's memory that the driver gave to dma_fence_user_fence_alloc() is
 * dropped after the store, in process context.
 */

/* Bit 0 of &dma_fence_user_fence.addr: the location is in I/O memory. */
#define USER_FENCE_IOMEM	1UL

/**
 * struct dma_fence_user_fence - a pending seqno store
 *
 * 64 bytes on 64-bit kernels: the location is an address with a flag bit
 * rather than a &struct iosys_map, and the callback and the address are
 * reused once the store is done.
 */
struct dma_fence_user_fence {
	union {
		/** @cb: the fence callback; @cb.func is set by attach */
		struct dma_fence_cb cb;
		/** @release_node: on the list of due releases, after the store */
		struct llist_node release_node;
	};
	union {
		/** @addr: the location, USER_FENCE_IOMEM or'ed in */
		unsigned long addr;
		/** @fence: after the store, the fence whose reference attach took */
		struct dma_fence *fence;
	};
	/** @seqno: the value to store */
	u64 seqno;
	/** @storage: the caller's reference on the memory behind @addr */
	struct kref *storage;
	/** @release: drops @storage */
	void (*release)(struct kref *storage);
	/** @owner: the module of @release */
	struct module *owner;
};

static_assert(!IS_ENABLED(CONFIG_64BIT) ||
	      sizeof(struct dma_fence_user_fence) == 64);

/*
 * The read-compare-store of one location is serialised by a lock hashed on
 * its address, as lib/atomic64.c does it, each in a cache line of its own.
 * It nests inside the fence lock.
 */
#define USER_FENCE_LOCK_BITS	6
#define USER_FENCE_LOCKS	BIT(USER_FENCE_LOCK_BITS)

static struct {
	spinlock_t lock;	/* the locations whose address hashes here */
} ____cacheline_aligned_in_smp user_fence_locks[USER_FENCE_LOCKS] = {
	[0 ... USER_FENCE_LOCKS - 1] = {
		.lock = __SPIN_LOCK_UNLOCKED(user_fence_locks.lock),
	},
};

/*
 * Releases run in process context, from one work item that drains a
 * lock-free list. It runs a jiffy after the first entry, so that a CPU
 * signalling fences back to back does not switch to it after each one.
 */
static LLIST_HEAD(user_fence_releases);
static void user_fence_release_work(struct work_struct *work);
static DECLARE_DELAYED_WORK(user_fence_release, user_fence_release_work);

static void user_fence_release_later(struct dma_fence_user_fence *user_fence)
{
	if (llist_add(&user_fence->release_node, &user_fence_releases))
		queue_delayed_work(system_dfl_wq, &user_fence_release, 1);
}

static void user_fence_release_work(struct work_struct *work)
{
	struct llist_node *list = llist_del_all(&user_fence_releases);
	struct dma_fence_user_fence *user_fence, *next;

	llist_for_each_entry_safe(user_fence, next, llist_reverse_order(list),
				  release_node) {
		struct module *owner = user_fence->owner;

		dma_fence_put(user_fence->fence);
		/*
		 * The store was ordered before llist_add(), which is fully
		 * ordered, and kref_put() orders it before the free of
		 * whoever drops the last reference (UF-release+kref.litmus).
		 */
		kref_put(user_fence->storage, user_fence->release);
		kfree(user_fence);
		module_put(owner);
		cond_resched();
	}
}

static unsigned long user_fence_map_addr(const struct iosys_map *map)
{
	return map->is_iomem ? (unsigned long __force)map->vaddr_iomem :
			       (unsigned long)map->vaddr;
}

/*
 * The value is little-endian in memory: the I/O accessors behind iosys_map
 * convert, accesses to system memory are converted here.
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
	/* Earlier writes, write-combined ones included, before the value. */
	wmb();

	if (IS_ENABLED(CONFIG_64BIT)) {
		if (!map->is_iomem)
			seqno = (__force u64)cpu_to_le64(seqno);
		iosys_map_wr(map, 0, u64, seqno);
	} else {
		/*
		 * iosys_map_wr() would split the value in an order of its own.
		 * Low word first: old < seqno, so either the high words are
		 * equal, or (old.high, seqno.low) is below seqno.
		 */
		user_fence_store32(map, 0, lower_32_bits(seqno));
		if (upper_32_bits(old) != upper_32_bits(seqno)) {
			wmb();	/* low word first: UF-split32+wmb.litmus */
			user_fence_store32(map, 4, upper_32_bits(seqno));
		}
	}

	/*
	 * llist_add() orders a store to system memory before the release,
	 * which may unmap it, but not one to I/O memory: arm64's writeq() has
	 * its barrier before the store.
	 */
	if (map->is_iomem)
		wmb();	/* the store before the release: see above */
}

static void user_fence_cb(struct dma_fence *fence, struct dma_fence_cb *cb)
{
	struct dma_fence_user_fence *user_fence =
		container_of(cb, struct dma_fence_user_fence, cb);
	unsigned long addr = user_fence->addr & ~USER_FENCE_IOMEM;
	spinlock_t *lock;	/* the location's entry in user_fence_locks */
	struct iosys_map map;
	unsigned long flags;
	bool written = false;
	u64 old;

	if (user_fence->addr & USER_FENCE_IOMEM)
		iosys_map_set_vaddr_iomem(&map, (void __iomem __force *)addr);
	else
		iosys_map_set_vaddr(&map, (void *)addr);

	lock = &user_fence_locks[hash_long(addr, USER_FENCE_LOCK_BITS)].lock;
	spin_lock_irqsave(lock, flags);
	old = user_fence_load(&map);
	if (user_fence->seqno > old) {
		user_fence_store(&map, old, user_fence->seqno);
		written = true;
	}
	spin_unlock_irqrestore(lock, flags);
	trace_dma_fence_user_fence_write(fence, user_fence->seqno, old, written);

	/* The location is done with; cb.node becomes release_node. */
	user_fence->fence = fence;
	user_fence_release_later(user_fence);
}

/**
 * __dma_fence_user_fence_alloc() - allocate a user fence
 * @storage: a reference on the memory that will hold the location
 * @release: drops @storage; may sleep, but not for long (see below)
 * @owner: the module that contains @release
 *
 * Use dma_fence_user_fence_alloc(), which passes the caller's module as
 * @owner.
 *
 * Allocate what one dma_fence_user_fence_attach() needs, so that attaching
 * never allocates. On success the user fence owns the reference @storage and
 * holds a reference on @owner; both are dropped, with
 * kref_put(@storage, @release) and then module_put(@owner), from a work item
 * once the user fence is done: after its store, or after
 * dma_fence_user_fence_free(). On failure the caller keeps @storage.
 *
 * One work item runs the releases of every user fence, of every driver, one
 * after the other. @release may sleep briefly: take a reservation lock,
 * unmap, unpin, put. It should not wait for a fence or block for long: every
 * release due after it waits as long.
 *
 * Context: Process context, outside any fence signalling critical section.
 * Return: the user fence; NULL if out of memory or if @owner is being
 * unloaded; NULL with a WARN if @storage or @release is NULL.
 */
struct dma_fence_user_fence *
__dma_fence_user_fence_alloc(struct kref *storage,
			     void (*release)(struct kref *storage),
			     struct module *owner)
{
	struct dma_fence_user_fence *user_fence;

	/* Nothing else keeps the location until the store. */
	if (WARN_ON(!storage || !release))
		return NULL;

	user_fence = kmalloc_obj(*user_fence);
	if (!user_fence)
		return NULL;

	if (!try_module_get(owner)) {
		kfree(user_fence);
		return NULL;
	}

	user_fence->cb.func = NULL;
	user_fence->fence = NULL;
	user_fence->storage = storage;
	user_fence->release = release;
	user_fence->owner = owner;
	return user_fence;
}
EXPORT_SYMBOL_GPL(__dma_fence_user_fence_alloc);

/**
 * dma_fence_user_fence_free() - free a user fence that was never attached
 * @user_fence: from dma_fence_user_fence_alloc(), or NULL
 *
 * For error paths, and only for a user fence that was never attached: an
 * attached one is the helper's, and may be gone already. The storage and
 * module references are dropped later, in process context, as after a store.
 *
 * Context: Any context.
 */
void dma_fence_user_fence_free(struct dma_fence_user_fence *user_fence)
{
	if (!user_fence)
		return;

	/* Attached and still pending; best effort, as in attach. */
	if (WARN_ON(user_fence->cb.func))
		return;

	user_fence_release_later(user_fence);
}
EXPORT_SYMBOL_GPL(dma_fence_user_fence_free);

/**
 * dma_fence_user_fence_check_map() - check a location before attaching it
 * @map: the location
 *
 * For a location derived from userspace input, while an error can still be
 * returned: dma_fence_user_fence_attach() accepts every location this
 * accepts. That the location lies inside its buffer is the caller's to check.
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
 * dma_fence_user_fence_attach() - store a seqno when a fence signals
 * @fence: the fence
 * @user_fence: from dma_fence_user_fence_alloc(); the helper's from now on
 * @map: the location, 8-byte aligned, in system or I/O memory
 * @seqno: the value to store
 *
 * Store @seqno little-endian at @map once @fence has signalled, or before
 * returning if it has already; only if @seqno is larger than the value at
 * @map. The helper copies @map and takes a reference on @fence. After the
 * store it drops the references of @user_fence and frees it, in process
 * context, possibly before attach returns: the caller must not touch
 * @user_fence again.
 *
 * A NULL @fence or a location that dma_fence_user_fence_check_map() refuses
 * is a WARN; nothing is stored and @user_fence is released as after a
 * store.
 *
 * Context: Any context in which dma_fence_add_callback() may be called,
 * inside a fence signalling critical section too. Never sleeps, never
 * allocates.
 */
void dma_fence_user_fence_attach(struct dma_fence *fence,
				 struct dma_fence_user_fence *user_fence,
				 const struct iosys_map *map, u64 seqno)
{
	if (WARN_ON(!user_fence))
		return;

	/*
	 * Attached before and still pending. Best effort only: once stored,
	 * the user fence may be freed, and reading it here is the bug.
	 */
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

	/* A callback keeps no fence alive; the release work drops this. */
	dma_fence_get(fence);
	if (!dma_fence_add_callback(fence, &user_fence->cb, user_fence_cb))
		return;

	/*
	 * Signalled already. dma_fence_add_callback() may have seen the
	 * signalled bit without the fence lock, which passes the bit on to
	 * nobody; the full barrier makes whoever sees the value and then
	 * issues smp_rmb() see the bit too (UF-immediate+mb.litmus).
	 */
	smp_mb();
	user_fence_cb(fence, &user_fence->cb);
}
EXPORT_SYMBOL_GPL(dma_fence_user_fence_attach);
