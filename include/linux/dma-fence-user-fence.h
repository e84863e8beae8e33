/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dma-fence-user-fence: store a seqno in memory when a dma_fence signals
 */

#ifndef __LINUX_DMA_FENCE_USER_FENCE_H
#define __LINUX_DMA_FENCE_USER_FENCE_H

#include <linux/types.h>

struct dma_fence;
struct dma_fence_user_fence;
struct iosys_map;
struct kref;
struct module;

struct dma_fence_user_fence *
__dma_fence_user_fence_alloc(struct kref *storage,
			     void (*release)(struct kref *storage),
			     struct module *owner);

/**
 * dma_fence_user_fence_alloc() - allocate a user fence
 * @storage: a reference on the memory that will hold the location
 * @release: drops @storage; a function of the calling module
 *
 * __dma_fence_user_fence_alloc() with the calling module as the owner of
 * @release, which stays loaded until @release has returned.
 */
#define dma_fence_user_fence_alloc(storage, release) \
	__dma_fence_user_fence_alloc(storage, release, THIS_MODULE)

void dma_fence_user_fence_free(struct dma_fence_user_fence *user_fence);
int dma_fence_user_fence_check_map(const struct iosys_map *map);
void dma_fence_user_fence_attach(struct dma_fence *fence,
				 struct dma_fence_user_fence *user_fence,
				 const struct iosys_map *map, u64 seqno);

#endif /* __LINUX_DMA_FENCE_USER_FENCE_H */
