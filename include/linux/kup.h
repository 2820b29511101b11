/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kup: kernel API for client modules.
 *
 * A client creates a device, /dev/<name>, with a number of channels. A
 * process opens the device and attaches a region of its own memory to a
 * channel; from then on the client and the process exchange messages
 * through that memory, the client with the calls below, the process with
 * lib/kup.h, and the process makes no system call to do it.
 *
 *	dev = kup_dev_create("mydev", 4, 1);	// 4 channels, 1-page buffers
 *	chan = kup_wait_channel(dev, 0);	// a process attached chan
 *	kup_send(dev, chan, "hi", 2, 0);	// the kernel holds the 1st turn
 *	len = kup_recv(dev, chan, &data, 0);	// the process answered
 *	...use data[0..len)...
 *	kup_release(dev, chan);
 *	...					// until a call fails
 *	kup_end_session(dev, chan);		// the next attach may come
 *	...
 *	kup_dev_shutdown(dev);			// wakes and fails every waiter
 *	kthread_stop(...);			// stop the threads that use dev
 *	kup_dev_destroy(dev);
 *
 * Or let kup run that loop, one kthread per channel, and write only what
 * a session does (see kup_workers_start() in driver/workers.c):
 *
 *	ws = kup_workers_start(dev, my_session, arg, "mydev");
 *	...
 *	kup_workers_stop(ws);			// shutdown, threads stopped
 *	kup_dev_destroy(dev);
 *
 * Symbol namespace: every call below is exported in the namespace KUP
 * (EXPORT_SYMBOL_NS_GPL). A client module imports it, in mainline's
 * spelling (Linux 6.13 and later; driver/compat.h gives older kernels the
 * same spelling):
 *
 *	MODULE_IMPORT_NS("KUP");
 *
 * Sessions: kup_wait_channel() reports each attachment once and starts a
 * session on it; the data calls on a channel work on the attachment of its
 * session only. When the process detaches (or dies, or breaks the
 * protocol), they fail with -ENOTCONN (-EPROTO, -EBADMSG), even if the
 * channel has been attached again meanwhile. The session lasts until the
 * thread serving it calls kup_end_session() (once per session, whatever
 * ended it; a process still attached then sees its channel broken with
 * ECONNRESET, or shut down with ESHUTDOWN once the device was shut down);
 * only then does kup_wait_channel() report the channel's
 * next attachment. So nothing a thread does for one attachment, however
 * late, reaches the next one, even when one thread accepts channels and
 * others serve them. The FreeBSD-compatible calls end the session
 * themselves when one fails with -ENOTCONN, -EPROTO or -EBADMSG; a kupdev
 * call after that belongs to the next attachment.
 *
 * Contexts: kup_dev_create(), kup_dev_destroy(), kup_dev_shutdown(),
 * kup_workers_start(), kup_workers_stop() and every call whose flags lack
 * KUP_NONBLOCK (kup_wait_channel(dev, 0) included) may sleep and need
 * process context, for example a kthread or a workqueue; no particular
 * process is needed. With KUP_NONBLOCK,
 * kup_send(), kup_send_batch(), kup_pass(), kup_recv(), kup_recv_batch(),
 * kup_send_buf() and kup_serve(), and always kup_release(),
 * kup_end_session(), kup_send_commit(), kup_chan_buf_size(),
 * kup_chan_slots() and kup_notify(), never sleep, take no lock that a
 * wait-queue wake-up takes, and may be called from any context: timers,
 * softirqs, hard interrupts (also on PREEMPT_RT), tracepoints; their
 * wake-ups of the process are deferred to an irq_work.
 * kup_wait_channel(KUP_NONBLOCK) may be called from any context but hard
 * interrupts.
 *
 * One context at a time drives the kernel side of a channel; different
 * channels may be driven concurrently without any locking.
 *
 * Pipelined channels (a process may attach with several slots): the
 * process holds the first turn of every slot; kup_recv() takes the next
 * slot in round-robin order and kup_send()/kup_pass() answer on that same
 * slot, then move on (-EBUSY if its message was not received: a reply
 * never destroys a message unread). A loop of recv + send drains a whole
 * batch without sleeping; kup_recv_batch() takes every message waiting at
 * once, and KUP_MORE on all replies but the last makes one wake-up check
 * per batch (kup_send_batch() sends them all in one call).
 *
 * kup_serve() is the fast path of a thread that serves a channel: a
 * handler, which must not sleep, answers each message inside one call,
 * with one wake-up check per run of messages. kup_serve_inline() is the
 * same loop compiled with the client's handler, without an indirect call
 * per message.
 *
 * Data returned by kup_recv() lives in memory the process can write at any
 * time: copy what you validate before you act on it. It stays valid, and
 * the process's pages stay pinned, until the hold ends: a successful
 * kup_send(), kup_pass() or kup_send_commit(), or kup_release(). A call
 * that fails (for example with -ENOTCONN when the process detached) does
 * not end it: call kup_release() when the session is over.
 *
 * Errors (negative errno): -ENOTCONN no attachment in this session (the
 * process detached or died, or kup_wait_channel() has not reported the
 * channel yet), -ESHUTDOWN the device was shut down, -EAGAIN KUP_NONBLOCK
 * and not our turn, -EDEADLK waiting would never end (we hold the turn and
 * already consumed its message), -EBUSY a pipelined channel's reply with
 * no received message to answer on its slot, -EMSGSIZE message larger
 * than the buffer, -EPROTO/-EBADMSG the process broke the protocol
 * (channel now broken), -EINTR a signal or kthread_stop(), -EINVAL bad
 * channel or argument.
 */
