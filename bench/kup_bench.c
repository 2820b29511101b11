// SPDX-License-Identifier: GPL-2.0
/*
 * kup_bench: kup against the other ways a process and kernel code can
 * talk, measured in one run, against the same kernel module (kup_bench.ko).
 *
 *   raw          a user thread and a kernel thread bounce one cache line,
 *                no protocol: the physical limit
 *   kup-poll     kup ping-pong, both sides polling; the kernel answers
 *                with kup_serve_inline() (its handler inlined)
 *   kup-indirect the same, the kernel answering with kup_serve() (its
 *                handler called through a pointer)
 *   kup-calls    the same, the kernel answering with kup_recv_batch() and
 *                kup_send_batch()
 *   kupdev-poll  the FreeBSD KUP names on both sides: kernproxy_*() with
 *                KP_NB polling here, kup_rot13.ko's kupdev_*() loop
 *                (it answers with the message rot13'd)
 *   kup-adaptive kup ping-pong, spin then sleep (the defaults)
 *   kup-epoll    kup, the process waits in epoll at every message
 *   ioctl        an ioctl that copies the message in and out
 *   waitqueue    an ioctl that wakes a kernel thread through a wait queue
 *                and sleeps until it wakes the caller back
 *   uring-nop    io_uring NOP, submit and wait
 *   uring-sqpoll io_uring NOP with SQPOLL, the process spinning on the CQ
 *   kup-pipe     pipelined kup channels: throughput against depth, the
 *                kernel answering with the batch calls (kup-pipe-serve:
 *                with kup_serve())
 *   memcpy       user-space memcpy bandwidth, for scale
 *
 * Round-trip latency from the TSC (p50/p90/p99/p99.9), throughput from
 * the wall clock. Prints a table with ratios taken within this run (times
 * under emulation vary 2x between runs; ratios much less) and, between
 * KUP-BENCH-JSON lines, every figure as JSON.
 *
 *	kup_bench [quick | only METHOD[,METHOD...] [ROUNDS]]
 */
#include <kup.h>

#include <dirent.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <x86intrin.h>

#include "kmod/kup_bench.h"
#include "kernproxy.h"

/* kup_bench.ko's spin_us: the kernel threads never sleep (4 s) */
#define BIG_SPINS	"4000000"
#define MAX_RESULTS	128
#define SPIN_BOUND	(1ULL << 32)	/* polls before a wait gives up */

struct result {
	char method[16];
	size_t size;
	unsigned int depth;
	unsigned int chans;
	double p50, p90, p99, p999;	/* ns per round trip */
	double msgs, mbs;		/* per second */
	uint64_t *cyc;			/* every round trip of every block */
	unsigned long ncyc;
	double count, secs;		/* throughput: messages and seconds */
	/*
	 * Polling methods: round trips and the system calls the process
	 * made on their channels meanwhile (kup_chan_syscalls(): waking a
	 * kernel thread that slept, or sleeping itself).
	 */
	double rts, sys;
};

static struct result results[MAX_RESULTS];
static unsigned int nresults;
static double ns_per_cycle;
static unsigned long rounds = 20000, slow_rounds = 4000;
/*
 * Every figure is measured in blocks, interleaved with the other
 * methods', on fresh channels: under emulation a round trip is fast or
 * slow depending on where its buffers land (translation-table aliasing
 * in QEMU), so one block per method can compare a fast case with a slow
 * one. The figures pool all blocks.
 */
static unsigned int blocks = 5;

