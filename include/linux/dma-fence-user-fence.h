/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dma-fence-user-fence: write a seqno to memory when a dma_fence signals
 *
 * Copyright (C) 2026 The dma-fence-user-fence authors
 */

#ifndef __LINUX_DMA_FENCE_USER_FENCE_H
#define __LINUX_DMA_FENCE_USER_FENCE_H

#include <linux/types.h>

struct dma_fence;
struct dma_fence_user_fence;
struct iosys_map;
struct kref;

struct dma_fence_user_fence *
dma_fence_user_fence_alloc(struct kref *storage,
			   void (*release)(struct kref *storage));
void dma_fence_user_fence_free(struct dma_fence_user_fence *user_fence);
void dma_fence_user_fence_flush(void);
int dma_fence_user_fence_check_map(const struct iosys_map *map);
void dma_fence_user_fence_attach(struct dma_fence *fence,
				 struct dma_fence_user_fence *user_fence,
				 const struct iosys_map *map, u64 seqno);

#endif /* __LINUX_DMA_FENCE_USER_FENCE_H */
