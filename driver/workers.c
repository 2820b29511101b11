// SPDX-License-Identifier: GPL-2.0
/*
 * The service loop of a kup client, written once: one kernel thread per
 * channel serves the sessions of that channel, and an acceptor thread
 * hands each attachment kup_wait_channel() reports to its channel's
 * thread. The client supplies what one session does; the loop ends every
 * session (kup_end_session()), tells pollers the channel is free again
 * (kup_notify()) and stops everything in the one order that lets every
 * blocked call return. Built on the exported API, but for ending exactly
 * the session it served (__kup_session(), __kup_session_end() in chan.c).
 */

#include <linux/atomic.h>
#include <linux/err.h>
#include <linux/kthread.h>
#include <linux/kup.h>
#include <linux/module.h>
#include <linux/overflow.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/wait.h>

#include "chan.h"

/*
 * kup_workers_stop() lets the sessions end on their own -ESHUTDOWN for at
 * most this long before it stops the threads (a session busy outside kup
 * then sees kthread_should_stop() and kup's waits return -EINTR). Idle
 * threads sleep without a timeout: a hand-over and kthread_stop() wake
 * them.
 */
#define KUP_WORKERS_DRAIN	(10 * HZ)

struct kup_worker {
	struct kup_workers *ws;
	struct task_struct *task;
	unsigned int chan;
	atomic_t attached;		/* attachments handed, not yet served */
	wait_queue_head_t wq;
};

struct kup_workers {
	struct kup_dev *dev;
	kup_session_fn session;
	void *arg;
	struct task_struct *acceptor;
	atomic64_t accepted;
	/* attachments handed to a worker whose session has not ended */
	atomic_t busy;
	wait_queue_head_t idle_wq;
	unsigned int nchan;
	struct kup_worker workers[];		/* nchan of them */
};

static bool kup_worker_ready(struct kup_worker *wk)
{
	return atomic_read(&wk->attached) || kthread_should_stop();
}

/* Serve one session of wk->chan, then end it, whatever ended it. */
static void kup_worker_serve(struct kup_worker *wk)
{
	struct kup_workers *ws = wk->ws;
	/* The session the acceptor handed over: the one to end, not a later. */
	u64 gen = __kup_session(ws->dev, wk->chan);
	int ret;

	ret = ws->session(ws->dev, wk->chan, ws->arg);
	/*
	 * A failed call may leave a hold: this ends it, and the session. If
	 * @session ended it already and the channel's next attachment was
	 * reported meanwhile, that one is left alone.
	 */
	__kup_session_end(ws->dev, wk->chan, gen);
	/* The channel is free again, unless the device is going away. */
	if (ret != -ESHUTDOWN)
		kup_notify(ws->dev);
	if (atomic_dec_and_test(&ws->busy))
		wake_up_all(&ws->idle_wq);
}

static int kup_worker_fn(void *data)
{
	struct kup_worker *wk = data;

	for (;;) {
		/*
		 * Woken by a hand-over (the acceptor's atomic_inc(), then
		 * wake_up()) and by kthread_stop().
		 */
		wait_event_idle(wk->wq, kup_worker_ready(wk));
		/*
		 * An attachment handed over is served even when stopping:
		 * its session then fails at once (-ESHUTDOWN, -EINTR) and is
		 * ended here, so no channel stays bound to it.
		 */
		if (atomic_add_unless(&wk->attached, -1, 0))
			kup_worker_serve(wk);
		else if (kthread_should_stop())
			break;
	}
	return 0;
}

static int kup_acceptor_fn(void *data)
{
	struct kup_workers *ws = data;
	struct kup_worker *wk;
	int chan;

	while (!kthread_should_stop()) {
		/* Returns on an attach, kup_dev_shutdown() or kthread_stop(). */
		chan = kup_wait_channel(ws->dev, 0);
		if (chan == -ESHUTDOWN)
			break;
		if (chan < 0 || chan >= ws->nchan)
			continue;
		wk = &ws->workers[chan];
		atomic64_inc(&ws->accepted);
		atomic_inc(&ws->busy);
		atomic_inc(&wk->attached);
		wake_up(&wk->wq);
	}
	/* kthread_stop() needs the thread alive: sleep until it comes. */
	for (;;) {
		set_current_state(TASK_IDLE);
		if (kthread_should_stop())
			break;
		schedule();
	}
	__set_current_state(TASK_RUNNING);
	return 0;
}

static void kup_workers_free(struct kup_workers *ws)
{
	unsigned int i;

	for (i = 0; i < ws->nchan; i++)
		if (ws->workers[i].task)
			kthread_stop(ws->workers[i].task);
	kvfree(ws);
}