static void die(const char *what, int err)
{
	fprintf(stderr, "kup_bench: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void calibrate(void)
{
	double t0 = now_ns();
	uint64_t c0 = __rdtsc();

	while (now_ns() - t0 < 2e8)
		_mm_pause();
	ns_per_cycle = (now_ns() - t0) / (double)(__rdtsc() - c0);
}

/* How long kup_bench's kernel threads spin before they sleep, in us. */
static void set_kernel_spins(const char *us)
{
	FILE *f = fopen("/sys/module/kup_bench/parameters/spin_us", "w");

	if (!f || fputs(us, f) < 0 || fclose(f))
		die("kup_bench spin_us parameter", errno);
}

/*
 * kup.ko's default kernel spin budget, which the polling methods use:
 * their figures, system calls included, are what a client gets without
 * tuning.
 */
static char kdefault_spin_us[24] = "4000";

static void read_kernel_default(void)
{
	FILE *f = fopen("/sys/module/kup/parameters/spin_us", "r");

	if (!f || !fgets(kdefault_spin_us, sizeof(kdefault_spin_us), f))
		die("kup spin_us parameter", errno);
	fclose(f);
	kdefault_spin_us[strcspn(kdefault_spin_us, "\n")] = 0;
}

static void count_syscalls(struct result *r, double rts, double sys)
{
	r->rts += rts;
	r->sys += sys;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static struct result *find(const char *method, size_t size,
			   unsigned int depth, unsigned int chans);

/* The figure of method, size, depth and channels, new or from a block before. */
static struct result *add(const char *method, size_t size, unsigned int depth,
			  unsigned int chans)
{
	struct result *r = find(method, size, depth, chans);

	if (r)
		return r;
	if (nresults >= MAX_RESULTS)
		die("too many results", E2BIG);
	r = &results[nresults++];
	memset(r, 0, sizeof(*r));
	snprintf(r->method, sizeof(r->method), "%s", method);
	r->size = size;
	r->depth = depth;
	r->chans = chans;
	return r;
}

/* Add n round trips measured in cycles; percentiles of all so far. */
static void latency(struct result *r, const uint64_t *cyc, unsigned long n)
{
	uint64_t *all = realloc(r->cyc, (r->ncyc + n) * sizeof(*all));

	if (!all)
		die("latency", ENOMEM);
	memcpy(all + r->ncyc, cyc, n * sizeof(*all));
	r->cyc = all;
	r->ncyc += n;
	n = r->ncyc;
	qsort(all, n, sizeof(*all), cmp_u64);
	r->p50 = all[n / 2] * ns_per_cycle;
	r->p90 = all[n * 9 / 10] * ns_per_cycle;
	r->p99 = all[n * 99 / 100] * ns_per_cycle;
	r->p999 = all[n * 999 / 1000] * ns_per_cycle;
	r->msgs = 1e9 / r->p50;
	r->mbs = r->msgs * r->size / 1e6;
}

/* Add count messages (or copies) done in secs; the rate of all so far. */
static void throughput(struct result *r, double count, double secs)
{
	r->count += count;
	r->secs += secs;
	r->msgs = r->count / r->secs;
	r->mbs = r->msgs * r->size / 1e6;
}

/* The pid of module mod's worker thread of channel chan, or 0. */
static pid_t worker_pid(const char *mod, unsigned int chan)
{
	char want[32], comm[32], path[300];
	struct dirent *de;
	pid_t pid = 0;
	DIR *d;
	FILE *f;

	snprintf(want, sizeof(want), "%s/%u\n", mod, chan);
	d = opendir("/proc");
	while (d && !pid && (de = readdir(d))) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) && !strcmp(comm, want))
			pid = atoi(de->d_name);
		fclose(f);
	}
	if (d)
		closedir(d);
	return pid;
}

static int on_cpu(pid_t pid, int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(pid, sizeof(set), &set);
}

/*
 * The calling thread on CPU cpu, channel chan's kernel worker on the
 * next CPU: the two sides of a channel never share a CPU, and neither
 * migrates in the middle of a figure. A best effort: on one CPU, or if
 * the worker cannot be found, the scheduler decides.
 */
static void pin_pair(const char *mod, unsigned int chan, int cpu)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	pid_t pid = worker_pid(mod, chan);

	if (ncpu < 2)
		return;
	on_cpu(0, cpu % ncpu);
	if (pid)
		on_cpu(pid, (cpu + 1) % ncpu);
}

/* A kup_bench channel: a ping-pong one gets the kernel's first pass. */
static struct kup_channel *bench_chan(struct kup_device *dev, uint32_t chan,
				      unsigned int depth, unsigned int uspins)
{
	struct kup_channel *ch;
	const void *d;
	int ret;

	pin_pair("kup_bench", chan, chan);
	ret = kup_chan_attach_slots(dev, chan, KB_MAX_BUF, depth, 0, &ch);
	if (ret)
		die("attach", ret);
	kup_chan_set_spin(ch, uspins);
	kup_chan_set_poll_limit(ch, SPIN_BOUND);
	if (depth == 1 && kup_recv(ch, &d, 0) < 0)
		die("first pass", EPROTO);
	return ch;
}

/* The physical limit: bounce one word with a kernel thread. */
static void bench_raw(struct kup_device *dev)
{
	struct kup_channel *ch;
	struct kb_raw *msg;
	uint64_t *cyc = calloc(rounds, sizeof(*cyc));
	unsigned long warm = 1000, i;
	uint32_t *word;
	const void *d;
	void *buf;
	size_t size;
	int ret;

	set_kernel_spins(BIG_SPINS);
	ch = bench_chan(dev, 0, 1, KUP_DEFAULT_SPINS);
	ret = kup_send_buf(ch, &buf, &size, 0);
	if (ret || !cyc)
		die("raw", ret ? ret : ENOMEM);
	msg = buf;
	msg->op = KB_OP_RAW;
	msg->count = warm + rounds;
	word = (uint32_t *)((char *)buf + KB_RAW_OFF);
	*word = 0;
	if (kup_send_commit(ch, KB_RAW_OFF + sizeof(*word)))
		die("raw commit", EPROTO);
	for (i = 0; i < warm + rounds; i++) {
		uint64_t t0 = __rdtsc(), spins = 0;

		/* R1, pairs with R2 in bench/kmod/kup_bench.c (kb_raw()). */
		__atomic_store_n(word, 2 * i + 1, __ATOMIC_RELEASE);
		/* R4, pairs with R3 in bench/kmod/kup_bench.c (kb_raw()). */
		while (__atomic_load_n(word, __ATOMIC_ACQUIRE) != 2 * i + 2) {
			if (++spins > SPIN_BOUND)
				die("raw bounce", ETIMEDOUT);
			_mm_pause();
		}
		if (i >= warm)
			cyc[i - warm] = __rdtsc() - t0;
	}
	if (kup_recv(ch, &d, 0) < 0)
		die("raw end", EPROTO);
	latency(add("raw", sizeof(*word), 1, 1), cyc, rounds);
	kup_chan_close(ch);
	free(cyc);
}

