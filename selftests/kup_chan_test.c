// SPDX-License-Identifier: GPL-2.0
/*
 * kup channel tests: the turn protocol between lib/kup.h and kernel
 * threads (kup_echo, kup_rot13): every size, both initiators, all
 * channels in parallel, non-blocking calls (user side and, from a timer,
 * kernel side), no system call on the data path (seccomp strict mode),
 * shutdown, death, and a hostile process. Needs kup.ko, kup_echo.ko and
 * kup_rot13.ko; the shutdown test also needs KUP_ECHO_KO (the module path).
 */
#include "kup_test.h"

#include <linux/seccomp.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "kselftest_harness.h"

/* The 6.1 harness has timeouts for fixture tests only. */
FIXTURE(slow) {
	int unused;
};

FIXTURE_SETUP(slow)
{
}

FIXTURE_TEARDOWN(slow)
{
}

FIXTURE(chan) {
	struct kup_device *dev;
	struct kup_channel *ch;
	long pins0;
};

FIXTURE_SETUP(chan)
{
	int ret;

	self->pins0 = pins_held();
	ret = echo_attach(&self->dev, &self->ch, 8192);
	if (ret == -ENOENT)
		SKIP(return, "no %s (load kup.ko and kup_echo.ko)", ECHO_PATH);
	ASSERT_EQ(0, ret);
}

FIXTURE_TEARDOWN(chan)
{
	if (self->dev) {
		kup_chan_close(self->ch);
		kup_close(self->dev);
	}
}

/* Every message size from 1 byte to the full buffer, contents checked. */
TEST_F_TIMEOUT(chan, every_size, 600)
{
	size_t max = kup_chan_buf_size(self->ch), len;

	ASSERT_EQ(8192, max);
	for (len = 1; len <= max; len++)
		ASSERT_EQ(0, roundtrip(self->ch, len, len, 0)) TH_LOG("len %zu",
								      len);
	/* A zero-length message is a pass; the echo passes back. */
	ASSERT_EQ(0, roundtrip(self->ch, 0, 0, 0));
}

TEST_F(chan, one_byte_too_long)
{
	size_t max = kup_chan_buf_size(self->ch);
	char *big = (char *)calloc(1, max + 1);
	const void *d = NULL;

	ASSERT_NE(NULL, big);
	EXPECT_EQ(-EMSGSIZE, kup_send(self->ch, big, max + 1, 0));
	EXPECT_EQ(-EMSGSIZE, kup_send_commit(self->ch, max + 1));
	/* Refused before anything moved: the turn is still ours. */
	EXPECT_EQ(1, kup_chan_ready(self->ch));
	ASSERT_EQ(0, kup_send(self->ch, big, max, 0));
	EXPECT_EQ((ssize_t)max, kup_recv(self->ch, &d, 0));
	free(big);
}

/* The largest buffer kup_echo offers, several MiB, both directions. */
TEST(largest_messages)
{
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;
	size_t max;
	int i;

	ASSERT_EQ(0, echo_attach(&dev, &ch, 0));
	max = kup_chan_buf_size(ch);
	ASSERT_EQ(dev->info.max_buf_size, max);
	ASSERT_LE(2 << 20, max);
	for (i = 0; i < 4; i++)
		ASSERT_EQ(0, roundtrip(ch, i, max - i, 0));
	EXPECT_EQ(-EMSGSIZE, kup_send(ch, ch->to_kernel, max + 1, 0));
	kup_chan_close(ch);
	kup_close(dev);
}

/* The kernel sends first: the greeting carries the channel number. */
TEST(kernel_sends_first)
{
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;
	char want[ECHO_HELLO_MAX];
	const void *d = NULL;
	ssize_t len;

	ASSERT_EQ(0, kup_open(ECHO_NAME, &dev));
	ASSERT_EQ(0, kup_chan_attach(dev, KUP_CHAN_ANY, 4096, 0, &ch));
	/* Before the kernel passes, the turn is not ours. */
	len = kup_recv(ch, &d, 0);
	snprintf(want, sizeof(want), "kup_echo %u", kup_chan_index(ch));
	ASSERT_EQ((ssize_t)strlen(want), len);
	EXPECT_EQ(0, memcmp(want, d, len));
	/* Holding the turn with the message read: waiting cannot end. */
	EXPECT_EQ(-EDEADLK, kup_recv(ch, &d, 0));
	kup_chan_close(ch);
	kup_close(dev);
}

/* kup_rot13 passes the first turn without data: the user sends first. */
TEST(user_sends_first_after_pass)
{
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;
	char msg[] = "Hello, kernel thread", want[sizeof(msg)];
	const void *d = NULL;

	ASSERT_EQ(0, kup_open(ROT13_NAME, &dev));
	ASSERT_EQ(0, kup_chan_attach(dev, KUP_CHAN_ANY, 0, 0, &ch));
	ASSERT_EQ(0, kup_recv(ch, &d, 0));	/* the pass: no data */
	ASSERT_EQ(0, kup_send(ch, msg, sizeof(msg), 0));
	ASSERT_EQ((ssize_t)sizeof(msg), kup_recv(ch, &d, 0));
	memcpy(want, msg, sizeof(msg));
	rot13(want);
	EXPECT_STREQ(want, (const char *)d);
	kup_chan_close(ch);
	kup_close(dev);
}

