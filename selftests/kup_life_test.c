// SPDX-License-Identifier: GPL-2.0
/*
 * kup lifecycles: processes killed at every point, fork, client modules
 * unloaded under attached and blocked processes, kup.ko pinned by its
 * clients, and load/unload cycles racing attaches.
 *
 * Killed (SIGKILL) while attaching, while the kernel holds its message,
 * inside a blocking receive, with threads polling, and at random points of
 * a stream: every pin comes back, and the memlock charge of the user
 * (nobody, with a small RLIMIT_MEMLOCK) too: a new attach of the whole
 * budget succeeds afterwards. While the kernel still holds a message of a
 * dead process, its pages stay pinned and charged; once the client lets
 * go, they are released.
 *
 * Fork. A child inherits the open file but not its parent's channels: the
 * channel ioctls (DETACH, WAKE, WAIT, EVENTFD) on them fail with EPERM.
 * The memory is another matter, measured here on the real kernel:
 *   - private memory (what lib/kup.h allocates): at fork the kernel gives
 *     the child a copy of every pinned page (the parent keeps the pages the
 *     kernel client uses). What the child writes in its copy reaches
 *     neither the parent nor the kernel; what the parent and the kernel
 *     write later never reaches the child. Its library calls on the copy
 *     go nowhere: a send "passes" a turn nobody sees, a receive never
 *     gets an answer.
 *   - shared memory (memfd, MAP_SHARED): the same pages in both; the
 *     child's writes reach the kernel, which treats them as the hostile
 *     input it treats any region as (garbage breaks the channel).
 *   - a channel the child attaches itself through the inherited file is
 *     the child's, but belongs to the file: when the child dies, the
 *     channel stays attached (its pages pinned, the channel busy) until
 *     the last process holding the file closes it. Nobody else can
 *     detach it (EPERM).
 * The parent keeps working whether the child exits, calls kup_close(),
 * or crashes.
 *
 * Unload. rmmod kup_echo wakes every thread blocked in a receive, polling
 * the turn, or in poll() on the device: all end with -ESHUTDOWN (poll with
 * POLLHUP). kup.ko cannot go while a client module is loaded. kup_rot13
 * loads and unloads 100 times with a process exchanging a message each
 * time, some attaching while it unloads.
 *
 * Needs kup.ko, kup_echo.ko (test_commands=1), kup_rot13.ko, KUP_ECHO_KO
 * and KUP_ROT13_KO (module paths).
 */
#include "kup_test.h"
#include "kup_stress.h"

#include <poll.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#include "kselftest_harness.h"

static uint64_t seed;

__attribute__((constructor)) static void life_seed(void)
{
	seed = stress_seed();
}

/* What a child tells the test, in shared memory. */
struct life_shared {
	unsigned long progress;		/* round trips, attaches... */
	unsigned long ready;		/* set-up done */
	pid_t tid[4];			/* threads that will block */
	unsigned long started[4];	/* those threads are on their way */
	long npages;			/* pages it pinned */
	unsigned int chan[2];		/* channels it attached */
	int err;			/* what went wrong in the child */
	int line;			/* where */
};

/*
 * In a child: record the first failure, let the test go on (it waits for
 * progress or readiness) and end the child.
 */
#define CHILD_CHECK(sh, cond) do {					\
	if (!(cond)) {							\
		if (!(sh)->err) {					\
			(sh)->line = __LINE__;				\
			STORE(&(sh)->err, errno ? errno : -1);		\
		}							\
		STORE(&(sh)->progress, ~0UL);				\
		STORE(&(sh)->ready, 1UL);				\
		_exit(1);						\
	}								\
} while (0)

FIXTURE(life) {
	long pins0;
	struct life_shared *sh;
	pid_t child;		/* killed by the teardown if still there */
	uint64_t t0;
};

FIXTURE_SETUP(life)
{
	printf("# seed: %llu\n", (unsigned long long)seed);
	if (access(ECHO_PATH, F_OK))
		SKIP(return, "no %s (load kup.ko and kup_echo.ko)", ECHO_PATH);
	self->sh = (struct life_shared *)shared_alloc(sizeof(*self->sh));
	ASSERT_NE(NULL, self->sh);
	/* Every session of the tests before has ended (kup_stress.h). */
	ASSERT_EQ(0, echo_idle_wait(10000));
	self->pins0 = pins_held();
	self->t0 = now_ns();
}

FIXTURE_TEARDOWN(life)
{
	if (self->t0)
		printf("# %.1f s\n", (now_ns() - self->t0) / 1e9);
	/* A failed assertion must not leave a child holding channels. */
	if (self->child > 0)
		kill_child(self->child, 10000);
	if (self->sh)
		munmap(self->sh, sizeof(*self->sh));
}

static void child_report(struct __test_metadata *_metadata,
			 struct life_shared *sh)
{
	EXPECT_EQ(0, sh->err) TH_LOG("the child failed at line %d: %s",
				     sh->line, strerror(sh->err));
}

/* kup_echo answers a fresh channel: 0, or what went wrong. */
static int echo_serves(void)
{
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;
	int ret = echo_attach(&dev, &ch, 4096);

	if (ret)
		return ret;
	ret = roundtrip(ch, 3, 3000, 0);
	if (!ret)
		ret = roundtrip(ch, 4, 30, 0);
	kup_chan_close(ch);
	kup_close(dev);
	return ret;
}