enum kup_mode { KUP_POLL, KUP_ADAPTIVE, KUP_EPOLL, KUP_CALLS, KUP_INDIRECT };

static const char *const kup_mode_name[] = {
	"kup-poll", "kup-adaptive", "kup-epoll", "kup-calls", "kup-indirect"
};

/*
 * kupdev-poll: a program written only with the FreeBSD KUP names, polling
 * with KP_NB, against kup_rot13.ko, written only with the kernel's
 * FreeBSD-compatible calls; both at their default budgets.
 */
static void bench_kupdev(void)
{
	static const char want[8] = "nopqrst";
	uint64_t *cyc = calloc(rounds, sizeof(*cyc));
	unsigned long long sys0 = 0, spins;
	char msg[8] = "abcdefg";
	struct result *r;
	unsigned long i;
	const char *d;
	void *h, *c;

	h = kernproxy_open("kup_rot13");
	c = h ? kernproxy_channel(h, 0, 1) : NULL;
	if (!c || !cyc)
		die("kupdev-poll: /dev/kup_rot13", h ? kernproxy_error(h) : ENODEV);
	pin_pair("kup_rot13", kup_chan_index((struct kup_channel *)c), 0);
	/* kup_rot13 hands the process the first turn. */
	if (!kernproxy_receive(c, 0))
		die("kupdev-poll first turn", kernproxy_error(h));
	for (i = 0; i < 1000 + rounds; i++) {
		uint64_t t0 = __rdtsc();

		if (i == 1000)
			sys0 = kup_chan_syscalls((struct kup_channel *)c);
		if (kernproxy_send(c, msg, sizeof(msg), KP_NB))
			die("kupdev-poll send", kernproxy_error(h));
		for (spins = 0; !(d = kernproxy_receive(c, KP_NB)); spins++) {
			if (kernproxy_error(h) != EKU_NOTREADY ||
			    spins > SPIN_BOUND)
				die("kupdev-poll receive", kernproxy_error(h));
			_mm_pause();
		}
		if (memcmp(d, want, sizeof(want)))
			die("kupdev-poll reply", EBADMSG);
		if (i >= 1000)
			cyc[i - 1000] = __rdtsc() - t0;
	}
	r = add("kupdev-poll", sizeof(msg), 1, 1);
	latency(r, cyc, rounds);
	count_syscalls(r, rounds,
		       kup_chan_syscalls((struct kup_channel *)c) - sys0);
	kernproxy_close(h);
	free(cyc);
}

/* One kup round trip of size bytes: send, receive. */
static int kup_rt(struct kup_channel *ch, const void *src, size_t size,
		  enum kup_mode mode, int ep)
{
	unsigned int flags = mode == KUP_POLL || mode == KUP_CALLS ||
			     mode == KUP_INDIRECT ? KUP_SPIN_ONLY : 0;
	struct epoll_event ev;
	const void *d;
	size_t bufsize;
	void *buf;
	int ret;

	if (size <= KUP_INLINE_MAX) {
		/* Small: one copy, into the slot's line. */
		ret = kup_send(ch, src, size, flags);
	} else {
		/* Large: write in place (zero-copy), then commit. */
		ret = kup_send_buf(ch, &buf, &bufsize, flags);
		if (ret)
			return ret;
		memcpy(buf, src, size);
		ret = kup_send_commit(ch, size);
	}
	if (ret)
		return ret;
	if (mode == KUP_EPOLL) {
		if (kup_chan_arm(ch) == 0 && epoll_wait(ep, &ev, 1, 10000) != 1)
			return -ETIMEDOUT;
		kup_chan_disarm(ch);
	}
	return kup_recv(ch, &d, flags) == (ssize_t)size ? 0 : -EBADMSG;
}