#ifndef _LINUX_KUP_H
#define _LINUX_KUP_H

#include <linux/limits.h>
#include <linux/types.h>
#include <uapi/linux/kup.h>

struct kup_dev;

/*
 * Flags of the data calls, defined in the uapi header with the same values
 * as lib/kup.h's: KUP_NONBLOCK fails with -EAGAIN instead of waiting.
 * KUP_MORE on kup_send(), kup_pass(): another reply of the same batch
 * follows at once; skip the wake-up check, which the last reply (without
 * KUP_MORE) makes for the whole batch. A reply with KUP_MORE must be
 * followed by one without, or a process that sleeps waiting for it is not
 * woken. Ignored on ping-pong channels.
 */

/* A message received by kup_recv_batch(). */
struct kup_msg {
	const void *data;
	size_t len;
};

/* Limits of kup_dev_create() */
#define KUP_MAX_CHANNELS	1024U
#define KUP_MAX_BUF_PAGES	4096U
/* kup_dev_set_chan_spin_us(): the channel follows the device's budget */
#define KUP_SPIN_US_DEV		UINT_MAX

struct kup_dev *kup_dev_create(const char *name, unsigned int nchan,
			       unsigned int buf_pages);
void kup_dev_shutdown(struct kup_dev *dev);
void kup_dev_destroy(struct kup_dev *dev);
unsigned int kup_dev_nchan(const struct kup_dev *dev);
ssize_t kup_chan_buf_size(struct kup_dev *dev, unsigned int chan);
int kup_chan_slots(struct kup_dev *dev, unsigned int chan);
void kup_dev_set_spin_us(struct kup_dev *dev, unsigned int usecs);
int kup_dev_set_chan_spin_us(struct kup_dev *dev, unsigned int chan,
			     unsigned int usecs);

int kup_wait_channel(struct kup_dev *dev, unsigned int flags);
void kup_notify(struct kup_dev *dev);

int kup_send(struct kup_dev *dev, unsigned int chan, const void *data,
	     size_t len, unsigned int flags);
int kup_send_batch(struct kup_dev *dev, unsigned int chan,
		   const struct kup_msg *msgs, unsigned int n,
		   unsigned int flags);
int kup_pass(struct kup_dev *dev, unsigned int chan, unsigned int flags);
ssize_t kup_recv(struct kup_dev *dev, unsigned int chan, const void **data,
		 unsigned int flags);
int kup_recv_batch(struct kup_dev *dev, unsigned int chan,
		   struct kup_msg *msgs, unsigned int max, unsigned int flags);
void kup_release(struct kup_dev *dev, unsigned int chan);
void kup_end_session(struct kup_dev *dev, unsigned int chan);

/*
 * kup_serve(): a handler answers each message inside one call, in an RCU
 * read-side critical section: it must not sleep, nor call kup on its own
 * channel, and on other channels only with KUP_NONBLOCK (see
 * driver/serve.c). What it returns:
 */
#define KUP_SERVE_NEXT		0	/* send *reply, serve the next */
#define KUP_SERVE_STOP		1	/* send *reply, return */
#define KUP_SERVE_HOLD		2	/* return, the message held */

typedef int (*kup_serve_fn)(void *arg, const struct kup_msg *msg,
			    struct kup_msg *reply);

int kup_serve(struct kup_dev *dev, unsigned int chan, kup_serve_fn fn,
	      void *arg, unsigned int flags);

/* Messages kup_serve() takes at once from a pipelined channel. */
#define KUP_SERVE_BATCH		16

struct kup_chan;
struct kup_region;

/*
 * The state of kup_serve_inline()'s loop, on the caller's stack. kup.ko's
 * own: a client reads only msgs[], through the handler's argument.
 */
