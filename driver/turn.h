/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel's steps of the turn protocol (include/uapi/linux/kup.h), the
 * ones that touch nothing but a region: whose turn it is, take, untake,
 * pass, the wake-up check and the spin budget. Each reads line for line
 * against its counterpart in lib/kup.h. The kernel API calls that use
 * them, with the waits, holds and sessions, are in chan.c.
 *
 * One slot: the kernel holds even turns, the process odd ones.
 *
 *   slot.turn:  t  --kup_kpass()-->  t + 1  --kupi_pass()-->  t + 2
 *               kernel's             process's                kernel's
 *
 *   kernel (this file)                    process (lib/kup.h)
 *   kup_kturn()     turn == kturn?        kupi_turn()     turn == uturn?
 *                   load-acquire (P2)                     load-acquire (P4)
 *   kup_take()      len, seq, flags       kup_recv()      len, seq, flags
 *                   read once, checked                    read once, checked
 *   kup_kpass()     len, seq, flags,      kupi_pass()     len, seq, flags,
 *                   store-release turn                    store-release turn
 *                   (P3)                                  (P1)
 *   kup_kwake()     full barrier (W4),    kupi_wake_check()  full barrier
 *                   read ustate.uwait                     (W2), read kwait
 *   kup_spin_adapt()  the spin budget     kupi_wait()     the spin budget
 *
 * A waiter spins on kup_kturn() for the budget kup_spin_adapt() keeps (as
 * kupi_wait()), then sets kstate.kwait, issues a full barrier (W1) and
 * re-checks before it sleeps (kup_sleep_kturn() in chan.c, as
 * kupi_sleep()). Everything read from the region is read once, checked
 * against the kernel's own state (struct kup_region: kslots, buf_size)
 * and only then used; garbage breaks the channel (kup_region_break()).
 */
#ifndef _KUP_TURN_H
#define _KUP_TURN_H

#include <linux/bits.h>
#include <linux/compiler.h>
#include <linux/kup.h>
#include <linux/minmax.h>
#include <linux/nospec.h>
#include <asm/barrier.h>

#include "region.h"

/*
 * Internal flag of the data calls: the caller asked for KUP_NONBLOCK, so
 * it may be in any context; its wake-ups of the process are deferred.
 */
#define KUP_DEFER		BIT(31)

/*
 * Whose turn is it? 1: the kernel's; 0: the process's; < 0: the channel
 * cannot be used. The turn word must be the kernel's expected value or the
 * one before it; anything else is garbage written by the process.
 */
static __always_inline int kup_kturn(struct kup_region *r)
{
	u32 t;

	if (READ_ONCE(r->dead))
		return -ENOTCONN;
	if (READ_ONCE(r->error))
		return -READ_ONCE(r->error);
	/*
	 * P2, pairs with P1 in lib/kup.h (kupi_pass()): the message, len,
	 * seq and flags written before the pass are visible once the new
	 * turn is.
	 */
	t = smp_load_acquire(&kup_slot(r, r->kcur)->turn);
	if (t == r->kslots[r->kcur].kturn)
		return 1;
	if (t == r->kslots[r->kcur].kturn - 1)
		return 0;
	return kup_region_break(r, EPROTO);
}

/*
 * Does the process hold the turn of the slot it waits for? uwait, read
 * once from ustate.uwait by the caller, names it (slot + 1); it is
 * bounded here, 0 or garbage meaning slot 0.
 */
static inline bool kup_user_turn(struct kup_region *r, u32 uwait)
{
	u32 s = uwait - 1;

	if (s >= r->nslots)
		s = 0;
	s = array_index_nospec(s, r->nslots);
	return READ_ONCE(kup_slot(r, s)->turn) & 1;
}

/*
 * The spin budget, in nanoseconds, after a wait of the kernel's that
 * ended @slept ns after it began to sleep (0: it ended while spinning).
 * Back to the channel's whole budget @budget when the process came back
 * within it: the wait ended while spinning, or the sleep was shorter than
 * @budget (the process or its vCPU was only held up for a moment: a whole
 * spin would have ridden that out). Halved after a longer sleep (the
 * process was idle), but never below a quarter of @budget, so a few unlucky
 * waits cannot leave it spinning for next to nothing. lib/kup.h
 * (kupi_wait()) adapts the process's budget, in polls, the same way.
 */
static inline void kup_spin_adapt(struct kup_region *r, u32 budget,
				  u64 slept)
{
	if (slept < budget)
		r->spin_cur = budget;
	else
		r->spin_cur = max(min(r->spin_cur, budget) / 2, budget / 4);
}

/*
 * Wake the process if the slot it sleeps on is now its; defer: from an
 * irq_work (the caller may be in any context, see kup_region_wake_user()).
 */
