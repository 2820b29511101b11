// SPDX-License-Identifier: GPL-2.0
/*
 * kup waiting and notification: spin then sleep with need-wakeup flags,
 * no lost wakeup under stress in either direction, idle threads that
 * really sleep, wake-up system calls only when a side flagged that it
 * sleeps, and readiness through poll, epoll, an eventfd and io_uring.
 * Needs kup.ko and kup_echo.ko.
 */
#include "kup_test.h"

#include <dirent.h>
#include <linux/aio_abi.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>

#include "kselftest_harness.h"

#define PARK_CMD	"KUPECHO:PARK"

/* Receive whatever comes next (a greeting): 0 if something came. */
static int expect_any_recv(struct kup_channel *ch)
{
	const void *d = NULL;

	return kup_recv(ch, &d, 0) > 0 ? 0 : -EBADMSG;
}
#define BIG_SPINS	"4000000"	/* us: the kernel never sleeps */

FIXTURE(wake) {
	struct kup_device *dev;
	struct kup_channel *ch;
};

FIXTURE_SETUP(wake)
{
	if (access(ECHO_PATH, F_OK))
		SKIP(return, "no %s (load kup.ko and kup_echo.ko)", ECHO_PATH);
	ASSERT_EQ(0, param_write("kup_echo", "spin_us", "500"));
	ASSERT_EQ(0, echo_attach(&self->dev, &self->ch, 4096));
}

FIXTURE_TEARDOWN(wake)
{
	if (self->dev) {
		kup_chan_close(self->ch);
		kup_close(self->dev);
	}
	param_write("kup_echo", "spin_us", "500");
}

/* Resume the parked echo once the channel is armed (uwait set). */
struct resumer {
	struct kup_channel *ch;
	volatile int ret;
};

static void *resume_when_armed(void *arg)
{
	struct resumer *r = (struct resumer *)arg;

	r->ret = flag_wait(&r->ch->us->uwait, 10000) ? echo_resume() :
						       -ETIMEDOUT;
	return NULL;
}

/* A process asleep in epoll on the device fd wakes on the kernel's pass. */
TEST_F(wake, epoll_wakes_on_kernel_pass)
{
	struct epoll_event ev = { .events = EPOLLIN }, out;
	struct pollfd pfd = { .fd = kup_fd(self->dev), .events = POLLIN };
	struct resumer r = { 0 };
	const void *d = NULL;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	pthread_t t;

	ASSERT_LE(0, ep);
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, kup_fd(self->dev), &ev));
	/* Our turn: readable at once. */
	ASSERT_EQ(1, poll(&pfd, 1, 0));
	EXPECT_TRUE(pfd.revents & POLLIN);
	ASSERT_EQ(0, echo_park(self->ch, PARK_CMD));
	/* The kernel's turn: armed, not ready, nothing readable. */
	ASSERT_EQ(0, kup_chan_arm(self->ch));
	ASSERT_EQ(0, poll(&pfd, 1, 0));
	r.ch = self->ch;
	ASSERT_EQ(0, pthread_create(&t, NULL, resume_when_armed, &r));
	ASSERT_EQ(1, epoll_wait(ep, &out, 1, 10000));
	EXPECT_TRUE(out.events & EPOLLIN);
	ASSERT_EQ(0, pthread_join(t, NULL));
	kup_chan_disarm(self->ch);
	/* Per-channel readiness, without a system call. */
	EXPECT_EQ(1, kup_chan_ready(self->ch));
	EXPECT_EQ((ssize_t)strlen(PARK_CMD), kup_recv(self->ch, &d,
						      KUP_NONBLOCK));
	EXPECT_LE(1, self->ch->ks->uwait_wakeups);
	close(ep);
}

