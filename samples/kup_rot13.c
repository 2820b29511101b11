// SPDX-License-Identifier: GPL-2.0
/*
 * kup_rot13: a second, independent kup client, written only with the
 * FreeBSD KUP names (kupdev_*), as a KUP client module would be.
 *
 * /dev/kup_rot13 has nchan channels of one page. For each attached
 * channel a worker passes the first turn to the process, then answers
 * every NUL-terminated string with its ROT13, NUL-terminated.
 *
 * Its service loop is its own, as a KUP client's would be, instead of
 * kup_workers_start() (a native kup call), but it stops in the same order
 * (rot13_stop_threads()), and every wait of its threads is bounded.
 */

#include <linux/atomic.h>
#include <linux/delay.h>
#include <linux/kthread.h>
#include <linux/kup.h>
#include <linux/minmax.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/wait.h>

#define ROT13_PAGES	1

static unsigned int nchan = 4;
module_param(nchan, uint, 0444);
MODULE_PARM_DESC(nchan, "Channels of /dev/kup_rot13");

struct rot13_worker {
	struct task_struct *task;
	int chan;
	atomic_t attached;
	wait_queue_head_t wq;
	char *buf;
};

/*
 * For the selftests only: with test_stall set, a worker stops (counted in
 * test_stalled) until test_resume changes, at most 60 s: after taking a
 * message and releasing it (bit 0), and before releasing it (bit 1).
 * test_accepted counts the attachments kupdev_wait_channel() reported.
 */
#define ROT13_STALL_SEND	BIT(0)	/* released, before the answer */
#define ROT13_STALL_HELD	BIT(1)	/* received, before the release */
static unsigned int test_stall;
module_param(test_stall, uint, 0644);
MODULE_PARM_DESC(test_stall, "Selftests: stop before each answer (1), before each release (2), both (3), until test_resume changes");
static unsigned int test_accepted;
module_param(test_accepted, uint, 0444);
MODULE_PARM_DESC(test_accepted, "Selftests: attachments reported to the acceptor");
static unsigned int test_stalled;
module_param(test_stalled, uint, 0444);
MODULE_PARM_DESC(test_stalled, "Selftests: answers stopped by test_stall");
static unsigned int test_resume;
module_param(test_resume, uint, 0644);
MODULE_PARM_DESC(test_resume, "Selftests: change it to resume a stopped answer");

static struct kupdev_softc *rot13_sc;
static struct task_struct *rot13_acceptor;
static struct rot13_worker *rot13_workers;

static char rot13(char c)
{
	if ((c >= 'a' && c <= 'm') || (c >= 'A' && c <= 'M'))
		return c + 13;
	if ((c >= 'n' && c <= 'z') || (c >= 'N' && c <= 'Z'))
		return c - 13;
	return c;
}

static void rot13_stall(void)
{
	unsigned int seen = READ_ONCE(test_resume), i;

	WRITE_ONCE(test_stalled, test_stalled + 1);
	for (i = 0; i < 3000 && READ_ONCE(test_resume) == seen &&
	     !kthread_should_stop(); i++)
		msleep(20);
}

static void rot13_serve(struct rot13_worker *w)
{
	const size_t size = ROT13_PAGES * PAGE_SIZE;
	size_t len, i;
	char *data;

	/* The kernel holds the first turn: give it to the process. */
	kupdev_pass(rot13_sc, w->chan);
	for (;;) {
		data = kupdev_receive(rot13_sc, w->chan);
		if (!data)
			return;
		/*
		 * The message is followed by a NUL, and is the kernel's own
		 * copy (kupdev_receive()): read up to the NUL, as KUP clients
		 * do, and keep room for ours.
		 */
		len = min(strlen(data), size - 1);
		memcpy(w->buf, data, len);
		if (READ_ONCE(test_stall) & ROT13_STALL_HELD)
			rot13_stall();
		kupdev_unlock_channel(rot13_sc, w->chan);
		for (i = 0; i < len; i++)
			w->buf[i] = rot13(w->buf[i]);
		w->buf[len] = '\0';
		if (READ_ONCE(test_stall) & ROT13_STALL_SEND)
			rot13_stall();
		if (kupdev_send(rot13_sc, w->buf, len + 1, w->chan))
			return;
	}
}

