/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _KUP_DEVICE_H
#define _KUP_DEVICE_H

#include <linux/irq_work.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/miscdevice.h>
#include <linux/mutex.h>
#include <linux/nospec.h>
#include <linux/rcupdate.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <uapi/linux/kup.h>

struct dentry;
struct kup_region;

/* One open file of a kup device. */
struct kup_file {
	struct kup_dev *dev;
	struct list_head node;		/* on dev->files */
	u64 notify_seen;		/* notify_count acknowledged by INFO */
	/*
	 * The one wait queue poll() registers: woken by passes to an armed
	 * channel of this file, attach, detach, breakage, shutdown, notify.
	 */
	wait_queue_head_t poll_wq;
};

struct kup_chan {
	struct kup_dev *dev;
	u32 index;
	/*
	 * Attached region; written under dev->lock, read under RCU. Its
	 * owner, gen and wait queues are set before it is published.
	 */
	struct kup_region __rcu *region;
	u64 gen_next;			/* under dev->lock */
	/*
	 * The attachment (region->gen) the client works on, or 0: set by
	 * kup_wait_channel() when it reports the channel, cleared only when
	 * the client ends the session (kup_end_session(), or kupdev.c's
	 * calls when they fail), after its holds. Data calls work only on
	 * this attachment (see chan.c).
	 */
	u64 bound;
	/*
	 * The region of the last hold (kup_recv(), kup_send_buf()), with a
	 * reference kept from one message to the next; holding: how many
	 * messages (or a send buffer) of it the client holds now. See
	 * kup_hold() in chan.c.
	 */
	struct kup_region *held;
	u32 holding;
	/* The hold includes kup_send_buf()'s buffer, for kup_send_commit(). */
	bool sending;
	wait_queue_head_t kwq;		/* kernel waiters for the turn */
	wait_queue_head_t uwq;		/* user waiters (KUP_IOC_WAIT) */
	/* Kernel waiters' spin budget in ns; KUP_SPIN_DEV: the device's. */
	u32 spin_ns;
};

#define KUP_SPIN_DEV		U32_MAX

struct kup_dev {
	struct kref ref;
	struct miscdevice misc;
	char name[KUP_NAME_MAX];
	u32 nchan;
	u32 max_buf;			/* bytes per buffer, at most */
	u32 min_buf;			/* bytes per buffer, at least */
	u32 spin_ns;			/* kernel waiters' spin budget, ns */
	bool dead;			/* shut down: READ_ONCE/WRITE_ONCE */
	/*
	 * Shut down, and every region says so (KUP_STATE_SHUTDOWN): poll
	 * reports EPOLLHUP. smp_store_release()/smp_load_acquire().
	 */
	bool hup;
	bool registered;
	struct list_head node;		/* on kup_devs while registered */
	struct dentry *debugfs;		/* kup/<name>/ in debugfs, or an error */
	struct mutex lock;		/* attach, detach, shutdown */
	/*
	 * A channel's region pointer and its pending bit change together
	 * under bind_lock (attach, detach), and a pending bit becomes the
	 * binding under it (kup_wait_channel()).
	 */
	raw_spinlock_t bind_lock;
	wait_queue_head_t attach_wq;	/* kup_wait_channel() */
	spinlock_t files_lock;
	struct list_head files;		/* open files, for their poll_wq */
	/* kup_notify() and a session's end, from any context */
	struct irq_work kick_work;
	unsigned long kick;		/* KUP_KICK_* bits for kick_work */
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
/* kup_dev_kick(): what to wake */
#define KUP_KICK_ATTACH		0	/* kup_wait_channel() */
#define KUP_KICK_FILES		1	/* every poller of the device */
void kup_dev_kick(struct kup_dev *dev, unsigned int what);

#endif /* _KUP_DEVICE_H */
