/* SPDX-License-Identifier: GPL-2.0 */
/*
 * chan.c: the kernel client's side of a channel. What the rest of kup.ko
 * calls; the kernel API itself is declared in include/linux/kup.h.
 */
#ifndef _KUP_CHAN_H
#define _KUP_CHAN_H

#include <linux/types.h>

struct kup_chan;
struct kup_dev;
struct kup_region;

bool kup_should_stop(void);

/* A region counted in r->inflight for an ioctl (device.c) */
struct kup_region *kup_op_begin(struct kup_chan *ch);
void kup_op_end(struct kup_region *r);
/* Detach: take the channel's cached hold reference over (device.c) */
bool kup_chan_steal_held(struct kup_chan *ch, struct kup_region *r);

/* The FreeBSD-compatible calls (kupdev.c), the service loop (workers.c) */
void *__kup_recv_flat(struct kup_dev *dev, unsigned int chan, void *flat,
		      int *err);
u64 __kup_session(struct kup_dev *dev, unsigned int chan);
void __kup_session_end(struct kup_dev *dev, unsigned int chan, u64 gen);
void __kup_session_failed(struct kup_dev *dev, unsigned int chan, u64 gen,
			  int ret);

#endif /* _KUP_CHAN_H */