/* One eventfd for several channels, waited on with epoll. */
TEST_F(wake, eventfd_many_channels)
{
	struct kup_channel *ch2 = NULL;
	struct epoll_event ev = { .events = EPOLLIN }, out;
	const void *d = NULL;
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	int ready = 0, rounds;
	uint64_t cnt;

	ASSERT_LE(0, efd);
	ASSERT_LE(0, ep);
	ASSERT_EQ(0, kup_chan_attach(self->dev, KUP_CHAN_ANY, 4096, 0, &ch2));
	ASSERT_LT(0, kup_recv(ch2, &d, 0));
	ASSERT_EQ(0, kup_chan_set_eventfd(self->ch, efd));
	ASSERT_EQ(0, kup_chan_set_eventfd(ch2, efd));
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev));
	ASSERT_EQ(0, echo_park(self->ch, PARK_CMD));
	ASSERT_EQ(0, echo_park(ch2, PARK_CMD));
	ASSERT_EQ(0, kup_chan_arm(self->ch));
	ASSERT_EQ(0, kup_chan_arm(ch2));
	/* One resume wakes both parked workers. */
	ASSERT_EQ(0, echo_resume());
	for (rounds = 0; ready < 2 && rounds < 10; rounds++) {
		ASSERT_EQ(1, epoll_wait(ep, &out, 1, 10000));
		ASSERT_EQ(8, read(efd, &cnt, 8));
		ready = (kup_chan_ready(self->ch) == 1) +
			(kup_chan_ready(ch2) == 1);
	}
	EXPECT_EQ(2, ready);
	kup_chan_disarm(self->ch);
	kup_chan_disarm(ch2);
	/* EBADF for a non-eventfd; removing it works. */
	EXPECT_EQ(-EBADF, kup_chan_set_eventfd(ch2, 1000));
	EXPECT_EQ(0, kup_chan_set_eventfd(ch2, -1));
	/* The channel stopping signals the eventfd too. */
	ASSERT_EQ(0, kup_chan_set_eventfd(ch2, efd));
	while (read(efd, &cnt, 8) == 8)
		;
	kup_chan_close(ch2);
	EXPECT_EQ(8, read(efd, &cnt, 8));
	close(ep);
	close(efd);
}

/* io_uring: a POLL_ADD on the device fd and one on an eventfd complete. */
TEST_F(wake, io_uring_poll_add)
{
	struct __kernel_timespec ts = { .tv_sec = 10 };
	struct io_uring ring;
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	int efd = eventfd(0, EFD_CLOEXEC);
	int ret, i;

	ret = io_uring_queue_init(8, &ring, 0);
	if (ret == -ENOSYS || ret == -EPERM)
		SKIP(return, "io_uring not available: %d", ret);
	ASSERT_EQ(0, ret);
	ASSERT_LE(0, efd);
	ASSERT_EQ(0, kup_chan_set_eventfd(self->ch, efd));
	ASSERT_EQ(0, echo_park(self->ch, PARK_CMD));
	ASSERT_EQ(0, kup_chan_arm(self->ch));
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_poll_add(sqe, kup_fd(self->dev), POLLIN);
	io_uring_sqe_set_data64(sqe, 1);
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_poll_add(sqe, efd, POLLIN);
	io_uring_sqe_set_data64(sqe, 2);
	ASSERT_EQ(2, io_uring_submit(&ring));
	ASSERT_EQ(0, echo_resume());
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, io_uring_wait_cqe_timeout(&ring, &cqe, &ts));
		EXPECT_TRUE(cqe->res & POLLIN) TH_LOG("cqe %llu res %d",
					       cqe->user_data, cqe->res);
		io_uring_cqe_seen(&ring, cqe);
	}
	kup_chan_disarm(self->ch);
	EXPECT_EQ(1, kup_chan_ready(self->ch));
	io_uring_queue_exit(&ring);
	close(efd);
}

/*
 * epoll registers the fd's wait queue at EPOLL_CTL_ADD: a channel
 * attached afterwards must still wake it.
 */
