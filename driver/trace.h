/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kup's trace events, system "kup" (/sys/kernel/tracing/events/kup/):
 * attach, detach, pass (the kernel side's), sleep, wakeup and break.
 * Not an ABI: the fields may change. Every event names the device and
 * the channel; dev is the device name, as its node in /dev.
 *
 * The pass is on the data path: when the event is off it costs its
 * static branch only (the arguments are values the caller has anyway).
 * Events are emitted where the channel and its region are known to be
 * alive (under dev->lock, or inside a kernel call: see chan.c), from any
 * context.
 *
 * dev is a fixed array, like sched_switch's comm: the name has at most
 * KUP_NAME_MAX bytes with its NUL (kup_dev_create()), one memcpy() of a
 * constant size fills it, and it needs none of __string()'s helpers,
 * whose arguments changed in 6.10.
 *
 * Out of tree, define_trace.h includes this file again as
 * <TRACE_INCLUDE_PATH/TRACE_INCLUDE_FILE.h>: driver/Kbuild adds -I$(src).
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM kup

#if !defined(_KUP_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _KUP_TRACE_H

#include <linux/sched.h>
#include <linux/string.h>
#include <linux/tracepoint.h>

#include "device.h"
#include "region.h"

/* kup_sleep and kup_wakeup: which side sleeps, or is woken */
#define KUP_TRACE_KERNEL	0
#define KUP_TRACE_USER		1

#define kup_trace_side(s)						\
	__print_symbolic(s, { KUP_TRACE_KERNEL, "kernel" },		\
			 { KUP_TRACE_USER, "user" })

TRACE_EVENT(kup_attach,
	    TP_PROTO(const struct kup_chan *ch, const struct kup_region *r),
	    TP_ARGS(ch, r),
	    TP_STRUCT__entry(__array(char, dev, KUP_NAME_MAX)
			     __field(u32, chan)
			     __field(u64, gen)
			     __field(pid_t, tgid)
			     __field(u32, slots)
			     __field(u32, buf_size)
			     __field(unsigned long, pages)),
	    TP_fast_assign(memcpy(__entry->dev, ch->dev->name, KUP_NAME_MAX);
			   __entry->chan = ch->index;
			   __entry->gen = r->gen;
			   __entry->tgid = current->tgid;
			   __entry->slots = r->nslots;
			   __entry->buf_size = r->buf_size;
			   __entry->pages = r->npages;),
	    TP_printk("dev=%s chan=%u gen=%llu tgid=%d slots=%u buf_size=%u pages=%lu",
		      __entry->dev, __entry->chan, __entry->gen, __entry->tgid,
		      __entry->slots, __entry->buf_size, __entry->pages)
);

/* The kernel passes the turn of slot with a message of len bytes. */
TRACE_EVENT(kup_pass,
	    TP_PROTO(const struct kup_chan *ch, u32 slot, u32 len),
	    TP_ARGS(ch, slot, len),
	    TP_STRUCT__entry(__array(char, dev, KUP_NAME_MAX)
			     __field(u32, chan)
			     __field(u32, slot)
			     __field(u32, len)),
	    TP_fast_assign(memcpy(__entry->dev, ch->dev->name, KUP_NAME_MAX);
			   __entry->chan = ch->index;
			   __entry->slot = slot;
			   __entry->len = len;),
	    TP_printk("dev=%s chan=%u slot=%u len=%u", __entry->dev,
		      __entry->chan, __entry->slot, __entry->len)
);

DECLARE_EVENT_CLASS(kup_side,
		    TP_PROTO(const struct kup_chan *ch, int side),
		    TP_ARGS(ch, side),
		    TP_STRUCT__entry(__array(char, dev, KUP_NAME_MAX)
				     __field(u32, chan)
				     __field(int, side)),
		    TP_fast_assign(memcpy(__entry->dev, ch->dev->name,
					  KUP_NAME_MAX);
				   __entry->chan = ch->index;
				   __entry->side = side;),
		    TP_printk("dev=%s chan=%u side=%s", __entry->dev,
			      __entry->chan, kup_trace_side(__entry->side))
);

/*
 * A waiter goes to sleep for its turn: side=kernel, a kernel thread whose
 * spin budget ran out; side=user, a KUP_IOC_WAIT that found no turn.
 */
DEFINE_EVENT(kup_side, kup_sleep,
	     TP_PROTO(const struct kup_chan *ch, int side),
	     TP_ARGS(ch, side)
);

/*
 * One side wakes the other: side=user, a kernel pass wakes the process
 * (it had set ustate.uwait); side=kernel, KUP_IOC_WAKE wakes the kernel.
 */
DEFINE_EVENT(kup_side, kup_wakeup,
	     TP_PROTO(const struct kup_chan *ch, int side),
	     TP_ARGS(ch, side)
);

/* An attachment and the positive errno it broke with, or 0. */
DECLARE_EVENT_CLASS(kup_gen_error,
		    TP_PROTO(const struct kup_chan *ch,
			     const struct kup_region *r, int error),
		    TP_ARGS(ch, r, error),
		    TP_STRUCT__entry(__array(char, dev, KUP_NAME_MAX)
				     __field(u32, chan)
				     __field(u64, gen)
				     __field(int, error)),
		    TP_fast_assign(memcpy(__entry->dev, ch->dev->name,
					  KUP_NAME_MAX);
				   __entry->chan = ch->index;
				   __entry->gen = r->gen;
				   __entry->error = error;),
		    TP_printk("dev=%s chan=%u gen=%llu error=%d", __entry->dev,
			      __entry->chan, __entry->gen, __entry->error)
);

/* The process detached the region: error, the channel's, if it broke. */
DEFINE_EVENT(kup_gen_error, kup_detach,
	     TP_PROTO(const struct kup_chan *ch, const struct kup_region *r,
		      int error),
	     TP_ARGS(ch, r, error)
);

/* The channel broke: error is the positive errno it stopped with. */
DEFINE_EVENT(kup_gen_error, kup_break,
	     TP_PROTO(const struct kup_chan *ch, const struct kup_region *r,
		      int error),
	     TP_ARGS(ch, r, error)
);

#endif /* _KUP_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>