static inline void kup_kwake(struct kup_region *r, bool defer)
{
	u32 uwait;

	/*
	 * W4, pairs with W3 in lib/kup.h (kupi_sleep(), kup_chan_arm()).
	 * Need-wakeup, waker half: the turn stores before this, a full
	 * barrier, then the flag. The process may wait for any slot of a
	 * batch: wake it if that slot is now its.
	 */
	smp_mb();
	uwait = READ_ONCE(r->us->uwait);
	if (uwait && kup_user_turn(r, uwait)) {
		WRITE_ONCE(r->ks->uwait_wakeups, ++r->uwait_wakeups);
		kup_region_wake_user(r, defer);
	}
}

/*
 * Pass the current slot's turn with a message of len bytes, in the slot's
 * line (sflags KUP_SLOT_INLINE) or in its to_user buffer, and move on to
 * the next slot. flags: KUP_MORE, KUP_DEFER.
 */
static __always_inline void kup_kpass(struct kup_region *r, u32 len,
				      u32 sflags, unsigned int flags)
{
	u32 s = r->kcur;
	struct kup_slot *slot = kup_slot(r, s);
	struct kup_kslot *own = &r->kslots[s];
	u32 next = own->kturn + 1;

	WRITE_ONCE(slot->len, len);
	WRITE_ONCE(slot->seq, next);
	WRITE_ONCE(slot->flags, sflags);
	/*
	 * P3, pairs with P4 in lib/kup.h (kupi_turn()): the process sees the
	 * message, len, seq and flags before it sees its turn.
	 */
	smp_store_release(&slot->turn, next);
	own->kturn += 2;
	own->consumed = false;
	r->kcur = s + 1 < r->nslots ? s + 1 : 0;
	/*
	 * The last reply of the batch checks for all of them. (Ping-pong has
	 * no batches: the next receive waits for a process that must be
	 * awake.)
	 */
	if (!(flags & KUP_MORE) || r->nslots == 1)
		kup_kwake(r, flags & KUP_DEFER);
}

/*
 * Whether the current slot has a turn to answer: on a pipelined channel a
 * reply answers a message received on its slot (answering one not yet
 * received would destroy it); a ping-pong channel's turn may be answered
 * unread, as in FreeBSD KUP.
 */
static __always_inline int kup_can_reply(struct kup_region *r)
{
	if (r->nslots > 1 && !r->kslots[r->kcur].consumed)
		return -EBUSY;
	return 0;
}

/*
 * Take the message of slot s, whose turn the kernel holds: read it once,
 * check it against our own state, then use the copies.
 */
static __always_inline int kup_take(struct kup_region *r, u32 s,
				    struct kup_msg *msg)
{
	u32 len, seq, sflags;

	if (r->kslots[s].consumed)
		return -EDEADLK;
	len = READ_ONCE(kup_slot(r, s)->len);
	seq = READ_ONCE(kup_slot(r, s)->seq);
	sflags = READ_ONCE(kup_slot(r, s)->flags);
	if (seq != r->kslots[s].kturn || len > r->buf_size ||
	    (sflags & ~KUP_SLOT_INLINE) ||
	    ((sflags & KUP_SLOT_INLINE) && len > KUP_INLINE_MAX))
		return kup_region_break(r, EBADMSG);
	r->kslots[s].consumed = true;
	msg->data = sflags & KUP_SLOT_INLINE ? kup_slot(r, s)->data :
					      kup_to_kernel(r, s);
	msg->len = len;
	return 0;
}

/*
 * Take the message of the current slot, whose turn the kernel holds, and
 * those of the next slots whose turns it holds too, up to max: the
 * number taken, or an error.
 */
static __always_inline int kup_take_run(struct kup_region *r,
					struct kup_msg *msgs, u32 max)
{
	u32 s = r->kcur, n;
	int ret;

	ret = kup_take(r, s, &msgs[0]);
	if (ret)
		return ret;
	for (n = 1; n < max && n < r->nslots; n++) {
		s = s + 1 < r->nslots ? s + 1 : 0;
		/* P2, pairs with P1 in lib/kup.h (kupi_pass()), as above. */
		if (smp_load_acquire(&kup_slot(r, s)->turn) !=
		    r->kslots[s].kturn || r->kslots[s].consumed)
			break;
		ret = kup_take(r, s, &msgs[n]);
		if (ret)
			return ret;
	}
	return n;
}

/*
 * Give back n messages taken but not answered, from the slot first slots
 * after the current one: the next take reads and checks them again.
 */
static inline void kup_untake(struct kup_region *r, u32 first, u32 n)
{
	u32 s = (r->kcur + first) % r->nslots;

	for (; n; n--) {
		r->kslots[s].consumed = false;
		s = s + 1 < r->nslots ? s + 1 : 0;
	}
}

#endif /* _KUP_TURN_H */