TEST(epoll_added_before_attach)
{
	struct epoll_event ev = { .events = EPOLLIN }, out;
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;
	struct resumer r = { 0 };
	const void *d = NULL;
	pthread_t t;
	int ep;

	ASSERT_EQ(0, kup_open(ECHO_NAME, &dev));
	ep = epoll_create1(EPOLL_CLOEXEC);
	ASSERT_LE(0, ep);
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, kup_fd(dev), &ev));
	ASSERT_EQ(0, kup_chan_attach(dev, KUP_CHAN_ANY, 4096, 0, &ch));
	ASSERT_LT(0, kup_recv(ch, &d, 0));
	ASSERT_EQ(0, echo_park(ch, "KUPECHO:PARK"));
	r.ch = ch;
	ASSERT_EQ(0, kup_chan_arm(ch));
	ASSERT_EQ(0, pthread_create(&t, NULL, resume_when_armed, &r));
	EXPECT_EQ(1, epoll_wait(ep, &out, 1, 10000));
	EXPECT_TRUE(out.events & EPOLLIN);
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(0, r.ret);
	kup_chan_disarm(ch);
	EXPECT_EQ(12, kup_recv(ch, &d, 0));
	close(ep);
	kup_chan_close(ch);
	kup_close(dev);
}

/* Another thread epoll-waits on a device fd; count what it saw. */
struct epoller {
	int ep;
	volatile pid_t tid;
	volatile int n;
	struct epoll_event ev;
};

static void *epoller_fn(void *arg)
{
	struct epoller *e = (struct epoller *)arg;

	e->tid = gettid();
	e->n = epoll_wait(e->ep, &e->ev, 1, 10000);
	return NULL;
}

/* The state letter of thread tid of this process (R, S, D...), or 0. */
static char thread_state(pid_t tid)
{
	char path[64], buf[256], *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	p = p ? strrchr(buf, ')') : NULL;
	return p && p[1] == ' ' ? p[2] : 0;
}

/*
 * A pipelined attach is readable at once (the process holds every first
 * turn): a thread already asleep in epoll_wait on the fd wakes.
 */
TEST(pipelined_attach_wakes_poller)
{
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;
	struct epoller e = { .n = -2 };
	struct epoll_event ev = { .events = EPOLLIN };
	pthread_t t;
	int i;

	ASSERT_EQ(0, kup_open(ECHO_NAME, &dev));
	e.ep = epoll_create1(EPOLL_CLOEXEC);
	ASSERT_LE(0, e.ep);
	ASSERT_EQ(0, epoll_ctl(e.ep, EPOLL_CTL_ADD, kup_fd(dev), &ev));
	ASSERT_EQ(0, pthread_create(&t, NULL, epoller_fn, &e));
	for (i = 0; i < 10000 && (!e.tid || thread_state(e.tid) != 'S'); i++)
		usleep(1000);
	ASSERT_EQ('S', thread_state(e.tid));
	ASSERT_EQ(0, kup_chan_attach_slots(dev, KUP_CHAN_ANY, 1024, 4, 0, &ch));
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(1, e.n);
	EXPECT_TRUE(e.ev.events & EPOLLIN);
	close(e.ep);
	kup_chan_close(ch);
	kup_close(dev);
}

/*
 * Two channels on one fd: one parked echo to wait for, one holding the
 * kernel's turn. The fd must work with waiters that take one or two
 * wait queues per file (aio poll, io_uring POLL_ADD).
 */
static void two_channels(struct __test_metadata *_metadata,
			 struct kup_device **dev, struct kup_channel **ch,
			 struct kup_channel **ch2)
{
	ASSERT_EQ(0, echo_attach(dev, ch, 4096));
	ASSERT_EQ(0, kup_chan_attach(*dev, KUP_CHAN_ANY, 4096, 0, ch2));
	ASSERT_EQ(0, expect_any_recv(*ch2));
	ASSERT_EQ(0, kup_send(*ch2, "KUPECHO:HOLD", 12, 0));
	ASSERT_EQ(0, echo_park(*ch, "KUPECHO:PARK"));
	ASSERT_EQ(0, kup_chan_arm(*ch));
}