/*
 * Devices of the KUP API refuse regions smaller than their pages: the
 * kernel refuses them (raw ioctls: the library would refuse first).
 */
TEST(fixed_size_device)
{
	long page = sysconf(_SC_PAGESIZE);
	struct kup_info info;
	struct kup_attach a;
	void *mem = NULL;
	int fd;

	fd = open("/dev/" ROT13_NAME, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ioctl(fd, KUP_IOC_INFO, &info));
	EXPECT_EQ(info.max_buf_size, info.min_buf_size);
	ASSERT_EQ(0, posix_memalign(&mem, page, 16 * page));
	memset(mem, 0, 16 * page);
	memset(&a, 0, sizeof(a));
	a.addr = (uintptr_t)mem;
	a.chan = KUP_CHAN_ANY;
	/* A named size below the device's. */
	a.len = 16 * page;
	a.buf_size = 128;
	EXPECT_EQ(-1, ioctl(fd, KUP_IOC_ATTACH, &a));
	EXPECT_EQ(EINVAL, errno);
	/* No size named, but only room for smaller buffers. */
	a.buf_size = 0;
	a.len = 2 * page;
	EXPECT_EQ(-1, ioctl(fd, KUP_IOC_ATTACH, &a));
	EXPECT_EQ(EINVAL, errno);
	/* The device's own size fits. */
	a.len = 16 * page;
	a.buf_size = info.max_buf_size;
	ASSERT_EQ(0, ioctl(fd, KUP_IOC_ATTACH, &a));
	EXPECT_EQ(info.max_buf_size, a.buf_size);
	close(fd);
	free(mem);
}

struct worker {
	struct kup_channel *ch;
	unsigned long count;
	unsigned long done;
	int err;
};

/* Sequence number and checksum in every message, both ways. */
static void *parallel_worker(void *arg)
{
	struct worker *w = (struct worker *)arg;
	unsigned long n;

	for (n = 0; n < w->count; n++) {
		size_t len = 16 + (n * 29) % 1000;
		int ret = roundtrip(w->ch, n, len, 0);

		if (ret) {
			w->err = ret;
			break;
		}
		w->done++;
	}
	return NULL;
}

TEST_F_TIMEOUT(slow, all_channels_in_parallel, 900)
{
	struct kup_device *dev = NULL;
	struct worker *w;
	pthread_t *t;
	unsigned int n, i;
	long msgs0 = echo_stat("messages");

	ASSERT_EQ(0, kup_open(ECHO_NAME, &dev));
	n = dev->info.nchan;
	w = (struct worker *)calloc(n, sizeof(*w));
	t = (pthread_t *)calloc(n, sizeof(*t));
	ASSERT_NE(NULL, w);
	ASSERT_NE(NULL, t);
	for (i = 0; i < n; i++) {
		const void *d;

		ASSERT_EQ(0, kup_chan_attach(dev, i, 4096, 0, &w[i].ch));
		ASSERT_LT(0, kup_recv(w[i].ch, &d, 0));
		w[i].count = test_count(100000);
	}
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, pthread_create(&t[i], NULL, parallel_worker,
					    &w[i]));
	for (i = 0; i < n; i++) {
		ASSERT_EQ(0, pthread_join(t[i], NULL));
		EXPECT_EQ(0, w[i].err) TH_LOG("channel %u: error %d after %lu",
					      i, w[i].err, w[i].done);
		EXPECT_EQ(w[i].count, w[i].done);
		kup_chan_close(w[i].ch);
	}
	/* The kernel side counted every message exactly once. */
	EXPECT_EQ(msgs0 + (long)(n * test_count(100000)),
		  echo_stat("messages"));
	kup_close(dev);
	free(w);
	free(t);
}

/* While the kernel holds the turn, non-blocking calls fail at once. */
TEST_F(chan, nonblocking_user)
{
	const void *d = NULL;

	ASSERT_EQ(0, kup_send(self->ch, "KUPECHO:HOLD", 12, 0));
	EXPECT_EQ(-EAGAIN, kup_recv(self->ch, &d, KUP_NONBLOCK));
	EXPECT_EQ(-EAGAIN, kup_send(self->ch, "x", 1, KUP_NONBLOCK));
	EXPECT_EQ(-EAGAIN, kup_pass(self->ch, KUP_NONBLOCK));
	EXPECT_EQ(0, kup_chan_ready(self->ch));
	/* Pure polling gives up after its bound. */
	kup_chan_set_poll_limit(self->ch, 100000);
	EXPECT_EQ(-ETIMEDOUT, kup_recv(self->ch, &d, KUP_SPIN_ONLY));
}

/*
 * The kernel's non-blocking calls, made from a timer (softirq context),
 * fail with -EAGAIN while the process holds the turn, and never sleep.
 */