static void bench_kup(struct kup_device *dev, enum kup_mode mode,
		      size_t size)
{
	int poll = mode == KUP_POLL || mode == KUP_CALLS ||
		   mode == KUP_INDIRECT;
	unsigned long n = poll ? rounds : slow_rounds;
	const char calls = mode == KUP_CALLS ? KB_OP_CALLS : KB_OP_INDIRECT;
	const void *d;
	uint64_t *cyc = calloc(n, sizeof(*cyc));
	char *src = malloc(size);
	struct epoll_event ev = { .events = EPOLLIN };
	unsigned long long sys0;
	struct kup_channel *ch;
	struct result *r;
	unsigned long i;
	int ep = -1, ret;

	if (!cyc || !src)
		die("kup", ENOMEM);
	memset(src, 'x', size);
	src[0] = KB_OP_ECHO;
	set_kernel_spins(poll ? kdefault_spin_us : "500");
	ch = bench_chan(dev, 0, 1, KUP_DEFAULT_SPINS);
	/*
	 * The kernel answers with kup_recv_batch()/kup_send_batch() now, or
	 * with kup_serve().
	 */
	if ((mode == KUP_CALLS || mode == KUP_INDIRECT) &&
	    (kup_send(ch, &calls, 1, KUP_SPIN_ONLY) ||
	     kup_recv(ch, &d, KUP_SPIN_ONLY) != 1))
		die(kup_mode_name[mode], EPROTO);
	if (mode == KUP_EPOLL) {
		ep = epoll_create1(0);
		if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, kup_fd(dev), &ev))
			die("epoll", errno);
	}
	for (i = 0; i < 1000; i++)
		if ((ret = kup_rt(ch, src, size, mode, ep)))
			die("kup warm-up", ret);
	sys0 = kup_chan_syscalls(ch);
	for (i = 0; i < n; i++) {
		uint64_t t0 = __rdtsc();

		ret = kup_rt(ch, src, size, mode, ep);
		if (ret)
			die(kup_mode_name[mode], ret);
		cyc[i] = __rdtsc() - t0;
	}
	r = add(kup_mode_name[mode], size, 1, 1);
	latency(r, cyc, n);
	if (poll)
		count_syscalls(r, n, kup_chan_syscalls(ch) - sys0);
	if (ep >= 0)
		close(ep);
	kup_chan_close(ch);
	free(cyc);
	free(src);
}

static void bench_ioctl(int fd, size_t size, int wq)
{
	uint64_t *cyc = calloc(slow_rounds, sizeof(*cyc));
	char *buf = malloc(size);
	struct kb_echo arg = { .len = size };
	unsigned long i;

	if (!cyc || !buf)
		die("ioctl", ENOMEM);
	memset(buf, 'x', size);
	arg.buf = (uintptr_t)buf;
	for (i = 0; i < 500 + slow_rounds; i++) {
		uint64_t t0 = __rdtsc();

		if (wq ? ioctl(fd, KB_IOC_WQ) : ioctl(fd, KB_IOC_ECHO, &arg))
			die(wq ? "waitqueue ioctl" : "echo ioctl", errno);
		if (i >= 500)
			cyc[i - 500] = __rdtsc() - t0;
	}
	latency(add(wq ? "waitqueue" : "ioctl", wq ? 0 : size, 1, 1), cyc,
		slow_rounds);
	free(cyc);
	free(buf);
}

static void bench_uring(int sqpoll)
{
	unsigned long n = sqpoll ? rounds : slow_rounds, i;
	uint64_t *cyc = calloc(n, sizeof(*cyc));
	struct io_uring_params p;
	struct io_uring_cqe *cqe;
	struct io_uring ring;
	int ret;

	memset(&p, 0, sizeof(p));
	on_cpu(0, 0);
	if (sqpoll) {
		/* As the kup pairs: the process on CPU 0, the SQ thread on 1. */
		p.flags = IORING_SETUP_SQPOLL;
		if (sysconf(_SC_NPROCESSORS_ONLN) > 1) {
			p.flags |= IORING_SETUP_SQ_AFF;
			p.sq_thread_cpu = 1;
		}
		p.sq_thread_idle = 2000;	/* ms */
	}
	ret = io_uring_queue_init_params(8, &ring, &p);
	if (ret) {
		fprintf(stderr, "kup_bench: io_uring%s: %s, skipped\n",
			sqpoll ? " SQPOLL" : "", strerror(-ret));
		free(cyc);
		return;
	}
	for (i = 0; i < 1000 + n; i++) {
		uint64_t t0 = __rdtsc(), spins = 0;

		io_uring_prep_nop(io_uring_get_sqe(&ring));
		if (sqpoll) {
			/* No system call while the SQ thread is awake. */
			io_uring_submit(&ring);
			while (io_uring_peek_cqe(&ring, &cqe)) {
				if (++spins > SPIN_BOUND)
					die("sqpoll", ETIMEDOUT);
				_mm_pause();
			}
		} else if (io_uring_submit_and_wait(&ring, 1) != 1 ||
			   io_uring_peek_cqe(&ring, &cqe)) {
			die("io_uring", EIO);
		}
		io_uring_cqe_seen(&ring, cqe);
		if (i >= 1000)
			cyc[i - 1000] = __rdtsc() - t0;
	}
	latency(add(sqpoll ? "uring-sqpoll" : "uring-nop", 0, 1, 1), cyc, n);
	io_uring_queue_exit(&ring);
	free(cyc);
}