TEST(io_uring_poll_two_channels)
{
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL, *ch2 = NULL;
	struct __kernel_timespec ts = { .tv_sec = 10 };
	struct resumer r = { 0 };
	struct io_uring_cqe *cqe;
	struct io_uring ring;
	pthread_t t;

	ASSERT_EQ(0, io_uring_queue_init(4, &ring, 0));
	two_channels(_metadata, &dev, &ch, &ch2);
	io_uring_prep_poll_add(io_uring_get_sqe(&ring), kup_fd(dev), POLLIN);
	ASSERT_EQ(1, io_uring_submit(&ring));
	r.ch = ch;
	ASSERT_EQ(0, pthread_create(&t, NULL, resume_when_armed, &r));
	ASSERT_EQ(0, io_uring_wait_cqe_timeout(&ring, &cqe, &ts));
	EXPECT_TRUE(cqe->res > 0 && (cqe->res & POLLIN))
		TH_LOG("res %d", cqe->res);
	io_uring_cqe_seen(&ring, cqe);
	ASSERT_EQ(0, pthread_join(t, NULL));
	kup_chan_disarm(ch);
	io_uring_queue_exit(&ring);
	kup_close(dev);
}

TEST(aio_poll_two_channels)
{
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL, *ch2 = NULL;
	struct timespec ts = { .tv_sec = 10 };
	struct iocb cb, *cbs[1] = { &cb };
	struct resumer r = { 0 };
	struct io_event ev;
	aio_context_t ctx = 0;
	pthread_t t;

	ASSERT_EQ(0, syscall(__NR_io_setup, 4, &ctx));
	two_channels(_metadata, &dev, &ch, &ch2);
	memset(&cb, 0, sizeof(cb));
	cb.aio_lio_opcode = IOCB_CMD_POLL;
	cb.aio_fildes = kup_fd(dev);
	cb.aio_buf = POLLIN;
	ASSERT_EQ(1, syscall(__NR_io_submit, ctx, 1, cbs))
		TH_LOG("io_submit: %s", strerror(errno));
	r.ch = ch;
	ASSERT_EQ(0, pthread_create(&t, NULL, resume_when_armed, &r));
	ASSERT_EQ(1, syscall(__NR_io_getevents, ctx, 1, 1, &ev, &ts));
	EXPECT_TRUE((long long)ev.res > 0 && (ev.res & POLLIN))
		TH_LOG("res %lld", (long long)ev.res);
	ASSERT_EQ(0, pthread_join(t, NULL));
	kup_chan_disarm(ch);
	syscall(__NR_io_destroy, ctx);
	kup_close(dev);
}

/*
 * A thread asleep in kup_recv() learns that the channel broke: another
 * thread writes a turn the kernel never passed, the kernel (holding the
 * turn, re-reading it) breaks the channel and must wake the sleeper.
 */
TEST_F(wake, broken_channel_wakes_sleeper)
{
	struct recv_waiter b = { .ch = self->ch, .spins = 0, .ret = 1 };
	pthread_t t;
	int i;

	ASSERT_EQ(0, kup_send(self->ch, "KUPECHO:HOLD", 12, 0));
	ASSERT_EQ(0, pthread_create(&t, NULL, recv_waiter_fn, &b));
	ASSERT_TRUE(flag_wait(&self->ch->us->uwait, 10000));
	__atomic_store_n(&self->ch->slots->turn, 1000, __ATOMIC_RELEASE);
	for (i = 0; i < 10000 && b.ret == 1; i++)
		usleep(1000);
	EXPECT_EQ(-EPROTO, b.ret);
	/* Not woken: a shutdown ends the wait, then report. */
	if (b.ret == 1)
		ASSERT_EQ(0, kup_chan_shutdown(self->ch));
	ASSERT_EQ(0, pthread_join(t, NULL));
}

/*
 * The kernel answers with KUP_NONBLOCK from a hard-irq hrtimer or a timer
 * (softirq): the pass, the wake-up of a sleeping thread and of an eventfd
 * all work from there, and the calls never sleep.
 */
