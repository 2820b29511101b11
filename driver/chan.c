// SPDX-License-Identifier: GPL-2.0
/*
 * The channel calls of the kernel API (include/linux/kup.h): sessions,
 * the region's lifetime inside a call, holds, waits for the turn, and the
 * calls themselves, built on the protocol steps of turn.h. What the serve
 * loop (serve.c) shares with them is in call.h.
 *
 * Everything read from the region is read once, checked against the
 * kernel's own state (struct kup_region: kslots, buf_size) and only then
 * used. Garbage breaks the channel (KUP_STATE_BROKEN) and is reported to
 * the caller; it never steers an access.
 */

#include <linux/kthread.h>
#include <linux/kup.h>
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/sched/clock.h>
#include <linux/sched/signal.h>
#include <linux/string.h>
#include <linux/time64.h>
#include <linux/wait_bit.h>

#include "call.h"
#include "chan.h"
#include "device.h"
#include "region.h"
#include "trace.h"
#include "turn.h"

/* A kthread told to stop must not sleep again in a kup wait. */
bool kup_should_stop(void)
{
	return (current->flags & PF_KTHREAD) && kthread_should_stop();
}

/*
 * Sessions. The data calls work on one attachment of a channel: the one
 * kup_wait_channel() reported (ch->bound holds its number, region->gen).
 * When that attachment is gone, every call fails with -ENOTCONN, also
 * when the channel has been attached again meanwhile. Only the client
 * ends the session, with kup_end_session() (the FreeBSD-compatible calls
 * do it for their callers when a call fails: kupdev.c); then ch->bound
 * goes back to 0 and kup_wait_channel() may report the next attachment.
 * Nothing else clears ch->bound, and only kup_wait_channel() sets it, from
 * 0: so nothing a kernel thread does for one attachment reaches another,
 * even when the thread that accepts channels is not the one that serves
 * them, and however late it acts.
 */

/*
 * Region lifetime in kernel calls. The data-path calls (kup_recv(),
 * kup_send(), kup_send_buf(), the queries) find the region under
 * rcu_read_lock() and use it inside that read-side section, with neither
 * a reference nor any other atomic operation: kup_region_kill()
 * unpublishes the region and waits for a grace period before anything is
 * freed. A call leaves the section only to reschedule or to sleep, and
 * counts itself in r->inflight meanwhile (kup_region_kill() waits for
 * that count to drop to zero); back in a section, it carries on only if
 * the channel still has that region. A hold (kup_recv(), kup_send_buf())
 * outlives the call: it is covered by a reference the channel keeps (see
 * kup_hold()).
 *
 * The ioctl paths (KUP_IOC_WAKE, _WAIT, _EVENTFD) count themselves in
 * r->inflight for the whole call: they are not the data path.
 */
struct kup_region *kup_op_begin(struct kup_chan *ch)
{
	struct kup_region *r;

	rcu_read_lock();
	r = rcu_dereference(ch->region);
	if (r)
		atomic_inc(&r->inflight);
	rcu_read_unlock();
	return r;
}

void kup_op_end(struct kup_region *r)
{
	/*
	 * I2, pairs with I1 in driver/region.c (kup_region_kill()): a killer
	 * that saw our increment is woken by this decrement. r may be freed
	 * right after it: wake_up_var() only hashes the address.
	 */
	if (atomic_dec_and_test(&r->inflight))
		wake_up_var(&r->inflight);
}

/*
 * The channel of a data-path call, and whether the device still runs;
 * the caller then looks the region up inside rcu_read_lock().
 */
int kup_call_chan(struct kup_dev *dev, unsigned int chan,
		  struct kup_chan **chp)
{
	struct kup_chan *ch = kup_dev_chan(dev, chan);

	if (!ch)
		return -EINVAL;
	if (READ_ONCE(dev->dead))
		return -ESHUTDOWN;
	*chp = ch;
	return 0;
}

/*
 * Leave the read-side section to sleep or reschedule: counted in
 * r->inflight, r cannot go away meanwhile. kup_call_resume() comes back.
 */
void kup_call_leave(struct kup_region *r)
	__releases(RCU)
{
	atomic_inc(&r->inflight);
	rcu_read_unlock();
}

/*
 * Back in a read-side section after kup_call_leave(). Returns false when
 * the channel no longer has r: the caller must not touch r any more.
 */
