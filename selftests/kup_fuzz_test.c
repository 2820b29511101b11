// SPDX-License-Identifier: GPL-2.0
/*
 * kup fuzzers: two seeded adversaries, each bounded in time.
 *
 * ioctls: threads of this process and of forked processes issue every
 * KUP_IOC_* command, unknown and mis-sized commands, with random and
 * boundary flags, reserved fields, channels, sizes, argument pointers and
 * memory (NULL, kernel and unmapped addresses, PROT_NONE, read-only, a
 * ramfs file, a memfd, shared anonymous memory, hugetlb, THP, overlapping
 * ranges, one range on two channels, ranges unmapped, moved or zapped
 * while attached), while others close and reopen the files, fork, exit,
 * get killed, and interrupt each other. Every call must return success or
 * an errno that the uapi header and the driver document for that command
 * (ioctl_err_ok() below); anything else fails with the seed and the
 * call. Afterwards nothing is pinned, this process's VmPin is 0, and both
 * services still answer.
 *
 * shared memory: channels of /dev/kup_echo, ping-pong and pipelined, are
 * driven with lib/kup.h (blocking, polling with a bounded poll limit,
 * non-blocking, pipelined bursts, zero-copy, the KUPECHO: commands that
 * run the kernel side from kup_serve(), the batch calls, timers and hard
 * interrupts) while other threads write random and plausible values into
 * every word of the regions: turns, lengths, sequence numbers, flags,
 * inline data, ustate, and the kstate and header the kernel wrote, and
 * kick the kernel with KUP_IOC_WAKE so that it reads them. The kernel may
 * only break a channel; it must never write outside a region (a canary
 * page before and after each one, and the unused tail of its last page,
 * keep their pattern), and every blocked call must end once the test
 * shuts the channel down with kup_chan_shutdown(). After each round the
 * service answers a fresh channel, byte for byte, and every pin is back.
 *
 * Replay: "# seed: N" comes first; KUP_FUZZ_SEED=N (make FUZZ_SEED=N)
 * replays each thread's sequence of calls (the interleaving is the
 * scheduler's). KUP_FUZZ_SECONDS bounds each fuzzer (default 20).
 * The guest's judge watches the console: a kernel report fails the run.
 */
#include "kup_test.h"
#include "kup_stress.h"

#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>

#include "kselftest_harness.h"

static uint64_t fuzz_seed;
static unsigned int fuzz_secs;

__attribute__((constructor)) static void fuzz_settings(void)
{
	fuzz_seed = stress_seed();
	fuzz_secs = env_ull("KUP_FUZZ_SECONDS", 20, 1, 1800);
}

static void on_usr1(int sig)
{
	(void)sig;
}

/* SIGUSR1 interrupts a blocked call (no SA_RESTART): -EINTR. */
static void usr1_setup(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
}

FIXTURE(fuzz) {
	long pins0;
};

FIXTURE_SETUP(fuzz)
{
	/* First, always: a failing run can be replayed. */
	printf("# seed: %llu\n", (unsigned long long)fuzz_seed);
	printf("# KUP_FUZZ_SECONDS: %u\n", fuzz_secs);
	if (access(ECHO_PATH, F_OK))
		SKIP(return, "no %s (load kup.ko and kup_echo.ko)", ECHO_PATH);
	usr1_setup();
	/* Every session of the tests before has ended (kup_stress.h). */
	ASSERT_EQ(0, echo_idle_wait(10000));
	self->pins0 = pins_held();
}

FIXTURE_TEARDOWN(fuzz)
{
}

/* ------------------------------------------------------------------ */
/* The ioctl fuzzer                                                    */
/* ------------------------------------------------------------------ */

enum { OP_INFO, OP_ATTACH, OP_DETACH, OP_WAKE, OP_WAIT, OP_EVENTFD,
	OP_UNKNOWN, OP_REOPEN, OP_CLOSE, OP_REMAP, OP_FORK, OP_SIGNAL,
	NOPS };

static const char *const op_names[NOPS] = {
	"INFO", "ATTACH", "DETACH", "WAKE", "WAIT", "EVENTFD", "unknown",
	"reopen", "close", "remap", "fork", "signal",
};

/* Results counted per command: success, each errno that may come, other. */
static const int res_errno[] = { 0, EINVAL, EFAULT, EOPNOTSUPP, ENOMEM,
	EBUSY, ESHUTDOWN, ENOTCONN, EPERM, EINTR, EPROTO, EBADMSG, EBADF,
	ENOTTY };
#define NRES	(sizeof(res_errno) / sizeof(res_errno[0]) + 1)

/*
 * The errnos each command may return, from include/uapi/linux/kup.h and
 * driver/device.c. Every command: EFAULT (argument unreadable or, for
 * INFO and ATTACH, unwritable). ATTACH: EINVAL, EOPNOTSUPP, ENOMEM, EBUSY,
 * ESHUTDOWN. DETACH, WAKE, WAIT, EVENTFD: EINVAL (flags, reserved, no
 * such channel), ENOTCONN (not attached through this file), EPERM
 * (attached by another process sharing the file). WAIT: also EINTR,
 * ESHUTDOWN, and the errno that broke the channel (EPROTO, EBADMSG).
 * EVENTFD: also what eventfd_ctx_fdget() says of the fd (EBADF, EINVAL).
 * Anything else: ENOTTY. Zero-terminated lists.
 */
static const int errs_info[] = { EFAULT, 0 };
static const int errs_attach[] = { EFAULT, EINVAL, EOPNOTSUPP, ENOMEM, EBUSY,
	ESHUTDOWN, 0 };
static const int errs_chan[] = { EFAULT, EINVAL, ENOTCONN, EPERM, 0 };
static const int errs_wait[] = { EFAULT, EINVAL, ENOTCONN, EPERM, EINTR,
	ESHUTDOWN, EPROTO, EBADMSG, 0 };
static const int errs_eventfd[] = { EFAULT, EINVAL, ENOTCONN, EPERM, EBADF,
	0 };
static const int errs_unknown[] = { ENOTTY, 0 };

static bool ioctl_err_ok(int op, int err)
{
	const int *e;

	switch (op) {
	case OP_INFO:
		e = errs_info;
		break;
	case OP_ATTACH:
		e = errs_attach;
		break;
	case OP_DETACH:
	case OP_WAKE:
		e = errs_chan;
		break;
	case OP_WAIT:
		e = errs_wait;
		break;
	case OP_EVENTFD:
		e = errs_eventfd;
		break;
	default:
		e = errs_unknown;
		break;
	}
	for (; *e; e++)
		if (*e == err)
			return true;
	return false;
}

/* A call under way, seen by the watchdog: one per thread of any process. */
#define IF_SLOTS	256
struct if_call {
	int tid;			/* 0: free */
	int pid;
	unsigned long seq;		/* calls finished */
	int busy;			/* inside a call */
	int op;
	unsigned int cmd;
	int fd;
	__u32 chan;
	__u64 addr, len;
	unsigned long last_seq;		/* the watchdog's */
	unsigned int stuck;		/* watchdog ticks without progress */
};

/* Shared by every process of the run (MAP_SHARED). */
struct if_shared {
	int stop;
	int failed;
	char report[2048];
	unsigned long calls, threads, procs, forks, kills;
	unsigned long res[NOPS][NRES];
	struct if_call call[IF_SLOTS];
};

static struct if_shared *S;

static void if_fail(const char *fmt, ...)
{
	va_list ap;

	if (__atomic_exchange_n(&S->failed, 1, __ATOMIC_ACQ_REL) == 0) {
		va_start(ap, fmt);
		vsnprintf(S->report, sizeof(S->report), fmt, ap);
		va_end(ap);
	}
	STORE(&S->stop, 1);
}

/*
 * The pool: memory at fixed addresses of an arena far below where mmap()
 * places anything, so that a range unmapped by the fuzzer stays a hole
 * (an attach must never pin memory of the test itself).
 */
#define ARENA		0x3000000000ULL
#define HOLE		(ARENA + 0x521000ULL)	/* never mapped */
#define MB		(1ULL << 20)

enum { O_ANON, O_ANON2, O_RO, O_NONE, O_EDGE, O_HOLE, O_RAMFS, O_RAMFS_PRIV,
	O_MEMFD, O_SHANON, O_HUGE_SH, O_HUGE_PRIV, O_THP, O_MIXED, NOBJ };

struct pool_obj {
	const char *name;
	__u64 off;		/* from ARENA */
	size_t len;
	char *addr;
	bool remap;		/* munmap()/mremap() may move its pages */
	bool zap;		/* MADV_DONTNEED may drop its pages */
};

static struct pool_obj pool[NOBJ] = {
	[O_ANON] = { "anon", 0, 4 * MB, NULL, false, true },
	[O_ANON2] = { "anon2", 0x400000, 256 << 10, NULL, true, true },
	[O_RO] = { "read-only", 0x500000, 2 << 12, NULL, false, false },
	[O_NONE] = { "PROT_NONE", 0x510000, 4 << 12, NULL, false, false },
	[O_EDGE] = { "edge", 0x520000, 1 << 12, NULL, false, false },
	[O_HOLE] = { "hole", 0x521000, 16 << 12, NULL, false, false },
	[O_RAMFS] = { "ramfs", 0x600000, 16 << 12, NULL, false, false },
	[O_RAMFS_PRIV] = { "ramfs-private", 0x700000, 16 << 12, NULL, false,
			   false },
	[O_MEMFD] = { "memfd", 0x800000, 1 * MB, NULL, true, true },
	[O_SHANON] = { "shared-anon", 0xa00000, 256 << 10, NULL, true, true },
	[O_HUGE_SH] = { "hugetlb-shared", 0xc00000, 2 * MB, NULL, false,
			false },
	[O_HUGE_PRIV] = { "hugetlb-private", 0xe00000, 2 * MB, NULL, false,
			  false },
	[O_THP] = { "thp", 0x1000000, 4 * MB, NULL, false, true },
	[O_MIXED] = { "anon+ramfs", 0x1400000, 16 << 12, NULL, false, false },
};

/* Where mremap() moves an object for a moment. */
#define SPARE		(ARENA + 0x2000000ULL)

#define NFD		6

