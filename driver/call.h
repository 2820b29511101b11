/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The context of a data call of the kernel API, shared by chan.c (the
 * calls, holds and sessions) and serve.c (the serve loop): finding the
 * session's region inside the call's RCU read-side section, leaving and
 * re-entering it to sleep or reschedule, holds, the waits for the turn,
 * and the reply step. See "Data calls" in chan.c.
 */
#ifndef _KUP_CALL_H
#define _KUP_CALL_H

#include <linux/kup.h>
#include <linux/rcupdate.h>
#include <linux/string.h>

#include "chan.h"
#include "device.h"
#include "region.h"
#include "trace.h"
#include "turn.h"

/*
 * Polls between two cond_resched() calls, and two looks at the clock, in a
 * blocking kernel wait.
 */
#define KUP_RESCHED_SPINS	256

int kup_call_chan(struct kup_dev *dev, unsigned int chan,
		  struct kup_chan **chp);
void kup_call_leave(struct kup_region *r) __releases(RCU);
bool kup_call_resume(struct kup_chan *ch, struct kup_region *r)
	__acquires(RCU);
int kup_call_resched(struct kup_chan *ch, struct kup_region *r)
	__must_hold(RCU);
void kup_hold(struct kup_chan *ch, struct kup_region *r, u32 n)
	__must_hold(RCU);
void __kup_unhold(struct kup_chan *ch, bool all) __must_hold(RCU);
int kup_sleep_kturn(struct kup_chan *ch, struct kup_region *r)
	__must_hold(RCU);

/*
 * The attachment of the session ("Sessions" in chan.c), inside the call's read-side
 * section, or NULL: the call fails with -ENOTCONN.
 */
static __always_inline struct kup_region *kup_call_region(struct kup_chan *ch)
	__must_hold(RCU)
{
	struct kup_region *r = rcu_dereference(ch->region);

	if (likely(r && r->gen == READ_ONCE(ch->bound)))
		return r;
	return NULL;
}

/*
 * End a hold, if one is active: a serve loop's reply usually ends none, and
 * checks inline. Inside a read-side section (see kup_hold()).
 */
static __always_inline void kup_unhold(struct kup_chan *ch, bool all)
	__must_hold(RCU)
{
	if (ch->holding)
		__kup_unhold(ch, all);
}

/*
 * Whose turn is it, as kup_kturn(), and first whether the device still
 * runs: 1 the kernel's, 0 the process's, < 0 the call fails.
 */
static __always_inline int kup_call_turn(struct kup_dev *dev,
					 struct kup_region *r)
{
	if (READ_ONCE(dev->dead))
		return -ESHUTDOWN;
	return kup_kturn(r);
}

/* Leave a data call's read-side section with its result. */
static __always_inline int kup_call_end(struct kup_chan *ch, int ret)
	__releases(RCU)
{
	rcu_read_unlock();
	return ret;
}

/* The channel's spin budget in ns: its own, or else the device's. */
static inline u32 kup_spin_max(struct kup_chan *ch)
{
	u32 ns = READ_ONCE(ch->spin_ns);

	return ns == KUP_SPIN_DEV ? READ_ONCE(ch->dev->spin_ns) : ns;
}

/*
 * The clock of a kernel wait's spin, read every KUP_RESCHED_SPINS polls
 * by kup_spin_spent() in chan.c.
 */
struct kup_spin_clock {
	u64 last;		/* the clock at the last look */
	u64 spent;		/* ns spent spinning */
	u64 wall;		/* ns on the clock since the first look */
	unsigned long sw;	/* the task's context switches at the last look */
};

bool kup_spin_spent(struct kup_spin_clock *c, u32 looks, u32 budget);

/*
 * Spin for the adaptive budget (a time: r->spin_cur ns, at most the
 * channel's): 1 when the turn came, 0 when the budget ran out, or an
 * error. Inline in kup_serve(): the wait of a busy channel ends here, and
 * returning from a call costs as much as the work. A wait that ends within
 * KUP_RESCHED_SPINS polls never reads the clock; how a longer one counts
 * its budget is kup_spin_spent()'s. Called and returns inside the call's
 * read-side section ("Data calls" in chan.c).
 */
static __always_inline int kup_spin_kturn(struct kup_chan *ch,
					  struct kup_region *r)
	__must_hold(RCU)
{
	struct kup_dev *dev = ch->dev;
	u32 max = kup_spin_max(ch);
	u32 budget = min(r->spin_cur, max);
	struct kup_spin_clock clock;
	u32 i;
	int ret;

	for (i = 1; i < budget; i++) {
		cpu_relax();
		if (i % KUP_RESCHED_SPINS == 0) {
			ret = kup_call_resched(ch, r);
			if (ret)
				return ret;
			if (kup_spin_spent(&clock, i / KUP_RESCHED_SPINS,
					   budget))
				return 0;
		}
		ret = kup_call_turn(dev, r);
		if (ret) {
			if (ret > 0)
				kup_spin_adapt(r, max, 0);
			return ret;
		}
	}
	return 0;
}

/*
 * Copy a reply into the current slot, whose turn the kernel holds, pass
 * it, and end the hold of the message answered. flags: as kup_kpass().
 */
static __always_inline void kup_put_reply(struct kup_chan *ch,
					  struct kup_region *r,
					  const struct kup_msg *m,
					  unsigned int flags)
	__must_hold(RCU)
{
	bool inl = m->len <= KUP_INLINE_MAX;
	void *dst;

	dst = inl ? kup_slot(r, r->kcur)->data : kup_to_user(r, r->kcur);
	/*
	 * An inline message echoed from where it came needs no copy; part of
	 * one (a reply that points into the message) may overlap its slot.
	 */
	if (m->len && dst != m->data) {
		if (inl)
			memmove(dst, m->data, m->len);
		else
			memcpy(dst, m->data, m->len);
	}
	trace_kup_pass(ch, r->kcur, m->len);
	kup_kpass(r, m->len, inl ? KUP_SLOT_INLINE : 0, flags);
	/* The data may have been held: end the hold only now. */
	kup_unhold(ch, false);
}

#endif /* _KUP_CALL_H */
