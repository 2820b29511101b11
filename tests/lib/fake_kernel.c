// SPDX-License-Identifier: GPL-2.0
/*
 * A fake kup kernel peer for host tests of lib/kup.h; see fake_kernel.h.
 *
 * The names follow driver/turn.h, driver/chan.c, driver/device.c and
 * driver/region.c so that each function here can be read against the one
 * it plays. The kernel's READ_ONCE/WRITE_ONCE are relaxed atomics,
 * smp_load_acquire and smp_store_release are acquire and release atomics,
 * smp_mb() is a sequentially consistent fence; wait queues are condition
 * variables.
 */
#define _GNU_SOURCE
#include "fake_kernel.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define RLX		__ATOMIC_RELAXED
#define SC		__ATOMIC_SEQ_CST
#define READ_ONCE(x)	__atomic_load_n(&(x), RLX)
#define WRITE_ONCE(x, v) __atomic_store_n(&(x), (v), RLX)
#define LOAD_ACQ(x)	__atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define STORE_REL(x, v)	__atomic_store_n(&(x), (v), __ATOMIC_RELEASE)
#define LOAD_SC(x)	__atomic_load_n(&(x), SC)
#define STORE_SC(x, v)	__atomic_store_n(&(x), (v), SC)
#define INC(x)		__atomic_add_fetch(&(x), 1, SC)
#define DEC(x)		__atomic_sub_fetch(&(x), 1, SC)
#define smp_mb()	__atomic_thread_fence(SC)

#define FK_RESCHED_SPINS	256
#define FK_MAX_SESS		256
#define FK_MAX_FD		4096
#define FK_MAX_DEV		8

#define round_up(x, a)		(((x) + (a) - 1) / (a) * (a))
#define round_down(x, a)	((x) / (a) * (a))

struct fk_kslot {
	uint32_t kturn;		/* turn value while the kernel has it */
	bool consumed;		/* the message of this turn was read */
};

/*
 * A region attached to a channel: the kernel's own state of it. Kept until
 * the device is destroyed, so that a late call finds it dead rather than
 * freed; the process's memory itself is used only while counted in
 * inflight and not dead (see fk_region_kill()).
 */
struct fk_region {
	struct fk_dev *dev;
	struct fk_chan *ch;
	struct fk_region *next;		/* on dev->regions */
	unsigned char *vaddr;
	uint64_t len;
	struct kup_region_hdr *hdr;
	struct kup_kstate *ks;
	struct kup_ustate *us;
	unsigned char *slots;
	unsigned char *to_kernel;
	unsigned char *to_user;
	uint32_t buf_size;
	uint32_t nslots;
	/* Kernel-side protocol state: the session thread's only. */
	struct fk_kslot kslots[KUP_MAX_SLOTS];
	uint32_t kcur;
	uint32_t spin_cur;
	bool more;		/* replies passed with FK_MORE, not checked */
	uint64_t uwait_wakeups;
	uint64_t kwait_wakeups;	/* under ch->mu */
	/* Shared */
	uint32_t error;		/* positive errno once broken */
	int dead;		/* detached */
	int inflight;		/* calls using the memory now */
	int ksleeping;		/* the kernel thread waits in kwq */
	int efd;		/* eventfd (a dup), or -1; under ch->mu */
};

struct fk_file {
	struct fk_dev *dev;
	int refs;		/* descriptors; under g_lock */
	pid_t pid;		/* the process that opened it */
};

struct fk_chan {
	struct fk_dev *dev;
	uint32_t index;
	struct fk_region *region;	/* written under dev->lock */
	struct fk_file *owner;		/* written under dev->lock */
	pid_t owner_pid;
	pthread_mutex_t mu;		/* the wait queues */
	pthread_cond_t kwq;		/* the kernel thread waits here */
	pthread_cond_t uwq;		/* KUP_IOC_WAIT waits here */
	int usleeping;			/* threads in KUP_IOC_WAIT */
};

struct fk_sess {
	struct fk_dev *dev;
	struct fk_chan *ch;
	struct fk_region *r;
	pthread_t thread;
	int done;
	void *buf;		/* buf_size bytes for the serve function */
};

