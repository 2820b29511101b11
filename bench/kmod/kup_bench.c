// SPDX-License-Identifier: GPL-2.0
/*
 * kup_bench: the kernel side of "make bench" (see kup_bench.h).
 *
 * A kup device served by kup's service loop (a kthread per channel,
 * kup_workers_start()), and, for comparison, a
 * misc device whose ioctls are the classic system-call paths into the
 * same module: a copy in and out, and a wait-queue round trip with a
 * kernel thread.
 */

#include <linux/atomic.h>
#include <linux/fs.h>
#include <linux/kthread.h>
#include <linux/kup.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/wait.h>

#include <uapi/linux/kup.h>

#include "kup_bench.h"

#define KB_NCHAN	2
/* Messages taken at once from a pipelined channel. */
#define KB_BATCH	64
#define KB_PAGES	(KB_MAX_BUF / PAGE_SIZE)
/* Bound of one wait of the raw bounce: then the process is gone. */
#define KB_RAW_SPINS	BIT(28)
/* Most round trips one raw request may ask for (the count is user data). */
#define KB_RAW_MAX	10000000U

static unsigned int spin_us = 500;
module_param(spin_us, uint, 0644);
MODULE_PARM_DESC(spin_us, "How long the kernel threads spin before they sleep, in microseconds (read at each attach)");

struct kb_worker {
	unsigned int chan;
	u8 *sink;
	/* A batch: what came, and the answers (too big for the stack). */
	struct kup_msg msgs[KB_BATCH];
	struct kup_msg replies[KB_BATCH];
	u32 acks[KB_BATCH];
	/* kup_serve() leaves other messages held here */
	struct kup_msg held;
	/* this session answers with the batch calls (KB_OP_CALLS) */
	bool calls;
	/* ... with kup_serve(), not kup_serve_inline() (KB_OP_INDIRECT) */
	bool indirect;
};

static struct kup_dev *kb_dev;
static struct kup_workers *kb_ws;
static struct kb_worker kb_workers[KB_NCHAN];

/* The wait-queue round trip: a request counter and an answer counter. */
static struct task_struct *kb_wq_task;
static DECLARE_WAIT_QUEUE_HEAD(kb_wq_kthread);
static DECLARE_WAIT_QUEUE_HEAD(kb_wq_user);
static atomic_t kb_wq_req;
static atomic_t kb_wq_ack;

/* The ioctl path's buffer: allocated once, so the path is only copies. */
static DEFINE_MUTEX(kb_ioctl_lock);
static void *kb_ioctl_buf;

/*
 * Bounce a word with the process, no protocol: the physical limit of a
 * round trip between a user thread and a kernel thread. Each wait is
 * bounded; the word lives in the message buffer we hold.
 */
static void kb_raw(const void *data, u32 count)
{
	u32 *word = (u32 *)(data + KB_RAW_OFF);
	u32 i, spins;

	for (i = 0; i < count; i++) {
		/* R2, pairs with R1 in bench/kup_bench.c (raw_bounce()). */
		for (spins = 0; smp_load_acquire(word) != 2 * i + 1; spins++) {
			if (spins >= KB_RAW_SPINS || kthread_should_stop())
				return;
			cpu_relax();
			if (!(spins & 1023))
				cond_resched();
		}
		/* R3, pairs with R4 in bench/kup_bench.c (raw_bounce()). */
		smp_store_release(word, 2 * i + 2);
	}
}

/*
 * KB_OP_PROTO: answer count more messages with the turn protocol written
 * by hand on the slot's line, without kup's kernel API, the way the raw
 * bounce does without any protocol: what the API costs is the difference.
 * The message came inline (the caller checked its length), so data is
 * the slot's data; had the process lied about that, these stores would
 * still land in its own region. kup's record of the turn is left behind:
 * the session ends here and the process detaches.
 */
static void kb_proto(struct kb_worker *w, const void *data, ssize_t len)
{
	struct kup_slot *slot = container_of((void *)data, struct kup_slot,
					     data);
	u32 turn = READ_ONCE(slot->turn);
	struct kb_raw req;
	u32 i, count, spins;

	memcpy(&req, data, sizeof(req));
	count = min(req.count, KB_RAW_MAX);
	for (i = 0; i <= count; i++) {
		/* P2, pairs with P1 in bench/kup_bench.c (raw_proto()). */
		for (spins = 0; i && smp_load_acquire(&slot->turn) != turn;
		     spins++) {
			if (spins >= KB_RAW_SPINS || kthread_should_stop())
				goto out;
			cpu_relax();
			if (!(spins & 1023))
				cond_resched();
		}
		WRITE_ONCE(slot->len, len);
		WRITE_ONCE(slot->seq, turn + 1);
		WRITE_ONCE(slot->flags, KUP_SLOT_INLINE);
		/* P3, pairs with P4 in bench/kup_bench.c (raw_proto()). */
		smp_store_release(&slot->turn, turn + 1);
		turn += 2;
	}
out:
	kup_release(kb_dev, w->chan);
}