/* Per process (a fork child has its own copy). */
struct if_fd {
	int fd;			/* -1: closed */
	unsigned int gen;	/* bumped before each close */
	int busy;		/* a reopen or close under way */
};

static struct {
	struct if_fd fds[NFD];
	int efd[2];
	int memfd;
	int ramfd;
	int remap_busy[NOBJ];
	pid_t pid;
	int stop;		/* this process winds down */
	__u64 recent[8];	/* slot << 32 | channel, attached lately */
	struct kup_attach last[4];	/* recent attach arguments */
	unsigned long vdso, vvar;
} P;

static const char *const fd_dev[2] = { ECHO_PATH, "/dev/" ROT13_NAME };

/* A number that is never an open file. */
#define CLOSED_FD	1000

struct if_thr {
	struct rng rng;
	struct if_call *slot;
	bool child;		/* a quick fork child: no fork, no signal */
	unsigned long budget;
	volatile int done;
	pthread_t thread;
};

static bool if_stopping(void)
{
	return LOAD(&S->stop) || LOAD(&P.stop);
}

static struct if_call *slot_claim(void)
{
	int tid = gettid(), i;

	for (i = 0; i < IF_SLOTS; i++) {
		int zero = 0;

		if (__atomic_compare_exchange_n(&S->call[i].tid, &zero, tid,
						false, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED)) {
			struct if_call *c = &S->call[i];

			c->pid = getpid();
			c->busy = 0;
			c->stuck = 0;
			return c;
		}
	}
	return NULL;
}

static void slot_release(struct if_call *c)
{
	if (!c)
		return;
	c->busy = 0;
	c->pid = 0;
	STORE(&c->tid, 0);
}

/* A process was reaped: its threads' slots are free. */
static void slots_release_pid(pid_t pid)
{
	int i;

	for (i = 0; i < IF_SLOTS; i++)
		if (LOAD(&S->call[i].tid) && S->call[i].pid == pid)
			slot_release(&S->call[i]);
}

static unsigned int res_index(long ret)
{
	unsigned int i;

	for (i = 0; i < NRES - 1; i++)
		if ((ret == 0 && res_errno[i] == 0) ||
		    (ret < 0 && -ret == res_errno[i]))
			return i;
	return NRES - 1;
}

/* The fd of a random slot: which, and whether it may close meanwhile. */
struct fdref {
	int slot;
	int fd;
	unsigned int gen;
};

static struct fdref fd_of(struct if_thr *t, int slot)
{
	struct fdref f;

	f.slot = slot;
	f.gen = __atomic_load_n(&P.fds[f.slot].gen, __ATOMIC_SEQ_CST);
	f.fd = __atomic_load_n(&P.fds[f.slot].fd, __ATOMIC_SEQ_CST);
	if (f.fd < 0)
		f.fd = CLOSED_FD;
	return f;
}

static struct fdref fd_pick(struct if_thr *t)
{

	return fd_of(t, rng_below(&t->rng, NFD));
}

/*
 * The file may have been closed (and its number reused by any file of
 * this process) while we used it: then EBADF and ENOTTY may come too.
 */
static bool fd_stale(const struct fdref *f)
{
	return f->fd == CLOSED_FD ||
	       __atomic_load_n(&P.fds[f->slot].gen, __ATOMIC_SEQ_CST) !=
	       f->gen;
}

static long if_ioctl(struct if_thr *t, int op, int fd, unsigned int cmd,
		     void *arg, __u32 chan, __u64 addr, __u64 len)
{
	struct if_call *c = t->slot;
	long ret;

	c->op = op;
	c->cmd = cmd;
	c->fd = fd;
	c->chan = chan;
	c->addr = addr;
	c->len = len;
	STORE(&c->busy, 1);
	ret = ioctl(fd, cmd, arg);
	if (ret < 0)
		ret = -errno;
	STORE(&c->busy, 0);
	ADD(&c->seq, 1);
	ADD(&S->calls, 1);
	return ret;
}

/* Where an argument lies, for the report. */
static const char *const place_names[] = {
	"normal", "NULL", "kernel", "hole", "PROT_NONE", "straddling a hole",
	"read-only", "in a region",
};

enum { PL_NORMAL, PL_NULL, PL_KERNEL, PL_HOLE, PL_NONE, PL_EDGE, PL_RO,
	PL_REGION };

/* Read-only page offsets of prepared arguments. */
#define RO_ATTACH	0
#define RO_REQ		256
#define RO_EVENTFD	512

static void *arg_place(struct if_thr *t, void *local, size_t size,
		       unsigned int ro_off, int *place)
{
	unsigned int r = rng_below(&t->rng, 100);
	char *p;

	if (r < 84) {
		*place = PL_NORMAL;
		return local;
	}
	switch (r) {
	case 84: case 85: case 86:
		*place = PL_NULL;
		return NULL;
	case 87: case 88:
		*place = PL_KERNEL;
		return (void *)(uintptr_t)(r & 1 ? 0xffff888000000000ULL :
					   0xffffffff81000000ULL);
	case 89:
		*place = PL_HOLE;
		return (void *)(uintptr_t)HOLE;
	case 90:
		*place = PL_NONE;
		return pool[O_NONE].addr;
	case 91: case 92:
		*place = PL_EDGE;
		return (void *)(uintptr_t)(HOLE - 8);
	case 93: case 94: case 95:
		*place = PL_RO;
		return pool[O_RO].addr + ro_off;
	default:
		/* In memory the kernel may have attached (and formats). */
		*place = PL_REGION;
		p = pool[O_ANON].addr + 64 * rng_below(&t->rng, 32);
		memcpy(p, local, size);
		return p;
	}
}

/*
 * A channel for a channel command, and the file to use: often one
 * attached lately through that file, so that commands reach channels.
 */
static __u32 chan_pick(struct if_thr *t, struct fdref *f)
{
	static const __u32 odd[] = { 0, 3, 4, 5, KUP_CHAN_ANY,
		KUP_CHAN_ANY - 1, 0x7fffffff, 0x80000000, 1024 };
	unsigned int r = rng_below(&t->rng, 10);
	__u64 recent;

	if (r < 5) {
		recent = P.recent[rng_below(&t->rng, 8)];
		if (f && rng_pct(&t->rng, 80))
			*f = fd_of(t, (recent >> 32) % NFD);
		return (__u32)recent;
	}
	if (r < 8)
		return rng_below(&t->rng, 5);
	if (r < 9)
		return rng_pick(&t->rng, odd);
	return rng_u32(&t->rng);
}

/* Mostly zero, sometimes a bit, sometimes anything. */
static __u32 mostly_zero(struct if_thr *t, unsigned int pct)
{
	if (!rng_pct(&t->rng, pct))
		return 0;
	return rng_pct(&t->rng, 50) ? 1U << rng_below(&t->rng, 32) :
				      rng_u32(&t->rng);
}

static void if_report(struct if_thr *t, int op, const struct fdref *f,
		      unsigned int cmd, int place, const char *args, long ret)
{
	if_fail("pid %d tid %d: %s (cmd 0x%08x) on fd %d (%s%s), argument %s, %s: %s%ld (%s)",
		getpid(), gettid(), op_names[op], cmd, f->fd,
		f->fd == CLOSED_FD ? "closed" : fd_dev[f->slot % 2],
		fd_stale(f) ? ", closed meanwhile" : "", place_names[place],
		args, ret ? "errno " : "", ret < 0 ? -ret : ret,
		ret ? strerror(-ret) : "success");
	(void)t;
}

/* Count a result; fail the run if the command may not return it. */
static void if_check(struct if_thr *t, int op, const struct fdref *f,
		     unsigned int cmd, int place, const char *args, long ret)
{
	ADD(&S->res[op][res_index(ret)], 1);
	if (ret > 0 || (ret < 0 && !ioctl_err_ok(op, -ret))) {
		/* Closed meanwhile, the number may name any other file. */
		if (ret < 0 && fd_stale(f) && (-ret == EBADF || -ret == ENOTTY))
			return;
		if_report(t, op, f, cmd, place, args, ret);
	}
}

static void op_info(struct if_thr *t)
{
	struct fdref f = fd_pick(t);
	struct kup_info info;
	int place;
	void *argp;
	long ret;

	memset(&info, 0xa5, sizeof(info));
	argp = arg_place(t, &info, sizeof(info), RO_ATTACH, &place);
	ret = if_ioctl(t, OP_INFO, f.fd, KUP_IOC_INFO, argp, 0,
		       (uintptr_t)argp, 0);
	if_check(t, OP_INFO, &f, KUP_IOC_INFO, place, "", ret);
	if (!ret && place == PL_NORMAL &&
	    (info.abi_version != KUP_ABI_VERSION || !info.nchan ||
	     info.page_size != (__u64)sysconf(_SC_PAGESIZE) ||
	     info.features != KUP_FEATURES || info.reserved0 || info.reserved))
		if_fail("INFO on fd %d: abi %u nchan %u page %llu features %llx reserved %u %llu",
			f.fd, info.abi_version, info.nchan,
			(unsigned long long)info.page_size,
			(unsigned long long)info.features, info.reserved0,
			(unsigned long long)info.reserved);
}