bool kup_call_resume(struct kup_chan *ch, struct kup_region *r)
	__acquires(RCU)
{
	bool same;

	rcu_read_lock();
	/* r is not freed while counted: equal pointers are the same region. */
	same = rcu_dereference(ch->region) == r;
	kup_op_end(r);
	return same;
}

/*
 * Let others run in the middle of a call: leave the read-side section,
 * cond_resched(), come back. 0 to go on; -ENOTCONN when the channel no
 * longer has r (the caller must not touch r any more); -EINTR when the
 * thread is told to stop or a signal is pending.
 */
int kup_call_resched(struct kup_chan *ch, struct kup_region *r)
	__must_hold(RCU)
{
	kup_call_leave(r);
	cond_resched();
	if (!kup_call_resume(ch, r))
		return -ENOTCONN;
	if (kup_should_stop() || signal_pending(current))
		return -EINTR;
	return 0;
}

/*
 * The most that one interval of KUP_RESCHED_SPINS polls counts against a
 * spin budget: 256 polls take 10-70 us (a pause costs 10-40 ns on
 * hardware, 200-300 ns under emulation), so an interval far longer than
 * that was a stall of the CPU (the host preempted the vCPU, an SMI, an
 * emulator's pause), not spinning.
 */
#define KUP_SPIN_GAP_NS		(250 * NSEC_PER_USEC)

/* Whatever the scheduler does, a spin ends after this many budgets. */
#define KUP_SPIN_WALL		4

/*
 * A kernel wait's look at the clock, the looks-th (from 1), every
 * KUP_RESCHED_SPINS polls: true once the spin has used its budget of
 * budget ns. The budget is time spent spinning, so that a thread that
 * loses its CPU for a while does not come back to a spent budget: an
 * interval in which the task was switched out (cond_resched(),
 * preemption: its context switch count moved) does not count, nor more
 * than KUP_SPIN_GAP_NS of one in which the CPU stalled. The first look
 * only starts the clock, and the first interval measured stands for the
 * polls before it as well. Whatever the scheduler and the clock do, the
 * spin ends after KUP_SPIN_WALL budgets on the clock (a clock that steps
 * back, after a migration, counts nothing), and the poll count bounds it
 * too: a poll takes more than a nanosecond.
 */
bool kup_spin_spent(struct kup_spin_clock *c, u32 looks, u32 budget)
{
	u64 now = local_clock(), d;
	unsigned long sw = current->nvcsw + current->nivcsw;

	if (looks == 1) {
		c->spent = 0;
		c->wall = 0;
	} else {
		d = now > c->last ? now - c->last : 0;
		c->wall += d;
		if (sw == c->sw) {
			d = min_t(u64, d, KUP_SPIN_GAP_NS);
			c->spent += looks == 2 ? 2 * d : d;
		}
	}
	c->last = now;
	c->sw = sw;
	return c->spent >= budget || c->wall >= (u64)KUP_SPIN_WALL * budget;
}

/*
 * Holds. kup_recv() and kup_send_buf() return pointers into the region,
 * valid after the call: a hold. The channel keeps one reference on the
 * region of its last hold (ch->held) from one message to the next, so a
 * busy channel takes no reference per message; ch->holding says whether
 * the client uses the data now. Only the context driving the channel
 * writes ch->holding, and ch->held but for kup_chan_steal_held(). A hold
 * is taken on the session's attachment only, and the session outlives
 * its holds (kup_end_gen() ends them before the session): so while a hold
 * is active, ch->held is its region and is never replaced, whatever
 * happens to the channel.
 *
 * When the region is detached, the reference is dropped by the detach if
 * no hold is active, else by the end of the hold. RCU settles which, as
 * in the store-buffering pattern: the end of a hold clears ch->holding,
 * then reads r->dead, inside a read-side section; the detach sets r->dead,
 * waits for a grace period (kup_region_kill()), then reads ch->holding.
 * One of them at least sees the other's store, and xchg()/cmpxchg() on
 * ch->held let only one of them drop the reference.
 */