static int rot13_worker_fn(void *arg)
{
	struct rot13_worker *w = arg;

	while (!kthread_should_stop()) {
		wait_event_interruptible_timeout(w->wq,
						 atomic_read(&w->attached) ||
						 kthread_should_stop(), 5 * HZ);
		if (kthread_should_stop())
			break;
		if (!atomic_add_unless(&w->attached, -1, 0))
			continue;
		/* A failed kupdev call ended the session itself. */
		rot13_serve(w);
		kupdev_notify(rot13_sc);	/* the channel is free again */
	}
	return 0;
}

static int rot13_acceptor_fn(void *arg)
{
	int chan;

	while (!kthread_should_stop()) {
		chan = kupdev_wait_channel(rot13_sc);
		if (chan == -ESHUTDOWN)
			break;
		if (chan < 0 || chan >= nchan)
			continue;
		WRITE_ONCE(test_accepted, test_accepted + 1);
		atomic_inc(&rot13_workers[chan].attached);
		wake_up(&rot13_workers[chan].wq);
	}
	while (!kthread_should_stop())
		schedule_timeout_interruptible(HZ);
	return 0;
}

/*
 * The order of kup_workers_stop(), with what the FreeBSD API has: it has
 * no shutdown call, so kthread_stop() is what makes a blocked kupdev call
 * return (with -EINTR). The acceptor first, so that no attachment is
 * handed to a stopped worker; then the workers; kupdev_unload() after.
 */
static void rot13_stop_threads(void)
{
	unsigned int i;

	if (rot13_acceptor)
		kthread_stop(rot13_acceptor);
	for (i = 0; i < nchan; i++) {
		if (rot13_workers[i].task)
			kthread_stop(rot13_workers[i].task);
		kfree(rot13_workers[i].buf);
	}
}

static int __init rot13_init(void)
{
	unsigned int i;
	int ret = -ENOMEM;

	if (!nchan || nchan > KUP_MAX_CHANNELS)
		return -EINVAL;
	rot13_workers = kcalloc(nchan, sizeof(*rot13_workers), GFP_KERNEL);
	if (!rot13_workers)
		return -ENOMEM;
	rot13_sc = kupdev_create("kup_rot13", ROT13_PAGES, nchan);
	if (!rot13_sc)
		goto err_free;

	for (i = 0; i < nchan; i++) {
		struct rot13_worker *w = &rot13_workers[i];
		struct task_struct *t;

		w->chan = i;
		init_waitqueue_head(&w->wq);
		w->buf = kmalloc(ROT13_PAGES * PAGE_SIZE, GFP_KERNEL);
		if (!w->buf)
			goto err_stop;
		t = kthread_run(rot13_worker_fn, w, "kup_rot13/%u", i);
		if (IS_ERR(t)) {
			ret = PTR_ERR(t);
			goto err_stop;
		}
		w->task = t;
	}
	rot13_acceptor = kthread_run(rot13_acceptor_fn, NULL, "kup_rot13/acc");
	if (IS_ERR(rot13_acceptor)) {
		ret = PTR_ERR(rot13_acceptor);
		rot13_acceptor = NULL;
		goto err_stop;
	}
	return 0;

err_stop:
	rot13_stop_threads();
	kupdev_unload(rot13_sc);
err_free:
	kfree(rot13_workers);
	return ret;
}

static void __exit rot13_exit(void)
{
	rot13_stop_threads();
	kupdev_unload(rot13_sc);
	kfree(rot13_workers);
}

module_init(rot13_init);
module_exit(rot13_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("The kup maintainers");
MODULE_IMPORT_NS("KUP");
MODULE_DESCRIPTION("kup ROT13 service written with the FreeBSD KUP API");
MODULE_VERSION(KUP_VERSION);
