// SPDX-License-Identifier: GPL-2.0
/*
 * kup_hello: the smallest kup client module, a template for your own.
 * It creates /dev/kup_hello with one channel; a process that attaches it
 * gets "hello" (the kernel holds the first turn), then each message it
 * sends comes back prefixed with "hello, ". Ping-pong channels only: on a
 * pipelined one the process holds the first turn, the greeting fails
 * and the session ends.
 *
 * Built against an installed kup: see README.md next to this file.
 */

#include <linux/err.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>

#include <linux/kup.h>

static struct kup_dev *hello_dev;
static struct task_struct *hello_thread;

/*
 * Serve one attachment of chan until the process goes away. buf holds
 * PAGE_SIZE bytes, the device's largest buffer (kup_dev_create() below).
 */
static void hello_session(unsigned int chan, char *buf)
{
	static const char hi[] = "hello, ";
	ssize_t size = kup_chan_buf_size(hello_dev, chan);
	const void *data;
	ssize_t len;
	size_t n;

	/* The process chose its buffer size, at most the device's. */
	if (size < (ssize_t)sizeof(hi) || size > PAGE_SIZE)
		goto out;
	if (kup_send(hello_dev, chan, "hello", 5, 0))
		goto out;
	while (!kthread_should_stop()) {
		len = kup_recv(hello_dev, chan, &data, 0);
		if (len < 0)
			break;
		/*
		 * data is the process's memory, which it may change at any
		 * time: copy it once, then use the copy only.
		 */
		n = min_t(size_t, len, size - (sizeof(hi) - 1));
		memcpy(buf, hi, sizeof(hi) - 1);
		memcpy(buf + sizeof(hi) - 1, data, n);
		if (kup_send(hello_dev, chan, buf, sizeof(hi) - 1 + n, 0))
			break;
	}
out:
	kup_release(hello_dev, chan);
	kup_end_session(hello_dev, chan);
}

static int hello_fn(void *arg)
{
	char *buf = kmalloc(PAGE_SIZE, GFP_KERNEL);
	int chan;

	while (!kthread_should_stop()) {
		chan = kup_wait_channel(hello_dev, 0);
		if (chan >= 0 && buf)
			hello_session(chan, buf);
		else if (chan >= 0)
			kup_end_session(hello_dev, chan);
		else if (chan != -EINTR)	/* shut down: wait for the stop */
			schedule_timeout_interruptible(HZ / 10);
	}
	kfree(buf);
	return 0;
}

static int __init hello_init(void)
{
	hello_dev = kup_dev_create("kup_hello", 1, 1);
	if (IS_ERR(hello_dev))
		return PTR_ERR(hello_dev);
	hello_thread = kthread_run(hello_fn, NULL, "kup_hello");
	if (IS_ERR(hello_thread)) {
		kup_dev_destroy(hello_dev);
		return PTR_ERR(hello_thread);
	}
	return 0;
}

static void __exit hello_exit(void)
{
	kup_dev_shutdown(hello_dev);	/* fails every wait, wakes them */
	kthread_stop(hello_thread);
	kup_dev_destroy(hello_dev);
}

module_init(hello_init);
module_exit(hello_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kup client template: a hello service on /dev/kup_hello");
MODULE_VERSION("1.0");
/*
 * kup exports its API in the symbol namespace KUP. Linux 6.13 made the
 * namespace a string; Kbuild tests which form these headers take.
 */
#ifdef KUP_HELLO_NS_IDENT
MODULE_IMPORT_NS(KUP);
#else
MODULE_IMPORT_NS("KUP");
#endif