TEST_F(chan, nonblocking_kernel_from_softirq)
{
	long probes0 = echo_stat("nbprobes");
	const void *d = NULL;

	ASSERT_LE(0, probes0);
	ASSERT_EQ(0, kup_send(self->ch, "KUPECHO:NBPROBE", 15, 0));
	ASSERT_EQ(15, kup_recv(self->ch, &d, 0));
	/* We hold the turn until the probe has run. */
	ASSERT_EQ(probes0 + 1, echo_stat_wait("nbprobes", probes0 + 1, 5000));
	EXPECT_EQ(-EAGAIN, echo_stat("nb_recv"));
	EXPECT_EQ(-EAGAIN, echo_stat("nb_send"));
	/* kup_serve() with KUP_NONBLOCK: nothing waits, nothing answered. */
	EXPECT_EQ(0, echo_stat("nb_serve"));
	/* The channel still works. */
	EXPECT_EQ(0, roundtrip(self->ch, 7, 100, 0));
}

static void on_signal(int sig)
{
	(void)sig;
}

/* A user blocked (asleep in the kernel) returns -EINTR on a signal. */
TEST_F(chan, signal_interrupts_wait)
{
	struct sigaction sa;
	struct recv_waiter b = { .ch = self->ch, .spins = 100, .ret = 1 };
	const void *d = NULL;
	pthread_t t;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART */
	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	ASSERT_EQ(0, kup_send(self->ch, "KUPECHO:HOLD", 12, 0));
	ASSERT_EQ(0, pthread_create(&t, NULL, recv_waiter_fn, &b));
	/* Wait until it announced that it sleeps. */
	ASSERT_TRUE(flag_wait(&self->ch->us->uwait, 5000));
	ASSERT_EQ(1, self->ch->us->uwait);
	usleep(20000);
	ASSERT_EQ(0, pthread_kill(t, SIGUSR1));
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(-EINTR, b.ret);
	/* It can retry: still the kernel's turn, so -EAGAIN. */
	EXPECT_EQ(-EAGAIN, kup_recv(self->ch, &d, KUP_NONBLOCK));
}

/* The device destroyed while a process is blocked in a receive. */
TEST(shutdown_while_blocked)
{
	const char *ko = getenv("KUP_ECHO_KO");
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;
	struct recv_waiter b = { .spins = 100, .ret = 1 };
	char cmd[512];
	pthread_t t;

	struct kup_channel *idle = NULL;
	const void *d = NULL;
	unsigned int idle_chan;

	if (!ko)
		SKIP(return, "KUP_ECHO_KO (path of kup_echo.ko) not set");
	ASSERT_EQ(0, echo_attach(&dev, &ch, 4096));
	/* A second channel whose kernel thread sleeps waiting for us. */
	ASSERT_EQ(0, kup_chan_attach(dev, KUP_CHAN_ANY, 4096, 0, &idle));
	b.ch = ch;
	ASSERT_EQ(0, kup_send(ch, "KUPECHO:HOLD", 12, 0));
	ASSERT_EQ(0, pthread_create(&t, NULL, recv_waiter_fn, &b));
	flag_wait(&ch->us->uwait, 5000);
	EXPECT_TRUE(flag_wait(&idle->ks->kwait, 5000));
	idle_chan = kup_chan_index(idle);
	/* Returns only if destruction woke the sleeping kernel thread. */
	ASSERT_EQ(0, system("rmmod kup_echo"));
	EXPECT_EQ(0, idle->ks->kwait);
	/* Its greeting, sent before, is still received; then the end. */
	EXPECT_EQ(1, kup_chan_ready(idle));
	EXPECT_LT(0, kup_recv(idle, &d, KUP_NONBLOCK));
	EXPECT_EQ(-ESHUTDOWN, kup_chan_ready(idle));
	kup_chan_close(idle);
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(-ESHUTDOWN, b.ret);
	/*
	 * The kernel side too saw -ESHUTDOWN, not a kthread_stop(): both
	 * the thread that held the turn and the one asleep waiting for us.
	 */
	snprintf(cmd, sizeof(cmd),
		 "dmesg | grep -q 'kup_echo: channel %u: session ended: %d$'",
		 kup_chan_index(ch), -ESHUTDOWN);
	EXPECT_EQ(0, system(cmd)) TH_LOG("%s", cmd);
	snprintf(cmd, sizeof(cmd),
		 "dmesg | grep -q 'kup_echo: channel %u: session ended: %d$'",
		 idle_chan, -ESHUTDOWN);
	EXPECT_EQ(0, system(cmd)) TH_LOG("%s", cmd);
	/* Visible in shared memory, without a system call. */
	EXPECT_EQ(KUP_STATE_SHUTDOWN, ch->ks->state);
	EXPECT_EQ(-ESHUTDOWN, kup_chan_ready(ch));
	EXPECT_EQ(-ESHUTDOWN, kup_send(ch, "x", 1, KUP_SPIN_ONLY));
	EXPECT_EQ(0, kup_chan_close(ch));
	kup_close(dev);
	snprintf(cmd, sizeof(cmd), "insmod %s test_commands=1", ko);
	ASSERT_EQ(0, system(cmd));
	ASSERT_TRUE(path_wait(ECHO_PATH, 5000));
}

/*
 * kup_chan_shutdown() detaches: the channel's index is free at once, and
 * a later attach may take it. Closing the shut-down handle then must not
 * detach the new attachment on that index.
 */