struct kup_serve_ctx {
	struct kup_dev *dev;
	struct kup_chan *ch;
	struct kup_region *r;
	unsigned int flags;
	unsigned int since;
	int err;
	int n;
	int next;
	bool more;
	u64 done;
	struct kup_msg msgs[KUP_SERVE_BATCH];
};

void kup_serve_begin(struct kup_serve_ctx *c, struct kup_dev *dev,
		     unsigned int chan, unsigned int flags) __acquires(RCU);
int kup_serve_take(struct kup_serve_ctx *c) __must_hold(RCU);
int kup_serve_answer(struct kup_serve_ctx *c, int i, int act,
		     const struct kup_msg *reply) __must_hold(RCU);
int kup_serve_end(struct kup_serve_ctx *c) __releases(RCU);

/**
 * kup_serve_inline() - kup_serve(), compiled with the caller's handler
 * @dev: the device
 * @chan: channel index
 * @fn: the handler, as for kup_serve(); a function the compiler sees, so
 *	that it is inlined here and a message costs no indirect call (a
 *	retpoline on many hosts)
 * @arg: passed to @fn
 * @flags: as kup_serve()
 *
 * The same loop as kup_serve(), with the same rules for @fn and the same
 * result, built from kup.ko's steps: kup_serve_begin(), kup_serve_take()
 * (wait for messages and take them), kup_serve_answer() (send @fn's reply
 * or hold the message) and kup_serve_end(). The steps run inside one RCU
 * read-side critical section, as kup_serve() does.
 *
 * Return: as kup_serve().
 */
static __always_inline int kup_serve_inline(struct kup_dev *dev,
					    unsigned int chan,
					    kup_serve_fn fn, void *arg,
					    unsigned int flags)
{
	int act = KUP_SERVE_NEXT, n, i;
	struct kup_serve_ctx c;

	kup_serve_begin(&c, dev, chan, flags);
	while (act == KUP_SERVE_NEXT && (n = kup_serve_take(&c)) > 0) {
		for (i = 0; i < n && act == KUP_SERVE_NEXT; i++) {
			struct kup_msg reply = c.msgs[i];

			act = fn(arg, &c.msgs[i], &reply);
			act = kup_serve_answer(&c, i, act, &reply);
		}
	}
	return kup_serve_end(&c);
}

/* Zero-copy send: write up to *size bytes in place, then commit. */
void *kup_send_buf(struct kup_dev *dev, unsigned int chan, size_t *size,
		   unsigned int flags);
int kup_send_commit(struct kup_dev *dev, unsigned int chan, size_t len);

/*
 * The service loop: an acceptor kthread hands each attachment to its
 * channel's worker kthread, which calls the session function, then
 * kup_end_session() and kup_notify() (not after -ESHUTDOWN). The session
 * function returns 0 or the errno that ended the session, once a kup call
 * fails or kthread_should_stop(). kup_workers_stop() shuts the device
 * down, stops the acceptor, lets the sessions end (10 s at most), stops
 * the workers; then kup_dev_destroy() the device.
 */
struct kup_workers;

typedef int (*kup_session_fn)(struct kup_dev *dev, unsigned int chan,
			      void *arg);

struct kup_workers *kup_workers_start(struct kup_dev *dev,
				      kup_session_fn session, void *arg,
				      const char *name);
void kup_workers_stop(struct kup_workers *ws);
u64 kup_workers_accepted(const struct kup_workers *ws);

/*
 * The FreeBSD KUP names and signatures (kupdev/kupdev.h), so that KUP
 * client modules build unchanged. Sizes are in pages; channel ids are int.
 * kupdev_create() returns NULL on failure; kupdev_receive() returns NULL
 * on failure and blocks until the process passes the turn. KUP has no
 * message length: kupdev_receive() returns a copy of the message in a
 * kernel buffer of the channel (the process cannot write it), always
 * followed by a NUL, valid until the channel's next kupdev_receive().
 */
struct kupdev_softc;

struct kupdev_softc *kupdev_create(const char *name, size_t size,
				   size_t chan_cnt);
int kupdev_wait_channel(struct kupdev_softc *sc);
int kupdev_unload(struct kupdev_softc *sc);
void kupdev_notify(struct kupdev_softc *sc);
int kupdev_send(struct kupdev_softc *sc, void *data, size_t len, int chan_id);
void *kupdev_receive(struct kupdev_softc *sc, int chan_id);
void kupdev_unlock_channel(struct kupdev_softc *sc, int chan_id);
void kupdev_pass(struct kupdev_softc *sc, int chan_id);

#endif /* _LINUX_KUP_H */