static int chan_ioctl(int fd, unsigned long cmd, __u32 chan)
{
	struct kup_chan_req r;

	memset(&r, 0, sizeof(r));
	r.chan = chan;
	return ioctl(fd, cmd, &r) < 0 ? -errno : 0;
}

/*
 * A child of user nobody that attaches and detaches as fast as it can,
 * regions of up to the whole memlock budget, raw or through the library.
 */
static void attach_loop(struct life_shared *sh, unsigned int k)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t len = (size_t)BUDGET_PAGES * page;
	struct kup_device *dev = NULL;
	struct kup_channel *ch;
	struct rng r;
	void *mem;
	int fd, chan;

	rng_init(&r, seed, 100, k);
	fd = open(ECHO_PATH, O_RDWR | O_CLOEXEC);
	CHILD_CHECK(sh, fd >= 0 && !kup_open(ECHO_NAME, &dev));
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHILD_CHECK(sh, mem != MAP_FAILED);
	CHILD_CHECK(sh, !become_nobody());
	for (;;) {
		if (rng_pct(&r, 70)) {
			/* Up to the whole budget: nothing else may be charged. */
			size_t pages = 3 + rng_below(&r, BUDGET_PAGES - 2);

			chan = raw_attach(fd, mem, pages * page,
					  rng_pct(&r, 50) ? 1 : 4, 0);
			CHILD_CHECK(sh, chan >= 0);
			ADD(&sh->progress, 1);
			CHILD_CHECK(sh, !chan_ioctl(fd, KUP_IOC_DETACH, chan));
		} else {
			CHILD_CHECK(sh, !kup_chan_attach_slots(dev,
				KUP_CHAN_ANY, 128 << rng_below(&r, 8),
				1 + rng_below(&r, 4), 0, &ch));
			ADD(&sh->progress, 1);
			CHILD_CHECK(sh, !kup_chan_close(ch));
		}
		ADD(&sh->progress, 1);
	}
}

/*
 * Killed while attaching and detaching, at 30 random points: no pin and
 * no memlock charge of the user stays behind.
 */
TEST_F_TIMEOUT(life, killed_while_attaching, 300)
{
	struct life_shared *sh = self->sh;
	unsigned long want;
	struct rng r;
	unsigned int k;
	pid_t pid;

	rng_init(&r, seed, 1, 0);
	for (k = 0; k < 30 && !sh->err; k++) {
		memset(sh, 0, sizeof(*sh));
		fflush(stdout);
		pid = fork();
		ASSERT_LE(0, pid);
		if (pid == 0)
			attach_loop(sh, k);
		self->child = pid;
		/* A random point: after some attaches and detaches. */
		want = 1 + rng_below(&r, 60);
		ASSERT_LE(want, wait_at_least(&sh->progress, want, 20000));
		ASSERT_NE(-1, kill_child(pid, 10000));
		self->child = 0;
	}
	child_report(_metadata, sh);
	EXPECT_EQ(self->pins0, pins_wait(self->pins0, 10000));
	EXPECT_EQ(0, nobody_budget_wait(5000));
}

/*
 * A child of user nobody: attach a channel, take the greeting, then run
 * fn; the test kills it whenever it likes. Two files of the device are
 * opened first (they are root's): fn may want a second one.
 */
static struct kup_device *dev2;

static void nobody_child(struct life_shared *sh,
			 void (*fn)(struct life_shared *, struct kup_device *,
				    struct kup_channel *))
{
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;
	const void *d = NULL;

	CHILD_CHECK(sh, !kup_open(ECHO_NAME, &dev));
	CHILD_CHECK(sh, !kup_open(ECHO_NAME, &dev2));
	CHILD_CHECK(sh, !become_nobody());
	CHILD_CHECK(sh, !kup_chan_attach(dev, KUP_CHAN_ANY, 4096, 0, &ch));
	CHILD_CHECK(sh, kup_recv(ch, &d, 0) > 0);
	sh->npages = region_pages(ch->mem);
	fn(sh, dev, ch);
	for (;;)
		pause();
}

static void park_and_wait(struct life_shared *sh, struct kup_device *dev,
			  struct kup_channel *ch)
{
	(void)dev;
	CHILD_CHECK(sh, !kup_send(ch, "KUPECHO:PARK", 12, 0));
	STORE(&sh->ready, 1UL);
}

/*
 * Killed while the kernel holds its message (kup_echo parked on it): the
 * pages stay pinned and charged while the hold lasts, the client's reply
 * fails with -ENOTCONN, and then everything comes back.
 */
TEST_F_TIMEOUT(life, killed_while_kernel_holds, 120)
{
	struct life_shared *sh = self->sh;
	long parked0 = echo_stat("parked"), enotconn0 = echo_stat("enotconn");
	pid_t pid;

	ASSERT_LE(0, parked0);
	fflush(stdout);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		nobody_child(sh, park_and_wait);
	self->child = pid;
	ASSERT_EQ(1, wait_at_least(&sh->ready, 1, 20000));
	child_report(_metadata, sh);
	ASSERT_EQ(0, sh->err);
	ASSERT_EQ(parked0 + 1, echo_stat_wait("parked", parked0 + 1, 10000));
	EXPECT_EQ(self->pins0 + sh->npages, pins_held());
	ASSERT_NE(-1, kill_child(pid, 10000));
	self->child = 0;
	/* Dead, but the kernel holds its message: pinned, still charged. */
	EXPECT_EQ(self->pins0 + sh->npages, pins_held());
	EXPECT_EQ(ENOMEM, nobody_full_budget());
	ASSERT_EQ(0, echo_resume());
	EXPECT_LE(enotconn0 + 1, echo_stat_wait("enotconn", enotconn0 + 1,
						10000));
	EXPECT_EQ(-ENOTCONN, echo_stat("park_send"));
	EXPECT_EQ(1, echo_stat("park_intact"));
	EXPECT_EQ(self->pins0, pins_wait(self->pins0, 10000));
	EXPECT_EQ(0, nobody_budget_wait(5000));
}