TEST(close_after_shutdown_spares_reused_index)
{
	struct kup_device *dev = NULL;
	struct kup_channel *a = NULL, *b = NULL;
	const void *d = NULL;
	uint32_t idx;

	if (access(ECHO_PATH, F_OK))
		SKIP(return, "no %s (load kup.ko and kup_echo.ko)", ECHO_PATH);
	ASSERT_EQ(0, echo_attach(&dev, &a, 4096));
	idx = kup_chan_index(a);
	ASSERT_EQ(0, kup_chan_shutdown(a));
	EXPECT_EQ(0, kup_chan_shutdown(a));	/* again: nothing to do */
	ASSERT_EQ(0, kup_chan_attach(dev, idx, 4096, 0, &b));
	EXPECT_EQ(0, kup_chan_close(a));
	/* b is still attached: its greeting comes, then an echo. */
	EXPECT_LT(0, kup_recv(b, &d, 0));
	EXPECT_EQ(KUP_STATE_ATTACHED, b->ks->state);
	EXPECT_EQ(0, roundtrip(b, 1, 64, 0));
	EXPECT_EQ(0, kup_chan_close(b));
	kup_close(dev);
}

/* A process killed while the kernel waits for it: the kernel gets an error. */
TEST(killed_while_kernel_waits)
{
	long enotconn0 = echo_stat("enotconn");
	long pins0 = pins_held();
	int pipefd[2], status;
	pid_t pid;
	char c;

	ASSERT_LE(0, enotconn0);
	ASSERT_EQ(0, pipe(pipefd));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct kup_device *dev;
		struct kup_channel *ch;

		/* Hold the turn: the echo thread now waits for us. */
		if (echo_attach(&dev, &ch, 4096) ||
		    write(pipefd[1], "r", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	ASSERT_EQ(1, read(pipefd[0], &c, 1));
	ASSERT_EQ(0, kill(pid, SIGKILL));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(enotconn0 + 1, echo_stat_wait("enotconn", enotconn0 + 1,
						5000));
	EXPECT_EQ(pins0, pins_wait(pins0, 5000));
	close(pipefd[0]);
	close(pipefd[1]);
}

/*
 * The kernel keeps a reference on the region from one message to the
 * next; a detach while no hold is active takes it over, so the pages and
 * the memlock charge are back when the detach returns.
 */
TEST(detach_after_traffic_frees_at_once)
{
	long pins0 = pins_held(), vm0 = vm_pinned_kb();
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;
	int ret, i;

	ret = echo_attach(&dev, &ch, 4096);
	if (ret == -ENOENT)
		SKIP(return, "no %s", ECHO_PATH);
	ASSERT_EQ(0, ret);
	for (i = 0; i < 100; i++)
		ASSERT_EQ(0, roundtrip(ch, i, 1 + i * 40, 0));
	EXPECT_LT(pins0, pins_held());
	EXPECT_EQ(0, kup_chan_close(ch));
	EXPECT_EQ(pins0, pins_held());
	EXPECT_EQ(vm0, vm_pinned_kb());
	kup_close(dev);
}

/*
 * Detached while the kernel holds a message (kup_echo parks on
 * KUPECHO:PARK until the test resumes it): the pages stay pinned until
 * the hold ends, then go; the kernel's reply fails with -ENOTCONN and the
 * worker serves the next session.
 */
TEST(detach_while_kernel_holds)
{
	long enotconn0 = echo_stat("enotconn"), parked0 = echo_stat("parked");
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;
	long pins0 = pins_held(), npages;
	int ret;

	ret = echo_attach(&dev, &ch, 4096);
	if (ret == -ENOENT)
		SKIP(return, "no %s", ECHO_PATH);
	ASSERT_EQ(0, ret);
	ASSERT_LE(0, enotconn0);
	ASSERT_LE(0, parked0);
	npages = region_pages(ch->mem);
	ASSERT_EQ(0, kup_send(ch, "KUPECHO:PARK", 12, 0));
	/* The worker took the message and waits, holding it. */
	ASSERT_EQ(parked0 + 1, echo_stat_wait("parked", parked0 + 1, 10000));
	EXPECT_EQ(pins0 + npages, pins_held());
	EXPECT_EQ(0, kup_chan_close(ch));
	/* Detached, still held: still pinned. */
	EXPECT_EQ(pins0 + npages, pins_held());
	ASSERT_EQ(0, echo_resume());
	EXPECT_EQ(enotconn0 + 1, echo_stat_wait("enotconn", enotconn0 + 1,
						10000));
	EXPECT_EQ(-ENOTCONN, echo_stat("park_send"));
	EXPECT_EQ(1, echo_stat("park_intact"));
	EXPECT_EQ(pins0, pins_wait(pins0, 5000));
	kup_close(dev);
	/* The worker serves the next session. */
	ASSERT_EQ(0, echo_attach(&dev, &ch, 4096));
	EXPECT_EQ(0, roundtrip(ch, 1, 100, 0));
	kup_chan_close(ch);
	kup_close(dev);
}

/*
 * No system call after set-up: the thread enters seccomp strict mode
 * (read, write, _exit, sigreturn only) and runs thousands of round trips.
 * Both sides poll: the kernel threads' spin budget is raised so that
 * they never sleep, and the library polls with KUP_SPIN_ONLY.
 */
struct strict_arg {
	struct kup_channel *ch;
	unsigned long done;
	int err;
};

static void *strict_worker(void *arg)
{
	struct strict_arg *a = (struct strict_arg *)arg;
	unsigned long n;

	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0)) {
		a->err = -errno;
		return NULL;
	}
	for (n = 0; n < 5000; n++) {
		int ret = roundtrip(a->ch, n, 1 + n % 512, KUP_SPIN_ONLY);

		if (ret) {
			a->err = ret;
			break;
		}
		a->done++;
	}
	/* exit_group is not allowed in strict mode; exit is. */
	syscall(SYS_exit, 0);
	return NULL;
}