/*
 * The messages kup_serve() leaves: KB_OP_RAW and KB_OP_PROTO bounce by
 * hand, one at a time; KB_OP_CALLS switches to the batch calls,
 * KB_OP_INDIRECT to kup_serve(). Returns
 * 0, 1 when the session is over (KB_OP_PROTO), or an error.
 */
static int kb_by_hand(struct kb_worker *w, const struct kup_msg *m)
{
	u8 op = *(const u8 *)m->data;
	struct kb_raw raw;

	if (op == KB_OP_CALLS || op == KB_OP_INDIRECT) {
		w->calls = op == KB_OP_CALLS;
		w->indirect = op == KB_OP_INDIRECT;
		return kup_send(kb_dev, w->chan, m->data, m->len, 0);
	}
	if (m->len < sizeof(raw) ||
	    (op == KB_OP_RAW && m->len < KB_RAW_OFF + sizeof(u32)))
		return kup_pass(kb_dev, w->chan, 0);
	memcpy(&raw, m->data, sizeof(raw));
	if (op == KB_OP_PROTO) {
		if (m->len > KUP_INLINE_MAX)
			return kup_pass(kb_dev, w->chan, 0);
		kb_proto(w, m->data, m->len);
		return 1;
	}
	kb_raw(m->data, min(raw.count, KB_RAW_MAX));
	return kup_pass(kb_dev, w->chan, 0);
}

static bool kb_batched(const struct kup_msg *m)
{
	u8 op = m->len ? *(const u8 *)m->data : 0;

	return op != KB_OP_RAW && op != KB_OP_PROTO && op != KB_OP_CALLS &&
	       op != KB_OP_INDIRECT;
}

/* The reply to an echo (the message itself) or a sink (its length). */
static struct kup_msg kb_reply(struct kb_worker *w, const struct kup_msg *m,
			       u32 *ack)
{
	struct kup_msg reply = *m;

	if (m->len && *(const u8 *)m->data == KB_OP_SINK) {
		memcpy(w->sink, m->data, m->len);
		*ack = m->len;
		reply.data = ack;
		reply.len = sizeof(*ack);
	}
	return reply;
}

/* kup_serve() handler: echo and sink here, the rest by kb_by_hand(). */
static int kb_handle(void *arg, const struct kup_msg *m,
		     struct kup_msg *reply)
{
	struct kb_worker *w = arg;

	if (!kb_batched(m)) {
		w->held = *m;
		return KUP_SERVE_HOLD;
	}
	*reply = kb_reply(w, m, &w->acks[0]);
	return KUP_SERVE_NEXT;
}

/*
 * Serve one attachment with kup_serve_inline(), after KB_OP_INDIRECT with
 * kup_serve() (to measure what the handler's indirect call costs), or
 * after KB_OP_CALLS with the
 * batch calls: every message waiting is taken at once, and a run of echo
 * and sink messages is answered in one call.
 */
static int kb_serve(struct kb_worker *w)
{
	struct kup_msg *msgs = w->msgs, *replies = w->replies;
	int i, j, n, ret;

	for (;;) {
		if (!w->calls) {
			n = w->indirect ?
			    kup_serve(kb_dev, w->chan, kb_handle, w, 0) :
			    kup_serve_inline(kb_dev, w->chan, kb_handle, w, 0);
			if (n < 0)
				return n;
			ret = kb_by_hand(w, &w->held);
			if (ret)
				return ret < 0 ? ret : 0;
			continue;
		}
		n = kup_recv_batch(kb_dev, w->chan, msgs, KB_BATCH, 0);
		if (n < 0)
			return n;
		for (i = 0; i < n; i = j) {
			for (j = i; j < n && kb_batched(&msgs[j]); j++)
				replies[j - i] = kb_reply(w, &msgs[j],
							  &w->acks[j]);
			if (j > i) {
				ret = kup_send_batch(kb_dev, w->chan, replies,
						     j - i, 0);
				if (ret < 0)
					return ret;
				/* We held every turn: a short batch is garbage. */
				if (ret < j - i)
					return -EPROTO;
				continue;
			}
			ret = kb_by_hand(w, &msgs[i]);
			if (ret)
				return ret < 0 ? ret : 0;
			j = i + 1;
		}
	}
}