static void send_from_timer(struct __test_metadata *_metadata,
			    struct kup_channel *ch, const char *cmd,
			    const char *stat)
{
	struct recv_waiter b = { .ch = ch, .spins = 0, .ret = 1 };
	struct resumer r = { .ch = ch };
	pthread_t t, tr;

	ASSERT_EQ(0, echo_park(ch, cmd));
	ASSERT_EQ(0, pthread_create(&tr, NULL, resume_when_armed, &r));
	ASSERT_EQ(0, pthread_create(&t, NULL, recv_waiter_fn, &b));
	ASSERT_EQ(0, pthread_join(tr, NULL));
	EXPECT_EQ(0, r.ret);
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ((ssize_t)strlen(cmd), b.ret);
	EXPECT_EQ(0, echo_stat(stat));
}

TEST_F(wake, hardirq_send_wakes_sleeper)
{
	unsigned long long k0 = self->ch->ks->uwait_wakeups;

	send_from_timer(_metadata, self->ch, "KUPECHO:HARDIRQ", "irq_send");
	EXPECT_LT(k0, self->ch->ks->uwait_wakeups);
	EXPECT_EQ(0, roundtrip(self->ch, 1, 64, 0));
}

TEST_F(wake, softirq_send_wakes_sleeper)
{
	send_from_timer(_metadata, self->ch, "KUPECHO:SOFTIRQ", "soft_send");
	EXPECT_EQ(0, roundtrip(self->ch, 1, 64, 0));
}

/* ... and signals an eventfd an epoll waiter sleeps on. */
TEST_F(wake, hardirq_send_signals_eventfd)
{
	struct epoll_event ev = { .events = EPOLLIN }, out;
	struct resumer r = { .ch = self->ch };
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	const void *d = NULL;
	pthread_t t;

	ASSERT_LE(0, efd);
	ASSERT_LE(0, ep);
	ASSERT_EQ(0, kup_chan_set_eventfd(self->ch, efd));
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev));
	ASSERT_EQ(0, echo_park(self->ch, "KUPECHO:HARDIRQ"));
	ASSERT_EQ(0, kup_chan_arm(self->ch));
	ASSERT_EQ(0, pthread_create(&t, NULL, resume_when_armed, &r));
	EXPECT_EQ(1, epoll_wait(ep, &out, 1, 10000));
	ASSERT_EQ(0, pthread_join(t, NULL));
	kup_chan_disarm(self->ch);
	EXPECT_EQ(15, kup_recv(self->ch, &d, 0));
	EXPECT_EQ(0, echo_stat("irq_send"));
	close(ep);
	close(efd);
}

/*
 * Lost-wakeup stress. Every pass races with a peer going to sleep; a
 * lost wakeup would hang a round trip until the harness's timeout.
 */
/*
 * usleeps / ksleeps: the user / the kernel must have slept (and been woken
 * by the other side) at least once, or the stress proved nothing.
 */
static void stress(struct __test_metadata *_metadata, const char *kspins,
		   unsigned int uspins, unsigned int flags, bool usleeps,
		   bool ksleeps)
{
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;
	unsigned long n, count = test_count(100000);

	ASSERT_EQ(0, param_write("kup_echo", "spin_us", kspins));
	ASSERT_EQ(0, echo_attach(&dev, &ch, 4096));
	kup_chan_set_spin(ch, uspins);
	kup_chan_set_poll_limit(ch, 1ULL << 36);
	for (n = 0; n < count; n++)
		ASSERT_EQ(0, roundtrip(ch, n, 8, flags)) TH_LOG("message %lu", n);
	TH_LOG("kernel woke the user %llu times, the user woke the kernel %llu times",
	       (unsigned long long)ch->ks->uwait_wakeups,
	       (unsigned long long)ch->ks->kwait_wakeups);
	if (usleeps)
		EXPECT_LT(0, ch->ks->uwait_wakeups);
	if (ksleeps)
		EXPECT_LT(0, ch->ks->kwait_wakeups);
	kup_chan_close(ch);
	kup_close(dev);
}