TEST_F_TIMEOUT(slow, no_syscalls_after_setup, 300)
{
	struct kup_device *dev = NULL;
	struct strict_arg a = { 0 };
	long msgs0;
	pthread_t t;

	ASSERT_EQ(0, param_write("kup_echo", "spin_us", "4000000"));
	ASSERT_EQ(0, echo_attach(&dev, &a.ch, 4096));
	kup_chan_set_poll_limit(a.ch, 1ULL << 34);
	msgs0 = echo_stat("messages");
	ASSERT_EQ(0, pthread_create(&t, NULL, strict_worker, &a));
	/* A forbidden syscall would have killed the whole process. */
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(0, a.err);
	EXPECT_EQ(5000, a.done);
	EXPECT_EQ(msgs0 + 5000, echo_stat("messages"));
	EXPECT_EQ(0, param_write("kup_echo", "spin_us", "500"));
	kup_chan_close(a.ch);
	kup_close(dev);
}

/*
 * A hostile process: one thread writes random values over the control
 * lines while another exchanges messages. The kernel must stay clean and
 * the process must see errors, not crashes.
 */
struct scribble_arg {
	unsigned char *ctrl;
	size_t len;
	volatile int stop;
	volatile unsigned long writes;
};

static void *scribbler(void *arg)
{
	struct scribble_arg *s = (struct scribble_arg *)arg;
	unsigned int seed = 12345;

	while (!s->stop) {
		size_t off = (rand_r(&seed) % (s->len / 4)) * 4;
		__u32 v = rand_r(&seed);

		/* Sometimes plausible values: near-correct turns, lengths. */
		if (v & 1)
			v &= 0xffff;
		__atomic_store_n((__u32 *)(s->ctrl + off), v, __ATOMIC_RELAXED);
		s->writes++;
		if (!(seed & 63))
			sched_yield();
	}
	return NULL;
}

/*
 * Scribble over the control lines of a channel with nslots slots while
 * exchanging messages, then make sure the kernel reads garbage (a turn
 * from nowhere on every slot, and a wake-up): the kernel itself must
 * break the channel, exactly once, and count it; the process sees
 * errors, not crashes; a fresh channel then works.
 */
static void scribble(struct __test_metadata *_metadata, uint32_t nslots)
{
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;
	struct scribble_arg s = { 0 };
	long proto0 = echo_stat("eproto");
	unsigned long n, errors = 0;
	struct kup_chan_req req;
	pthread_t t;
	uint32_t i;

	ASSERT_LE(0, proto0);
	if (nslots == 1) {
		ASSERT_EQ(0, echo_attach(&dev, &ch, 4096));
	} else {
		ASSERT_EQ(0, kup_open(ECHO_NAME, &dev));
		ASSERT_EQ(0, kup_chan_attach_slots(dev, KUP_CHAN_ANY, 4096,
						   nslots, 0, &ch));
	}
	kup_chan_set_poll_limit(ch, 2000000);
	/* kstate, ustate and the slots: everything after the header. */
	s.ctrl = (unsigned char *)ch->mem + KUP_LINE_SIZE;
	s.len = ch->hdr->to_kernel_off - KUP_LINE_SIZE;
	ASSERT_EQ(0, pthread_create(&t, NULL, scribbler, &s));
	for (n = 0; n < 5000 && !s.writes; n++)
		usleep(1000);
	for (n = 0; n < 100000 && errors < 50; n++) {
		const void *d = NULL;
		char msg[64];

		if (nslots == 1) {
			errors += roundtrip(ch, n, 64, KUP_SPIN_ONLY) != 0;
			continue;
		}
		/* Fill the pipeline, then drain it, polling only. */
		fill(msg, sizeof(msg), n);
		while (kup_send(ch, msg, sizeof(msg), KUP_MORE) == 0)
			;
		for (i = 0; i < nslots; i++)
			if (kup_recv(ch, &d, KUP_SPIN_ONLY) < 0)
				errors++;
	}
	s.stop = 1;
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_LT(0, errors);
	/* Whatever the scribbler left, the kernel now reads garbage. */
	memset(&req, 0, sizeof(req));
	req.chan = kup_chan_index(ch);
	for (n = 0; n < 5000 && echo_stat("eproto") == proto0; n++) {
		for (i = 0; i < nslots; i++)
			__atomic_store_n(&((struct kup_slot *)((char *)ch->slots +
				i * KUP_LINE_SIZE))->turn, 0xdead0001U,
				__ATOMIC_RELEASE);
		ioctl(kup_fd(dev), KUP_IOC_WAKE, &req);
		usleep(1000);
	}
	TH_LOG("%u slots: %lu errors in %lu exchanges, %lu writes", nslots,
	       errors, n, s.writes);
	EXPECT_EQ(proto0 + 1, echo_stat("eproto"));
	kup_chan_close(ch);
	kup_close(dev);

	/* The service is unharmed: a fresh channel works. */
	ASSERT_EQ(0, echo_attach(&dev, &ch, 4096));
	for (n = 0; n < 100; n++)
		ASSERT_EQ(0, roundtrip(ch, n, 100, 0));
	kup_chan_close(ch);
	kup_close(dev);
}