/*
 * The session function of kup's service loop, which then ends the
 * session (KB_OP_PROTO: however it ended, by hand included).
 */
static int kb_session(struct kup_dev *dev, unsigned int chan, void *arg)
{
	struct kb_worker *w = (struct kb_worker *)arg + chan;

	w->calls = false;
	w->indirect = false;
	kup_dev_set_spin_us(dev, READ_ONCE(spin_us));
	/* Ping-pong: the kernel holds the first turn; hand it over. */
	if (kup_chan_slots(dev, chan) == 1)
		kup_pass(dev, chan, 0);
	return kb_serve(w);
}

static bool kb_wq_pending(void)
{
	return atomic_read(&kb_wq_req) != atomic_read(&kb_wq_ack) ||
	       kthread_should_stop();
}

static int kb_wq_fn(void *arg)
{
	while (!kthread_should_stop()) {
		wait_event_interruptible(kb_wq_kthread, kb_wq_pending());
		atomic_set(&kb_wq_ack, atomic_read(&kb_wq_req));
		wake_up(&kb_wq_user);
	}
	return 0;
}

static long kb_ioctl_echo(void __user *argp)
{
	struct kb_echo arg;
	void *buf;
	long ret = 0;

	if (copy_from_user(&arg, argp, sizeof(arg)))
		return -EFAULT;
	if (arg.reserved || arg.len > KB_MAX_BUF)
		return -EINVAL;
	mutex_lock(&kb_ioctl_lock);
	buf = kb_ioctl_buf;
	if (copy_from_user(buf, u64_to_user_ptr(arg.buf), arg.len) ||
	    copy_to_user(u64_to_user_ptr(arg.buf), buf, arg.len))
		ret = -EFAULT;
	mutex_unlock(&kb_ioctl_lock);
	return ret;
}

static long kb_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	int req;

	switch (cmd) {
	case KB_IOC_ECHO:
		return kb_ioctl_echo((void __user *)arg);
	case KB_IOC_WQ:
		req = atomic_inc_return(&kb_wq_req);
		wake_up(&kb_wq_kthread);
		if (wait_event_interruptible(kb_wq_user,
					     atomic_read(&kb_wq_ack) == req))
			return -EINTR;
		return 0;
	default:
		return -ENOTTY;
	}
}

static const struct file_operations kb_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = kb_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};

static struct miscdevice kb_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "kup_bench_ioctl",
	.fops = &kb_fops,
	.mode = 0600,
};

static void kb_stop(void)
{
	unsigned int i;

	kup_workers_stop(kb_ws);
	for (i = 0; i < KB_NCHAN; i++)
		kvfree(kb_workers[i].sink);
	if (kb_wq_task)
		kthread_stop(kb_wq_task);
	kvfree(kb_ioctl_buf);
}

static int __init kb_init(void)
{
	unsigned int i;
	int ret = -ENOMEM;

	kb_dev = kup_dev_create("kup_bench", KB_NCHAN, KB_PAGES);
	if (IS_ERR(kb_dev))
		return PTR_ERR(kb_dev);
	kb_ioctl_buf = kvmalloc(KB_MAX_BUF, GFP_KERNEL);
	if (!kb_ioctl_buf)
		goto err;
	for (i = 0; i < KB_NCHAN; i++) {
		struct kb_worker *w = &kb_workers[i];

		w->chan = i;
		w->sink = kvmalloc(KB_MAX_BUF, GFP_KERNEL);
		if (!w->sink)
			goto err;
	}
	kb_ws = kup_workers_start(kb_dev, kb_session, kb_workers, "kup_bench");
	if (IS_ERR(kb_ws)) {
		ret = PTR_ERR(kb_ws);
		kb_ws = NULL;
		goto err;
	}
	kb_wq_task = kthread_run(kb_wq_fn, NULL, "kup_bench/wq");
	if (IS_ERR(kb_wq_task)) {
		ret = PTR_ERR(kb_wq_task);
		kb_wq_task = NULL;
		goto err;
	}
	ret = misc_register(&kb_misc);
	if (ret)
		goto err;
	return 0;

err:
	kb_stop();
	kup_dev_destroy(kb_dev);
	return ret;
}

static void __exit kb_exit(void)
{
	misc_deregister(&kb_misc);
	kb_stop();
	kup_dev_destroy(kb_dev);
}

module_init(kb_init);
module_exit(kb_exit);

MODULE_LICENSE("GPL");
MODULE_IMPORT_NS("KUP");
MODULE_DESCRIPTION("kup benchmark service and the system-call paths to compare with");
MODULE_VERSION(KUP_VERSION);