void kup_hold(struct kup_chan *ch, struct kup_region *r, u32 n)
	__must_hold(RCU)
{
	struct kup_region *old;

	if (READ_ONCE(ch->held) != r) {
		/* No hold is active: the old region is an idle cache. */
		kup_region_get(r);
		old = xchg(&ch->held, r);
		if (old)
			kup_region_put(old);
	}
	WRITE_ONCE(ch->holding, max(ch->holding, n));
}

/*
 * A reply answers one held message (all: kup_release()); the hold ends
 * with the last. Only while a hold is active (kup_unhold() checks), inside
 * a read-side section (see kup_hold()).
 */
void __kup_unhold(struct kup_chan *ch, bool all)
	__must_hold(RCU)
{
	struct kup_region *r;

	if (WARN_ON_ONCE(!ch->holding))
		return;

	/* A reply passes the turn a send buffer was for: nothing to commit. */
	ch->sending = false;
	WRITE_ONCE(ch->holding, all ? 0 : ch->holding - 1);
	if (ch->holding)
		return;
	/*
	 * From here the detach may take the reference over, but it frees
	 * the region only after another grace period (see
	 * kup_chan_steal_held()): r stays valid while we are in the section.
	 */
	r = READ_ONCE(ch->held);
	if (r && READ_ONCE(r->dead)) {
		r = xchg(&ch->held, NULL);
		if (r)
			kup_region_put(r);
	}
}

/*
 * Detach, after kup_region_kill(r): take the channel's cached reference
 * on r unless a hold is active (whose end drops it). Returns true if the
 * caller now owns that reference; it must then let a grace period pass
 * before the region is freed (kup_region_put_sync()).
 */
bool kup_chan_steal_held(struct kup_chan *ch, struct kup_region *r)
{
	if (READ_ONCE(ch->holding))
		return false;
	return cmpxchg(&ch->held, r, NULL) == r;
}

/*
 * The spin budget ran out: sleep until the process wakes us. Called and
 * returns inside the call's read-side section (see above).
 */
noinline int kup_sleep_kturn(struct kup_chan *ch, struct kup_region *r)
	__must_hold(RCU)
{
	struct kup_dev *dev = ch->dev;
	u64 start = local_clock();
	int ret;

	kup_call_leave(r);
	for (;;) {
		trace_kup_sleep(ch, KUP_TRACE_KERNEL);
		WRITE_ONCE(r->ks->kwait, r->kcur + 1);
		/*
		 * W1, pairs with W2 in lib/kup.h (kupi_wake_check()).
		 * Need-wakeup, waiter half: flag, full barrier, re-check (the
		 * wait_event condition) and only then sleep: either the
		 * process sees kwait and calls KUP_IOC_WAKE, or we see its new
		 * turn here.
		 */
		smp_mb();
		ret = wait_event_interruptible(ch->kwq, kup_call_turn(dev, r) ||
					       kup_should_stop());
		WRITE_ONCE(r->ks->kwait, 0);
		/* The channel's state first: a shutdown is no interruption. */
		ret = kup_call_turn(dev, r) ?:
		      (ret || kup_should_stop() ? -EINTR : 0);
		if (ret) {
			if (ret > 0) {
				/* After a migration the clock may step back. */
				s64 slept = local_clock() - start;

				kup_spin_adapt(r, kup_spin_max(ch),
					       max_t(s64, slept, 0));
				ret = 0;
			}
			break;
		}
	}
	if (!kup_call_resume(ch, r))
		return -ENOTCONN;
	return ret;
}

/*
 * Spin for the adaptive budget, then sleep until the process wakes us.
 * Called and returns inside the call's read-side section (see above).
 */
static noinline int kup_wait_kturn_slow(struct kup_chan *ch,
					struct kup_region *r)
	__must_hold(RCU)
{
	int ret = kup_spin_kturn(ch, r);

	if (ret)
		return ret < 0 ? ret : 0;
	return kup_sleep_kturn(ch, r);
}

/* The common case of a busy channel, the turn already ours, inline. */
static __always_inline int kup_wait_kturn(struct kup_chan *ch,
					  struct kup_region *r,
					  unsigned int flags)
	__must_hold(RCU)
{
	int ret = kup_call_turn(ch->dev, r);

	if (ret)
		return ret < 0 ? ret : 0;
	if (flags & KUP_NONBLOCK)
		return -EAGAIN;
	return kup_wait_kturn_slow(ch, r);
}

