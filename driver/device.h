/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _KUP_DEVICE_H
#define _KUP_DEVICE_H

#include <linux/kref.h>
#include <linux/miscdevice.h>
#include <linux/mutex.h>
#include <linux/nospec.h>
#include <linux/rcupdate.h>
#include <linux/wait.h>
#include <uapi/linux/kup.h>

struct kup_region;

/* One open file of a kup device. */
struct kup_file {
	struct kup_dev *dev;
	u64 notify_seen;		/* notify_count acknowledged by INFO */
};

struct kup_chan {
	struct kup_dev *dev;
	u32 index;
	/* Attached region; written under dev->lock, read under RCU. */
	struct kup_region __rcu *region;
	struct kup_file *owner;		/* under dev->lock */
	/*
	 * The region of the last hold (kup_recv(), kup_send_buf()), with a
	 * reference kept from one message to the next; holding: how many
	 * messages (or a send buffer) of it the client holds now. See
	 * kup_hold() in chan.c.
	 */
	struct kup_region *held;
	u32 holding;
	wait_queue_head_t kwq;		/* kernel waiters for the turn */
	wait_queue_head_t uwq;		/* user waiters (KUP_IOC_WAIT) */
};

struct kup_dev {
	struct kref ref;
	struct miscdevice misc;
	char name[KUP_NAME_MAX];
	u32 nchan;
	u32 max_buf;			/* bytes per buffer, at most */
	u32 min_buf;			/* bytes per buffer, at least */
	unsigned int spins;		/* kernel spin budget before sleeping */
	bool dead;			/* shut down: READ_ONCE/WRITE_ONCE */
	bool registered;
	struct mutex lock;		/* attach, detach, shutdown */
	wait_queue_head_t attach_wq;	/* kup_wait_channel() */
	wait_queue_head_t poll_wq;	/* poll() on the device fds */
	atomic64_t notify_count;
	unsigned long *pending;		/* attached, not yet returned by wait */
	struct kup_chan chans[];
};

/* Channel chan of dev, or NULL; on the data path, hence inline. */
static inline struct kup_chan *kup_dev_chan(struct kup_dev *dev,
					    unsigned int chan)
{
	if (chan >= dev->nchan)
		return NULL;
	return &dev->chans[array_index_nospec(chan, dev->nchan)];
}

struct kup_dev *__kup_dev_create(const char *name, unsigned int nchan,
				 unsigned int buf_pages, bool fixed);
bool kup_should_stop(void);

/* chan.c: the user-side ioctls of the turn protocol */
int kup_chan_wake(struct kup_chan *ch);
int kup_chan_set_eventfd(struct kup_chan *ch, u32 fd);
int kup_chan_wait_user(struct kup_chan *ch);
bool kup_chan_user_turn(struct kup_chan *ch);
bool kup_chan_steal_held(struct kup_chan *ch, struct kup_region *r);

#endif /* _KUP_DEVICE_H */
