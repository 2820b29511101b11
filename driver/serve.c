// SPDX-License-Identifier: GPL-2.0
/*
 * The serve loop of the kernel API: kup_serve(), and the steps that
 * kup_serve_inline() (include/linux/kup.h) compiles with a client's
 * handler. Built on the data calls' context (call.h) and the protocol
 * steps (turn.h).
 */

#include <linux/kup.h>
#include <linux/minmax.h>
#include <linux/module.h>

#include "call.h"

/*
 * Messages kup_serve() answers between two cond_resched() calls, and at
 * most in one call with KUP_NONBLOCK (the process could feed it forever).
 */
#define KUP_SERVE_RESCHED	64

/*
 * kup_serve() in steps, for kup_serve_inline() in include/linux/kup.h,
 * which the client compiles with its handler, so that the handler is
 * inlined and a message costs no indirect call. kup_serve() is that same
 * loop with a handler known only at run time. The steps run inside one
 * read-side section, from kup_serve_begin() to kup_serve_end() (see "Data
 * calls" above); c->err keeps the first error, which ends the loop.
 */

/**
 * kup_serve_begin() - start serving a channel (see kup_serve_inline())
 * @c: the serve loop's state, on the caller's stack
 * @dev: the device
 * @chan: channel index
 * @flags: as kup_serve()
 *
 * Enters the read-side section that kup_serve_end() leaves, even when it
 * fails: the failure is then what kup_serve_take() and kup_serve_end()
 * return.
 */
void kup_serve_begin(struct kup_serve_ctx *c, struct kup_dev *dev,
		     unsigned int chan, unsigned int flags)
	__acquires(RCU)
{
	struct kup_chan *ch = NULL;

	c->dev = dev;
	c->flags = flags & KUP_NONBLOCK;
	c->since = 0;
	c->more = false;
	c->done = 0;
	c->n = 0;
	c->next = 0;
	c->r = NULL;
	c->err = kup_call_chan(dev, chan, &ch);
	c->ch = ch;
	rcu_read_lock();
	if (!c->err) {
		c->r = kup_call_region(ch);
		if (!c->r)
			c->err = -ENOTCONN;
	}
}
EXPORT_SYMBOL_NS_GPL(kup_serve_begin, "KUP");

/*
 * kup_serve_take()'s wait: >= 0 once the turn is ours, -EAGAIN for
 * KUP_NONBLOCK when it is not, or an error.
 */
static int kup_serve_wait(struct kup_serve_ctx *c)
	__must_hold(RCU)
{
	unsigned int defer = c->flags ? KUP_DEFER : 0;
	struct kup_region *r = c->r;
	int ret;

	if (c->since >= KUP_SERVE_RESCHED) {
		if (c->flags & KUP_NONBLOCK)
			return -EAGAIN;
		c->since = 0;
		if (c->more)
			kup_kwake(r, defer);
		c->more = false;
		/* On -ENOTCONN r may be gone: more is false now. */
		ret = kup_call_resched(c->ch, r);
		if (ret)
			return ret;
	}
	ret = kup_call_turn(c->dev, r);
	if (ret)
		return ret;
	/* Not ours yet: wake the process for the run so far. */
	if (c->more)
		kup_kwake(r, defer);
	c->more = false;
	if (c->flags & KUP_NONBLOCK)
		return -EAGAIN;
	/* On -ENOTCONN r may be gone: more is false here. */
	ret = kup_spin_kturn(c->ch, r);
	if (!ret)
		ret = kup_sleep_kturn(c->ch, r);
	return ret;
}

/**
 * kup_serve_take() - wait for messages and take them (see
 *	kup_serve_inline())
 * @c: the serve loop's state
 *
 * Return: the number of messages taken into @c->msgs (1 on a ping-pong
 * channel, up to KUP_SERVE_BATCH on a pipelined one), each to be
 * answered with kup_serve_answer() in order; or 0: the loop ends (an
 * error, kept for kup_serve_end(), or with KUP_NONBLOCK nothing more to
 * do now).
 */
int kup_serve_take(struct kup_serve_ctx *c)
	__must_hold(RCU)
{
	int ret;

	/* Messages of the last run still unanswered: the client's bug. */
	if (WARN_ON_ONCE(c->n) && !c->err)
		c->err = -EINVAL;
	ret = c->err ?: kup_serve_wait(c);
	/* 1: the turn was ours; 0: it came while we slept. */
	if (ret >= 0)
		ret = kup_take_run(c->r, c->msgs, KUP_SERVE_BATCH);
	if (ret > 0) {
		c->n = ret;
		c->next = 0;
		return ret;
	}
	c->n = 0;
	if (ret != -EAGAIN)
		c->err = ret;
	return 0;
}
EXPORT_SYMBOL_NS_GPL(kup_serve_take, "KUP");