/* An address and a length for an attach: pool memory or worse. */
static void range_pick(struct if_thr *t, __u64 *addr, __u64 *len)
{
	static const __u64 odd_addr[] = { 0, 1, 4096, 0xffff888000000000ULL,
		0xffffffff81000000ULL, 0x0000800000000000ULL,
		0x00007ffffffff000ULL, (__u64)-4096, HOLE, HOLE - 4096 };
	const __u64 page = 4096;
	struct pool_obj *o;
	__u64 pages, off;
	unsigned int r = rng_below(&t->rng, 100);

	if (r < 6) {
		*addr = rng_pick(&t->rng, odd_addr);
	} else if (r < 8 && (P.vdso || P.vvar)) {
		*addr = r & 1 ? P.vdso : P.vvar;
	} else {
		/* The pool, weighted towards memory that can be attached. */
		static const int objs[] = { O_ANON, O_ANON, O_ANON, O_ANON2,
			O_ANON2, O_RO, O_NONE, O_EDGE, O_RAMFS, O_RAMFS_PRIV,
			O_MEMFD, O_MEMFD, O_SHANON, O_SHANON, O_HUGE_SH,
			O_HUGE_PRIV, O_THP, O_THP, O_MIXED };

		o = &pool[rng_pick(&t->rng, objs)];
		pages = o->len / page;
		off = rng_pct(&t->rng, 50) ? 0 : rng_below(&t->rng, pages);
		*addr = ARENA + o->off + off * page;
		if (rng_pct(&t->rng, 3))
			*addr += 8 << rng_below(&t->rng, 9);	/* misaligned */
		switch (rng_below(&t->rng, 12)) {
		case 0:
			*len = page;
			return;
		case 1:
			*len = 2 * page;
			return;
		case 2: case 3: case 4:
			*len = (1 + rng_below(&t->rng, pages - off)) * page;
			return;
		case 5: case 6:
			*len = (pages - off) * page;
			return;
		case 7:
			*len = (pages - off + 1) * page;	/* past the end */
			return;
		case 8:
			*len = (1 + rng_below(&t->rng, 4)) * page +
			       rng_below(&t->rng, page);
			return;
		default:
			break;
		}
	}
	{
		static const __u64 odd_len[] = { 0, 1, 4095, 4096, 8192, 4097,
			3 * 4096 + 123, 1ULL << 30, 1ULL << 40, (__u64)-4096,
			(__u64)-1, 0x8000000000000000ULL };

		*len = rng_pick(&t->rng, odd_len);
	}
}

static void attach_fields(struct if_thr *t, struct kup_attach *a)
{
	static const __u32 bufs[] = { 0, 0, 0, 1, 127, 128, 129, 256, 384,
		4095, 4096, 4097, 8192, 65536, 1 << 20, 4 << 20, (4 << 20) + 1,
		0x7fffffff, 0xffffffff, 0xffffff80 };
	static const __u32 slots[] = { 0, 0, 1, 1, 1, 2, 3, 4, 8, 16, 63, 64,
		65, 1000, 0xffffffff };
	unsigned int r;

	memset(a, 0, sizeof(*a));
	if (rng_pct(&t->rng, 20)) {
		/* Again a range attached lately: on another channel too. */
		*a = P.last[rng_below(&t->rng, 4)];
		a->chan = rng_pct(&t->rng, 50) ? KUP_CHAN_ANY :
						 rng_below(&t->rng, 4);
		return;
	}
	if (rng_pct(&t->rng, 35)) {
		/* Well formed, in memory that may be attached. */
		static const int objs[] = { O_ANON, O_ANON2, O_MEMFD, O_SHANON,
			O_HUGE_SH, O_HUGE_PRIV, O_THP };
		struct pool_obj *o = &pool[rng_pick(&t->rng, objs)];
		__u32 pages = o->len / 4096, off = rng_below(&t->rng, pages);

		a->addr = ARENA + o->off + (__u64)off * 4096;
		a->len = (1 + rng_below(&t->rng, pages - off)) * 4096ULL;
		a->chan = rng_pct(&t->rng, 70) ? KUP_CHAN_ANY :
						 rng_below(&t->rng, 4);
		a->nslots = rng_pct(&t->rng, 50) ? 1 : rng_below(&t->rng, 9);
		a->buf_size = rng_pct(&t->rng, 50) ? 0 :
			      128 * (1 + rng_below(&t->rng, 32));
		return;
	}
	range_pick(t, &a->addr, &a->len);
	r = rng_below(&t->rng, 10);
	a->chan = r < 6 ? KUP_CHAN_ANY : chan_pick(t, NULL);
	a->flags = mostly_zero(t, 4);
	a->nslots = rng_pick(&t->rng, slots);
	if (rng_pct(&t->rng, 3))
		a->nslots = rng_u32(&t->rng);
	a->buf_size = rng_pick(&t->rng, bufs);
	if (rng_pct(&t->rng, 10))
		a->buf_size = 128 * (1 + rng_below(&t->rng, 64));
	a->reserved = rng_pct(&t->rng, 4) ? rng_next(&t->rng) : 0;
}

static void op_attach(struct if_thr *t)
{
	struct fdref f = fd_pick(t);
	struct kup_attach a, *ap;
	char args[200];
	int place;
	long ret;

	attach_fields(t, &a);
	snprintf(args, sizeof(args),
		 "addr 0x%llx len 0x%llx chan 0x%x flags 0x%x nslots %u buf_size %u reserved 0x%llx",
		 (unsigned long long)a.addr, (unsigned long long)a.len, a.chan,
		 a.flags, a.nslots, a.buf_size,
		 (unsigned long long)a.reserved);
	ap = (struct kup_attach *)arg_place(t, &a, sizeof(a), RO_ATTACH,
					    &place);
	ret = if_ioctl(t, OP_ATTACH, f.fd, KUP_IOC_ATTACH, ap, a.chan, a.addr,
		       a.len);
	if_check(t, OP_ATTACH, &f, KUP_IOC_ATTACH, place, args, ret);
	if (ret || place != PL_NORMAL)
		return;
	if (a.chan >= 4 || a.buf_size < KUP_LINE_SIZE ||
	    a.buf_size % KUP_LINE_SIZE)
		if_fail("ATTACH on fd %d (%s) gave chan %u buf_size %u",
			f.fd, args, a.chan, a.buf_size);
	P.recent[rng_below(&t->rng, 8)] = (__u64)f.slot << 32 | a.chan;
	P.last[rng_below(&t->rng, 4)] = a;
}

/* DETACH, WAKE, WAIT */
static void op_chan(struct if_thr *t, int op)
{
	static const unsigned int cmds[] = { [OP_DETACH] = KUP_IOC_DETACH,
		[OP_WAKE] = KUP_IOC_WAKE, [OP_WAIT] = KUP_IOC_WAIT };
	struct fdref f = fd_pick(t);
	struct kup_chan_req req, *rp;
	char args[100];
	int place;
	long ret;

	memset(&req, 0, sizeof(req));
	req.chan = chan_pick(t, &f);
	req.flags = mostly_zero(t, 5);
	req.reserved = rng_pct(&t->rng, 5) ? rng_next(&t->rng) : 0;
	snprintf(args, sizeof(args), "chan 0x%x flags 0x%x reserved 0x%llx",
		 req.chan, req.flags, (unsigned long long)req.reserved);
	rp = (struct kup_chan_req *)arg_place(t, &req, sizeof(req), RO_REQ,
					      &place);
	ret = if_ioctl(t, op, f.fd, cmds[op], rp, req.chan, 0, 0);
	if_check(t, op, &f, cmds[op], place, args, ret);
}

static void op_eventfd(struct if_thr *t)
{
	struct fdref f = fd_pick(t);
	struct kup_eventfd e, *ep;
	char args[100];
	int place;
	long ret;

	memset(&e, 0, sizeof(e));
	e.chan = chan_pick(t, &f);
	switch (rng_below(&t->rng, 10)) {
	case 0: case 1: case 2:
		e.fd = P.efd[rng_below(&t->rng, 2)];
		break;
	case 3: case 4:
		e.fd = KUP_EVENTFD_NONE;
		break;
	case 5:
		e.fd = f.fd;		/* not an eventfd */
		break;
	case 6:
		e.fd = P.memfd;
		break;
	case 7:
		e.fd = CLOSED_FD;
		break;
	case 8:
		e.fd = 0x80000000U;
		break;
	default:
		e.fd = rng_u32(&t->rng);
		break;
	}
	e.reserved = rng_pct(&t->rng, 5) ? rng_next(&t->rng) : 0;
	snprintf(args, sizeof(args), "chan 0x%x fd %u reserved 0x%llx",
		 e.chan, e.fd, (unsigned long long)e.reserved);
	ep = (struct kup_eventfd *)arg_place(t, &e, sizeof(e), RO_EVENTFD,
					     &place);
	ret = if_ioctl(t, OP_EVENTFD, f.fd, KUP_IOC_EVENTFD, ep, e.chan, 0, 0);
	if_check(t, OP_EVENTFD, &f, KUP_IOC_EVENTFD, place, args, ret);
}

static bool cmd_known(unsigned int cmd)
{
	return cmd == KUP_IOC_INFO || cmd == KUP_IOC_ATTACH ||
	       cmd == KUP_IOC_DETACH || cmd == KUP_IOC_WAKE ||
	       cmd == KUP_IOC_WAIT || cmd == KUP_IOC_EVENTFD;
}

/*
 * Unknown numbers of kup's magic, kup's numbers with the wrong size or
 * direction, and numbers of magics nothing else in the VFS answers.
 */
static void op_unknown(struct if_thr *t)
{
	static const unsigned int sizes[] = { 0, 1, 4, 8, 16, 24, 32, 40, 48,
		63, 64, 72, 4096, 16383 };
	static const unsigned int magics[] = { 0xc4, 0xc6, 'x' };
	struct fdref f = fd_pick(t);
	unsigned int cmd, dir, type, nr, size;
	char buf[64], args[64];
	long ret;

	do {
		dir = rng_below(&t->rng, 4);
		size = rng_pick(&t->rng, sizes);
		switch (rng_below(&t->rng, 3)) {
		case 0:
			type = KUP_IOC_MAGIC;
			nr = 6 + rng_below(&t->rng, 250);
			break;
		case 1:
			type = KUP_IOC_MAGIC;
			nr = rng_below(&t->rng, 6);
			break;
		default:
			type = rng_pick(&t->rng, magics);
			nr = rng_below(&t->rng, 256);
			break;
		}
		cmd = _IOC(dir, type, nr, size);
	} while (cmd_known(cmd));
	memset(buf, 0, sizeof(buf));
	snprintf(args, sizeof(args), "dir %u type 0x%x nr %u size %u", dir,
		 type, nr, size);
	ret = if_ioctl(t, OP_UNKNOWN, f.fd, cmd, rng_pct(&t->rng, 80) ? buf :
		       NULL, 0, 0, 0);
	if_check(t, OP_UNKNOWN, &f, cmd, PL_NORMAL, args, ret);
}

/*
 * Replace a file by a new one of the same device, or close it; one at a
 * time per slot, so that a number is never reused under a reopen.
 */