/**
 * kup_workers_start() - serve every channel of @dev with its own kthread
 * @dev: the device; it must outlive the workers (kup_workers_stop())
 * @session: what one session does, see below
 * @arg: passed to @session
 * @name: the threads are named "<name>/<chan>" and "<name>/acc"
 *
 * Starts one worker kthread per channel of @dev and an acceptor kthread
 * that waits in kup_wait_channel() and hands each attachment it reports to
 * the channel's worker. The worker calls @session(@dev, chan, @arg) for
 * it: the session starts as kup_wait_channel() leaves it (on a ping-pong
 * channel the kernel holds the first turn), and @session serves it until
 * it is over, then returns 0 or the negative errno that ended it. When a
 * kup call fails, @session returns (the error, or 0); it must not end
 * the session and need not kup_release() what it holds: the loop then
 * ends that session itself, as kup_end_session() does (every hold ends,
 * and the channel's next attachment can be reported), and kup_notify() unless
 * @session returned -ESHUTDOWN. @session must also return once
 * kthread_should_stop() is true (kup's own waits then fail with -EINTR),
 * and bound every wait of its own.
 *
 * Sessions of different channels run concurrently, each in its channel's
 * worker; a channel's sessions run one after the other in its worker.
 *
 * Context: process context, may sleep. @session runs in process context
 * (a kthread) and may sleep.
 * Return: the workers, or an ERR_PTR(): -EINVAL, -ENOMEM or the error of
 * kthread_run(). Nothing is left running on failure.
 */
struct kup_workers *kup_workers_start(struct kup_dev *dev,
				      kup_session_fn session, void *arg,
				      const char *name)
{
	unsigned int i, nchan;
	struct kup_workers *ws;
	struct task_struct *t;

	if (IS_ERR_OR_NULL(dev) || !session || !name)
		return ERR_PTR(-EINVAL);
	nchan = kup_dev_nchan(dev);
	ws = kvzalloc(struct_size(ws, workers, nchan), GFP_KERNEL);
	if (!ws)
		return ERR_PTR(-ENOMEM);
	ws->nchan = nchan;
	ws->dev = dev;
	ws->session = session;
	ws->arg = arg;
	init_waitqueue_head(&ws->idle_wq);
	for (i = 0; i < nchan; i++) {
		struct kup_worker *wk = &ws->workers[i];

		wk->ws = ws;
		wk->chan = i;
		init_waitqueue_head(&wk->wq);
	}
	/* The workers first: the acceptor hands attachments to them. */
	for (i = 0; i < nchan; i++) {
		t = kthread_run(kup_worker_fn, &ws->workers[i], "%s/%u", name, i);
		if (IS_ERR(t))
			goto err;
		ws->workers[i].task = t;
	}
	t = kthread_run(kup_acceptor_fn, ws, "%s/acc", name);
	if (IS_ERR(t))
		goto err;
	ws->acceptor = t;
	return ws;

err:
	/* No attachment was accepted: the workers are idle. */
	kup_workers_free(ws);
	return ERR_CAST(t);
}
EXPORT_SYMBOL_NS_GPL(kup_workers_start, "KUP");

/**
 * kup_workers_stop() - shut the device down and stop its workers
 * @ws: from kup_workers_start(); NULL or an error pointer does nothing
 *
 * In this order: kup_dev_shutdown() of the device, so that every blocked
 * call returns -ESHUTDOWN and no attachment is reported any more; stop
 * the acceptor; let the sessions in progress end on their own error (at
 * most 10 s), each followed by its kup_end_session(); stop the workers
 * (kthread_stop(): a session still running then sees
 * kthread_should_stop(), and kup's waits return -EINTR; one handed over
 * and not yet started still runs, to fail and end at once); free @ws. The
 * device stays: destroy it afterwards with kup_dev_destroy().
 *
 * Context: process context, may sleep (up to the 10 s above, plus what
 * @session takes to return once told to stop).
 */
void kup_workers_stop(struct kup_workers *ws)
{
	if (IS_ERR_OR_NULL(ws))
		return;
	kup_dev_shutdown(ws->dev);
	kthread_stop(ws->acceptor);
	wait_event_timeout(ws->idle_wq, !atomic_read(&ws->busy),
			   KUP_WORKERS_DRAIN);
	kup_workers_free(ws);
}
EXPORT_SYMBOL_NS_GPL(kup_workers_stop, "KUP");

/**
 * kup_workers_accepted() - attachments the acceptor has handed over
 * @ws: from kup_workers_start()
 *
 * Counts the attachments kup_wait_channel() reported to the acceptor, for
 * the client's statistics.
 * Context: any.
 * Return: the count since kup_workers_start().
 */
u64 kup_workers_accepted(const struct kup_workers *ws)
{
	return atomic64_read(&ws->accepted);
}
EXPORT_SYMBOL_NS_GPL(kup_workers_accepted, "KUP");