/* Kernel to user: the kernel spins, the user sleeps at every wait. */
TEST_F_TIMEOUT(wake, stress_user_sleeps, 600)
{
	stress(_metadata, BIG_SPINS, 0, 0, true, false);
}

/* User to kernel: the user polls, the kernel sleeps at every wait. */
TEST_F_TIMEOUT(wake, stress_kernel_sleeps, 600)
{
	stress(_metadata, "0", 0, KUP_SPIN_ONLY, false, true);
}

/* Both sides with a tiny budget: passes race with sleeps both ways. */
TEST_F_TIMEOUT(wake, stress_both_tiny, 600)
{
	stress(_metadata, "1", 1, 0, true, true);
}

/*
 * Wake-up system calls appear only when a side flagged that it sleeps:
 * none while both spin, and every KUP_IOC_WAKE the library made was
 * received by a kernel that had set kstate.kwait.
 */
TEST_F_TIMEOUT(wake, syscalls_only_when_flagged, 300)
{
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;
	unsigned long long uw0, kw0, s0;
	unsigned long n;

	/* Both spin: no system call, no wake-up either way. */
	ASSERT_EQ(0, param_write("kup_echo", "spin_us", BIG_SPINS));
	ASSERT_EQ(0, echo_attach(&dev, &ch, 4096));
	kup_chan_set_poll_limit(ch, 1ULL << 36);
	s0 = kup_chan_syscalls(ch);
	uw0 = ch->ks->uwait_wakeups;
	kw0 = ch->ks->kwait_wakeups;
	for (n = 0; n < 10000; n++)
		ASSERT_EQ(0, roundtrip(ch, n, 8, KUP_SPIN_ONLY));
	EXPECT_EQ(s0, kup_chan_syscalls(ch));
	EXPECT_EQ(uw0, ch->ks->uwait_wakeups);
	EXPECT_EQ(kw0, ch->ks->kwait_wakeups);
	kup_chan_close(ch);
	kup_close(dev);

	/*
	 * The kernel sleeps: each wake the library made was asked for.
	 * Counted from after the set-up, whose greeting may have slept.
	 */
	ASSERT_EQ(0, param_write("kup_echo", "spin_us", "0"));
	ASSERT_EQ(0, echo_attach(&dev, &ch, 4096));
	kup_chan_set_poll_limit(ch, 1ULL << 36);
	s0 = kup_chan_syscalls(ch);
	uw0 = ch->ks->uwait_wakeups;
	kw0 = ch->ks->kwait_wakeups;
	for (n = 0; n < 2000; n++)
		ASSERT_EQ(0, roundtrip(ch, n, 8, KUP_SPIN_ONLY));
	EXPECT_LT(s0, kup_chan_syscalls(ch));
	EXPECT_EQ(kup_chan_syscalls(ch) - s0, ch->ks->kwait_wakeups - kw0);
	EXPECT_EQ(uw0, ch->ks->uwait_wakeups);
	kup_chan_close(ch);
	kup_close(dev);
}

/* utime + stime of a task, in clock ticks, from /proc/<pid>/task/<tid>/stat. */
static long task_ticks(pid_t pid, pid_t tid)
{
	char path[96], buf[1024], *p;
	unsigned long ut, st;
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (!p)
		return -1;
	p = strrchr(buf, ')');		/* comm may hold spaces */
	for (i = 0; p && i < 12; i++)	/* to field 14, utime */
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p, " %lu %lu", &ut, &st) != 2)
		return -1;
	return (long)(ut + st);
}

/* Context switches (voluntary and not) of a task, or -1: its wake-ups. */
static long task_switches(pid_t pid)
{
	char path[64], line[128];
	long total = 0, v;
	int found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "voluntary_ctxt_switches: %ld", &v) == 1 ||
		    sscanf(line, "nonvoluntary_ctxt_switches: %ld", &v) == 1) {
			total += v;
			found++;
		}
	}
	fclose(f);
	return found == 2 ? total : -1;
}