struct fk_dev {
	struct fk_config cfg;
	char name[KUP_NAME_MAX];
	pthread_mutex_t lock;		/* attach, detach, sessions */
	int dead;
	unsigned int spins;
	struct fk_chan chans[FK_MAX_CHAN];
	struct fk_region *regions;	/* under lock */
	struct fk_sess *sess[FK_MAX_SESS];
	unsigned int nsess;		/* under lock */
	/* Faults */
	int wait_err;
	unsigned int wait_err_count;	/* under lock */
	fk_hdr_fn hdr_fn;
	void *hdr_arg;			/* under lock */
	struct fk_stats st;		/* atomics */
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fk_dev *g_devs[FK_MAX_DEV];
static struct fk_file *g_files[FK_MAX_FD];
static unsigned long g_failures;
static int g_mmap_err;
static unsigned int g_mmap_err_count;
/* Ranges the library gave up after a failed mmap: still reachable. */
static void *g_leaked[64];
static unsigned int g_nleaked;

static void fk_fail(const char *fmt, ...)
{
	va_list ap;

	INC(g_failures);
	va_start(ap, fmt);
	fprintf(stderr, "# fake kernel: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
}

unsigned long fk_failures(void)
{
	return LOAD_SC(g_failures);
}

static unsigned int fk_timeout_ms(const struct fk_dev *dev)
{
	return dev->cfg.timeout_ms ? dev->cfg.timeout_ms : 5000;
}

static void fk_deadline(struct timespec *ts, unsigned int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static bool fk_past(const struct timespec *ts)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > ts->tv_sec ||
	       (now.tv_sec == ts->tv_sec && now.tv_nsec >= ts->tv_nsec);
}

static void fk_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

static struct kup_slot *fk_slot(struct fk_region *r, uint32_t i)
{
	return (struct kup_slot *)(r->slots + (size_t)i * KUP_LINE_SIZE);
}

/* region.c */

/* kup_layout(), with the process's page size as PAGE_SIZE */
static size_t fk_layout(uint64_t len, uint32_t nslots, uint32_t want,
			uint32_t min_buf, uint32_t max_buf, size_t page,
			size_t *buf_size)
{
	size_t ctrl = KUP_CTRL_SIZE(nslots);
	size_t base = round_up(ctrl, page);
	size_t size, room, nbuf = 2 * (size_t)nslots;

	if (min_buf < KUP_LINE_SIZE)
		min_buf = KUP_LINE_SIZE;
	if (want) {
		if (want > max_buf)
			return 0;
		size = round_up((size_t)want, KUP_LINE_SIZE);
		if (size < min_buf || size > max_buf ||
		    len < base + nbuf * size)
			return 0;
	} else if (len >= base + nbuf * page) {
		room = (len - base) / nbuf;
		size = round_down(room, page);
		if (size > max_buf)
			size = max_buf;
	} else if (len > ctrl) {
		base = ctrl;
		room = (len - base) / nbuf;
		size = round_down(room, KUP_LINE_SIZE);
		if (size > max_buf)
			size = max_buf;
	} else {
		return 0;
	}
	if (size < min_buf)
		return 0;
	*buf_size = size;
	return base;
}

/* Signal the channel's eventfd, if any (kup_region_wake_now()). */
static void fk_region_notify(struct fk_region *r)
{
	uint64_t one = 1;
	ssize_t n;

	pthread_mutex_lock(&r->ch->mu);
	if (r->efd >= 0) {
		n = write(r->efd, &one, sizeof(one));
		(void)n;
	}
	pthread_mutex_unlock(&r->ch->mu);
}

/* kup_region_set_state() */
static void fk_region_set_state(struct fk_region *r, uint32_t state,
				uint32_t error)
{
	WRITE_ONCE(r->ks->error, error);
	/*
	 * As smp_store_release(&ks->state) in driver/region.c: pairs with
	 * the acquire load of kstate.state in lib/kup.h.
	 */
	STORE_REL(r->ks->state, state);
	fk_region_notify(r);
}

/* kup_region_format() */
static void fk_region_format(struct fk_region *r, size_t base, uint32_t chan)
{
	struct kup_region_hdr *h = (struct kup_region_hdr *)r->vaddr;
	bool pipe = r->nslots > 1;
	uint32_t i;

	memset(r->vaddr, 0, base);
	r->hdr = h;
	r->ks = (struct kup_kstate *)(r->vaddr + 1 * KUP_LINE_SIZE);
	r->us = (struct kup_ustate *)(r->vaddr + 2 * KUP_LINE_SIZE);
	r->slots = r->vaddr + 3 * KUP_LINE_SIZE;
	r->to_kernel = r->vaddr + base;
	r->to_user = r->to_kernel + (size_t)r->nslots * r->buf_size;
	r->kcur = 0;
	r->spin_cur = UINT32_MAX;
	for (i = 0; i < r->nslots; i++) {
		struct kup_slot *s = fk_slot(r, i);

		r->kslots[i].kturn = pipe ? 2 : 0;
		r->kslots[i].consumed = !pipe;
		if (pipe) {
			s->turn = 1;
			s->seq = 1;
		}
	}
	h->abi_version = KUP_ABI_VERSION;
	h->hdr_size = sizeof(*h);
	h->region_size = base + 2 * (uint64_t)r->nslots * r->buf_size;
	h->chan = chan;
	h->nslots = r->nslots;
	h->buf_size = r->buf_size;
	h->line_size = KUP_LINE_SIZE;
	h->kstate_off = 1 * KUP_LINE_SIZE;
	h->ustate_off = 2 * KUP_LINE_SIZE;
	h->slot_off = 3 * KUP_LINE_SIZE;
	h->to_kernel_off = base;
	h->to_user_off = base + (uint64_t)r->nslots * r->buf_size;
	r->ks->state = KUP_STATE_ATTACHED;
	/* As in the driver: the magic last, with release. */
	STORE_REL(h->magic, KUP_REGION_MAGIC);
}

/* kup_region_pin(), without the pinning */
static struct fk_region *fk_region_pin(struct fk_dev *dev, uint64_t addr,
				       uint64_t len, uint32_t nslots,
				       uint32_t want, uint32_t chan, int *err)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	struct fk_region *r;
	size_t base, buf_size;

	*err = -EINVAL;
	if (!nslots || nslots > KUP_MAX_SLOTS || addr % page ||
	    len < page || addr + len < addr || !addr)
		return NULL;
	base = fk_layout(len, nslots, want, dev->cfg.min_buf,
			 dev->cfg.max_buf, page, &buf_size);
	if (!base)
		return NULL;
	r = (struct fk_region *)calloc(1, sizeof(*r));
	if (!r) {
		*err = -ENOMEM;
		return NULL;
	}
	r->dev = dev;
	r->vaddr = (unsigned char *)(uintptr_t)addr;
	r->len = len;
	r->buf_size = (uint32_t)buf_size;
	r->nslots = nslots;
	r->efd = -1;
	fk_region_format(r, base, chan);
	return r;
}

/*
 * kup_region_kill(): after r->dead is set and the waiters are woken, wait
 * until no call uses the memory any more. From then on the process may
 * free it.
 */
static void fk_region_kill(struct fk_region *r)
{
	struct timespec end;

	fk_deadline(&end, fk_timeout_ms(r->dev));
	while (LOAD_SC(r->inflight)) {
		if (fk_past(&end)) {
			fk_fail("detach: kernel calls still use the region");
			return;
		}
		sched_yield();
	}
}

/* turn.h, chan.c */

static int fk_op_begin(struct fk_region *r)
{
	INC(r->inflight);
	if (LOAD_SC(r->dev->dead)) {
		DEC(r->inflight);
		return -ESHUTDOWN;
	}
	if (LOAD_SC(r->dead)) {
		DEC(r->inflight);
		return -ENOTCONN;
	}
	return 0;
}

static void fk_op_end(struct fk_region *r)
{
	DEC(r->inflight);
}

static void fk_wake_all(struct fk_chan *ch)
{
	pthread_mutex_lock(&ch->mu);
	pthread_cond_broadcast(&ch->kwq);
	pthread_cond_broadcast(&ch->uwq);
	pthread_mutex_unlock(&ch->mu);
}

/* kup_region_break(); the fake also wakes a process asleep in KUP_IOC_WAIT. */
static int fk_kbreak(struct fk_region *r, uint32_t err)
{
	uint32_t zero = 0;

	if (__atomic_compare_exchange_n(&r->error, &zero, err, false,
					__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		fk_region_set_state(r, KUP_STATE_BROKEN, err);
	fk_wake_all(r->ch);
	return -(int)READ_ONCE(r->error);
}

/*
 * kup_kturn(): 1 the kernel's turn, 0 the process's, or -errno. Garbage
 * breaks the channel, except in a wait condition (may_break false), which
 * runs under ch->mu: the caller checks again outside it.
 */
static int fk_kturn_check(struct fk_region *r, bool may_break)
{
	uint32_t t, err;

	if (READ_ONCE(r->dev->dead))
		return -ESHUTDOWN;
	if (READ_ONCE(r->dead))
		return -ENOTCONN;
	err = READ_ONCE(r->error);
	if (err)
		return -(int)err;
	/*
	 * As smp_load_acquire(&slot->turn) in driver/turn.h: pairs with the
	 * release store of slot.turn in lib/kup.h.
	 */
	t = LOAD_ACQ(fk_slot(r, r->kcur)->turn);
	if (t == r->kslots[r->kcur].kturn)
		return 1;
	if (t == r->kslots[r->kcur].kturn - 1)
		return 0;
	return may_break ? fk_kbreak(r, EPROTO) : -EPROTO;
}

static int fk_kturn(struct fk_region *r)
{
	return fk_kturn_check(r, true);
}

/*
 * kup_spin_adapt() and kup_spin_kturn(), simplified: the budget counts
 * polls, not time spent spinning (kup_spin_spent() in driver/chan.c), and
 * adapts by halving and doubling. The library's tests need a kernel that
 * spins a while, then sleeps; they do not test the kernel's budget.
 */
static void fk_spin_adapt(struct fk_region *r, unsigned int max,
			  unsigned int spun, bool slept)
{
	if (slept)
		r->spin_cur = r->spin_cur / 2 > max / 16 ? r->spin_cur / 2 :
			      max / 16;
	else if (spun && r->spin_cur < max)
		r->spin_cur = r->spin_cur * 2 + 1 < max ? r->spin_cur * 2 + 1 :
			      max;
	else if (r->spin_cur > max)
		r->spin_cur = max;
}

/* kup_spin_kturn(), see above */
static int fk_spin_kturn(struct fk_region *r)
{
	unsigned int max = READ_ONCE(r->dev->spins), spins, i;
	int ret;

	spins = r->spin_cur < max ? r->spin_cur : max;
	for (i = 1; i < spins; i++) {
		fk_pause();
		if (i % FK_RESCHED_SPINS == 0)
			sched_yield();
		ret = fk_kturn(r);
		if (ret) {
			if (ret > 0)
				fk_spin_adapt(r, max, i, false);
			return ret;
		}
	}
	return 0;
}

/* kup_sleep_kturn() */
static int fk_sleep_kturn(struct fk_region *r)
{
	struct fk_chan *ch = r->ch;
	struct timespec end;
	bool lost = false;
	int ret;

	fk_deadline(&end, fk_timeout_ms(r->dev));
	for (;;) {
		WRITE_ONCE(r->ks->kwait, r->kcur + 1);
		/*
		 * Need-wakeup, waiter half, as smp_mb() in driver/chan.c
		 * (kup_sleep_kturn): pairs with the full barrier between the
		 * turn store and the kwait load in lib/kup.h.
		 */
		smp_mb();
		pthread_mutex_lock(&ch->mu);
		while (!fk_kturn_check(r, false)) {
			/* Seen by fk_wait_kernel_asleep(): checked, asleep. */
			STORE_SC(r->ksleeping, 1);
			ret = pthread_cond_timedwait(&ch->kwq, &ch->mu, &end);
			STORE_SC(r->ksleeping, 0);
			if (ret != ETIMEDOUT || !fk_past(&end))
				continue;
			/* Idle is fine; the turn ours and no wake-up is not. */
			if (fk_kturn_check(r, false)) {
				lost = true;
				break;
			}
			fk_deadline(&end, fk_timeout_ms(r->dev));
		}
		pthread_mutex_unlock(&ch->mu);
		WRITE_ONCE(r->ks->kwait, 0);
		if (lost)
			fk_fail("channel %u: lost wake-up: slot %u was the kernel's for %u ms, nobody woke it",
				ch->index, r->kcur, fk_timeout_ms(r->dev));
		ret = fk_kturn(r);
		if (ret) {
			if (ret > 0) {
				fk_spin_adapt(r, READ_ONCE(r->dev->spins), 0,
					      true);
				ret = 0;
			}
			return ret;
		}
	}
}

/* kup_user_turn() */
static bool fk_user_turn(struct fk_region *r)
{
	uint32_t s = READ_ONCE(r->us->uwait) - 1;

	if (s >= r->nslots)
		s = 0;
	return READ_ONCE(fk_slot(r, s)->turn) & 1;
}

/* kup_kwake() */
static void fk_kwake(struct fk_region *r)
{
	struct fk_chan *ch = r->ch;

	/*
	 * Need-wakeup, waker half, as smp_mb() in driver/turn.h (kup_kwake):
	 * pairs with the full barrier between setting ustate.uwait and
	 * re-checking the turn in lib/kup.h.
	 */
	smp_mb();
	r->more = false;
	if (READ_ONCE(r->us->uwait) && fk_user_turn(r)) {
		WRITE_ONCE(r->ks->uwait_wakeups, ++r->uwait_wakeups);
		INC(r->dev->st.uwait_wakeups);
		pthread_mutex_lock(&ch->mu);
		pthread_cond_broadcast(&ch->uwq);
		pthread_mutex_unlock(&ch->mu);
		fk_region_notify(r);
	}
}

/*
 * kup_wait_kturn() inside kup_serve(): a run of replies passed with
 * FK_MORE is checked before the kernel waits.
 */
static int fk_wait_kturn(struct fk_region *r, unsigned int flags)
{
	int ret = fk_kturn(r);

	if (ret)
		return ret < 0 ? ret : 0;
	if (r->more)
		fk_kwake(r);
	if (flags & FK_NONBLOCK)
		return -EAGAIN;
	ret = fk_spin_kturn(r);
	if (ret)
		return ret < 0 ? ret : 0;
	return fk_sleep_kturn(r);
}

/* kup_kpass() */
static void fk_kpass(struct fk_region *r, uint32_t len, uint32_t seq_delta,
		     uint32_t flags, uint32_t turn_delta, bool more)
{
	uint32_t s = r->kcur;
	struct kup_slot *slot = fk_slot(r, s);
	struct fk_kslot *ks = &r->kslots[s];
	uint32_t next = ks->kturn + 1;

	WRITE_ONCE(slot->len, len);
	WRITE_ONCE(slot->seq, next + seq_delta);
	WRITE_ONCE(slot->flags, flags);
	/*
	 * As smp_store_release(&slot->turn) in driver/turn.h: pairs with the
	 * acquire load of slot.turn in lib/kup.h.
	 */
	STORE_REL(slot->turn, next + turn_delta);
	ks->kturn += 2;
	ks->consumed = false;
	r->kcur = s + 1 < r->nslots ? s + 1 : 0;
	if (!more || r->nslots == 1)
		fk_kwake(r);
	else
		r->more = true;
}

/* kup_take(): read once, check against our own state, then copy. */
static ssize_t fk_take(struct fk_region *r, void *buf)
{
	uint32_t s = r->kcur, len, seq, sflags;
	struct kup_slot *slot = fk_slot(r, s);

	if (r->kslots[s].consumed)
		return -EDEADLK;
	len = READ_ONCE(slot->len);
	seq = READ_ONCE(slot->seq);
	sflags = READ_ONCE(slot->flags);
	if (seq != r->kslots[s].kturn || len > r->buf_size ||
	    (sflags & ~KUP_SLOT_INLINE) ||
	    ((sflags & KUP_SLOT_INLINE) && len > KUP_INLINE_MAX))
		return fk_kbreak(r, EBADMSG);
	r->kslots[s].consumed = true;
	memcpy(buf, sflags & KUP_SLOT_INLINE ? slot->data :
	       r->to_kernel + (size_t)s * r->buf_size, len);
	return len;
}

uint32_t fk_chan(const struct fk_sess *s)
{
	return s->ch->index;
}

uint32_t fk_nslots(const struct fk_sess *s)
{
	return s->r->nslots;
}

uint32_t fk_buf_size(const struct fk_sess *s)
{
	return s->r->buf_size;
}

struct fk_dev *fk_sess_dev(const struct fk_sess *s)
{
	return s->dev;
}

void *fk_sess_buf(const struct fk_sess *s)
{
	return s->buf;
}

ssize_t fk_recv(struct fk_sess *s, void *buf, unsigned int flags)
{
	struct fk_region *r = s->r;
	ssize_t ret = fk_op_begin(r);

	if (ret)
		return ret;
	ret = fk_wait_kturn(r, flags);
	if (!ret)
		ret = fk_take(r, buf);
	fk_op_end(r);
	return ret;
}

int fk_ready(struct fk_sess *s, uint32_t ahead)
{
	struct fk_region *r = s->r;
	uint32_t i;
	int ret = fk_op_begin(r);

	if (ret)
		return ret;
	ret = fk_kturn(r);
	if (ret >= 0) {
		i = (r->kcur + ahead) % r->nslots;
		/* As in kup_take_run(): pairs with the release in lib/kup.h */
		ret = LOAD_ACQ(fk_slot(r, i)->turn) == r->kslots[i].kturn &&
		      !r->kslots[i].consumed;
	}
	fk_op_end(r);
	return ret;
}

static int fk_put(struct fk_sess *s, const void *data, uint32_t len,
		  uint32_t seq_delta, int sflags, uint32_t turn_delta,
		  unsigned int flags)
{
	struct fk_region *r = s->r;
	bool inl = len <= KUP_INLINE_MAX;
	int ret = fk_op_begin(r);

	if (ret)
		return ret;
	if (sflags < 0 && len > r->buf_size) {
		fk_op_end(r);
		return -EMSGSIZE;
	}
	ret = fk_wait_kturn(r, flags);
	if (ret) {
		fk_op_end(r);
		return ret;
	}
	if (sflags < 0) {
		if (len)
			memcpy(inl ? fk_slot(r, r->kcur)->data :
			       r->to_user + (size_t)r->kcur * r->buf_size,
			       data, len);
		sflags = inl ? KUP_SLOT_INLINE : 0;
	}
	fk_kpass(r, len, seq_delta, (uint32_t)sflags, turn_delta,
		 flags & FK_MORE);
	fk_op_end(r);
	return 0;
}

int fk_send(struct fk_sess *s, const void *data, uint32_t len,
	    unsigned int flags)
{
	return fk_put(s, data, len, 0, -1, 0, flags);
}

int fk_send_raw(struct fk_sess *s, uint32_t len, uint32_t seq_delta,
		uint32_t sflags, uint32_t turn_delta)
{
	return fk_put(s, NULL, len, seq_delta, (int)(sflags & INT_MAX),
		      turn_delta, 0);
}

int fk_set_kwait(struct fk_sess *s, uint32_t kwait)
{
	int ret = fk_op_begin(s->r);

	if (ret)
		return ret;
	WRITE_ONCE(s->r->ks->kwait, kwait);
	fk_op_end(s->r);
	return 0;
}

int fk_break(struct fk_sess *s, uint32_t err)
{
	int ret = fk_op_begin(s->r);

	if (ret)
		return ret;
	fk_kbreak(s->r, err);
	fk_op_end(s->r);
	return 0;
}

int fk_set_state(struct fk_sess *s, uint32_t state, uint32_t err)
{
	int ret = fk_op_begin(s->r);

	if (ret)
		return ret;
	fk_region_set_state(s->r, state, err);
	fk_wake_all(s->ch);
	fk_op_end(s->r);
	return 0;
}

/* device.c */

static void *fk_sess_main(void *arg)
{
	struct fk_sess *s = (struct fk_sess *)arg;

	s->dev->cfg.serve(s, s->dev->cfg.arg);
	STORE_SC(s->done, 1);
	return NULL;
}

struct fk_dev *fk_dev_create(const struct fk_config *cfg)
{
	pthread_condattr_t ca;
	struct fk_dev *dev;
	unsigned int i;

	if (!cfg->nchan || cfg->nchan > FK_MAX_CHAN || !cfg->name ||
	    strlen(cfg->name) >= KUP_NAME_MAX)
		return NULL;
	dev = (struct fk_dev *)calloc(1, sizeof(*dev));
	if (!dev)
		return NULL;
	dev->cfg = *cfg;
	strcpy(dev->name, cfg->name);
	dev->spins = cfg->spins;
	pthread_mutex_init(&dev->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	for (i = 0; i < cfg->nchan; i++) {
		struct fk_chan *ch = &dev->chans[i];

		ch->dev = dev;
		ch->index = i;
		pthread_mutex_init(&ch->mu, NULL);
		pthread_cond_init(&ch->kwq, &ca);
		pthread_cond_init(&ch->uwq, &ca);
	}
	pthread_condattr_destroy(&ca);
	pthread_mutex_lock(&g_lock);
	for (i = 0; i < FK_MAX_DEV; i++) {
		if (!g_devs[i]) {
			g_devs[i] = dev;
			break;
		}
	}
	pthread_mutex_unlock(&g_lock);
	if (i == FK_MAX_DEV) {
		free(dev);
		return NULL;
	}
	return dev;
}

void fk_dev_set_spins(struct fk_dev *dev, unsigned int spins)
{
	WRITE_ONCE(dev->spins, spins);
}

/* kup_dev_shutdown() */
void fk_dev_shutdown(struct fk_dev *dev)
{
	unsigned int i;

	pthread_mutex_lock(&dev->lock);
	STORE_SC(dev->dead, 1);
	for (i = 0; i < dev->cfg.nchan; i++) {
		struct fk_chan *ch = &dev->chans[i];
		struct fk_region *r = ch->region;

		/* Attached: the process has not freed the memory. */
		if (r)
			fk_region_set_state(r, KUP_STATE_SHUTDOWN, ESHUTDOWN);
		fk_wake_all(ch);
	}
	pthread_mutex_unlock(&dev->lock);
}

void fk_dev_destroy(struct fk_dev *dev)
{
	struct fk_region *r, *next;
	unsigned int i;

	if (!dev)
		return;
	fk_dev_shutdown(dev);
	for (i = 0; i < dev->nsess; i++) {
		pthread_join(dev->sess[i]->thread, NULL);
		free(dev->sess[i]->buf);
		free(dev->sess[i]);
	}
	for (r = dev->regions; r; r = next) {
		next = r->next;
		if (r->efd >= 0)
			close(r->efd);
		free(r);
	}
	for (i = 0; i < dev->cfg.nchan; i++) {
		pthread_mutex_destroy(&dev->chans[i].mu);
		pthread_cond_destroy(&dev->chans[i].kwq);
		pthread_cond_destroy(&dev->chans[i].uwq);
	}
	pthread_mutex_lock(&g_lock);
	for (i = 0; i < FK_MAX_DEV; i++)
		if (g_devs[i] == dev)
			g_devs[i] = NULL;
	for (i = 0; i < FK_MAX_FD; i++) {
		if (g_files[i] && g_files[i]->dev == dev) {
			/* A descriptor the library never closed. */
			if (!--g_files[i]->refs)
				free(g_files[i]);
			g_files[i] = NULL;
			close((int)i);
		}
	}
	pthread_mutex_unlock(&g_lock);
	pthread_mutex_destroy(&dev->lock);
	free(dev);
}

/* kup_chan_detach(), called with dev->lock held */
static struct fk_region *fk_chan_detach(struct fk_chan *ch)
{
	struct fk_dev *dev = ch->dev;
	struct fk_region *r = ch->region;

	ch->region = NULL;
	WRITE_ONCE(ch->owner, NULL);
	STORE_SC(r->dead, 1);
	if (!READ_ONCE(dev->dead))
		fk_region_set_state(r, KUP_STATE_DETACHED, 0);
	fk_wake_all(ch);
	return r;
}

int fk_detach(struct fk_dev *dev, uint32_t chan)
{
	struct fk_region *r = NULL;

	if (chan >= dev->cfg.nchan)
		return -EINVAL;
	pthread_mutex_lock(&dev->lock);
	if (dev->chans[chan].region)
		r = fk_chan_detach(&dev->chans[chan]);
	pthread_mutex_unlock(&dev->lock);
	if (!r)
		return -ENOTCONN;
	fk_region_kill(r);
	return 0;
}

/* kup_fop_release() */
static void fk_release_file(struct fk_file *kf)
{
	struct fk_dev *dev = kf->dev;
	unsigned int i;

	INC(dev->st.releases);
	for (i = 0; i < dev->cfg.nchan; i++) {
		struct fk_chan *ch = &dev->chans[i];
		struct fk_region *r = NULL;

		pthread_mutex_lock(&dev->lock);
		if (ch->owner == kf)
			r = fk_chan_detach(ch);
		pthread_mutex_unlock(&dev->lock);
		if (r)
			fk_region_kill(r);
	}
	free(kf);
}

static struct fk_file *fk_file_get(int fd)
{
	struct fk_file *kf = NULL;

	pthread_mutex_lock(&g_lock);
	if (fd >= 0 && fd < FK_MAX_FD)
		kf = g_files[fd];
	pthread_mutex_unlock(&g_lock);
	return kf;
}

int fk_open(const char *path, int flags)
{
	struct fk_dev *dev = NULL;
	struct fk_file *kf;
	unsigned int i;
	int fd;

	if ((flags & O_ACCMODE) != O_RDWR) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&g_lock);
	if (!strncmp(path, "/dev/", 5)) {
		for (i = 0; i < FK_MAX_DEV; i++)
			if (g_devs[i] && !strcmp(g_devs[i]->name, path + 5))
				dev = g_devs[i];
	}
	pthread_mutex_unlock(&g_lock);
	if (!dev) {
		errno = strlen(path) >= PATH_MAX ? ENAMETOOLONG : ENOENT;
		return -1;
	}
	if (READ_ONCE(dev->dead)) {
		errno = ENODEV;
		return -1;
	}
	kf = (struct fk_file *)calloc(1, sizeof(*kf));
	if (!kf) {
		errno = ENOMEM;
		return -1;
	}
	/* A real descriptor, so that numbers are unique and dup works. */
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fd >= FK_MAX_FD) {
		if (fd >= 0)
			close(fd);
		free(kf);
		errno = EMFILE;
		return -1;
	}
	kf->dev = dev;
	kf->refs = 1;
	kf->pid = getpid();
	pthread_mutex_lock(&g_lock);
	g_files[fd] = kf;
	pthread_mutex_unlock(&g_lock);
	return fd;
}

int fk_dup(int fd)
{
	struct fk_file *kf;
	int nfd;

	pthread_mutex_lock(&g_lock);
	kf = fd >= 0 && fd < FK_MAX_FD ? g_files[fd] : NULL;
	nfd = kf ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
	if (nfd >= FK_MAX_FD) {
		close(nfd);
		nfd = -1;
	}
	if (nfd >= 0) {
		g_files[nfd] = kf;
		kf->refs++;
	}
	pthread_mutex_unlock(&g_lock);
	if (nfd < 0)
		errno = EBADF;
	return nfd;
}

int fk_close(int fd)
{
	struct fk_file *kf;
	bool last = false;

	pthread_mutex_lock(&g_lock);
	kf = fd >= 0 && fd < FK_MAX_FD ? g_files[fd] : NULL;
	if (kf) {
		g_files[fd] = NULL;
		/* In a fork child the parent still holds the file. */
		if (kf->pid == getpid())
			last = !--kf->refs;
	}
	pthread_mutex_unlock(&g_lock);
	if (!kf) {
		errno = EBADF;
		return -1;
	}
	close(fd);
	if (last)
		fk_release_file(kf);
	return 0;
}

void *fk_mmap(void *addr, size_t len, int prot, int flags, int fd,
	      off_t off)
{
	pthread_mutex_lock(&g_lock);
	if (g_mmap_err_count) {
		g_mmap_err_count--;
		if (g_nleaked < sizeof(g_leaked) / sizeof(g_leaked[0]))
			g_leaked[g_nleaked++] = addr;
		errno = g_mmap_err;
		pthread_mutex_unlock(&g_lock);
		return MAP_FAILED;
	}
	pthread_mutex_unlock(&g_lock);
	return mmap(addr, len, prot, flags, fd, off);
}

void fk_fail_mmap(int err, unsigned int count)
{
	pthread_mutex_lock(&g_lock);
	g_mmap_err = err;
	g_mmap_err_count = count;
	pthread_mutex_unlock(&g_lock);
}

void fk_fail_wait(struct fk_dev *dev, int err, unsigned int count)
{
	pthread_mutex_lock(&dev->lock);
	dev->wait_err = err;
	dev->wait_err_count = count;
	pthread_mutex_unlock(&dev->lock);
}

void fk_corrupt_hdr(struct fk_dev *dev, fk_hdr_fn fn, void *arg)
{
	pthread_mutex_lock(&dev->lock);
	dev->hdr_fn = fn;
	dev->hdr_arg = arg;
	pthread_mutex_unlock(&dev->lock);
}

static int fk_ioctl_info(struct fk_file *kf, struct kup_info *info)
{
	struct fk_dev *dev = kf->dev;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	memset(info, 0, sizeof(*info));
	info->abi_version = dev->cfg.abi_version ? dev->cfg.abi_version :
			    KUP_ABI_VERSION;
	info->features = dev->cfg.features;
	info->reserved = dev->cfg.info_reserved;
	info->nchan = dev->cfg.nchan;
	info->nslots = KUP_MAX_SLOTS;
	info->max_buf_size = dev->cfg.max_buf;
	info->min_buf_size = dev->cfg.min_buf;
	info->region_size = kup_region_size(1, dev->cfg.max_buf, page);
	info->page_size = page;
	return 0;
}

/* kup_ioctl_attach() */
static int fk_ioctl_attach(struct fk_file *kf, struct kup_attach *arg)
{
	struct fk_dev *dev = kf->dev;
	struct fk_chan *ch = NULL;
	struct fk_region *r;
	struct fk_sess *s;
	unsigned int i;
	int ret;

	if (arg->flags || arg->reserved || arg->nslots > KUP_MAX_SLOTS)
		return -EINVAL;
	if (arg->chan != KUP_CHAN_ANY && arg->chan >= dev->cfg.nchan)
		return -EINVAL;
	if (READ_ONCE(dev->dead))
		return -ESHUTDOWN;
	r = fk_region_pin(dev, arg->addr, arg->len,
			  arg->nslots > 1 ? arg->nslots : 1, arg->buf_size,
			  arg->chan == KUP_CHAN_ANY ? 0 : arg->chan, &ret);
	if (!r)
		return ret;
	s = (struct fk_sess *)calloc(1, sizeof(*s));
	pthread_mutex_lock(&dev->lock);
	r->next = dev->regions;
	dev->regions = r;
	ret = -ENOMEM;
	if (!s || dev->nsess == FK_MAX_SESS)
		goto err_unlock;
	ret = -ESHUTDOWN;
	if (READ_ONCE(dev->dead))
		goto err_unlock;
	if (arg->chan == KUP_CHAN_ANY) {
		for (i = 0; i < dev->cfg.nchan; i++) {
			if (!dev->chans[i].region) {
				ch = &dev->chans[i];
				break;
			}
		}
	} else if (!dev->chans[arg->chan].region) {
		ch = &dev->chans[arg->chan];
	}
	ret = -EBUSY;
	if (!ch)
		goto err_unlock;
	arg->chan = ch->index;
	arg->buf_size = r->buf_size;
	r->hdr->chan = ch->index;
	r->ch = ch;
	if (dev->hdr_fn) {
		dev->hdr_fn(r->hdr, dev->hdr_arg);
		dev->hdr_fn = NULL;
	}
	WRITE_ONCE(ch->owner_pid, getpid());
	STORE_REL(ch->owner, kf);
	ch->region = r;
	INC(dev->st.attaches);
	if (dev->cfg.serve) {
		s->dev = dev;
		s->ch = ch;
		s->r = r;
		s->buf = malloc(r->buf_size);
		if (!s->buf ||
		    pthread_create(&s->thread, NULL, fk_sess_main, s)) {
			fk_fail("cannot start a kernel thread");
			free(s->buf);
			free(s);
		} else {
			dev->sess[dev->nsess++] = s;
		}
	} else {
		free(s);
	}
	pthread_mutex_unlock(&dev->lock);
	return 0;

err_unlock:
	pthread_mutex_unlock(&dev->lock);
	free(s);
	return ret;
}

/* kup_req_chan(): the channel a request names, if this file attached it. */
static struct fk_chan *fk_req_chan(struct fk_file *kf,
				   const struct kup_chan_req *req, int *err)
{
	struct fk_dev *dev = kf->dev;
	struct fk_chan *ch;

	*err = -EINVAL;
	if (req->flags || req->reserved || req->chan >= dev->cfg.nchan)
		return NULL;
	ch = &dev->chans[req->chan];
	*err = -ENOTCONN;
	if (LOAD_ACQ(ch->owner) != kf)
		return NULL;
	if (READ_ONCE(ch->owner_pid) != getpid()) {
		INC(dev->st.eperm);
		*err = -EPERM;
		return NULL;
	}
	return ch;
}

/* kup_op_begin() for the ioctls */
static struct fk_region *fk_chan_op_begin(struct fk_chan *ch)
{
	struct fk_region *r;

	pthread_mutex_lock(&ch->dev->lock);
	r = ch->region;
	if (r)
		INC(r->inflight);
	pthread_mutex_unlock(&ch->dev->lock);
	return r;
}

static int fk_ioctl_detach(struct fk_file *kf, struct kup_chan_req *req)
{
	struct fk_dev *dev = kf->dev;
	struct fk_region *r = NULL;
	struct fk_chan *ch;
	int ret;

	ch = fk_req_chan(kf, req, &ret);
	if (!ch)
		return ret;
	pthread_mutex_lock(&dev->lock);
	if (ch->owner == kf && ch->region)
		r = fk_chan_detach(ch);
	pthread_mutex_unlock(&dev->lock);
	if (!r)
		return -ENOTCONN;
	fk_region_kill(r);
	INC(dev->st.detaches);
	return 0;
}

/* kup_chan_wake() */
static int fk_ioctl_wake(struct fk_file *kf, struct kup_chan_req *req)
{
	struct fk_region *r;
	struct fk_chan *ch;
	int ret;

	ch = fk_req_chan(kf, req, &ret);
	if (!ch)
		return ret;
	r = fk_chan_op_begin(ch);
	if (!r)
		return -ENOTCONN;
	INC(kf->dev->st.wakes);
	pthread_mutex_lock(&ch->mu);
	WRITE_ONCE(r->ks->kwait_wakeups, ++r->kwait_wakeups);
	pthread_cond_broadcast(&ch->kwq);
	pthread_mutex_unlock(&ch->mu);
	fk_op_end(r);
	return 0;
}

/* kup_user_ready() */
static bool fk_user_ready(struct fk_region *r)
{
	return READ_ONCE(r->dev->dead) || READ_ONCE(r->dead) ||
	       READ_ONCE(r->error) || fk_user_turn(r);
}

/* kup_chan_wait_user() */
static int fk_ioctl_wait(struct fk_file *kf, struct kup_chan_req *req)
{
	struct fk_dev *dev = kf->dev;
	struct timespec end;
	struct fk_region *r;
	struct fk_chan *ch;
	int ret = 0;

	ch = fk_req_chan(kf, req, &ret);
	if (!ch)
		return ret;
	r = fk_chan_op_begin(ch);
	if (!r)
		return -ENOTCONN;
	INC(dev->st.waits);
	ret = 0;
	pthread_mutex_lock(&dev->lock);
	if (dev->wait_err_count) {
		dev->wait_err_count--;
		ret = -dev->wait_err;
	}
	pthread_mutex_unlock(&dev->lock);
	if (ret) {
		fk_op_end(r);
		return ret;
	}
	fk_deadline(&end, fk_timeout_ms(dev));
	pthread_mutex_lock(&ch->mu);
	while (!fk_user_ready(r)) {
		int rc;

		INC(ch->usleeping);
		rc = pthread_cond_timedwait(&ch->uwq, &ch->mu, &end);
		DEC(ch->usleeping);
		if (rc != ETIMEDOUT || !fk_past(&end))
			continue;
		/* Idle is fine; the turn ours and no wake-up is not. */
		if (fk_user_ready(r)) {
			fk_fail("channel %u: lost wake-up: the process's turn for %u ms, nobody woke it",
				ch->index, fk_timeout_ms(dev));
			break;
		}
		fk_deadline(&end, fk_timeout_ms(dev));
	}
	pthread_mutex_unlock(&ch->mu);
	if (READ_ONCE(dev->dead))
		ret = -ESHUTDOWN;
	else if (READ_ONCE(r->dead))
		ret = -ENOTCONN;
	else if (READ_ONCE(r->error))
		ret = -(int)READ_ONCE(r->error);
	fk_op_end(r);
	return ret;
}

static bool fk_is_eventfd(int fd)
{
	char path[64], link[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return false;
	link[n] = '\0';
	return !strcmp(link, "anon_inode:[eventfd]");
}

/* kup_ioctl_eventfd() */
static int fk_ioctl_eventfd(struct fk_file *kf, struct kup_eventfd *arg)
{
	struct fk_region *r;
	struct fk_chan *ch;
	int efd = -1, old;

	if (arg->reserved || arg->chan >= kf->dev->cfg.nchan)
		return -EINVAL;
	ch = &kf->dev->chans[arg->chan];
	if (LOAD_ACQ(ch->owner) != kf)
		return -ENOTCONN;
	if (READ_ONCE(ch->owner_pid) != getpid())
		return -EPERM;
	if (arg->fd != KUP_EVENTFD_NONE) {
		if (arg->fd > INT_MAX || !fk_is_eventfd((int)arg->fd))
			return -EBADF;
		efd = fcntl((int)arg->fd, F_DUPFD_CLOEXEC, 0);
		if (efd < 0)
			return -EBADF;
	}
	r = fk_chan_op_begin(ch);
	if (!r) {
		if (efd >= 0)
			close(efd);
		return -ENOTCONN;
	}
	pthread_mutex_lock(&ch->mu);
	old = r->efd;
	r->efd = efd;
	pthread_mutex_unlock(&ch->mu);
	if (old >= 0)
		close(old);
	fk_op_end(r);
	return 0;
}

int fk_ioctl(int fd, unsigned long req, void *arg)
{
	struct fk_file *kf = fk_file_get(fd);
	int ret;

	if (!kf) {
		errno = EBADF;
		return -1;
	}
	switch (req) {
	case KUP_IOC_INFO:
		ret = fk_ioctl_info(kf, (struct kup_info *)arg);
		break;
	case KUP_IOC_ATTACH:
		ret = fk_ioctl_attach(kf, (struct kup_attach *)arg);
		break;
	case KUP_IOC_DETACH:
		ret = fk_ioctl_detach(kf, (struct kup_chan_req *)arg);
		break;
	case KUP_IOC_WAKE:
		ret = fk_ioctl_wake(kf, (struct kup_chan_req *)arg);
		break;
	case KUP_IOC_WAIT:
		ret = fk_ioctl_wait(kf, (struct kup_chan_req *)arg);
		break;
	case KUP_IOC_EVENTFD:
		ret = fk_ioctl_eventfd(kf, (struct kup_eventfd *)arg);
		break;
	default:
		ret = -ENOTTY;
		break;
	}
	if (ret < 0) {
		errno = -ret;
		return -1;
	}
	return ret;
}

/* Test helpers */

void fk_get_stats(struct fk_dev *dev, struct fk_stats *st)
{
	st->waits = LOAD_SC(dev->st.waits);
	st->wakes = LOAD_SC(dev->st.wakes);
	st->detaches = LOAD_SC(dev->st.detaches);
	st->eperm = LOAD_SC(dev->st.eperm);
	st->uwait_wakeups = LOAD_SC(dev->st.uwait_wakeups);
	st->attaches = LOAD_SC(dev->st.attaches);
	st->releases = LOAD_SC(dev->st.releases);
}

int fk_chan_attached(struct fk_dev *dev, uint32_t chan)
{
	int ret;

	pthread_mutex_lock(&dev->lock);
	ret = chan < dev->cfg.nchan && dev->chans[chan].region;
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

static int fk_poll_until(int (*cond)(struct fk_dev *, uint32_t),
			 struct fk_dev *dev, uint32_t chan, unsigned int ms)
{
	struct timespec end;

	fk_deadline(&end, ms);
	while (!cond(dev, chan)) {
		if (fk_past(&end))
			return -ETIMEDOUT;
		usleep(200);
	}
	return 0;
}

static int fk_kernel_asleep(struct fk_dev *dev, uint32_t chan)
{
	struct fk_region *r;
	int ret = 0;

	pthread_mutex_lock(&dev->lock);
	r = dev->chans[chan].region;
	if (r)
		ret = LOAD_SC(r->ksleeping);
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

int fk_wait_kernel_asleep(struct fk_dev *dev, uint32_t chan, unsigned int ms)
{
	if (chan >= dev->cfg.nchan)
		return -EINVAL;
	return fk_poll_until(fk_kernel_asleep, dev, chan, ms);
}

static int fk_user_asleep(struct fk_dev *dev, uint32_t chan)
{
	return LOAD_SC(dev->chans[chan].usleeping) > 0;
}

int fk_wait_user_asleep(struct fk_dev *dev, uint32_t chan, unsigned int ms)
{
	if (chan >= dev->cfg.nchan)
		return -EINVAL;
	return fk_poll_until(fk_user_asleep, dev, chan, ms);
}

static int fk_sessions_done(struct fk_dev *dev, uint32_t chan)
{
	unsigned int i;
	int ret = 1;

	(void)chan;
	pthread_mutex_lock(&dev->lock);
	for (i = 0; i < dev->nsess; i++)
		if (!LOAD_SC(dev->sess[i]->done))
			ret = 0;
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

int fk_wait_sessions_done(struct fk_dev *dev, unsigned int ms)
{
	return fk_poll_until(fk_sessions_done, dev, 0, ms);
}