TEST_F_TIMEOUT(slow, hostile_control_block, 120)
{
	scribble(_metadata, 1);
}

TEST_F_TIMEOUT(slow, hostile_pipelined_slots, 120)
{
	scribble(_metadata, 4);
}

/*
 * Garbage where the kernel reads it: a length past the buffer, a stale
 * sequence number, a turn from nowhere. Each breaks the channel with the
 * right errno, visible in shared memory, and the kernel client is told.
 */
TEST(garbage_breaks_channel)
{
	struct {
		__u32 len, seq, turn, flags;
		int err;
	} cases[] = {
		{ 0xffffffff, 2, 2, 0, EBADMSG },	/* length past the buffer */
		{ 4097, 2, 2, 0, EBADMSG },		/* one byte past */
		{ 8, 7, 2, 0, EBADMSG },		/* stale sequence number */
		{ 8, 2, 1000, 0, EPROTO },		/* not a turn we passed */
		{ KUP_INLINE_MAX + 1, 2, 2, KUP_SLOT_INLINE, EBADMSG },
		{ 8, 2, 2, 0x80, EBADMSG },		/* unknown flag */
	};
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kup_device *dev = NULL;
		struct kup_channel *ch = NULL;
		long proto0 = echo_stat("eproto");
		struct kup_chan_req req;
		const void *d = NULL;
		int n;

		ASSERT_EQ(0, echo_attach(&dev, &ch, 4096));
		ASSERT_EQ(4096, kup_chan_buf_size(ch));
		/* We hold turn 1; hand the kernel turn 2 with garbage. */
		ch->slots->len = cases[i].len;
		ch->slots->seq = cases[i].seq;
		ch->slots->flags = cases[i].flags;
		__atomic_store_n(&ch->slots->turn, cases[i].turn,
				 __ATOMIC_SEQ_CST);
		memset(&req, 0, sizeof(req));
		req.chan = kup_chan_index(ch);
		ioctl(kup_fd(dev), KUP_IOC_WAKE, &req);
		for (n = 0; n < 5000 && __atomic_load_n(&ch->ks->state,
				__ATOMIC_ACQUIRE) == KUP_STATE_ATTACHED; n++)
			usleep(1000);
		EXPECT_EQ(KUP_STATE_BROKEN, ch->ks->state) TH_LOG("case %u", i);
		EXPECT_EQ(cases[i].err, ch->ks->error) TH_LOG("case %u", i);
		EXPECT_EQ(-cases[i].err, kup_recv(ch, &d, KUP_NONBLOCK));
		EXPECT_EQ(proto0 + 1, echo_stat_wait("eproto", proto0 + 1, 5000));
		/* Broken stays broken; detach and a new attach recover. */
		EXPECT_EQ(-cases[i].err, kup_chan_ready(ch));
		kup_chan_close(ch);
		kup_close(dev);
	}
}

/* Stream n messages through a pipelined channel at the given depth. */
static int pipe_stream(struct kup_channel *ch, unsigned long n,
		       unsigned int depth, int burst)
{
	unsigned long sent = 0, got = 0;
	const void *d = NULL;
	int ret, first;
	ssize_t len;

	while (got < n) {
		while (sent < n && kup_chan_inflight(ch) < depth) {
			char msg[32];
			size_t l = 8 + sent % 24;

			fill(msg, l, sent);
			/* burst: one wake-up check per window (KUP_MORE). */
			ret = kup_send(ch, msg, l, burst && sent + 1 < n &&
				       kup_chan_inflight(ch) + 1 < depth ?
				       KUP_MORE : 0);
			if (ret)
				return ret;
			sent++;
		}
		/* The first reply waits; in bursts, those ready follow. */
		first = 1;
		do {
			len = kup_recv(ch, &d, first ? 0 : KUP_NONBLOCK);
			if (len == -EAGAIN && !first)
				break;
			if (len < 0)
				return (int)len;
			if ((size_t)len != 8 + got % 24 ||
			    check(d, len, got) >= 0)
				return 1;
			got++;
			first = 0;
		} while (burst && got < sent);
	}
	return 0;
}