struct stream {
	struct kup_channel *ch;
	unsigned int chan;
	char msg[KUP_INLINE_MAX];	/* an echo request */
	size_t size;
	unsigned int depth;
	unsigned long n;
	pthread_barrier_t *start;
	double t0, t1;			/* when its messages went and came */
	/*
	 * System calls and replies from the first reply on: the kernel
	 * thread slept while the streams started, and the first message
	 * had to wake it.
	 */
	unsigned long long sys;
	unsigned long counted;
	int err;
};

/* Keep depth messages in flight until n replies came back. */
static void *stream_fn(void *arg)
{
	struct stream *s = arg;
	unsigned long sent = 0, got = 0, from = 0;
	unsigned long long sys0 = 0;
	int more;
	const void *d;
	size_t bufsize;
	void *buf;
	int ret;

	pin_pair("kup_bench", s->chan, s->chan);
	pthread_barrier_wait(s->start);
	s->t0 = now_ns();
	while (got < s->n) {
		/* Fill the window; one wake-up check for the burst. */
		while (sent < s->n && kup_chan_inflight(s->ch) < s->depth) {
			if (s->size <= KUP_INLINE_MAX) {
				/* Echoed; one copy, into the slot's line. */
				more = sent + 1 < s->n &&
				       kup_chan_inflight(s->ch) + 1 < s->depth;
				ret = kup_send(s->ch, s->msg, s->size,
					       KUP_SPIN_ONLY |
					       (more ? KUP_MORE : 0));
			} else {
				/* Sunk: written in place, copied by the kernel. */
				ret = kup_send_buf(s->ch, &buf, &bufsize,
						   KUP_SPIN_ONLY);
				if (ret)
					goto err;
				memset(buf, KB_OP_SINK, s->size);
				ret = kup_send_commit(s->ch, s->size);
			}
			if (ret)
				goto err;
			sent++;
		}
		/* Wait for a reply, then take those already there. */
		ret = kup_recv(s->ch, &d, KUP_SPIN_ONLY);
		if (ret < 0)
			goto err;
		if (!got++) {
			sys0 = kup_chan_syscalls(s->ch);
			from = got;
		}
		while (kup_chan_inflight(s->ch) &&
		       kup_recv(s->ch, &d, KUP_NONBLOCK) >= 0)
			got++;
	}
	s->t1 = now_ns();
	s->sys = kup_chan_syscalls(s->ch) - sys0;
	s->counted = got - from;
	return NULL;
err:
	s->err = ret;
	return NULL;
}

/*
 * The kernel answers with the batch calls (KB_OP_CALLS), its throughput
 * path; with serve, with kup_serve() (method kup-pipe-serve).
 */
static void bench_pipe(struct kup_device *dev, size_t size,
		       unsigned int depth, unsigned int chans, int serve)
{
	const char calls = KB_OP_CALLS;
	const void *d;
	double t0 = 0, t1 = 0, msgs = 0;
	pthread_barrier_t start;
	struct stream s[2];
	double sys = 0, counted = 0;
	struct result *r;
	pthread_t t[2];
	unsigned int i;

	set_kernel_spins(kdefault_spin_us);
	for (i = 0; i < chans; i++) {
		s[i].ch = bench_chan(dev, i, depth == 1 ? 2 : depth,
				     KUP_DEFAULT_SPINS);
		s[i].chan = i;
		memset(s[i].msg, KB_OP_ECHO, sizeof(s[i].msg));
		s[i].size = size;
		s[i].depth = depth;
		s[i].n = size > 4096 ? slow_rounds : rounds * 2;
		s[i].err = 0;
		if (!serve && (kup_send(s[i].ch, &calls, 1, KUP_SPIN_ONLY) ||
			       kup_recv(s[i].ch, &d, KUP_SPIN_ONLY) != 1))
			die("kup-pipe", EPROTO);
	}
	/* Timed from the first message to the last reply, set-up excluded. */
	pthread_barrier_init(&start, NULL, chans);
	for (i = 0; i < chans; i++) {
		s[i].start = &start;
		pthread_create(&t[i], NULL, stream_fn, &s[i]);
	}
	for (i = 0; i < chans; i++) {
		pthread_join(t[i], NULL);
		if (!i || s[i].t0 < t0)
			t0 = s[i].t0;
		if (s[i].t1 > t1)
			t1 = s[i].t1;
	}
	pthread_barrier_destroy(&start);
	for (i = 0; i < chans; i++) {
		if (s[i].err)
			die("pipelined stream", s[i].err);
		msgs += s[i].n;
		sys += s[i].sys;
		counted += s[i].counted;
		kup_chan_close(s[i].ch);
	}
	r = add(serve ? "kup-pipe-serve" : "kup-pipe", size, depth, chans);
	throughput(r, msgs, (t1 - t0) / 1e9);
	count_syscalls(r, counted, sys);
}