static void hold_and_block(struct life_shared *sh, struct kup_device *dev,
			   struct kup_channel *ch)
{
	const void *d = NULL;

	(void)dev;
	/* The kernel keeps the turn: our receive sleeps at once. */
	kup_chan_set_spin(ch, 0);
	CHILD_CHECK(sh, !kup_send(ch, "KUPECHO:HOLD", 12, 0));
	sh->tid[0] = gettid();
	STORE(&sh->ready, 1UL);
	kup_recv(ch, &d, 0);
	CHILD_CHECK(sh, false);		/* never returns */
}

/* Killed asleep in a blocking receive (KUP_IOC_WAIT). */
TEST_F_TIMEOUT(life, killed_in_blocking_receive, 120)
{
	struct life_shared *sh = self->sh;
	long enotconn0 = echo_stat("enotconn");
	pid_t pid;

	fflush(stdout);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		nobody_child(sh, hold_and_block);
	self->child = pid;
	ASSERT_EQ(1, wait_at_least(&sh->ready, 1, 20000));
	ASSERT_EQ(0, sh->err) TH_LOG("child line %d", sh->line);
	/* Asleep: with no spin budget, in KUP_IOC_WAIT, nothing else. */
	ASSERT_TRUE(task_state_wait(pid, sh->tid[0], 'S', 10000));
	EXPECT_EQ(self->pins0 + sh->npages, pins_held());
	ASSERT_NE(-1, kill_child(pid, 10000));
	self->child = 0;
	/* kup_echo's hold loop sees the detach. */
	EXPECT_LE(enotconn0 + 1, echo_stat_wait("enotconn", enotconn0 + 1,
						10000));
	EXPECT_EQ(self->pins0, pins_wait(self->pins0, 10000));
	EXPECT_EQ(0, nobody_budget_wait(5000));
}

/* Threads of the polling child, one channel each. */
struct poller {
	struct life_shared *sh;
	struct kup_device *dev;
	struct kup_channel *ch;
	int i;
};

static void *poller_fn(void *arg)
{
	struct poller *p = (struct poller *)arg;
	struct life_shared *sh = p->sh;
	struct kup_channel *ch = p->ch;
	struct pollfd pfd = { .fd = kup_fd(p->dev), .events = POLLIN };
	const void *d = NULL;
	unsigned long n;

	sh->tid[p->i] = gettid();
	switch (p->i) {
	case 0:		/* asleep in a receive */
		kup_chan_set_spin(ch, 0);
		CHILD_CHECK(sh, !kup_send(ch, "KUPECHO:HOLD", 12, 0));
		STORE(&sh->started[0], 1UL);
		kup_recv(ch, &d, 0);
		break;
	case 1:		/* polling the turn word, never sleeping */
		kup_chan_set_poll_limit(ch, 1ULL << 40);
		CHILD_CHECK(sh, !kup_send(ch, "KUPECHO:HOLD", 12, 0));
		STORE(&sh->started[1], 1UL);
		kup_recv(ch, &d, KUP_SPIN_ONLY);
		break;
	case 2:		/* a pipelined stream */
		STORE(&sh->started[2], 1UL);
		for (n = 0;; n++) {
			char msg[64];

			fill(msg, sizeof(msg), n);
			CHILD_CHECK(sh, !kup_send(ch, msg, sizeof(msg), 0));
			CHILD_CHECK(sh, kup_recv(ch, &d, 0) == sizeof(msg) &&
					check(d, sizeof(msg), n) < 0);
			ADD(&sh->progress, 1);
		}
		break;
	default:	/* an event loop asleep in poll() */
		CHILD_CHECK(sh, !kup_send(ch, "KUPECHO:HOLD", 12, 0));
		CHILD_CHECK(sh, kup_chan_arm(ch) == 0);
		STORE(&sh->started[3], 1UL);
		poll(&pfd, 1, -1);
		break;
	}
	CHILD_CHECK(sh, false);		/* nothing above returns */
	return NULL;
}

static void start_pollers(struct life_shared *sh, struct kup_device *dev,
			  struct kup_channel *ch0)
{
	static struct poller p[4];
	pthread_t t;
	int i;

	p[0].ch = ch0;
	/*
	 * poll() on a file reports every channel attached through it: the
	 * event loop (3) has a file of its own.
	 */
	for (i = 0; i < 4; i++)
		p[i].dev = i == 3 ? dev2 : dev;
	for (i = 1; i < 4; i++)
		CHILD_CHECK(sh, !kup_chan_attach_slots(p[i].dev, KUP_CHAN_ANY,
						       1024, i == 2 ? 4 : 1, 0,
						       &p[i].ch));
	for (i = 1; i < 4; i++) {
		const void *d = NULL;

		if (i != 2)	/* the greeting of a ping-pong channel */
			CHILD_CHECK(sh, kup_recv(p[i].ch, &d, 0) > 0);
	}
	for (i = 0; i < 4; i++) {
		p[i].sh = sh;
		p[i].i = i;
		CHILD_CHECK(sh, !pthread_create(&t, NULL, poller_fn, &p[i]));
	}
	STORE(&sh->ready, 1UL);
}