/* Pipelined: several messages in flight, replies in order. */
TEST_F_TIMEOUT(slow, pipelined_in_order, 300)
{
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;
	const void *d = NULL;
	unsigned int i, n = 16;

	ASSERT_EQ(0, kup_open(ECHO_NAME, &dev));
	ASSERT_EQ(0, kup_chan_attach_slots(dev, KUP_CHAN_ANY, 1024, n, 0, &ch));
	/* The header describes n slots, each on its line, with its buffers. */
	EXPECT_EQ(n, ch->hdr->nslots);
	EXPECT_EQ(1024, ch->hdr->buf_size);
	EXPECT_LE(ch->hdr->slot_off + n * KUP_LINE_SIZE, ch->hdr->to_kernel_off);
	EXPECT_EQ(ch->hdr->to_kernel_off + n * 1024, ch->hdr->to_user_off);
	/* We hold every first turn; there is no greeting. */
	EXPECT_EQ(-EDEADLK, kup_recv(ch, &d, 0));
	for (i = 0; i < n; i++) {
		char msg[16];

		snprintf(msg, sizeof(msg), "m%u", i);
		ASSERT_EQ(0, kup_send(ch, msg, strlen(msg) + 1, 0));
	}
	EXPECT_EQ(n, kup_chan_inflight(ch));
	EXPECT_EQ(-ENOBUFS, kup_send(ch, "x", 1, 0));
	for (i = 0; i < n; i++) {
		char want[16];

		snprintf(want, sizeof(want), "m%u", i);
		ASSERT_EQ((ssize_t)strlen(want) + 1, kup_recv(ch, &d, 0));
		EXPECT_STREQ(want, (const char *)d);
	}
	EXPECT_EQ(0, kup_chan_inflight(ch));
	EXPECT_EQ(-EDEADLK, kup_recv(ch, &d, 0));
	/* A long stream at full depth. */
	EXPECT_EQ(0, pipe_stream(ch, test_count(100000), n, 0));
	kup_chan_close(ch);
	kup_close(dev);
}

/*
 * From now on kup_echo answers this session with kup_recv_batch() and
 * kup_send_batch() instead of kup_serve().
 */
static int echo_calls(struct kup_channel *ch)
{
	const void *d = NULL;
	int ret;

	ret = kup_send(ch, "KUPECHO:CALLS", 14, 0);
	if (ret)
		return ret;
	return kup_recv(ch, &d, 0) == 14 ? 0 : -EBADMSG;
}

/*
 * Messages that wait together are taken together (kup_recv_batch) and
 * answered in order: while kup_echo is parked on KUPECHO:PARK, three more
 * arrive; once resumed, its next receive takes all three.
 */
TEST(pipelined_batch)
{
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;
	long batched0, parked0;
	const void *d = NULL;
	unsigned int i;
	char msg[16];

	ASSERT_EQ(0, kup_open(ECHO_NAME, &dev));
	ASSERT_EQ(0, kup_chan_attach_slots(dev, KUP_CHAN_ANY, 1024, 4, 0, &ch));
	ASSERT_EQ(0, echo_calls(ch));
	batched0 = echo_stat("batched");
	parked0 = echo_stat("parked");
	ASSERT_LE(0, batched0);
	ASSERT_EQ(0, kup_send(ch, "KUPECHO:PARK", 13, 0));
	ASSERT_EQ(parked0 + 1, echo_stat_wait("parked", parked0 + 1, 10000));
	for (i = 1; i < 4; i++) {
		snprintf(msg, sizeof(msg), "m%u", i);
		ASSERT_EQ(0, kup_send(ch, msg, strlen(msg) + 1, 0));
	}
	ASSERT_EQ(0, echo_resume());
	ASSERT_EQ(13, kup_recv(ch, &d, 0));
	EXPECT_STREQ("KUPECHO:PARK", (const char *)d);
	for (i = 1; i < 4; i++) {
		snprintf(msg, sizeof(msg), "m%u", i);
		ASSERT_EQ((ssize_t)strlen(msg) + 1, kup_recv(ch, &d, 0));
		EXPECT_STREQ(msg, (const char *)d);
	}
	EXPECT_EQ(batched0 + 3, echo_stat("batched"));
	kup_chan_close(ch);
	kup_close(dev);
}

/*
 * kup_serve() takes the messages that wait together; a command among them
 * stops it, and those after the command are given back, then answered in
 * order: while kup_echo sleeps on a first KUPECHO:DELAY, "m1", a command
 * and "m2" arrive and are taken together. The command is a second DELAY
 * (the handler leaves it held: KUP_SERVE_HOLD) or KUPECHO:STOP (the
 * handler answers it and stops: KUP_SERVE_STOP).
 */