/**
 * kup_serve_answer() - act on what the handler said about message @i
 * @c: the serve loop's state
 * @i: the message, 0 for the first of those kup_serve_take() took, then
 *	in order
 * @act: what the handler returned (see kup_serve())
 * @reply: the reply the handler left
 *
 * Sends @reply (or holds the message, for KUP_SERVE_HOLD and errors), and
 * with KUP_SERVE_STOP, a hold or an error leaves the messages after @i
 * for the next receive. Replies are passed without a wake-up check, which
 * the next wait or kup_serve_end() makes for the whole run.
 * Return: KUP_SERVE_NEXT to answer the next message, or anything else to
 * end the loop.
 */
int kup_serve_answer(struct kup_serve_ctx *c, int i, int act,
		     const struct kup_msg *reply)
	__must_hold(RCU)
{
	unsigned int defer = c->flags ? KUP_DEFER : 0;
	struct kup_region *r = c->r;
	struct kup_chan *ch = c->ch;
	int rest = c->n - i - 1;

	/*
	 * i comes from the client: each message once, in order, or the loop
	 * ends with nothing more done (a reply goes to the current slot).
	 */
	if (WARN_ON_ONCE(i != c->next || rest < 0 || c->err)) {
		c->err = c->err ?: -EINVAL;
		return -EINVAL;
	}
	if (act >= 0 && act != KUP_SERVE_HOLD && reply->len > r->buf_size)
		act = -EMSGSIZE;
	if (act < 0 || act == KUP_SERVE_HOLD) {
		kup_untake(r, 1, rest);
		kup_hold(ch, r, 1);
		c->n = 0;
		if (act < 0)
			c->err = act;
		return act < 0 ? act : KUP_SERVE_HOLD;
	}
	kup_put_reply(ch, r, reply, KUP_MORE | defer);
	c->more = r->nslots > 1;
	c->done++;
	c->since++;
	/* After the last of the run, no answer is due until the next take. */
	if (++c->next == c->n)
		c->n = 0;
	if (act == KUP_SERVE_STOP) {
		kup_untake(r, 0, rest);
		c->n = 0;
		return KUP_SERVE_STOP;
	}
	return KUP_SERVE_NEXT;
}
EXPORT_SYMBOL_NS_GPL(kup_serve_answer, "KUP");

/**
 * kup_serve_end() - end the serve loop (see kup_serve_inline())
 * @c: the serve loop's state
 *
 * Makes the wake-up check for the last run of replies and leaves the
 * read-side section kup_serve_begin() entered.
 * Return: as kup_serve().
 */
int kup_serve_end(struct kup_serve_ctx *c)
	__releases(RCU)
{
	if (c->more)
		kup_kwake(c->r, c->flags);
	rcu_read_unlock();
	return c->err ?: (int)min_t(u64, c->done, INT_MAX);
}
EXPORT_SYMBOL_NS_GPL(kup_serve_end, "KUP");

/**
 * kup_serve() - answer messages with a handler, inside one call
 * @dev: the device
 * @chan: channel index
 * @fn: the handler, called for each message in turn (see below)
 * @arg: passed to @fn
 * @flags: KUP_NONBLOCK: answer what waits, then return (after some 64
 *	answers even if more wait)
 *
 * The fast path for a thread that serves a channel: the channel and its
 * region are looked up once, and each message costs a wait, a check of
 * the message, @fn and a pass. On a pipelined channel the messages that
 * wait are taken together, and each run of replies makes one wake-up
 * check. kup_serve_inline() is the same loop compiled with the handler,
 * which saves an indirect call per message.
 *
 * @fn(@arg, msg, reply) runs inside an RCU read-side critical section: it
 * must not sleep, nor call kup on this channel; on other channels only
 * with KUP_NONBLOCK (a blocking call would sleep in that section). *reply starts as the
 * message itself, so leaving it alone echoes the message; point it at up
 * to kup_chan_buf_size() bytes
 * (copied before @fn's next call) to answer something else. @fn returns
 * KUP_SERVE_NEXT to send *reply and serve the next message,
 * KUP_SERVE_STOP to send it and return, KUP_SERVE_HOLD to return without
 * answering: the message is then held as after kup_recv(), for
 * kup_send() or kup_pass() to answer (a handler that must sleep does
 * that). A negative errno returns it likewise, message held. Messages
 * taken after the one @fn stopped at are left for the next receive.
 *
 * Return: the number of messages answered (at most INT_MAX), or a
 * negative errno as for kup_recv() (-EDEADLK when a message is already
 * held: answer it first); with KUP_NONBLOCK, 0 when nothing waits.
 */
int kup_serve(struct kup_dev *dev, unsigned int chan, kup_serve_fn fn,
	      void *arg, unsigned int flags)
{
	return kup_serve_inline(dev, chan, fn, arg, flags);
}
EXPORT_SYMBOL_NS_GPL(kup_serve, "KUP");