/*
 * One reply, inside the call's read-side section: wait for the turn, then
 * kup_put_reply(). On -ENOTCONN r may be gone.
 */
static int kup_send_one(struct kup_chan *ch, struct kup_region *r,
			const struct kup_msg *m, unsigned int flags)
	__must_hold(RCU)
{
	int ret = kup_can_reply(r);

	if (ret)
		return ret;
	ret = kup_wait_kturn(ch, r, flags);
	if (ret)
		return ret;
	kup_put_reply(ch, r, m, flags);
	return 0;
}

/**
 * kup_send_batch() - send @n replies on consecutive slots, in one call
 * @dev: the device
 * @chan: channel index
 * @msgs: the replies (data may point into messages of kup_recv_batch())
 * @n: how many
 * @flags: KUP_NONBLOCK for the first; KUP_MORE if more replies follow
 *
 * As @n kup_send() calls with KUP_MORE on all but the last, with one
 * lookup and one wake-up check. Only the first reply may wait for its
 * turn; the batch stops at a slot whose turn the kernel does not hold.
 * Return: the number of replies sent, or a negative errno if none was.
 */
int kup_send_batch(struct kup_dev *dev, unsigned int chan,
		   const struct kup_msg *msgs, unsigned int n,
		   unsigned int flags)
{
	unsigned int i, defer = flags & KUP_NONBLOCK ? KUP_DEFER : 0;
	struct kup_region *r;
	struct kup_chan *ch;
	int ret;

	if (!n)
		return -EINVAL;
	ret = kup_call_chan(dev, chan, &ch);
	if (ret)
		return ret;
	rcu_read_lock();
	r = kup_call_region(ch);
	ret = -ENOTCONN;
	if (!r)
		goto out;
	ret = -EMSGSIZE;
	for (i = 0; i < n; i++)
		if (msgs[i].len > r->buf_size)
			goto out;
	for (i = 0; i < n; i++) {
		ret = kup_send_one(ch, r, &msgs[i],
				   (i ? KUP_NONBLOCK : flags & KUP_NONBLOCK) |
				   (i + 1 < n ? KUP_MORE : flags & KUP_MORE) |
				   defer);
		if (ret)
			break;
	}
	/*
	 * Stopped early after passing some with KUP_MORE: check now. The
	 * later sends never left the section, so r is still there.
	 */
	if (ret && i)
		kup_kwake(r, defer);
	if (i)
		ret = i;
out:
	return kup_call_end(ch, ret);
}
EXPORT_SYMBOL_NS_GPL(kup_send_batch, "KUP");

/**
 * kup_send() - wait for the turn, copy a message, pass the turn
 * @dev: the device
 * @chan: channel index
 * @data: the message (may point into a buffer returned by kup_recv())
 * @len: its length, at most the channel's buffer size
 * @flags: KUP_NONBLOCK
 *
 * Passing the turn ends a hold taken by kup_recv(): the received data
 * must not be used afterwards. On a pipelined channel a reply answers a
 * message received on its slot: -EBUSY when there is none (receive first).
 * Return: 0 or a negative errno (see include/linux/kup.h).
 */
int kup_send(struct kup_dev *dev, unsigned int chan, const void *data,
	     size_t len, unsigned int flags)
{
	struct kup_msg msg = { .data = data, .len = len };
	int ret;

	ret = kup_send_batch(dev, chan, &msg, 1, flags);
	return ret < 0 ? ret : 0;
}
EXPORT_SYMBOL_NS_GPL(kup_send, "KUP");

/**
 * kup_pass() - pass the turn without data (a message of length 0)
 * @dev: the device
 * @chan: channel index
 * @flags: KUP_NONBLOCK
 *
 * Return: 0 or a negative errno.
 */
int kup_pass(struct kup_dev *dev, unsigned int chan, unsigned int flags)
{
	return kup_send(dev, chan, NULL, 0, flags);
}
EXPORT_SYMBOL_NS_GPL(kup_pass, "KUP");

