/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dma-fence-user-fence: the CONFIG_DMABUF_DEBUG counters, for the KUnit
 * tests only (exported to the EXPORTED_FOR_KUNIT_TESTING namespace)
 *
 * Copyright (C) 2026 The dma-fence-user-fence authors
 */

#ifndef __DMA_FENCE_USER_FENCE_DEBUG_H
#define __DMA_FENCE_USER_FENCE_DEBUG_H

#if IS_ENABLED(CONFIG_DMABUF_DEBUG) && IS_ENABLED(CONFIG_KUNIT)
unsigned long dma_fence_user_fence_debug_pending(void);
unsigned long dma_fence_user_fence_debug_lowered(void);
#endif

#endif /* __DMA_FENCE_USER_FENCE_DEBUG_H */