static void bench_memcpy(size_t size)
{
	char *a = malloc(size), *b = malloc(size);
	unsigned long i, n = slow_rounds * 4;
	struct result *r;
	double t0;

	if (!a || !b)
		die("memcpy", ENOMEM);
	memset(a, 1, size);
	memset(b, 2, size);
	t0 = now_ns();
	for (i = 0; i < n; i++) {
		memcpy(i & 1 ? a : b, i & 1 ? b : a, size);
		__asm__ __volatile__("" ::: "memory");
	}
	r = add("memcpy", size, 1, 1);
	throughput(r, n, (now_ns() - t0) / 1e9);
	free(a);
	free(b);
}

static struct result *find(const char *method, size_t size,
			   unsigned int depth, unsigned int chans)
{
	unsigned int i;

	for (i = 0; i < nresults; i++)
		if (!strcmp(results[i].method, method) &&
		    results[i].size == size && results[i].depth == depth &&
		    results[i].chans == chans)
			return &results[i];
	return NULL;
}

static void report(void)
{
	struct result *raw = find("raw", 4, 1, 1);
	struct result *proto = find("proto", 8, 1, 1);
	struct result *lib = find("proto-lib", 8, 1, 1);
	struct result *kapi = find("proto-kapi", 8, 1, 1);
	struct result *poll8 = find("kup-poll", 8, 1, 1);
	struct result *indirect = find("kup-indirect", 8, 1, 1);
	struct result *ioctl8 = find("ioctl", 8, 1, 1);
	struct result *sq = find("uring-sqpoll", 0, 1, 1);
	struct result *d1 = find("kup-pipe", 64, 1, 1);
	struct result *d16 = find("kup-pipe", 64, 16, 1);
	struct result *big = find("kup-pipe", 65536, 16, 1);
	struct result *mc = find("memcpy", 65536, 1, 1);
	unsigned int i;

	printf("\n%-13s %7s %5s %4s %10s %10s %10s %10s %12s %10s %8s %9s\n",
	       "method", "size", "depth", "chan", "p50 ns", "p90 ns", "p99 ns",
	       "p99.9 ns", "msgs/s", "MB/s", "sys/1e4", "vs kup");
	for (i = 0; i < nresults; i++) {
		struct result *r = &results[i];
		struct result *k = find("kup-poll", r->size ? r->size : 8, 1, 1);

		printf("%-13s %7zu %5u %4u %10.0f %10.0f %10.0f %10.0f %12.0f %10.1f",
		       r->method, r->size, r->depth, r->chans, r->p50, r->p90,
		       r->p99, r->p999, r->msgs, r->mbs);
		if (r->rts)
			printf(" %8.2f", 1e4 * r->sys / r->rts);
		else
			printf(" %8s", "-");
		if (r->p50 && k && k->p50 && strcmp(r->method, "pause"))
			printf(" %8.2fx", r->p50 / k->p50);
		printf("\n");
	}
	if (raw && proto && lib && kapi && poll8)
		printf("\nWhere a kup round trip goes (p50 / raw p50): protocol %.2f, with lib/kup.h %.2f, with the kernel API %.2f, both %.2f\n",
		       proto->p50 / raw->p50, lib->p50 / raw->p50,
		       kapi->p50 / raw->p50, poll8->p50 / raw->p50);
	printf("\nTargets (ratios within this run):\n");
	if (raw && poll8)
		printf("  kup-poll p50 / raw p50            %6.2f  (target <= 1.25)\n",
		       poll8->p50 / raw->p50);
	if (indirect && poll8)
		printf("  kup-indirect p50 / kup-poll p50   %6.2f  (the handler's indirect call)\n",
		       indirect->p50 / poll8->p50);
	if (sq && poll8)
		printf("  uring-sqpoll p50 / kup-poll p50   %6.2f  (target >= 2)\n",
		       sq->p50 / poll8->p50);
	if (ioctl8 && poll8)
		printf("  ioctl p50 / kup-poll p50          %6.2f  (target > 1)\n",
		       ioctl8->p50 / poll8->p50);
	if (d1 && d16)
		printf("  depth 16 / depth 1 messages/s     %6.2f  (target >= 4)\n",
		       d16->msgs / d1->msgs);
	if (big && mc)
		printf("  64 KiB kup MB/s / memcpy MB/s     %6.2f  (target >= 0.5)\n",
		       big->mbs / mc->mbs);
	for (i = 0; i < nresults; i++)
		if (results[i].rts)
			printf("  %-14s %5zu B depth %2u x%u: syscalls per 1e4 %6.2f  (target <= 1)\n",
			       results[i].method, results[i].size,
			       results[i].depth, results[i].chans,
			       1e4 * results[i].sys / results[i].rts);

	printf("KUP-BENCH-JSON-BEGIN\n{\"ns_per_cycle\": %.6f, \"blocks\": %u, \"results\": [\n",
	       ns_per_cycle, blocks);
	for (i = 0; i < nresults; i++) {
		struct result *r = &results[i];

		printf("  {\"method\": \"%s\", \"size\": %zu, \"depth\": %u, \"channels\": %u, \"p50_ns\": %.1f, \"p90_ns\": %.1f, \"p99_ns\": %.1f, \"p999_ns\": %.1f, \"msgs_per_s\": %.1f, \"mb_per_s\": %.2f, \"syscalls_per_1e4\": %.3f}%s\n",
		       r->method, r->size, r->depth, r->chans, r->p50, r->p90,
		       r->p99, r->p999, r->msgs, r->mbs,
		       r->rts ? 1e4 * r->sys / r->rts : -1.0,
		       i + 1 < nresults ? "," : "");
	}
	printf("]}\nKUP-BENCH-JSON-END\n");
}