static long task_ticks_of(pid_t pid)
{
	return task_ticks(pid, pid);
}

/*
 * The sum of what(pid) over every kup_echo kernel thread, or -1; the
 * threads counted go to *nthreads.
 */
static long echo_kthread_sum(long (*what)(pid_t), int *nthreads)
{
	char path[300], comm[64];
	struct dirent *de;
	long total = 0, t;
	DIR *d = opendir("/proc");
	FILE *f;

	*nthreads = 0;
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		pid_t pid = atoi(de->d_name);

		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/comm", pid);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) &&
		    !strncmp(comm, "kup_echo/", 9)) {
			t = what(pid);
			if (t >= 0) {
				total += t;
				(*nthreads)++;
			}
		}
		fclose(f);
	}
	closedir(d);
	return total;
}

/*
 * Idle means asleep until there is work: no kernel thread of the service
 * loop (kup_workers_start(): the acceptor, the worker serving our
 * channel, asleep for its turn, and the workers of the free channels)
 * wakes up while nothing happens, however long that lasts. Watched for
 * longer than any periodic recheck would sleep.
 */
TEST_F_TIMEOUT(wake, idle_kthreads_stay_asleep, 60)
{
	long s0, s1;
	int nk;

	/* The worker serving us spins for its 500 us budget, then sleeps. */
	ASSERT_TRUE(flag_wait(&self->ch->ks->kwait, 5000));
	usleep(100000);
	s0 = echo_kthread_sum(task_switches, &nk);
	ASSERT_LE(0, s0);
	ASSERT_LE(5, nk);	/* acceptor + 4 workers */
	sleep(7);
	s1 = echo_kthread_sum(task_switches, &nk);
	TH_LOG("kup_echo kthreads: %ld wake-ups in 7 idle s", s1 - s0);
	EXPECT_EQ(s0, s1);
}

/*
 * Idle costs nothing: after their spin budget, the kernel threads of an
 * attached but idle device, and a user thread waiting for the kernel,
 * sleep. CPU time over 2 idle seconds must stay near zero (spinning
 * would burn ~200 ticks of each).
 */
TEST_F_TIMEOUT(wake, idle_threads_sleep, 60)
{
	struct recv_waiter a = { .ch = self->ch, .spins = 1024, .ret = 1 };
	long k0, k1, u0, u1;
	int nk;
	pthread_t t;

	/* The kernel waits for us: its worker spins, then sleeps. */
	usleep(200000);
	k0 = echo_kthread_sum(task_ticks_of, &nk);
	ASSERT_LE(0, k0);
	ASSERT_LE(5, nk);	/* acceptor + 4 workers */
	sleep(2);
	k1 = echo_kthread_sum(task_ticks_of, &nk);
	TH_LOG("kup_echo kthreads: %ld ticks in 2 s", k1 - k0);
	EXPECT_GE(10, k1 - k0);

	/* We wait for the kernel (it holds the turn): we sleep too. */
	ASSERT_EQ(0, kup_send(self->ch, "KUPECHO:HOLD", 12, 0));
	ASSERT_EQ(0, pthread_create(&t, NULL, recv_waiter_fn, &a));
	while (!a.tid)
		usleep(1000);
	usleep(200000);
	u0 = task_ticks(getpid(), a.tid);
	ASSERT_LE(0, u0);
	sleep(2);
	u1 = task_ticks(getpid(), a.tid);
	TH_LOG("waiting user thread: %ld ticks in 2 s", u1 - u0);
	EXPECT_GE(10, u1 - u0);
	EXPECT_EQ(1, a.ret);	/* still waiting */
	/* Shut down from this thread, the waiter returns -ENOTCONN. */
	ASSERT_EQ(0, kup_chan_shutdown(self->ch));
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(-ENOTCONN, a.ret);
}

TEST_HARNESS_MAIN