/**
 * kup_recv_batch() - wait for the process's next message, take every one
 *	that waits after it too
 * @dev: the device
 * @chan: channel index
 * @msgs: filled with the messages, in slot order (zero-copy)
 * @max: size of @msgs
 * @flags: KUP_NONBLOCK
 *
 * On a pipelined channel the process may have passed several slots: this
 * takes the next one (waiting for it as kup_recv() does) and those after
 * it whose turn the kernel already holds, up to @max. Answer them in
 * order, one kup_send() or kup_pass() each, with KUP_MORE on all but the
 * last; the data stay valid until the last reply or kup_release().
 * Return: the number of messages (at least 1), or a negative errno as for
 * kup_recv().
 */
int kup_recv_batch(struct kup_dev *dev, unsigned int chan,
		   struct kup_msg *msgs, unsigned int max, unsigned int flags)
{
	struct kup_region *r;
	struct kup_chan *ch;
	int ret;

	if (!max)
		return -EINVAL;
	ret = kup_call_chan(dev, chan, &ch);
	if (ret)
		return ret;
	rcu_read_lock();
	r = kup_call_region(ch);
	ret = r ? kup_wait_kturn(ch, r, flags) : -ENOTCONN;
	if (ret)
		goto out;
	ret = kup_take_run(r, msgs, max);
	if (ret > 0)
		kup_hold(ch, r, ret);
out:
	return kup_call_end(ch, ret);
}
EXPORT_SYMBOL_NS_GPL(kup_recv_batch, "KUP");

/**
 * kup_recv() - wait for the process to pass the turn, return its message
 * @dev: the device
 * @chan: channel index
 * @data: set to the message in the shared buffer (zero-copy)
 * @flags: KUP_NONBLOCK
 *
 * The channel stays held, and *@data valid, until kup_release(),
 * kup_send() or kup_pass() on it. The process can still write the buffer:
 * copy what you validate.
 * Return: the message length, or a negative errno; -EDEADLK when the
 * kernel already holds the turn and consumed its message.
 */
ssize_t kup_recv(struct kup_dev *dev, unsigned int chan, const void **data,
		 unsigned int flags)
{
	struct kup_msg msg;
	int ret;

	ret = kup_recv_batch(dev, chan, &msg, 1, flags);
	if (ret < 0)
		return ret;
	*data = msg.data;
	return msg.len;
}
EXPORT_SYMBOL_NS_GPL(kup_recv, "KUP");

/**
 * kup_release() - end the hold taken by kup_recv() or kup_send_buf()
 * @dev: the device
 * @chan: channel index
 *
 * The turn stays with the kernel. Context: any.
 */
void kup_release(struct kup_dev *dev, unsigned int chan)
{
	struct kup_chan *ch = kup_dev_chan(dev, chan);

	if (!ch)
		return;
	rcu_read_lock();
	kup_unhold(ch, true);
	rcu_read_unlock();
}
EXPORT_SYMBOL_NS_GPL(kup_release, "KUP");

/*
 * End session gen of ch (0: none): every hold ends; if its attachment is
 * still there and sound, the process learns that the kernel side stopped
 * (KUP_STATE_BROKEN, -ECONNRESET); kup_wait_channel() may then report the
 * next attachment. A gen that is no longer the session is left alone.
 */
static void kup_end_gen(struct kup_chan *ch, u64 gen)
{
	struct kup_region *r;

	if (!gen || READ_ONCE(ch->bound) != gen)
		return;
	rcu_read_lock();
	kup_unhold(ch, true);
	r = rcu_dereference(ch->region);
	/*
	 * After a shutdown (the usual reason a session ends then), the
	 * process must learn of the shutdown, not of a break: dev->dead is
	 * set before kup_dev_shutdown() marks any region.
	 */
	if (r && r->gen == gen && !READ_ONCE(r->dead) &&
	    !READ_ONCE(ch->dev->dead))
		kup_region_break(r, ECONNRESET);
	rcu_read_unlock();
	if (cmpxchg(&ch->bound, gen, 0) == gen)
		kup_dev_kick(ch->dev, KUP_KICK_ATTACH);
}

/**
 * kup_end_session() - end the session on @chan
 * @dev: the device
 * @chan: channel index
 *
 * Ends every hold and the session that kup_wait_channel() started on
 * @chan: its data calls fail with -ENOTCONN until kup_wait_channel()
 * reports the channel's next attachment. If the process is still
 * attached, its channel breaks with ECONNRESET (it learns that the kernel
 * side stopped), unless the device was shut down (it then sees that).
 * Call it once per session, from the thread that served it, when that
 * session is over for any reason: a call failed because the process
 * detached or broke the channel, or the client stopped on its own. (The
 * FreeBSD-compatible calls do it themselves when they fail.)
 * Context: any.
 */