static void op_reopen(struct if_thr *t, bool close_it)
{
	int s = rng_below(&t->rng, NFD), fd, old, zero = 0, i;

	/* A reopen mostly fills a closed slot. */
	for (i = 0; !close_it && i < NFD && rng_pct(&t->rng, 75); i++)
		if (LOAD(&P.fds[(s + i) % NFD].fd) < 0) {
			s = (s + i) % NFD;
			break;
		}
	if (!__atomic_compare_exchange_n(&P.fds[s].busy, &zero, 1, false,
					 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return;
	old = __atomic_load_n(&P.fds[s].fd, __ATOMIC_SEQ_CST);
	if (close_it) {
		if (old >= 0) {
			__atomic_store_n(&P.fds[s].fd, -1, __ATOMIC_SEQ_CST);
			__atomic_add_fetch(&P.fds[s].gen, 1, __ATOMIC_SEQ_CST);
			close(old);
		}
		goto out;
	}
	fd = open(fd_dev[s % 2], O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		if_fail("open %s: %s", fd_dev[s % 2], strerror(errno));
		goto out;
	}
	if (old >= 0) {
		/* dup2() swaps the file behind the number atomically. */
		if (dup2(fd, old) < 0)
			if_fail("dup2: %s", strerror(errno));
		close(fd);
	} else {
		__atomic_store_n(&P.fds[s].fd, fd, __ATOMIC_SEQ_CST);
	}
out:
	STORE(&P.fds[s].busy, 0);
}

/*
 * Unmap, move or zap memory that may be attached: the kernel keeps its
 * pinned pages, the process gets new ones.
 */
static void op_remap(struct if_thr *t)
{
	static const int objs[] = { O_ANON, O_ANON2, O_MEMFD, O_SHANON,
		O_THP };
	int i = rng_pick(&t->rng, objs), zero = 0;
	struct pool_obj *o = &pool[i];
	int prot = PROT_READ | PROT_WRITE;
	void *p, *q;

	if (!__atomic_compare_exchange_n(&P.remap_busy[i], &zero, 1, false,
					 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return;
	if (!o->remap || rng_pct(&t->rng, 40)) {
		madvise(o->addr, o->len, MADV_DONTNEED);
		goto out;
	}
	/*
	 * A fork child may have been forked between our parent's munmap()
	 * and mmap(): then the range is a hole here and mremap() fails.
	 */
	q = MAP_FAILED;
	if (rng_pct(&t->rng, 50))
		q = mremap(o->addr, o->len, o->len,
			   MREMAP_MAYMOVE | MREMAP_FIXED, (void *)SPARE);
	if (q != MAP_FAILED)
		munmap(q, o->len);
	else
		munmap(o->addr, o->len);
	if (i == O_MEMFD)
		p = mmap(o->addr, o->len, prot, MAP_SHARED | MAP_FIXED_NOREPLACE,
			 P.memfd, 0);
	else
		p = mmap(o->addr, o->len, prot, MAP_FIXED_NOREPLACE |
			 (i == O_SHANON ? MAP_SHARED : MAP_PRIVATE) |
			 MAP_ANONYMOUS, -1, 0);
	if (p != o->addr)
		if_fail("mmap %s again: %s", o->name, strerror(errno));
out:
	STORE(&P.remap_busy[i], 0);
}

static void op_signal(struct if_thr *t)
{
	int i = rng_below(&t->rng, IF_SLOTS);
	int tid = LOAD(&S->call[i].tid);

	if (tid && tid != gettid() && S->call[i].pid == P.pid)
		syscall(SYS_tgkill, P.pid, tid, SIGUSR1);
}

static void if_run(struct if_thr *t);

/*
 * In a new fork child: fork copies the file table before the memory, so
 * a number another thread opened in between may be in our copy of P.fds
 * without being open here. And no thread of ours is inside a reopen or a
 * remap any more.
 */
static void fork_fixup(void)
{
	int i;

	P.pid = getpid();
	memset(P.remap_busy, 0, sizeof(P.remap_busy));
	for (i = 0; i < NFD; i++) {
		P.fds[i].busy = 0;
		if (P.fds[i].fd >= 0 && fcntl(P.fds[i].fd, F_GETFD) < 0)
			P.fds[i].fd = -1;
	}
}

/*
 * A quick child: a few calls on the files and memory it inherited (its
 * parent's channels are not its own), then it exits, closes its files
 * first, or is killed.
 */
static void quick_child(uint64_t stream)
{
	struct if_thr t;

	memset(&t, 0, sizeof(t));
	fork_fixup();
	rng_init(&t.rng, fuzz_seed, 1000000 + stream, 0);
	t.child = true;
	t.budget = 10 + rng_below(&t.rng, 200);
	t.slot = slot_claim();
	if (!t.slot)
		_exit(0);
	if_run(&t);
	switch (rng_below(&t.rng, 3)) {
	case 0:
		break;
	case 1: {
		int i;

		for (i = 0; i < NFD; i++)
			if (P.fds[i].fd >= 0)
				close(P.fds[i].fd);
		break;
	}
	default:
		kill(getpid(), SIGKILL);
		break;
	}
	slot_release(t.slot);
	_exit(0);
}

static void op_fork(struct if_thr *t)
{
	uint64_t stream = rng_next(&t->rng);
	pid_t pid;

	pid = fork();
	if (pid == 0)
		quick_child(stream);
	if (pid > 0)
		ADD(&S->forks, 1);
}

static void if_op(struct if_thr *t)
{
	static const unsigned char weights[NOPS] = {
		[OP_INFO] = 4, [OP_ATTACH] = 30, [OP_DETACH] = 16,
		[OP_WAKE] = 7, [OP_WAIT] = 6, [OP_EVENTFD] = 7,
		[OP_UNKNOWN] = 6, [OP_REOPEN] = 4, [OP_CLOSE] = 1,
		[OP_REMAP] = 4, [OP_FORK] = 1, [OP_SIGNAL] = 3,
	};
	unsigned int r = rng_below(&t->rng, 89), op;

	for (op = 0; op < NOPS - 1 && r >= weights[op]; op++)
		r -= weights[op];
	switch (op) {
	case OP_INFO:
		op_info(t);
		break;
	case OP_ATTACH:
		op_attach(t);
		break;
	case OP_DETACH:
	case OP_WAKE:
	case OP_WAIT:
		op_chan(t, op);
		break;
	case OP_EVENTFD:
		op_eventfd(t);
		break;
	case OP_UNKNOWN:
		op_unknown(t);
		break;
	case OP_REOPEN:
	case OP_CLOSE:
		op_reopen(t, op == OP_CLOSE);
		break;
	case OP_REMAP:
		op_remap(t);
		break;
	case OP_FORK:
		if (!t->child)
			op_fork(t);
		break;
	default:
		if (!t->child)
			op_signal(t);
		break;
	}
}

static void if_run(struct if_thr *t)
{
	unsigned long n;

	for (n = 0; n < t->budget && !if_stopping(); n++)
		if_op(t);
}

static void *if_thread(void *arg)
{
	struct if_thr *t = (struct if_thr *)arg;

	t->slot = slot_claim();
	if (t->slot) {
		ADD(&S->threads, 1);
		if_run(t);
		slot_release(t->slot);
	}
	STORE(&t->done, 1);
	return NULL;
}

/* Threads of one process: kept at n, each living for a random budget. */
struct if_crew {
	struct if_thr thr[4];
	bool live[4];
	unsigned int n;
	uint64_t stream;
	unsigned long spawned;
};

static void crew_tick(struct if_crew *c, bool respawn)
{
	unsigned int i;

	for (i = 0; i < c->n; i++) {
		struct if_thr *t = &c->thr[i];

		if (c->live[i] && LOAD(&t->done)) {
			pthread_join(t->thread, NULL);
			c->live[i] = false;
		}
		if (!c->live[i] && respawn && !if_stopping()) {
			memset(t, 0, sizeof(*t));
			rng_init(&t->rng, fuzz_seed, c->stream,
				 c->spawned++);
			t->budget = 200 + rng_below(&t->rng, 3000);
			if (!pthread_create(&t->thread, NULL, if_thread, t))
				c->live[i] = true;
		}
	}
}

/* Interrupt the crew's blocked calls until every thread has ended. */
static bool crew_end(struct if_crew *c, int ms)
{
	unsigned int i, live;

	for (;;) {
		crew_tick(c, false);
		for (i = live = 0; i < c->n; i++) {
			if (!c->live[i])
				continue;
			live++;
			pthread_kill(c->thr[i].thread, SIGUSR1);
		}
		if (!live)
			return true;
		if (ms-- <= 0)
			return false;
		usleep(1000);
	}
}

/* Reap what has ended; a worker process among them leaves procs[]. */
static void reap_children(pid_t *procs, int n)
{
	pid_t pid;
	int status, i;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		slots_release_pid(pid);
		for (i = 0; i < n; i++)
			if (procs[i] == pid)
				procs[i] = 0;
	}
}

/* A worker process: two threads, then it exits in one of three ways. */
static void worker_main(uint64_t stream)
{
	struct if_crew crew;
	struct rng rng;
	unsigned long ticks;

	P.stop = 0;
	fork_fixup();
	memset(&crew, 0, sizeof(crew));
	crew.n = 2;
	crew.stream = 2000000 + stream * 1000;
	rng_init(&rng, fuzz_seed, 3000000 + stream, 0);
	ticks = 200 + rng_below(&rng, 3000);
	while (ticks-- && !if_stopping()) {
		crew_tick(&crew, true);
		reap_children(NULL, 0);
		usleep(1000);
	}
	STORE(&P.stop, 1);
	/* The top's watchdog reports a call that never ends. */
	while (!crew_end(&crew, 1000))
		;
	reap_children(NULL, 0);
	switch (rng_below(&rng, 3)) {
	case 0:
		_exit(0);
	case 1: {
		int i;

		for (i = 0; i < NFD; i++)
			if (P.fds[i].fd >= 0)
				close(P.fds[i].fd);
		_exit(0);
	}
	default:
		kill(getpid(), SIGKILL);
		_exit(0);
	}
}

/*
 * The watchdog, from the test's main thread: a call that made no
 * progress for a while is interrupted if it is a WAIT (it may sleep
 * until its channel changes), and is reported as a hang after 30 s.
 */
#define WD_TICK_MS	250
#define WD_SIGNAL	8	/* ticks: 2 s */
#define WD_HANG		120	/* ticks: 30 s */

static void watchdog_tick(void)
{
	int i;

	for (i = 0; i < IF_SLOTS; i++) {
		struct if_call *c = &S->call[i];
		int tid = LOAD(&c->tid), pid = c->pid;
		unsigned long seq = LOAD(&c->seq);
		char st;

		if (!tid || !LOAD(&c->busy) || seq != c->last_seq) {
			c->last_seq = seq;
			c->stuck = 0;
			continue;
		}
		st = task_state(pid, tid);
		if (!st || st == 'Z' || st == 'X')
			continue;
		c->stuck++;
		if (c->stuck >= WD_SIGNAL)
			syscall(SYS_tgkill, pid, tid, SIGUSR1);
		if (c->stuck == WD_HANG) {
			task_dump(pid, tid);
			if_fail("pid %d tid %d: %s (cmd 0x%08x) on fd %d, chan 0x%x addr 0x%llx len 0x%llx, hangs (state %c) for %d s",
				pid, tid, op_names[c->op], c->cmd, c->fd,
				c->chan, (unsigned long long)c->addr,
				(unsigned long long)c->len, st,
				WD_HANG * WD_TICK_MS / 1000);
		}
	}
}

static int pool_map(struct pool_obj *o, int prot, int flags, int fd,
		    off_t off)
{
	void *p = mmap((void *)(uintptr_t)(ARENA + o->off), o->len, prot,
		       flags | MAP_FIXED_NOREPLACE, fd, off);

	if (p == MAP_FAILED)
		return -errno;
	o->addr = (char *)p;
	return 0;
}

static void find_vdso(void)
{
	char line[256];
	FILE *f = fopen("/proc/self/maps", "r");
	unsigned long lo, hi;

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx", &lo, &hi) != 2)
			continue;
		if (strstr(line, "[vdso]"))
			P.vdso = lo;
		if (strstr(line, "[vvar]"))
			P.vvar = lo;
	}
	fclose(f);
}

static char ramfs_dir[64];

static void pool_setup(struct __test_metadata *_metadata)
{
	const int rw = PROT_READ | PROT_WRITE;
	const int anon = MAP_PRIVATE | MAP_ANONYMOUS;
	struct kup_attach *a;
	struct kup_chan_req *q;
	struct kup_eventfd *e;
	char path[96];
	int i;

	ASSERT_EQ(0, pool_map(&pool[O_ANON], rw, anon, -1, 0));
	ASSERT_EQ(0, pool_map(&pool[O_ANON2], rw, anon, -1, 0));
	ASSERT_EQ(0, pool_map(&pool[O_RO], rw, anon, -1, 0));
	/* Prepared arguments that can be read but not written back. */
	a = (struct kup_attach *)(pool[O_RO].addr + RO_ATTACH);
	a->addr = ARENA + pool[O_ANON2].off;
	a->len = 2 * 4096;
	a->chan = KUP_CHAN_ANY;
	q = (struct kup_chan_req *)(pool[O_RO].addr + RO_REQ);
	q->chan = 0;
	e = (struct kup_eventfd *)(pool[O_RO].addr + RO_EVENTFD);
	e->chan = 0;
	e->fd = KUP_EVENTFD_NONE;
	ASSERT_EQ(0, mprotect(pool[O_RO].addr, pool[O_RO].len, PROT_READ));
	ASSERT_EQ(0, pool_map(&pool[O_NONE], PROT_NONE, anon, -1, 0));
	ASSERT_EQ(0, pool_map(&pool[O_EDGE], rw, anon, -1, 0));
	/* The hole stays a hole. */
	ASSERT_EQ(-1, msync((void *)(uintptr_t)HOLE, 4096, MS_ASYNC));
	pool[O_HOLE].addr = (char *)(uintptr_t)HOLE;

	snprintf(ramfs_dir, sizeof(ramfs_dir), "/tmp/kup-fuzz.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(ramfs_dir));
	ASSERT_EQ(0, mount("none", ramfs_dir, "ramfs", 0, NULL));
	snprintf(path, sizeof(path), "%s/f", ramfs_dir);
	P.ramfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	ASSERT_LE(0, P.ramfd);
	ASSERT_EQ(0, ftruncate(P.ramfd, 64 << 12));
	ASSERT_EQ(0, pool_map(&pool[O_RAMFS], rw, MAP_SHARED, P.ramfd, 0));
	ASSERT_EQ(0, pool_map(&pool[O_RAMFS_PRIV], rw, MAP_PRIVATE, P.ramfd,
			      0));
	P.memfd = memfd_create("kup-fuzz", MFD_CLOEXEC);
	ASSERT_LE(0, P.memfd);
	ASSERT_EQ(0, ftruncate(P.memfd, pool[O_MEMFD].len));
	ASSERT_EQ(0, pool_map(&pool[O_MEMFD], rw, MAP_SHARED, P.memfd, 0));
	ASSERT_EQ(0, pool_map(&pool[O_SHANON], rw, MAP_SHARED | MAP_ANONYMOUS,
			      -1, 0));
	ASSERT_EQ(0, pool_map(&pool[O_HUGE_SH], rw, MAP_SHARED |
			      MAP_ANONYMOUS | MAP_HUGETLB, -1, 0));
	ASSERT_EQ(0, pool_map(&pool[O_HUGE_PRIV], rw, anon | MAP_HUGETLB, -1,
			      0));
	/* A fork child would need a huge page of its own to copy it into. */
	ASSERT_EQ(0, madvise(pool[O_HUGE_PRIV].addr, pool[O_HUGE_PRIV].len,
			     MADV_DONTFORK));
	ASSERT_EQ(0, pool_map(&pool[O_THP], rw, anon, -1, 0));
	madvise(pool[O_THP].addr, pool[O_THP].len, MADV_HUGEPAGE);
	/* Half anonymous, half a ramfs file: refused as a whole. */
	ASSERT_EQ(0, pool_map(&pool[O_MIXED], rw, anon, -1, 0));
	ASSERT_NE(MAP_FAILED, mmap(pool[O_MIXED].addr + 8 * 4096, 8 * 4096, rw,
				   MAP_SHARED | MAP_FIXED, P.ramfd, 0));
	for (i = 0; i < NOBJ; i++)
		if (i != O_RO && i != O_NONE && i != O_HOLE)
			memset(pool[i].addr, 0x11 * i, pool[i].len);
	find_vdso();
}

static void pool_teardown(void)
{
	int i;

	for (i = 0; i < NOBJ; i++)
		if (i != O_HOLE && pool[i].addr)
			munmap((void *)(uintptr_t)(ARENA + pool[i].off),
			       pool[i].len);
	munmap((void *)(uintptr_t)SPARE, pool[O_ANON].len);
	close(P.ramfd);
	close(P.memfd);
	umount(ramfs_dir);
	rmdir(ramfs_dir);
}

/* Both services answer a fresh channel, byte for byte. */
static void services_answer(struct __test_metadata *_metadata)
{
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;
	const void *d = NULL;
	unsigned long n;

	/* The fuzzers' sessions have ended (kup_stress.h). */
	ASSERT_EQ(0, echo_idle_wait(10000));
	ASSERT_EQ(0, echo_attach(&dev, &ch, 4096));
	for (n = 0; n < 20; n++)
		ASSERT_EQ(0, roundtrip(ch, n, 1 + n * 97 % 4096, 0));
	kup_chan_close(ch);
	ASSERT_EQ(0, kup_chan_attach_slots(dev, KUP_CHAN_ANY, 1024, 4, 0, &ch));
	for (n = 0; n < 20; n++)
		ASSERT_EQ(0, roundtrip(ch, n, 1 + n * 53 % 1024, 0));
	kup_chan_close(ch);
	kup_close(dev);

	ASSERT_EQ(0, kup_open(ROT13_NAME, &dev));
	ASSERT_EQ(0, kup_chan_attach(dev, KUP_CHAN_ANY, 0, 0, &ch));
	ASSERT_EQ(0, kup_recv(ch, &d, 0));	/* the first turn, empty */
	ASSERT_EQ(0, kup_send(ch, "Uryyb", 6, 0));
	ASSERT_EQ(6, kup_recv(ch, &d, 0));
	EXPECT_STREQ("Hello", (const char *)d);
	kup_chan_close(ch);
	kup_close(dev);
}

static void print_results(void)
{
	unsigned int op, i;
	char line[512];
	int n;

	for (op = 0; op < NOPS; op++) {
		bool any = false;

		n = snprintf(line, sizeof(line), "#   %-8s", op_names[op]);
		for (i = 0; i < NRES; i++) {
			unsigned long v = S->res[op][i];

			if (!v)
				continue;
			any = true;
			n += snprintf(line + n, sizeof(line) - n, " %s %lu",
				      i == 0 ? "ok" : i == NRES - 1 ? "other" :
				      strerrorname_np(res_errno[i]), v);
		}
		if (any)
			printf("%s\n", line);
	}
}

TEST_F_TIMEOUT(fuzz, ioctls, 2400)
{
	uint64_t deadline, next_wd, t0 = now_ns();
	struct if_crew crew;
	pid_t procs[2] = { 0, 0 };
	uint64_t kill_at[2] = { 0, 0 };
	unsigned long nprocs = 0;
	struct rng rng;
	bool ended;
	int i;

	S = (struct if_shared *)shared_alloc(sizeof(*S));
	ASSERT_NE(NULL, S);
	memset(&P, 0, sizeof(P));
	P.pid = getpid();
	/* Orphaned grandchildren come back to us to be reaped. */
	ASSERT_EQ(0, prctl(PR_SET_CHILD_SUBREAPER, 1));
	pool_setup(_metadata);
	for (i = 0; i < NFD; i++) {
		P.fds[i].fd = open(fd_dev[i % 2], O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, P.fds[i].fd) TH_LOG("%s", fd_dev[i % 2]);
	}
	for (i = 0; i < 2; i++) {
		P.efd[i] = eventfd(0, EFD_CLOEXEC);
		ASSERT_LE(0, P.efd[i]);
	}
	rng_init(&rng, fuzz_seed, 0, 0);
	memset(&crew, 0, sizeof(crew));
	crew.n = 3;
	crew.stream = 1;

	fflush(stdout);
	deadline = t0 + fuzz_secs * 1000000000ULL;
	next_wd = t0;
	while (now_ns() < deadline && !LOAD(&S->stop)) {
		crew_tick(&crew, true);
		reap_children(procs, 2);
		for (i = 0; i < 2; i++) {
			if (procs[i] && kill_at[i] && now_ns() >= kill_at[i]) {
				/* Killed in the middle of whatever it does. */
				kill(procs[i], SIGKILL);
				ADD(&S->kills, 1);
				kill_at[i] = 0;
			}
			if (!procs[i]) {
				uint64_t stream = nprocs++;

				fflush(stdout);
				procs[i] = fork();
				if (procs[i] == 0)
					worker_main(stream);
				if (procs[i] < 0)
					procs[i] = 0;
				else
					ADD(&S->procs, 1);
				/* Half of them are killed after a while. */
				kill_at[i] = rng_pct(&rng, 50) ? now_ns() +
					(300 + rng_below(&rng, 3000)) *
					1000000ULL : 0;
			}
		}
		if (now_ns() >= next_wd) {
			watchdog_tick();
			next_wd = now_ns() + WD_TICK_MS * 1000000ULL;
		}
		usleep(1000);
	}

	/* Stop: every call must end, every process must go. */
	STORE(&S->stop, 1);
	next_wd = now_ns();
	for (i = 0; i < 60000; i++) {
		crew_end(&crew, 0);
		reap_children(procs, 2);
		if (now_ns() >= next_wd) {
			watchdog_tick();
			next_wd = now_ns() + WD_TICK_MS * 1000000ULL;
		}
		ended = !crew.live[0] && !crew.live[1] && !crew.live[2];
		if (ended && waitpid(-1, NULL, WNOHANG) < 0 &&
		    errno == ECHILD)
			break;
		usleep(1000);
	}
	printf("# ioctl fuzzer: %lu calls, %lu threads/%lu processes (%lu quick forks, %lu killed) in %.1f s\n",
	       S->calls, S->threads, S->procs, S->forks, S->kills,
	       (now_ns() - t0) / 1e9);
	print_results();
	if (S->failed)
		printf("# seed %llu: %s\n", (unsigned long long)fuzz_seed,
		       S->report);
	ASSERT_EQ(0, S->failed) TH_LOG("seed %llu: %s",
				       (unsigned long long)fuzz_seed,
				       S->report);
	ASSERT_EQ(-1, waitpid(-1, NULL, WNOHANG)) TH_LOG("processes left");

	/* Nothing stays pinned once every file is closed. */
	for (i = 0; i < NFD; i++)
		if (P.fds[i].fd >= 0)
			close(P.fds[i].fd);
	close(P.efd[0]);
	close(P.efd[1]);
	EXPECT_EQ(self->pins0, pins_wait(self->pins0, 10000));
	EXPECT_EQ(0, vm_pinned_kb());
	EXPECT_LT(1000, S->calls);
	EXPECT_LT(0, S->res[OP_ATTACH][0]);
	pool_teardown();
	services_answer(_metadata);
	EXPECT_EQ(self->pins0, pins_wait(self->pins0, 10000));
}

/* ------------------------------------------------------------------ */
/* The shared-memory fuzzer                                            */
/* ------------------------------------------------------------------ */

#define SM_CHANS	4	/* kup_echo's channels */
#define SM_SCRIBBLERS	2
#define SM_ROUND_MS	1500
#define PAGE		4096UL

/* A channel built on our own mapping: canary page, region, canary page. */
struct sm_chan {
	struct kup_channel ch;
	struct kup_region_hdr hdr;	/* as the kernel wrote it at attach */
	unsigned char *map;
	size_t map_len;
	unsigned char *region;
	size_t layout;			/* bytes the layout uses */
	size_t attach_len;		/* bytes attached: layout or more */
	size_t region_len;		/* attach_len in whole pages */
	int memfd;
	bool rot13;			/* on kup_rot13, not kup_echo */
	/* its driver thread */
	pthread_t thread;
	struct rng rng;
	struct sm_run *run;
	volatile int done;
	volatile pid_t tid;
	volatile int op;		/* what it does now, for a report */
};

struct sm_run {
	struct kup_device *dev;
	struct kup_device *rot13;	/* some rounds: one channel there */
	struct sm_chan chans[SM_CHANS];
	unsigned int n;
	int efd;
	int stop_scribble;
	int stop_drive;
	unsigned int pace;		/* of the scribblers this round */
	unsigned long writes;
	unsigned long calls;
	long parked_seen;		/* parks resumed */
	unsigned int round;
};

static unsigned char canary_byte(size_t i)
{
	return (unsigned char)(0x5a ^ (i * 31) ^ (i >> 9));
}

static unsigned char tail_byte(size_t i)
{
	return (unsigned char)(0xa5 ^ (i * 7));
}

/* Resume every kup_echo worker parked by a command (PARK, HARDIRQ...). */
static void sm_resume_parked(struct sm_run *run)
{
	long parked = echo_stat("parked");

	if (parked > run->parked_seen) {
		echo_resume();
		run->parked_seen = parked;
	}
}

static int sm_attach(struct sm_run *run, struct sm_chan *c, struct rng *r,
		     bool rot13)
{
	static const __u32 bufs[] = { 128, 256, 384, 640, 1024, 4096, 8320 };
	struct kup_device *dev = rot13 ? run->rot13 : run->dev;
	__u32 nslots = rng_pct(r, 50) ? 1 : 2 + rng_below(r, 7);
	/* kup_rot13 has buffers of exactly one page (FreeBSD KUP). */
	__u32 buf = rot13 ? PAGE : rng_pick(r, bufs);
	struct kup_attach a;
	size_t i;
	int ret;

	memset(c, 0, sizeof(*c));
	c->run = run;
	c->rot13 = rot13;
	c->memfd = -1;
	c->layout = kup_region_size(nslots, buf, PAGE);
	/* Sometimes more than the layout: the rest must stay untouched. */
	c->attach_len = c->layout + (rng_pct(r, 30) ? PAGE : 0);
	c->region_len = (c->attach_len + PAGE - 1) / PAGE * PAGE;
	c->map_len = c->region_len + 2 * PAGE;
	if (rng_pct(r, 30)) {
		c->memfd = memfd_create("kup-shm-fuzz", MFD_CLOEXEC);
		if (c->memfd < 0 || ftruncate(c->memfd, c->map_len))
			return -errno;
		c->map = (unsigned char *)mmap(NULL, c->map_len,
					       PROT_READ | PROT_WRITE,
					       MAP_SHARED, c->memfd, 0);
	} else {
		c->map = (unsigned char *)mmap(NULL, c->map_len,
					       PROT_READ | PROT_WRITE,
					       MAP_PRIVATE | MAP_ANONYMOUS,
					       -1, 0);
	}
	if (c->map == MAP_FAILED) {
		c->map = NULL;
		return -errno;
	}
	c->region = c->map + PAGE;
	for (i = 0; i < PAGE; i++) {
		c->map[i] = canary_byte(i);
		c->region[c->region_len + i] = canary_byte(i);
	}
	for (i = c->layout; i < c->region_len; i++)
		c->region[i] = tail_byte(i);

	memset(&a, 0, sizeof(a));
	a.addr = (uintptr_t)c->region;
	a.len = c->attach_len;
	a.chan = KUP_CHAN_ANY;
	a.nslots = nslots;
	a.buf_size = buf;
	if (ioctl(kup_fd(dev), KUP_IOC_ATTACH, &a))
		return -errno;
	/* A channel of lib/kup.h on this memory, as kup_chan_attach() makes. */
	c->ch.dev = dev;
	c->ch.mem = c->region;
	c->ch.mem_len = c->attach_len;
	c->ch.chan = a.chan;
	c->ch.nslots = nslots;
	kup_chan_set_spin(&c->ch, rng_below(r, 2048));
	kup_chan_set_poll_limit(&c->ch, 100000);
	ret = kupi_chan_map(&c->ch);
	if (ret)
		return ret;
	if (c->ch.buf_size != buf)
		return -EMSGSIZE;
	memcpy(&c->hdr, c->region, sizeof(c->hdr));
	return 0;
}

/* Canaries and the unused tail: where the kernel must never write. */
static int sm_canaries(struct sm_chan *c, char *why, size_t size)
{
	size_t i;

	for (i = 0; i < PAGE; i++) {
		if (c->map[i] != canary_byte(i)) {
			snprintf(why, size, "canary page before the region, byte %zu: 0x%02x",
				 i, c->map[i]);
			return -1;
		}
		if (c->region[c->region_len + i] != canary_byte(i)) {
			snprintf(why, size, "canary page after the region, byte %zu: 0x%02x",
				 i, c->region[c->region_len + i]);
			return -1;
		}
	}
	for (i = c->layout; i < c->region_len; i++) {
		if (c->region[i] != tail_byte(i)) {
			snprintf(why, size, "past the layout (%zu bytes of %zu attached), byte %zu: 0x%02x",
				 c->layout, c->attach_len, i, c->region[i]);
			return -1;
		}
	}
	return 0;
}

static void sm_free(struct sm_chan *c)
{
	if (c->map)
		munmap(c->map, c->map_len);
	if (c->memfd >= 0)
		close(c->memfd);
	c->map = NULL;
	c->memfd = -1;
}

/*
 * A receive, and a read of what it returned: the message must lie in
 * mapped memory.
 */
static void sm_recv(struct sm_run *run, struct kup_channel *ch,
		    unsigned int flags)
{
	const void *d = NULL;
	ssize_t len = kup_recv(ch, &d, flags), i;
	const unsigned char *p = (const unsigned char *)d;
	unsigned int sum = 0;

	ADD(&run->calls, 1);
	for (i = 0; d && i < len; i++)
		sum += p[i];
	__asm__ __volatile__("" : : "r"(sum));
}

static const char *const sm_cmds[] = { "KUPECHO:CALLS", "KUPECHO:NBPROBE",
	"KUPECHO:STOP", "KUPECHO:DELAY", "KUPECHO:PARK", "KUPECHO:HARDIRQ",
	"KUPECHO:SOFTIRQ", "KUPECHO:CALLS", "KUPECHO:STOP", "KUPECHO:HOLD" };

enum { SM_POLL, SM_NONBLOCK, SM_BURST, SM_ZEROCOPY, SM_COMMAND, SM_BLOCK,
	SM_ARM, SM_WAKE, SM_READY, SM_EVENTFD, SM_RECV };

static const char *const sm_op_names[] = { "polling round trip",
	"non-blocking calls", "pipelined burst", "zero-copy send", "command",
	"blocking round trip", "arm and poll", "KUP_IOC_WAKE", "ready",
	"eventfd", "blocking receive" };

/* One random use of the channel through lib/kup.h; results are counted. */
static void sm_drive_op(struct sm_chan *c)
{
	static const unsigned char weights[] = { 22, 18, 14, 10, 6, 6, 6, 6,
		4, 3, 5 };
	struct kup_channel *ch = &c->ch;
	struct sm_run *run = c->run;
	struct rng *r = &c->rng;
	unsigned char msg[8320 + 1];
	const void *d = NULL;
	struct kup_chan_req req;
	unsigned int op, i, n, w = rng_below(r, 100);
	size_t len, size;
	void *buf;

	for (op = 0; w >= weights[op]; op++)
		w -= weights[op];
	c->op = op;
	len = rng_pct(r, 60) ? rng_below(r, KUP_INLINE_MAX + 1) :
			       rng_below(r, ch->buf_size + 2);
	fill(msg, len, rng_next(r));
	kup_chan_set_poll_limit(ch, 1000 + rng_below(r, 300000));
	switch (op) {
	case SM_POLL:
		if (!kup_send(ch, msg, len, KUP_SPIN_ONLY))
			sm_recv(run, ch, KUP_SPIN_ONLY);
		break;
	case SM_NONBLOCK:
		sm_recv(run, ch, KUP_NONBLOCK);
		kup_send(ch, msg, len, KUP_NONBLOCK);
		kup_pass(ch, KUP_NONBLOCK);
		ADD(&run->calls, 2);
		break;
	case SM_BURST:
		for (n = 0; n < KUP_MAX_SLOTS + 1; n++)
			if (kup_send(ch, msg, len % 200, KUP_MORE))
				break;
		ADD(&run->calls, n + 1);
		for (i = 0; i <= n; i++)
			if (kup_recv(ch, &d, KUP_SPIN_ONLY) < 0)
				break;
		ADD(&run->calls, i);
		break;
	case SM_ZEROCOPY:
		if (kup_send_buf(ch, &buf, &size, rng_pct(r, 50) ?
				 KUP_NONBLOCK : KUP_SPIN_ONLY) == 0) {
			len = len < size ? len : size;
			memcpy(buf, msg, len);
			kup_send_commit(ch, rng_pct(r, 5) ? size + 1 : len);
			sm_recv(run, ch, KUP_SPIN_ONLY);
		}
		ADD(&run->calls, 2);
		break;
	case SM_COMMAND: {
		/* HOLD (last) keeps the turn till the session ends: rarely. */
		const char *cmd = sm_cmds[rng_below(r, rng_pct(r, 10) ? 10 :
						     9)];

		if (!kup_send(ch, cmd, strlen(cmd), KUP_SPIN_ONLY))
			sm_recv(run, ch, KUP_SPIN_ONLY);
		break;
	}
	case SM_BLOCK:
		/* Until the kernel answers, or the test shuts the channel. */
		if (!kup_send(ch, msg, len, 0))
			sm_recv(run, ch, 0);
		break;
	case SM_ARM:
		if (kup_chan_arm(ch) == 0) {
			struct pollfd pfd = { .fd = kup_fd(ch->dev),
					      .events = POLLIN };

			poll(&pfd, 1, rng_below(r, 3));
		}
		kup_chan_disarm(ch);
		ADD(&run->calls, 2);
		break;
	case SM_WAKE:
		memset(&req, 0, sizeof(req));
		req.chan = kup_chan_index(ch);
		ioctl(kup_fd(ch->dev), KUP_IOC_WAKE, &req);
		ADD(&run->calls, 1);
		break;
	case SM_READY:
		kup_chan_ready(ch);
		ADD(&run->calls, 1);
		break;
	case SM_EVENTFD:
		kup_chan_set_eventfd(ch, rng_pct(r, 50) ? run->efd : -1);
		ADD(&run->calls, 1);
		break;
	default:
		sm_recv(run, ch, 0);
		break;
	}
}

static void *sm_driver(void *arg)
{
	struct sm_chan *c = (struct sm_chan *)arg;

	c->tid = gettid();
	while (!LOAD(&c->run->stop_drive))
		sm_drive_op(c);
	STORE(&c->done, 1);
	return NULL;
}

struct sm_scribbler {
	struct sm_run *run;
	struct rng rng;
	pthread_t thread;
};

/* One write of a random or plausible value into one word of a region. */
static void sm_scribble_one(struct sm_chan *c, struct rng *r)
{
	const struct kup_region_hdr *h = &c->hdr;
	unsigned char *base = c->region;
	__u32 s = rng_below(r, h->nslots), *w, cur, v;
	unsigned char *slot = base + h->slot_off + (size_t)s * KUP_LINE_SIZE;
	unsigned int what = rng_below(r, 100);
	size_t bufs = (size_t)h->nslots * h->buf_size;

	cur = __atomic_load_n((__u32 *)slot, __ATOMIC_RELAXED);
	if (what < 25) {		/* the turn */
		const __u32 vals[] = { cur + 1, cur - 1, cur + 2, cur - 2,
			cur + 3, 0, 1, 2, 0xffffffff, 0xdead0001 };

		w = (__u32 *)slot;
		v = rng_pct(r, 90) ? rng_pick(r, vals) : rng_u32(r);
	} else if (what < 35) {		/* the length */
		const __u32 vals[] = { 0, 1, KUP_INLINE_MAX,
			KUP_INLINE_MAX + 1, h->buf_size - 1, h->buf_size,
			h->buf_size + 1, 0xffffffff };

		w = (__u32 *)(slot + 4);
		v = rng_pct(r, 85) ? rng_pick(r, vals) : rng_u32(r);
	} else if (what < 42) {		/* the sequence number */
		const __u32 vals[] = { cur, cur + 1, cur - 1, cur + 2 };

		w = (__u32 *)(slot + 8);
		v = rng_pct(r, 85) ? rng_pick(r, vals) : rng_u32(r);
	} else if (what < 48) {		/* the flags */
		const __u32 vals[] = { 0, KUP_SLOT_INLINE, 2, 3, 0x80000000 };

		w = (__u32 *)(slot + 12);
		v = rng_pct(r, 85) ? rng_pick(r, vals) : rng_u32(r);
	} else if (what < 52) {		/* inline data */
		w = (__u32 *)(slot + 16 + 4 * rng_below(r, KUP_INLINE_MAX / 4));
		v = rng_u32(r);
	} else if (what < 62) {		/* ustate: uwait, reserved */
		const __u32 vals[] = { 0, 1, s + 1, h->nslots, h->nslots + 1,
			0xffffffff };

		w = (__u32 *)(base + h->ustate_off +
			      (rng_pct(r, 70) ? 0 : 4 * rng_below(r, 16)));
		v = rng_pct(r, 85) ? rng_pick(r, vals) : rng_u32(r);
	} else if (what < 72) {		/* kstate, the kernel's */
		w = (__u32 *)(base + h->kstate_off + 4 * rng_below(r, 16));
		v = rng_pct(r, 60) ? rng_below(r, 6) : rng_u32(r);
	} else if (what < 76) {		/* the header */
		w = (__u32 *)(base + 4 * rng_below(r, sizeof(*h) / 4));
		v = rng_u32(r);
	} else if (what < 86) {		/* a buffer */
		w = (__u32 *)(base + (rng_pct(r, 50) ? h->to_kernel_off :
						       h->to_user_off) +
			      4 * rng_below(r, bufs / 4));
		v = rng_u32(r);
	} else {
		/*
		 * A pass behind the library's back, plausible or nearly: the
		 * kernel takes a message nobody sent.
		 */
		__u32 len = rng_pct(r, 80) ? rng_below(r, h->buf_size + 1) :
					     rng_u32(r);

		__atomic_store_n((__u32 *)(slot + 4), len, __ATOMIC_RELAXED);
		__atomic_store_n((__u32 *)(slot + 8), cur + 1,
				 __ATOMIC_RELAXED);
		__atomic_store_n((__u32 *)(slot + 12), len <= KUP_INLINE_MAX &&
				 rng_pct(r, 70) ? KUP_SLOT_INLINE : 0,
				 __ATOMIC_RELAXED);
		w = (__u32 *)slot;
		v = cur + (rng_pct(r, 80) ? 1 : 3);
	}
	__atomic_store_n(w, v, __ATOMIC_RELEASE);
}

static void *sm_scribble(void *arg)
{
	struct sm_scribbler *sc = (struct sm_scribbler *)arg;
	struct sm_run *run = sc->run;
	struct rng *r = &sc->rng;
	struct kup_chan_req req;
	unsigned int burst = 0;

	while (!LOAD(&run->stop_scribble)) {
		struct sm_chan *c = &run->chans[rng_below(r, run->n)];

		sm_scribble_one(c, r);
		ADD(&run->writes, 1);
		/* Make a sleeping kernel thread read what we wrote. */
		if (rng_below(r, 16) == 0) {
			memset(&req, 0, sizeof(req));
			req.chan = kup_chan_index(&c->ch);
			ioctl(kup_fd(c->ch.dev), KUP_IOC_WAKE, &req);
			ADD(&run->calls, 1);
		}
		switch (run->pace) {
		case 0:		/* a storm */
			if ((++burst & 63) == 0)
				sched_yield();
			break;
		case 1:		/* bursts */
			if (++burst >= 1 + rng_below(r, 64)) {
				burst = 0;
				usleep(200 + rng_below(r, 1800));
			}
			break;
		default:	/* now and then: the protocol gets through */
			usleep(500 + rng_below(r, 4000));
			break;
		}
	}
	return NULL;
}

/* A clean exchange before the garbage: greeting, and maybe CALLS. */
static int sm_prologue(struct sm_chan *c, bool calls)
{
	struct kup_channel *ch = &c->ch;
	const void *d = NULL;
	ssize_t len;

	kup_chan_set_poll_limit(ch, 1ULL << 32);
	if (c->rot13) {
		/* Its first turn, passed empty, on a ping-pong channel. */
		if (ch->nslots == 1 && kup_recv(ch, &d, 0) != 0)
			return -EBADMSG;
		return 0;
	}
	if (ch->nslots == 1) {
		len = kup_recv(ch, &d, 0);
		if (len <= 0 || memcmp(d, "kup_echo ", 9))
			return len < 0 ? (int)len : -EBADMSG;
	}
	if (calls) {
		if (kup_send(ch, "KUPECHO:CALLS", 13, 0))
			return -EIO;
		len = kup_recv(ch, &d, 0);
		if (len != 13 || memcmp(d, "KUPECHO:CALLS", 13))
			return -EBADMSG;
	}
	return 0;
}

/* Wait (at most ms) for a driver to return, resuming parked echoes. */
static bool sm_driver_wait(struct sm_run *run, struct sm_chan *c, int ms)
{
	while (!LOAD(&c->done) && ms-- > 0) {
		sm_resume_parked(run);
		usleep(1000);
	}
	return LOAD(&c->done);
}

static void sm_round(struct __test_metadata *_metadata, struct sm_run *run,
		     struct rng *rr, long pins0, uint64_t deadline)
{
	struct sm_scribbler sc[SM_SCRIBBLERS];
	uint64_t end = now_ns() + SM_ROUND_MS * 1000000ULL;
	uint64_t t0 = now_ns(), t_start, t_end, t_stop, t_drivers, t_sessions;
	uint64_t t_pins;
	struct rng rt;
	char desc[256];
	int desc_len;
	char why[256];
	unsigned int i;
	long open;

	if (end > deadline)
		end = deadline;
	run->n = 1 + rng_below(rr, SM_CHANS);
	run->pace = rng_below(rr, 3);
	run->stop_scribble = 0;
	run->stop_drive = 0;
	/* The last round's fresh channels have ended (kup_stress.h). */
	ASSERT_EQ(0, echo_idle_wait(10000));
	ASSERT_EQ(0, kup_open(ECHO_NAME, &run->dev));
	run->rot13 = NULL;
	if (rng_pct(rr, 30))
		ASSERT_EQ(0, kup_open(ROT13_NAME, &run->rot13));
	for (i = 0; i < run->n; i++) {
		struct sm_chan *c = &run->chans[i];

		ASSERT_EQ(0, sm_attach(run, c, rr, run->rot13 && !i))
			TH_LOG("channel %u", i);
		ASSERT_EQ(0, sm_prologue(c, rng_pct(rr, 50)));
		rng_init(&c->rng, fuzz_seed, 5000 + run->round, i);
	}
	t_start = now_ns();
	for (i = 0; i < run->n; i++)
		ASSERT_EQ(0, pthread_create(&run->chans[i].thread, NULL,
					    sm_driver, &run->chans[i]));
	for (i = 0; i < SM_SCRIBBLERS; i++) {
		sc[i].run = run;
		rng_init(&sc[i].rng, fuzz_seed, 6000 + run->round, i);
		ASSERT_EQ(0, pthread_create(&sc[i].thread, NULL, sm_scribble,
					    &sc[i]));
	}
	/*
	 * Draws made once per tick come from a stream of their own: the
	 * rounds' configurations depend on the seed only, not on timing.
	 */
	rng_init(&rt, fuzz_seed, 7000 + run->round, 0);
	while (now_ns() < end) {
		sm_resume_parked(run);
		/*
		 * Now and then a channel stops under way: the detach races
		 * the kernel's calls and the driver's (which then fail).
		 */
		if (rng_below(&rt, 1000) == 0)
			ASSERT_EQ(0, kup_chan_shutdown(
				&run->chans[rng_below(&rt, run->n)].ch));
		usleep(1000);
	}

	/* The garbage stops; then every blocked call must end. */
	t_end = now_ns();
	STORE(&run->stop_scribble, 1);
	for (i = 0; i < SM_SCRIBBLERS; i++)
		pthread_join(sc[i].thread, NULL);
	for (i = 0; i < run->n; i++)
		ASSERT_EQ(0, kup_chan_shutdown(&run->chans[i].ch));
	STORE(&run->stop_drive, 1);
	t_stop = now_ns();
	for (i = 0; i < run->n; i++) {
		struct sm_chan *c = &run->chans[i];

		if (!sm_driver_wait(run, c, 30000)) {
			task_dump(getpid(), c->tid);
			ASSERT_TRUE(false) TH_LOG("seed %llu round %u: channel %u (%u slots), %s: still blocked 30 s after kup_chan_shutdown()",
						  (unsigned long long)fuzz_seed,
						  run->round, kup_chan_index(&c->ch),
						  c->ch.nslots, sm_op_names[c->op]);
		}
		pthread_join(c->thread, NULL);
	}
	t_drivers = now_ns();
	/* Every session ends; the kernel lets go of every page. */
	for (i = 0; i < 30000 && (open = echo_sessions_open()); i++) {
		sm_resume_parked(run);
		usleep(1000);
	}
	EXPECT_EQ(0, open) TH_LOG("kup_echo sessions still open");
	t_sessions = now_ns();
	EXPECT_EQ(pins0, pins_wait(pins0, 10000)) TH_LOG("round %u", run->round);
	t_pins = now_ns();
	/* What the round was, for a replay, and where its time went. */
	desc_len = snprintf(desc, sizeof(desc), "%u channels (", run->n);
	for (i = 0; i < run->n; i++)
		desc_len += snprintf(desc + desc_len, sizeof(desc) - desc_len,
				     "%s%s %u x %u", i ? ", " : "",
				     run->chans[i].rot13 ? "rot13" : "echo",
				     run->chans[i].hdr.nslots,
				     run->chans[i].hdr.buf_size);
	snprintf(desc + desc_len, sizeof(desc) - desc_len, ")");
	for (i = 0; i < run->n; i++) {
		struct sm_chan *c = &run->chans[i];

		EXPECT_EQ(0, sm_canaries(c, why, sizeof(why)))
			TH_LOG("seed %llu round %u channel %u of %s (%u slots of %u bytes): %s",
			       (unsigned long long)fuzz_seed, run->round,
			       kup_chan_index(&c->ch),
			       c->rot13 ? ROT13_NAME : ECHO_NAME,
			       c->hdr.nslots, c->hdr.buf_size, why);
		sm_free(c);
	}
	kup_close(run->dev);
	run->dev = NULL;
	if (run->rot13) {
		const void *d = NULL;
		struct kup_channel *ch = NULL;

		/* kup_rot13 too answers a fresh channel. */
		kup_close(run->rot13);
		run->rot13 = NULL;
		ASSERT_EQ(0, kup_open(ROT13_NAME, &run->rot13));
		ASSERT_EQ(0, kup_chan_attach(run->rot13, KUP_CHAN_ANY, 0, 0,
					     &ch));
		ASSERT_EQ(0, kup_recv(ch, &d, 0));
		ASSERT_EQ(0, kup_send(ch, "Uryyb", 6, 0));
		ASSERT_EQ(6, kup_recv(ch, &d, 0));
		EXPECT_STREQ("Hello", (const char *)d);
		kup_chan_close(ch);
		kup_close(run->rot13);
		run->rot13 = NULL;
	}

	/* A fresh channel works, byte for byte, ping-pong and pipelined. */
	{
		struct kup_device *dev = NULL;
		struct kup_channel *ch = NULL;
		unsigned long n;

		ASSERT_EQ(0, echo_attach(&dev, &ch, 4096));
		for (n = 0; n < 10; n++)
			ASSERT_EQ(0, roundtrip(ch, n, 1 + n * 401 % 4096, 0));
		kup_chan_close(ch);
		ASSERT_EQ(0, kup_chan_attach_slots(dev, KUP_CHAN_ANY, 512, 4, 0,
						   &ch));
		for (n = 0; n < 10; n++)
			ASSERT_EQ(0, roundtrip(ch, n, 1 + n * 53 % 512, 0));
		kup_chan_close(ch);
		kup_close(dev);
	}
	printf("# round %u: %s, pace %u; set-up %.2f s, round %.2f s, stop %.2f s, then drivers %.2f s, sessions %.2f s, pins %.2f s; checks %.2f s\n",
	       run->round, desc, run->pace, (t_start - t0) / 1e9,
	       (t_end - t_start) / 1e9, (t_stop - t_end) / 1e9,
	       (t_drivers - t_stop) / 1e9, (t_sessions - t_drivers) / 1e9,
	       (t_pins - t_sessions) / 1e9, (now_ns() - t_pins) / 1e9);
	run->round++;
}

TEST_F_TIMEOUT(fuzz, shared_memory, 2400)
{
	uint64_t t0 = now_ns(), deadline = t0 + fuzz_secs * 1000000000ULL;
	long eproto0 = echo_stat("eproto"), msgs0 = echo_stat("messages");
	long enotconn0 = echo_stat("enotconn");
	long other0 = echo_stat("other_errors");
	struct sm_run *run;
	struct rng rr;

	ASSERT_LE(0, eproto0);
	run = (struct sm_run *)calloc(1, sizeof(*run));
	ASSERT_NE(NULL, run);
	run->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ASSERT_LE(0, run->efd);
	run->parked_seen = echo_stat("parked");
	rng_init(&rr, fuzz_seed, 4000, 0);
	while (now_ns() < deadline) {
		sm_round(_metadata, run, &rr, self->pins0, deadline);
		if (!_metadata->passed)
			break;
	}
	printf("# shm fuzzer: %lu writes, %lu library calls in %u rounds, %.1f s\n",
	       run->writes, run->calls, run->round, (now_ns() - t0) / 1e9);
	printf("# kup_echo: %ld messages, %ld garbage seen (eproto), %ld detached, %ld other errors\n",
	       echo_stat("messages") - msgs0, echo_stat("eproto") - eproto0,
	       echo_stat("enotconn") - enotconn0,
	       echo_stat("other_errors") - other0);
	/* The kernel's checks ran on garbage, and broke channels for it. */
	EXPECT_LT(eproto0, echo_stat("eproto"));
	EXPECT_LT(msgs0, echo_stat("messages"));
	EXPECT_EQ(self->pins0, pins_wait(self->pins0, 10000));
	EXPECT_EQ(0, vm_pinned_kb());
	close(run->efd);
	free(run);
}

TEST_HARNESS_MAIN
