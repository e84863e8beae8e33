/* SPDX-License-Identifier: GPL-2.0-only */
/* Trace event for the seqno stores of dma-fence-user-fence.c */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM dma_fence_user_fence

#if !defined(_TRACE_DMA_FENCE_USER_FENCE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _TRACE_DMA_FENCE_USER_FENCE_H

#include <linux/dma-fence.h>
#include <linux/tracepoint.h>

TRACE_EVENT(dma_fence_user_fence_write,
	    TP_PROTO(struct dma_fence *fence, u64 seqno, u64 old,
		     bool written),
	    TP_ARGS(fence, seqno, old, written),
	    TP_STRUCT__entry(__field(u64, context)
			     __field(u64, fence_seqno)
			     __field(int, error)
			     __field(u64, seqno)
			     __field(u64, old)
			     __field(bool, written)),
	    TP_fast_assign(__entry->context = fence->context;
			   __entry->fence_seqno = fence->seqno;
			   __entry->error = fence->error;
			   __entry->seqno = seqno;
			   __entry->old = old;
			   __entry->written = written;),
	    TP_printk("context=%llu fence_seqno=%llu error=%d seqno=%llu old=%llu %s",
		      __entry->context, __entry->fence_seqno, __entry->error,
		      __entry->seqno, __entry->old,
		      __entry->written ? "written" : "skipped")
);

#endif /* _TRACE_DMA_FENCE_USER_FENCE_H */

/* This part must be outside protection */
#include <trace/define_trace.h>