/*
 * The turn protocol written by hand on one side or both, to see what the
 * library (proto-lib) and the kernel API (proto-kapi) add to the bare
 * protocol (proto), and that to the raw bounce.
 */
enum proto_mode { PROTO, PROTO_LIB, PROTO_KAPI };

static const char *const proto_name[] = { "proto", "proto-lib", "proto-kapi" };

/* One round trip of 8 bytes on slot 0, by hand. */
static void proto_rt(struct kup_slot *slot, uint32_t *turn, const char *msg)
{
	uint64_t spins = 0;

	memcpy(slot->data, msg, 8);
	__atomic_store_n(&slot->len, 8, __ATOMIC_RELAXED);
	__atomic_store_n(&slot->seq, *turn + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&slot->flags, KUP_SLOT_INLINE, __ATOMIC_RELAXED);
	/* P1, pairs with P2 in driver/turn.h or kb_proto(). */
	__atomic_store_n(&slot->turn, *turn + 1, __ATOMIC_RELEASE);
	*turn += 2;
	/* P4, pairs with P3 in driver/turn.h or kb_proto(). */
	while (__atomic_load_n(&slot->turn, __ATOMIC_ACQUIRE) != *turn) {
		if (++spins > SPIN_BOUND)
			die("proto", ETIMEDOUT);
		_mm_pause();
	}
	if (__atomic_load_n(&slot->len, __ATOMIC_RELAXED) != 8)
		die("proto", EBADMSG);
}

static void bench_proto(struct kup_device *dev, enum proto_mode mode)
{
	uint64_t *cyc = calloc(rounds, sizeof(*cyc));
	struct kb_raw req = { .op = KB_OP_PROTO, .count = 1000 + rounds };
	char msg[8] = { KB_OP_ECHO };
	struct kup_channel *ch;
	unsigned long i;
	const void *d;
	uint32_t turn;

	if (!cyc)
		die("proto", ENOMEM);
	set_kernel_spins(BIG_SPINS);
	ch = bench_chan(dev, 0, 1, KUP_DEFAULT_SPINS);
	/* The kernel side by hand from now on, but for proto-kapi. */
	if (mode != PROTO_KAPI &&
	    (kup_send(ch, &req, sizeof(req), KUP_SPIN_ONLY) ||
	     kup_recv(ch, &d, KUP_SPIN_ONLY) != sizeof(req)))
		die("proto start", EPROTO);
	turn = ch->uturn[0];
	for (i = 0; i < 1000 + rounds; i++) {
		uint64_t t0 = __rdtsc();

		if (mode == PROTO_LIB) {
			if (kup_send(ch, msg, sizeof(msg), KUP_SPIN_ONLY) ||
			    kup_recv(ch, &d, KUP_SPIN_ONLY) != sizeof(msg))
				die("proto-lib", EPROTO);
		} else {
			proto_rt(ch->slots, &turn, msg);
		}
		if (i >= 1000)
			cyc[i - 1000] = __rdtsc() - t0;
	}
	latency(add(proto_name[mode], sizeof(msg), 1, 1), cyc, rounds);
	kup_chan_close(ch);
	free(cyc);
}

/* What one spin costs here: a load, a compare and a pause. */
static void bench_pause(void)
{
	static volatile uint32_t word;
	unsigned long i, n = rounds * 10;
	uint64_t t0 = __rdtsc();
	struct result *r;

	for (i = 0; i < n; i++) {
		if (word == 1)
			break;
		_mm_pause();
	}
	r = add("pause", 0, 1, 1);
	r->count += n;
	r->secs += (__rdtsc() - t0) * ns_per_cycle / 1e9;
	r->p50 = r->p90 = r->p99 = r->p999 = r->secs * 1e9 / r->count;
}