/*
 * Killed with threads on all four channels: one asleep in a receive, one
 * polling, one streaming, one asleep in poll().
 */
TEST_F_TIMEOUT(life, killed_with_threads_polling, 120)
{
	struct life_shared *sh = self->sh;
	long enotconn0 = echo_stat("enotconn");
	pid_t pid;
	int i;

	fflush(stdout);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		nobody_child(sh, start_pollers);
	self->child = pid;
	ASSERT_EQ(1, wait_at_least(&sh->ready, 1, 20000));
	for (i = 0; i < 4; i++)
		ASSERT_EQ(1, wait_at_least(&sh->started[i], 1, 20000));
	ASSERT_EQ(0, sh->err) TH_LOG("child line %d", sh->line);
	ASSERT_TRUE(task_state_wait(pid, sh->tid[0], 'S', 10000));
	ASSERT_TRUE(task_state_wait(pid, sh->tid[3], 'S', 10000));
	ASSERT_LE(100, wait_at_least(&sh->progress, 100, 20000));
	ASSERT_NE(-1, kill_child(pid, 10000));
	self->child = 0;
	EXPECT_EQ(0, sh->err) TH_LOG("child line %d", sh->line);
	/* Every session ends on the detach. */
	EXPECT_LE(enotconn0 + 4, echo_stat_wait("enotconn", enotconn0 + 4,
						10000));
	EXPECT_EQ(0, echo_idle_wait(10000));
	EXPECT_EQ(self->pins0, pins_wait(self->pins0, 10000));
	EXPECT_EQ(0, nobody_budget_wait(5000));
}

/* A stream of round trips with checked contents, on 1 to 3 channels. */
static void stream_child(struct life_shared *sh, unsigned int k)
{
	struct kup_channel *ch[3];
	struct kup_device *dev = NULL;
	unsigned int n, i;
	unsigned long m;
	struct rng r;

	rng_init(&r, seed, 200, k);
	n = 1 + rng_below(&r, 3);
	CHILD_CHECK(sh, !kup_open(ECHO_NAME, &dev));
	CHILD_CHECK(sh, !become_nobody());
	for (i = 0; i < n; i++) {
		const void *d = NULL;
		__u32 slots = rng_pct(&r, 50) ? 1 : 2 + rng_below(&r, 7);

		CHILD_CHECK(sh, !kup_chan_attach_slots(dev, KUP_CHAN_ANY,
						       2048, slots, 0, &ch[i]));
		if (slots == 1)
			CHILD_CHECK(sh, kup_recv(ch[i], &d, 0) > 0);
		if (rng_pct(&r, 50)) {
			CHILD_CHECK(sh, !kup_send(ch[i], "KUPECHO:CALLS", 13,
						  0));
			CHILD_CHECK(sh, kup_recv(ch[i], &d, 0) == 13);
		}
		kup_chan_set_spin(ch[i], rng_below(&r, 2048));
	}
	for (m = 0;; m++) {
		size_t len = 1 + (m * 37 + k) % 2048;

		CHILD_CHECK(sh, !roundtrip(ch[m % n], m, len, 0));
		ADD(&sh->progress, 1);
	}
}

/* Killed at 20 random points of a stream of round trips. */
TEST_F_TIMEOUT(life, killed_at_random_points, 300)
{
	struct life_shared *sh = self->sh;
	unsigned long want;
	struct rng r;
	unsigned int k;
	pid_t pid;

	rng_init(&r, seed, 2, 0);
	for (k = 0; k < 20 && !sh->err; k++) {
		/* The killed child's sessions ended (kup_stress.h). */
		ASSERT_EQ(0, echo_idle_wait(10000));
		memset(sh, 0, sizeof(*sh));
		fflush(stdout);
		pid = fork();
		ASSERT_LE(0, pid);
		if (pid == 0)
			stream_child(sh, k);
		self->child = pid;
		want = 1 + rng_below(&r, 300);
		ASSERT_LE(want, wait_at_least(&sh->progress, want, 30000));
		ASSERT_NE(-1, kill_child(pid, 10000));
		self->child = 0;
	}
	child_report(_metadata, sh);
	EXPECT_EQ(0, echo_idle_wait(10000));
	EXPECT_EQ(self->pins0, pins_wait(self->pins0, 10000));
	EXPECT_EQ(0, nobody_budget_wait(5000));
	EXPECT_EQ(0, echo_serves());
}

#define CHILD_MSG	"written by the child in its copy"

