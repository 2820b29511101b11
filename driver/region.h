/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _KUP_REGION_H
#define _KUP_REGION_H

#include <linux/irq_work.h>
#include <linux/refcount.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <uapi/linux/kup.h>

struct kup_chan;
struct kup_file;
struct mm_struct;
struct pid;
struct page;
struct user_struct;

/* The kernel's own state of one slot. */
struct kup_kslot {
	u32 kturn;		/* turn value while the kernel holds the turn */
	bool consumed;		/* the message of this kernel turn was read */
};

/*
 * A user region pinned and mapped into the kernel. The pointers below are
 * computed by the kernel from its own layout and never re-read from the
 * region. The kernel-side protocol state (kslots, kcur) lives here, in
 * kernel memory, where the process cannot change it.
 */
struct kup_region {
	refcount_t ref;
	atomic_t inflight;		/* kernel calls using the region now */
	struct rcu_work free_work;
	/* Wake-ups of the process deferred from any context (irq_work) */
	struct irq_work wake_work;

	struct page **pages;
	unsigned long npages;
	struct mm_struct *mm;		/* mmgrab()ed: the attaching process */
	struct user_struct *user;	/* charged for RLIMIT_MEMLOCK, or NULL */
	struct pid *pid;		/* the attaching process (its tgid) */
	void *vaddr;

	/* Set at attach, under the device's lock, before it is published. */
	u64 gen;			/* which attachment of the channel */
	struct kup_file *owner;		/* the file it was attached through */
	struct kup_chan *ch;		/* the channel (trace events) */
	wait_queue_head_t *uwq;		/* KUP_IOC_WAIT sleepers (channel's) */
	wait_queue_head_t *pollq;	/* poll on the owner's file */

	struct kup_region_hdr *hdr;
	struct kup_kstate *ks;
	struct kup_ustate *us;
	struct kup_slot *slots;
	u8 *to_kernel;		/* nslots buffers of buf_size */
	u8 *to_user;
	u32 buf_size;
	u32 nslots;

	struct kup_kslot *kslots;
	u32 kcur;		/* the slot the kernel works on: round-robin */
	u32 spin_cur;		/* adaptive spin budget of kernel waiters */
	u32 error;		/* positive errno once the channel broke */
	u64 uwait_wakeups;	/* private copies of the kstate counters */
	u64 kwait_wakeups;
	struct eventfd_ctx __rcu *evfd;	/* KUP_IOC_EVENTFD */
	bool dead;		/* detached: every kernel call fails */
};

/* Slot i of r: slots are a line apart. */
static inline struct kup_slot *kup_slot(struct kup_region *r, u32 i)
{
	return (void *)r->slots + (size_t)i * KUP_LINE_SIZE;
}

static inline u8 *kup_to_kernel(struct kup_region *r, u32 i)
{
	return r->to_kernel + (size_t)i * r->buf_size;
}

static inline u8 *kup_to_user(struct kup_region *r, u32 i)
{
	return r->to_user + (size_t)i * r->buf_size;
}

struct kup_region *kup_region_pin(u64 addr, u64 len, u32 nslots, u32 want,
				  u32 min_buf, u32 max_buf);
void kup_region_format(struct kup_region *r, u32 chan);
static inline void kup_region_get(struct kup_region *r)
{
	refcount_inc(&r->ref);
}

void kup_region_put(struct kup_region *r);
void kup_region_put_sync(struct kup_region *r);
void kup_region_set_state(struct kup_region *r, u32 state, u32 error);
void kup_region_shutdown(struct kup_region *r);
int kup_region_break(struct kup_region *r, int err);
void kup_region_kill(struct kup_region *r);
void kup_region_put_killed(struct kup_region *r);
void kup_region_wake_user(struct kup_region *r, bool defer);
int kup_region_set_eventfd(struct kup_region *r, u32 fd);

int kup_region_init(void);
void kup_region_exit(void);

#endif /* _KUP_REGION_H */