void kup_end_session(struct kup_dev *dev, unsigned int chan)
{
	struct kup_chan *ch = kup_dev_chan(dev, chan);

	if (ch)
		kup_end_gen(ch, READ_ONCE(ch->bound));
}
EXPORT_SYMBOL_NS_GPL(kup_end_session, "KUP");

/* kupdev.c, workers.c: the session a call is about to work on, 0 if none. */
u64 __kup_session(struct kup_dev *dev, unsigned int chan)
{
	struct kup_chan *ch = kup_dev_chan(dev, chan);

	return ch ? READ_ONCE(ch->bound) : 0;
}

/* workers.c: end session gen, if it is still the channel's. */
void __kup_session_end(struct kup_dev *dev, unsigned int chan, u64 gen)
{
	struct kup_chan *ch = kup_dev_chan(dev, chan);

	if (ch)
		kup_end_gen(ch, gen);
}

/*
 * kupdev.c: a FreeBSD-compatible call on session gen returned ret; if
 * the process detached or broke the channel, the session is over (the
 * FreeBSD KUP API has no call to say so). Context: any.
 */
void __kup_session_failed(struct kup_dev *dev, unsigned int chan, u64 gen,
			  int ret)
{
	struct kup_chan *ch = kup_dev_chan(dev, chan);

	if (ch && (ret == -ENOTCONN || ret == -EPROTO || ret == -EBADMSG))
		kup_end_gen(ch, gen);
}

/**
 * kup_send_buf() - wait for the turn and return the outgoing buffer
 * @dev: the device
 * @chan: channel index
 * @size: set to the buffer size
 * @flags: KUP_NONBLOCK
 *
 * Write the message in place, then kup_send_commit() it.
 * Return: the buffer, or an ERR_PTR.
 */
void *kup_send_buf(struct kup_dev *dev, unsigned int chan, size_t *size,
		   unsigned int flags)
{
	struct kup_region *r;
	struct kup_chan *ch;
	void *buf = NULL;
	int ret;

	ret = kup_call_chan(dev, chan, &ch);
	if (ret)
		return ERR_PTR(ret);
	rcu_read_lock();
	r = kup_call_region(ch);
	ret = r ? kup_can_reply(r) : -ENOTCONN;
	if (!ret)
		ret = kup_wait_kturn(ch, r, flags);
	if (!ret) {
		*size = r->buf_size;
		buf = kup_to_user(r, r->kcur);
		/* Hold the region until kup_send_commit(). */
		kup_hold(ch, r, 1);
		ch->sending = true;
	}
	ret = kup_call_end(ch, ret);
	return ret ? ERR_PTR(ret) : buf;
}
EXPORT_SYMBOL_NS_GPL(kup_send_buf, "KUP");

/**
 * kup_send_commit() - pass the turn with @len bytes written by kup_send_buf()
 * @dev: the device
 * @chan: channel index
 * @len: bytes written
 *
 * A failure leaves the buffer held: commit again, or kup_release().
 * Context: any.
 * Return: 0, -EINVAL without kup_send_buf(), -EMSGSIZE, or the errors of
 *	kup_send().
 */
int kup_send_commit(struct kup_dev *dev, unsigned int chan, size_t len)
{
	struct kup_chan *ch = kup_dev_chan(dev, chan);
	struct kup_region *r;
	int ret;

	if (!ch)
		return -EINVAL;
	/*
	 * The hold keeps r alive: no lookup needed. A detach waits for the
	 * read-side section: no wake-up is queued after it (region.c). A
	 * hold of received messages only has no buffer to commit.
	 */
	if (!ch->sending)
		return -EINVAL;
	rcu_read_lock();
	r = ch->held;
	ret = -EMSGSIZE;
	if (len > r->buf_size)
		goto out;
	ret = kup_call_turn(dev, r);
	if (ret <= 0) {
		/* The hold had the turn: the process took it back. */
		ret = ret ? ret : kup_region_break(r, EPROTO);
		goto out;
	}
	/*
	 * Small messages go in the slot's line: one line for the reader.
	 * Context: any, so the wake-up is deferred.
	 */
	trace_kup_pass(ch, r->kcur, len);
	if (len <= KUP_INLINE_MAX) {
		memcpy(kup_slot(r, r->kcur)->data, kup_to_user(r, r->kcur),
		       len);
		kup_kpass(r, len, KUP_SLOT_INLINE, KUP_DEFER);
	} else {
		kup_kpass(r, len, 0, KUP_DEFER);
	}
	/* Only the pass ends the hold: a failure leaves it, as kup_send()'s. */
	kup_unhold(ch, false);
	ret = 0;
out:
	return kup_call_end(ch, ret);
}
EXPORT_SYMBOL_NS_GPL(kup_send_commit, "KUP");