TEST(pipelined_command_in_a_run)
{
	const char *msgs[] = { "KUPECHO:PARK", "m1", NULL, "m2" };
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;
	const void *d = NULL;
	unsigned int i, round;
	long delays0, parked0;

	ASSERT_EQ(0, kup_open(ECHO_NAME, &dev));
	ASSERT_EQ(0, kup_chan_attach_slots(dev, KUP_CHAN_ANY, 1024, 4, 0, &ch));
	for (round = 0; round < 4; round++) {
		msgs[2] = round % 2 ? "KUPECHO:STOP" : "KUPECHO:DELAY";
		delays0 = echo_stat("delays");
		parked0 = echo_stat("parked");
		ASSERT_LE(0, delays0);
		ASSERT_EQ(0, kup_send(ch, msgs[0], strlen(msgs[0]) + 1, 0));
		ASSERT_EQ(parked0 + 1,
			  echo_stat_wait("parked", parked0 + 1, 10000));
		for (i = 1; i < 4; i++)
			ASSERT_EQ(0, kup_send(ch, msgs[i], strlen(msgs[i]) + 1,
					      i < 3 ? KUP_MORE : 0));
		ASSERT_EQ(0, echo_resume());
		for (i = 0; i < 4; i++) {
			ASSERT_EQ((ssize_t)strlen(msgs[i]) + 1,
				  kup_recv(ch, &d, 0)) TH_LOG("reply %u", i);
			EXPECT_STREQ(msgs[i], (const char *)d);
		}
		EXPECT_EQ(delays0 + 1 - round % 2, echo_stat("delays"));
	}
	kup_chan_close(ch);
	kup_close(dev);
}

/*
 * A kup_serve() handler that fails (its reply is larger than the buffer)
 * ends kup_echo's session with the message unanswered: the kernel keeps
 * the turn, the process gets no reply, and the channel serves the next
 * session. (The guest checks at the end that every pinned page came back.)
 */
TEST(serve_handler_error)
{
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;
	const void *d = NULL;
	long other0 = echo_stat("other_errors");

	ASSERT_LE(0, other0);
	ASSERT_EQ(0, echo_attach(&dev, &ch, 4096));
	ASSERT_EQ(0, kup_send(ch, "KUPECHO:OVERSIZE", 17, 0));
	ASSERT_EQ(other0 + 1, echo_stat_wait("other_errors", other0 + 1, 5000));
	/* kup_serve() refused the handler's reply: -EMSGSIZE ended it. */
	EXPECT_EQ(-EMSGSIZE, echo_stat("last_error"));
	/* The kernel side ended the session: the process learns it. */
	EXPECT_EQ(-ECONNRESET, kup_recv(ch, &d, 0));
	EXPECT_EQ(KUP_STATE_BROKEN, ch->ks->state);
	EXPECT_EQ(ECONNRESET, ch->ks->error);
	kup_chan_close(ch);
	kup_close(dev);
	ASSERT_EQ(0, echo_attach(&dev, &ch, 4096));
	EXPECT_EQ(0, roundtrip(ch, 1, 64, 0));
	kup_chan_close(ch);
	kup_close(dev);
}

/*
 * Pipelined, both sides sleeping at every wait: per-slot wake-ups, with
 * kup_serve() then with the batch calls on the kernel side.
 */
TEST_F_TIMEOUT(slow, pipelined_sleeping, 300)
{
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;

	ASSERT_EQ(0, param_write("kup_echo", "spin_us", "0"));
	ASSERT_EQ(0, kup_open(ECHO_NAME, &dev));
	ASSERT_EQ(0, kup_chan_attach_slots(dev, KUP_CHAN_ANY, 4096, 4, 0, &ch));
	kup_chan_set_spin(ch, 0);
	EXPECT_EQ(0, pipe_stream(ch, 20000, 4, 0));
	EXPECT_EQ(0, pipe_stream(ch, 20000, 4, 1));
	EXPECT_EQ(0, pipe_stream(ch, 20000, 1, 0));
	ASSERT_EQ(0, echo_calls(ch));
	EXPECT_EQ(0, pipe_stream(ch, 20000, 4, 0));
	EXPECT_EQ(0, pipe_stream(ch, 20000, 4, 1));
	EXPECT_EQ(0, param_write("kup_echo", "spin_us", "500"));
	kup_chan_close(ch);
	kup_close(dev);
}

/*
 * Both sides sleep between messages and wake each other, every time; with
 * kup_serve(), then with the batch calls on the kernel side.
 */
TEST_F_TIMEOUT(slow, sleep_and_wake_both_ways, 300)
{
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;
	unsigned long n;

	ASSERT_EQ(0, param_write("kup_echo", "spin_us", "0"));
	ASSERT_EQ(0, echo_attach(&dev, &ch, 4096));
	kup_chan_set_spin(ch, 0);
	for (n = 0; n < 20000; n++)
		ASSERT_EQ(0, roundtrip(ch, n, 8, 0)) TH_LOG("message %lu", n);
	/* KUP_MORE means nothing on ping-pong: the kernel is still woken. */
	for (n = 0; n < 1000; n++) {
		const void *d = NULL;

		ASSERT_EQ(0, kup_send(ch, "more", 4, KUP_MORE));
		ASSERT_EQ(4, kup_recv(ch, &d, 0)) TH_LOG("message %lu", n);
	}
	/* The same with the batch calls on the kernel side. */
	ASSERT_EQ(0, echo_calls(ch));
	for (n = 0; n < 5000; n++)
		ASSERT_EQ(0, roundtrip(ch, n, 8, 0)) TH_LOG("message %lu", n);
	EXPECT_EQ(0, param_write("kup_echo", "spin_us", "500"));
	kup_chan_close(ch);
	kup_close(dev);
}

TEST_HARNESS_MAIN