/* The fork child of fork_child_has_a_private_copy. */
static void private_copy_child(struct life_shared *sh, struct kup_device *dev,
			       struct kup_channel *ch, int to_parent,
			       int from_parent)
{
	int fd = kup_fd(dev);
	__u32 chan = kup_chan_index(ch);
	struct kup_eventfd e;
	const void *d = NULL;
	char c;

	/* Not its channel. */
	CHILD_CHECK(sh, chan_ioctl(fd, KUP_IOC_WAKE, chan) == -EPERM);
	CHILD_CHECK(sh, chan_ioctl(fd, KUP_IOC_WAIT, chan) == -EPERM);
	CHILD_CHECK(sh, chan_ioctl(fd, KUP_IOC_DETACH, chan) == -EPERM);
	memset(&e, 0, sizeof(e));
	e.chan = chan;
	e.fd = KUP_EVENTFD_NONE;
	CHILD_CHECK(sh, ioctl(fd, KUP_IOC_EVENTFD, &e) == -1 &&
			errno == EPERM);
	/* Its copy: the region as it was at fork, pinned by nobody. */
	CHILD_CHECK(sh, ch->hdr->magic == KUP_REGION_MAGIC &&
			ch->slots->turn == 1);
	CHILD_CHECK(sh, vm_pinned_kb() == 0);
	/* A message and a pass, as kup_send() makes them. */
	CHILD_CHECK(sh, !kup_send(ch, CHILD_MSG, sizeof(CHILD_MSG), 0));
	CHILD_CHECK(sh, write(to_parent, "w", 1) == 1);
	CHILD_CHECK(sh, read(from_parent, &c, 1) == 1);
	/* The parent's round trip since: not in our copy. */
	CHILD_CHECK(sh, ch->slots->turn == 2 &&
			!memcmp(ch->slots->data, CHILD_MSG, sizeof(CHILD_MSG)));
	/* Nobody answers our pass. */
	CHILD_CHECK(sh, kup_recv(ch, &d, KUP_NONBLOCK) == -EAGAIN);
	_exit(0);
}

/*
 * Private memory after fork: the child's copy of the pinned region is its
 * own. What it writes (a message, a pass of the turn) reaches neither the
 * parent nor the kernel; what the parent and the kernel write later never
 * reaches the child; its ioctls on the parent's channel fail with EPERM.
 */