/* The buffer size, or with slots the slot count, of chan's region. */
static ssize_t kup_chan_query(struct kup_dev *dev, unsigned int chan,
			      bool slots)
{
	struct kup_region *r;
	struct kup_chan *ch;
	ssize_t ret;

	ret = kup_call_chan(dev, chan, &ch);
	if (ret)
		return ret;
	rcu_read_lock();
	r = kup_call_region(ch);
	ret = !r ? -ENOTCONN : slots ? r->nslots : r->buf_size;
	return kup_call_end(ch, ret);
}

/**
 * kup_chan_buf_size() - buffer size of the region attached to @chan
 * @dev: the device
 * @chan: channel index
 *
 * Context: any.
 * Return: bytes per buffer, or -EINVAL, -ESHUTDOWN, -ENOTCONN.
 */
ssize_t kup_chan_buf_size(struct kup_dev *dev, unsigned int chan)
{
	return kup_chan_query(dev, chan, false);
}
EXPORT_SYMBOL_NS_GPL(kup_chan_buf_size, "KUP");

/**
 * kup_chan_slots() - slots of the region attached to @chan
 * @dev: the device
 * @chan: channel index
 *
 * 1 for a ping-pong channel, where the kernel holds the first turn; more
 * for a pipelined channel, where the process holds the first turn of
 * every slot, and kup_recv() / kup_send() walk the slots round-robin.
 * Context: any.
 * Return: the number of slots, or -EINVAL, -ESHUTDOWN, -ENOTCONN.
 */
int kup_chan_slots(struct kup_dev *dev, unsigned int chan)
{
	return kup_chan_query(dev, chan, true);
}
EXPORT_SYMBOL_NS_GPL(kup_chan_slots, "KUP");

/**
 * __kup_recv_flat() - kupdev_receive(): kup_recv(), the message in a copy
 * @dev: the device
 * @chan: channel index
 * @flat: the kernel's buffer for the copy, the device's buffer size plus
 *	one byte; NULL when @chan is out of range
 * @err: set to 0 or the error
 *
 * The FreeBSD KUP API returns no length: its clients read the buffer,
 * often up to a NUL. The process can write its buffers at any time, so a
 * NUL written there could be gone by the time the client reads: the
 * message is copied into @flat, which the process cannot reach, and
 * always followed by a NUL. A reader never runs into another message's
 * bytes or past the buffer. The message stays held until kupdev_send(),
 * kupdev_pass() or kupdev_unlock_channel(), as in KUP.
 * Return: @flat with the message, or NULL.
 */
void *__kup_recv_flat(struct kup_dev *dev, unsigned int chan, void *flat,
		      int *err)
{
	struct kup_region *r;
	struct kup_chan *ch;
	struct kup_msg msg;
	u8 *buf = NULL;
	int ret;

	ret = kup_call_chan(dev, chan, &ch);
	*err = ret;
	if (ret)
		return NULL;
	if (WARN_ON_ONCE(!flat)) {
		*err = -EINVAL;
		return NULL;
	}
	rcu_read_lock();
	r = kup_call_region(ch);
	ret = r ? kup_wait_kturn(ch, r, 0) : -ENOTCONN;
	if (!ret)
		ret = kup_take_run(r, &msg, 1);
	if (ret > 0) {
		kup_hold(ch, r, 1);
		/* msg.len <= r->buf_size <= dev->max_buf: kup_take() checked. */
		buf = flat;
		memcpy(buf, msg.data, msg.len);
		buf[msg.len] = '\0';
		ret = 0;
	}
	*err = kup_call_end(ch, ret);
	return buf;
}