static void run_one(struct kup_device *dev, const char *method)
{
	if (!strcmp(method, "pause")) {
		bench_pause();
	} else if (!strcmp(method, "proto")) {
		bench_proto(dev, PROTO);
	} else if (!strcmp(method, "proto-lib")) {
		bench_proto(dev, PROTO_LIB);
	} else if (!strcmp(method, "proto-kapi")) {
		bench_proto(dev, PROTO_KAPI);
	} else if (!strcmp(method, "raw")) {
		bench_raw(dev);
	} else if (!strcmp(method, "kup-poll")) {
		bench_kup(dev, KUP_POLL, 8);
	} else if (!strcmp(method, "kup-calls")) {
		bench_kup(dev, KUP_CALLS, 8);
	} else if (!strcmp(method, "kup-indirect")) {
		bench_kup(dev, KUP_INDIRECT, 8);
	} else if (!strcmp(method, "kupdev-poll")) {
		bench_kupdev();
	} else if (!strcmp(method, "kup-adaptive")) {
		bench_kup(dev, KUP_ADAPTIVE, 8);
	} else if (!strcmp(method, "uring-sqpoll")) {
		bench_uring(1);
	} else if (!strcmp(method, "kup-pipe")) {
		bench_pipe(dev, 64, 1, 1, 0);
		bench_pipe(dev, 64, 16, 1, 0);
	} else if (!strcmp(method, "kup-pipe-serve")) {
		bench_pipe(dev, 64, 1, 1, 1);
		bench_pipe(dev, 64, 16, 1, 1);
	} else {
		fprintf(stderr, "kup_bench: methods for 'only': pause, raw, proto, proto-lib, proto-kapi,\n  kup-poll, kup-indirect, kup-calls, kupdev-poll, kup-adaptive, uring-sqpoll, kup-pipe,\n  kup-pipe-serve\n");
		exit(2);
	}
}

/*
 * kup_bench only METHOD[,METHOD...] [ROUNDS]: those methods alone, for a
 * profiler (make profile) or a quick comparison.
 */
static void run_only(struct kup_device *dev, char *methods)
{
	char *method, *save = NULL;

	for (method = strtok_r(methods, ",", &save); method;
	     method = strtok_r(NULL, ",", &save))
		run_one(dev, method);
}

/* One block of every method. */
static void run_all(struct kup_device *dev, int fd)
{
	static const size_t sizes[] = { 8, 64, 1024, 4096, 65536 };
	static const unsigned int depths[] = { 1, 4, 16, 64 };
	unsigned int i, c;

	bench_pause();
	bench_raw(dev);
	bench_proto(dev, PROTO);
	bench_proto(dev, PROTO_LIB);
	bench_proto(dev, PROTO_KAPI);
	bench_kup(dev, KUP_POLL, 1);	/* the protocol alone: op byte only */
	bench_kup(dev, KUP_CALLS, 8);
	bench_kup(dev, KUP_INDIRECT, 8);
	bench_kupdev();
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		bench_kup(dev, KUP_POLL, sizes[i]);
		bench_kup(dev, KUP_ADAPTIVE, sizes[i]);
		bench_ioctl(fd, sizes[i], 0);
	}
	bench_kup(dev, KUP_EPOLL, 8);
	bench_ioctl(fd, 0, 1);
	bench_uring(0);
	bench_uring(1);
	for (c = 1; c <= 2; c++)
		for (i = 0; i < sizeof(depths) / sizeof(depths[0]); i++)
			bench_pipe(dev, 64, depths[i], c, 0);
	for (i = 0; i < sizeof(depths) / sizeof(depths[0]); i++)
		bench_pipe(dev, 65536, depths[i], 1, 0);
	bench_pipe(dev, 64, 1, 1, 1);
	bench_pipe(dev, 64, 16, 1, 1);
	bench_memcpy(65536);
}

int main(int argc, char **argv)
{
	char *only = NULL;
	struct kup_device *dev;
	unsigned int b;
	int ret, fd;

	if (argc > 1 && !strcmp(argv[1], "quick")) {
		rounds = 2000;
		slow_rounds = 500;
		blocks = 2;
	} else if (argc > 2 && !strcmp(argv[1], "only")) {
		only = argv[2];
		if (argc > 3)
			rounds = strtoul(argv[3], NULL, 0);
		if (!rounds || rounds > 100000000)
			die("rounds", EINVAL);
		slow_rounds = rounds / 5;
		blocks = 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	calibrate();
	read_kernel_default();
	ret = kup_open("kup_bench", &dev);
	if (ret)
		die("/dev/kup_bench (load kup.ko and kup_bench.ko)", ret);
	fd = open("/dev/kup_bench_ioctl", O_RDWR);
	if (fd < 0)
		die("/dev/kup_bench_ioctl", errno);
	printf("kup_bench: %lu round trips per figure (%lu on syscall paths) in %u interleaved blocks, TSC %.3f ns/cycle\n",
	       rounds, slow_rounds, blocks, ns_per_cycle);

	if (only) {
		run_only(dev, only);
	} else {
		rounds /= blocks;
		slow_rounds /= blocks;
		for (b = 0; b < blocks; b++)
			run_all(dev, fd);
	}
	set_kernel_spins("500");
	report();
	close(fd);
	kup_close(dev);
	return 0;
}