TEST_F_TIMEOUT(life, fork_child_has_a_private_copy, 60)
{
	struct life_shared *sh = self->sh;
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;
	long msgs0, pins1;
	int p2c[2], c2p[2], status;
	pid_t pid;
	char c;

	ASSERT_EQ(0, echo_attach(&dev, &ch, 4096));
	ASSERT_EQ(0, pipe(p2c));
	ASSERT_EQ(0, pipe(c2p));
	pins1 = pins_held();
	EXPECT_EQ(self->pins0 + region_pages(ch->mem), pins1);
	msgs0 = echo_stat("messages");
	fflush(stdout);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		private_copy_child(sh, dev, ch, c2p[1], p2c[0]);
	self->child = pid;
	close(c2p[1]);
	close(p2c[0]);
	/* 0 bytes: the child failed (its report follows). */
	EXPECT_EQ(1, read(c2p[0], &c, 1));
	child_report(_metadata, sh);
	ASSERT_EQ(0, sh->err);
	/* Our region, which the kernel maps, did not change. */
	EXPECT_EQ(1, __atomic_load_n(&ch->slots->turn, __ATOMIC_ACQUIRE));
	EXPECT_NE(0, memcmp(ch->slots->data, CHILD_MSG, sizeof(CHILD_MSG)));
	EXPECT_EQ(0, roundtrip(ch, 7, 100, 0));
	ASSERT_EQ(1, write(p2c[1], "g", 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	self->child = 0;
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	child_report(_metadata, sh);
	close(c2p[0]);
	close(p2c[1]);
	/* Only our message was echoed; the child's went nowhere. */
	EXPECT_EQ(msgs0 + 1, echo_stat("messages"));
	EXPECT_EQ(pins1, pins_held());
	EXPECT_EQ(0, roundtrip(ch, 8, 1000, 0));
	kup_chan_close(ch);
	kup_close(dev);
	EXPECT_EQ(self->pins0, pins_wait(self->pins0, 5000));
	EXPECT_EQ(0, vm_pinned_kb());
}

/*
 * Shared memory after fork: one set of pages. The child's writes reach
 * the kernel, which breaks the channel on its garbage turn as it would on
 * ours.
 */
TEST_F_TIMEOUT(life, fork_child_shares_shared_memory, 60)
{
	struct life_shared *sh = self->sh;
	long page = sysconf(_SC_PAGESIZE), proto0 = echo_stat("eproto");
	int fd = open(ECHO_PATH, O_RDWR | O_CLOEXEC), chan, i, status;
	size_t len = 3 * page;
	struct kup_region_hdr *h;
	struct kup_kstate *ks;
	struct kup_slot *slot;
	unsigned char *mem;
	pid_t pid;

	ASSERT_LE(0, fd);
	mem = (unsigned char *)mmap(NULL, len, PROT_READ | PROT_WRITE,
				    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, mem);
	chan = raw_attach(fd, mem, len, 1, 4096);
	ASSERT_LE(0, chan);
	h = (struct kup_region_hdr *)mem;
	ks = (struct kup_kstate *)(mem + h->kstate_off);
	slot = (struct kup_slot *)(mem + h->slot_off);
	/* The greeting: the user's turn. */
	for (i = 0; i < 10000 && __atomic_load_n(&slot->turn,
						 __ATOMIC_ACQUIRE) != 1; i++)
		usleep(1000);
	ASSERT_EQ(1, slot->turn);
	fflush(stdout);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		fill(mem + h->to_kernel_off, 4096, 99);
		__atomic_store_n(&slot->turn, 0xdead0001U, __ATOMIC_RELEASE);
		CHILD_CHECK(sh, chan_ioctl(fd, KUP_IOC_WAKE, chan) == -EPERM);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	child_report(_metadata, sh);
	/* The child's bytes are in our pages, the kernel's pages. */
	EXPECT_EQ(-1, check(mem + h->to_kernel_off, 4096, 99));
	EXPECT_EQ(0xdead0001U, slot->turn);
	/* The kernel reads the child's turn, and breaks the channel. */
	for (i = 0; i < 5000 && __atomic_load_n(&ks->state, __ATOMIC_ACQUIRE) ==
	     KUP_STATE_ATTACHED; i++) {
		chan_ioctl(fd, KUP_IOC_WAKE, chan);
		usleep(1000);
	}
	EXPECT_EQ(KUP_STATE_BROKEN, ks->state);
	EXPECT_EQ(EPROTO, ks->error);
	EXPECT_EQ(proto0 + 1, echo_stat_wait("eproto", proto0 + 1, 5000));
	EXPECT_EQ(0, chan_ioctl(fd, KUP_IOC_DETACH, chan));
	close(fd);
	munmap(mem, len);
	EXPECT_EQ(self->pins0, pins_wait(self->pins0, 5000));
}

enum { CHILD_EXITS, CHILD_CLOSES, CHILD_CRASHES };

/*
 * The parent's channels keep working whether a fork child exits without
 * a word, kup_close()s the device (which cannot detach the parent's
 * channels: it frees the child's copies and closes its file), or crashes.
 */
TEST_F_TIMEOUT(life, parent_survives_child, 120)
{
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL, *pipe_ch = NULL;
	long pins1, vm1;
	unsigned long n;
	int way, status;
	pid_t pid;

	ASSERT_EQ(0, echo_attach(&dev, &ch, 4096));
	ASSERT_EQ(0, kup_chan_attach_slots(dev, KUP_CHAN_ANY, 1024, 4, 0,
					   &pipe_ch));
	pins1 = pins_held();
	vm1 = vm_pinned_kb();
	for (way = CHILD_EXITS; way <= CHILD_CRASHES; way++) {
		fflush(stdout);
		pid = fork();
		ASSERT_LE(0, pid);
		if (pid == 0) {
			struct rlimit core = { 0, 0 };

			/* Its library calls go to its own copies. */
			kup_send(ch, "x", 1, KUP_NONBLOCK);
			kup_send(pipe_ch, "y", 1, KUP_NONBLOCK);
			if (way == CHILD_CLOSES)
				kup_close(dev);
			if (way == CHILD_CRASHES) {
				setrlimit(RLIMIT_CORE, &core);
				abort();
			}
			_exit(0);
		}
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		EXPECT_EQ(way == CHILD_CRASHES, WIFSIGNALED(status));
		for (n = 0; n < 50; n++) {
			ASSERT_EQ(0, roundtrip(ch, n, 1 + n * 81 % 4096, 0))
				TH_LOG("after way %d", way);
			ASSERT_EQ(0, roundtrip(pipe_ch, n, 1 + n * 21 % 1024,
					       0)) TH_LOG("after way %d", way);
		}
		EXPECT_EQ(pins1, pins_held());
		EXPECT_EQ(vm1, vm_pinned_kb());
	}
	kup_chan_close(ch);
	kup_chan_close(pipe_ch);
	kup_close(dev);
	EXPECT_EQ(self->pins0, pins_wait(self->pins0, 5000));
}

/*
 * A channel a fork child attaches through the inherited file outlives the
 * child: it belongs to the file, which the parent keeps open. While the
 * child lives, the parent may not detach it (EPERM); once the child is
 * dead, a process sharing the file may; and the last close of the file
 * detaches whatever is left, with its pages.
 */
TEST_F_TIMEOUT(life, child_channel_lives_with_the_file, 60)
{
	struct life_shared *sh = self->sh;
	struct kup_device *dev = NULL;
	pid_t pid;

	ASSERT_EQ(0, kup_open(ECHO_NAME, &dev));
	fflush(stdout);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct kup_channel *ch[2] = { NULL, NULL };
		const void *d = NULL;
		int i;

		for (i = 0; i < 2; i++) {
			CHILD_CHECK(sh, !kup_chan_attach(dev, KUP_CHAN_ANY,
							 4096, 0, &ch[i]));
			CHILD_CHECK(sh, kup_recv(ch[i], &d, 0) > 0);
			CHILD_CHECK(sh, !roundtrip(ch[i], 1, 100, 0));
			sh->chan[i] = kup_chan_index(ch[i]);
		}
		sh->npages = region_pages(ch[0]->mem);
		CHILD_CHECK(sh, region_pages(ch[1]->mem) == sh->npages);
		STORE(&sh->ready, 1UL);
		/* Until the parent has tried to detach: bounded. */
		wait_at_least(&sh->started[0], 1, 20000);
		_exit(0);		/* without a detach */
	}
	self->child = pid;
	ASSERT_EQ(1, wait_at_least(&sh->ready, 1, 20000));
	child_report(_metadata, sh);
	ASSERT_EQ(0, sh->err);
	EXPECT_EQ(self->pins0 + 2 * sh->npages, pins_held());
	/* The child lives: its channels are not the parent's to detach. */
	EXPECT_EQ(-EPERM, chan_ioctl(kup_fd(dev), KUP_IOC_DETACH,
				     (__u32)sh->chan[0]));
	STORE(&sh->started[0], 1UL);
	EXPECT_EQ(0, wait_child(pid, 20000));
	self->child = 0;
	/* Still attached, and pinned, after the child's death. */
	EXPECT_EQ(self->pins0 + 2 * sh->npages, pins_held());
	/* Now the parent, sharing the file, may detach one. */
	EXPECT_EQ(0, chan_ioctl(kup_fd(dev), KUP_IOC_DETACH,
				(__u32)sh->chan[0]));
	EXPECT_EQ(self->pins0 + sh->npages,
		  pins_wait(self->pins0 + sh->npages, 5000));
	/* The last close of the file detaches the other. */
	kup_close(dev);
	EXPECT_EQ(self->pins0, pins_wait(self->pins0, 5000));
	EXPECT_EQ(0, echo_idle_wait(10000));
}

/* Threads of the unload test: block, poll, or wait in poll(). */
struct unload_waiter {
	struct kup_device *dev;
	struct kup_channel *ch;
	int how;
	volatile pid_t tid;
	volatile int started;
	volatile int done;
	volatile long ret;
	volatile short revents;
};

static void *unload_waiter_fn(void *arg)
{
	struct unload_waiter *w = (struct unload_waiter *)arg;
	struct pollfd pfd = { .fd = kup_fd(w->dev), .events = POLLIN };
	const void *d = NULL;

	w->tid = gettid();
	switch (w->how) {
	case 0:		/* asleep in a receive */
		kup_chan_set_spin(w->ch, 0);
		STORE(&w->started, 1);
		w->ret = kup_recv(w->ch, &d, 0);
		break;
	case 1:		/* polling the turn word */
		kup_chan_set_poll_limit(w->ch, 1ULL << 40);
		STORE(&w->started, 1);
		w->ret = kup_recv(w->ch, &d, KUP_SPIN_ONLY);
		break;
	default:	/* an event loop in poll() */
		w->ret = kup_chan_arm(w->ch);
		STORE(&w->started, 1);
		if (!w->ret && poll(&pfd, 1, 60000) == 1)
			w->revents = pfd.revents;
		kup_chan_disarm(w->ch);
		w->ret = kup_recv(w->ch, &d, KUP_NONBLOCK);
		break;
	}
	STORE(&w->done, 1);
	return NULL;
}

/*
 * rmmod kup_echo with a thread asleep in a receive, two polling the turn
 * word and one in poll() on the device: every one returns -ESHUTDOWN (the
 * poller with POLLHUP). Then the module comes back and serves.
 */
TEST_F_TIMEOUT(life, unload_client_under_blocked_threads, 120)
{
	const char *ko = getenv("KUP_ECHO_KO");
	static const int how[4] = { 0, 1, 1, 2 };
	struct unload_waiter w[4];
	struct kup_device *dev = NULL;
	pthread_t t[4];
	char cmd[512];
	int i, j;

	ASSERT_NE(NULL, ko) TH_LOG("KUP_ECHO_KO (path of kup_echo.ko) not set");
	ASSERT_EQ(0, kup_open(ECHO_NAME, &dev));
	memset(w, 0, sizeof(w));
	for (i = 0; i < 4; i++) {
		const void *d = NULL;

		w[i].dev = dev;
		w[i].how = how[i];
		ASSERT_EQ(0, kup_chan_attach(dev, KUP_CHAN_ANY, 4096, 0,
					     &w[i].ch));
		ASSERT_LT(0, kup_recv(w[i].ch, &d, 0));
		/* kup_echo keeps the turn until the session ends. */
		ASSERT_EQ(0, kup_send(w[i].ch, "KUPECHO:HOLD", 12, 0));
	}
	for (i = 0; i < 4; i++)
		ASSERT_EQ(0, pthread_create(&t[i], NULL, unload_waiter_fn,
					    &w[i]));
	for (i = 0; i < 4; i++) {
		for (j = 0; j < 10000 && !LOAD(&w[i].started); j++)
			usleep(1000);
		ASSERT_TRUE(LOAD(&w[i].started));
		if (how[i] != 1)	/* asleep: in KUP_IOC_WAIT or poll() */
			ASSERT_TRUE(task_state_wait(getpid(), w[i].tid, 'S',
						    10000));
	}
	ASSERT_EQ(0, system("rmmod kup_echo"));
	for (i = 0; i < 4; i++) {
		for (j = 0; j < 20000 && !LOAD(&w[i].done); j++)
			usleep(1000);
		ASSERT_TRUE(LOAD(&w[i].done)) TH_LOG("thread %d (how %d)", i,
						     how[i]);
		pthread_join(t[i], NULL);
		EXPECT_EQ(-ESHUTDOWN, w[i].ret) TH_LOG("thread %d", i);
		EXPECT_EQ(-ESHUTDOWN, kup_chan_ready(w[i].ch));
		EXPECT_EQ(KUP_STATE_SHUTDOWN, w[i].ch->ks->state);
	}
	EXPECT_TRUE(w[3].revents & POLLHUP);
	for (i = 0; i < 4; i++)
		EXPECT_EQ(0, kup_chan_close(w[i].ch));
	kup_close(dev);
	EXPECT_EQ(self->pins0, pins_wait(self->pins0, 5000));
	snprintf(cmd, sizeof(cmd), "insmod %s test_commands=1", ko);
	ASSERT_EQ(0, system(cmd));
	ASSERT_TRUE(path_wait(ECHO_PATH, 5000));
	EXPECT_EQ(0, echo_serves());
}

/*
 * kup.ko cannot be unloaded while client modules use it: the kernel
 * refuses (EWOULDBLOCK: modules depend on it; EBUSY: in use), and every
 * client keeps working.
 */
TEST_F_TIMEOUT(life, kup_stays_while_clients_loaded, 60)
{
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;
	const void *d = NULL;
	int ret;

	ret = module_unload("kup");
	EXPECT_TRUE(ret == -EWOULDBLOCK || ret == -EBUSY) TH_LOG("%d", ret);
	EXPECT_NE(0, system("rmmod kup 2>/dev/null"));
	EXPECT_EQ(0, access("/sys/module/kup", F_OK));
	ASSERT_EQ(0, echo_attach(&dev, &ch, 4096));
	EXPECT_EQ(0, roundtrip(ch, 5, 2000, 0));
	kup_chan_close(ch);
	kup_close(dev);
	ASSERT_EQ(0, kup_open(ROT13_NAME, &dev));
	ASSERT_EQ(0, kup_chan_attach(dev, KUP_CHAN_ANY, 0, 0, &ch));
	ASSERT_EQ(0, kup_recv(ch, &d, 0));
	ASSERT_EQ(0, kup_send(ch, "nop", 4, 0));
	ASSERT_EQ(4, kup_recv(ch, &d, 0));
	EXPECT_STREQ("abc", (const char *)d);
	kup_chan_close(ch);
	kup_close(dev);
}

/* One exchange with kup_rot13: 0, or a negative errno of the step. */
static int rot13_exchange(unsigned long n)
{
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;
	char msg[32], want[32];
	const void *d = NULL;
	ssize_t len;
	int ret;

	ret = kup_open(ROT13_NAME, &dev);
	if (ret)
		return ret;
	ret = kup_chan_attach(dev, KUP_CHAN_ANY, 0, 0, &ch);
	if (ret)
		goto out;
	len = kup_recv(ch, &d, 0);	/* the first turn, empty */
	ret = len < 0 ? (int)len : len ? -EBADMSG : 0;
	if (ret)
		goto out;
	snprintf(msg, sizeof(msg), "cycle %lu", n);
	memcpy(want, msg, sizeof(want));
	rot13(want);
	ret = kup_send(ch, msg, strlen(msg) + 1, 0);
	if (ret)
		goto out;
	len = kup_recv(ch, &d, 0);
	if (len < 0)
		ret = (int)len;
	else if ((size_t)len != strlen(want) + 1 || strcmp(want, d))
		ret = -EBADMSG;
out:
	kup_close(dev);
	return ret;
}

/* Exchanges racing an unload: each ends, well or with a known errno. */
struct racer {
	volatile int stop;
	volatile int done;
	unsigned long tries;
	unsigned long ok, enoent, enodev, eshutdown;
	int bad;		/* an errno nothing allows */
};

static void *racer_fn(void *arg)
{
	struct racer *r = (struct racer *)arg;
	unsigned long n;

	for (n = 0; !LOAD(&r->stop); n++) {
		int ret = rot13_exchange(n);

		ADD(&r->tries, 1);
		if (!ret)
			r->ok++;
		else if (ret == -ENOENT || ret == -ENXIO)
			r->enoent++;	/* the node is gone */
		else if (ret == -ENODEV)
			r->enodev++;	/* opened as it went */
		else if (ret == -ESHUTDOWN)
			r->eshutdown++;	/* attached or waiting as it went */
		else if (!r->bad)
			r->bad = -ret;
	}
	STORE(&r->done, 1);
	return NULL;
}

/*
 * 100 load/unload cycles of kup_rot13 with a process exchanging a message
 * in each; in every fourth, a thread attaches and exchanges while the
 * module unloads.
 */
TEST_F_TIMEOUT(life, rot13_load_unload_cycles, 600)
{
	const char *ko = getenv("KUP_ROT13_KO");
	struct racer r, sum;
	pthread_t t;
	int i, j;

	ASSERT_NE(NULL, ko) TH_LOG("KUP_ROT13_KO (path of kup_rot13.ko) not set");
	ASSERT_EQ(0, module_unload(ROT13_NAME));
	memset(&sum, 0, sizeof(sum));
	for (i = 0; i < 100; i++) {
		bool race = i % 4 == 3;

		ASSERT_EQ(0, module_load(ko, "")) TH_LOG("cycle %d", i);
		ASSERT_TRUE(path_wait("/dev/" ROT13_NAME, 5000));
		ASSERT_EQ(0, rot13_exchange(i)) TH_LOG("cycle %d", i);
		if (race) {
			memset(&r, 0, sizeof(r));
			ASSERT_EQ(0, pthread_create(&t, NULL, racer_fn, &r));
			ASSERT_LE(1, wait_at_least(&r.tries, 1, 10000));
		}
		ASSERT_EQ(0, module_unload(ROT13_NAME)) TH_LOG("cycle %d", i);
		if (race) {
			STORE(&r.stop, 1);
			for (j = 0; j < 20000 && !LOAD(&r.done); j++)
				usleep(1000);
			ASSERT_TRUE(LOAD(&r.done)) TH_LOG("cycle %d", i);
			pthread_join(t, NULL);
			EXPECT_EQ(0, r.bad) TH_LOG("cycle %d: %s", i,
						   strerror(r.bad));
			sum.tries += r.tries;
			sum.ok += r.ok;
			sum.enoent += r.enoent;
			sum.enodev += r.enodev;
			sum.eshutdown += r.eshutdown;
		}
	}
	ASSERT_EQ(0, module_load(ko, ""));
	ASSERT_TRUE(path_wait("/dev/" ROT13_NAME, 5000));
	printf("# exchanges racing the unloads: %lu: %lu complete, %lu ESHUTDOWN, %lu ENODEV, %lu ENOENT\n",
	       sum.tries, sum.ok, sum.eshutdown, sum.enodev, sum.enoent);
	EXPECT_EQ(0, rot13_exchange(1000));
	EXPECT_EQ(self->pins0, pins_wait(self->pins0, 5000));
}

TEST_HARNESS_MAIN
