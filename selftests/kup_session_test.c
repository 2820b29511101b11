// SPDX-License-Identifier: GPL-2.0
/*
 * kup sessions: what a kernel thread does for one attachment of a channel
 * never reaches the next attachment of that channel, by this or another
 * process, whether the client uses the native calls (kup_echo) or only
 * the FreeBSD KUP names (kup_rot13); a held message stays readable until
 * it is released; the channel ioctls belong to the attaching process.
 * Needs kup.ko, kup_echo.ko (test_commands=1) and kup_rot13.ko.
 */
#include "kup_test.h"

#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "kselftest_harness.h"

#define PARK_MSG	"KUPECHO:PARK secret bytes of A 0123456789"

/* The greeting kup_echo sends on a ping-pong channel it starts serving. */
static int expect_greeting(struct kup_channel *ch, char *got, size_t size)
{
	char want[ECHO_HELLO_MAX];
	const void *d = NULL;
	ssize_t len;

	len = kup_recv(ch, &d, 0);
	if (len < 0)
		return (int)len;
	snprintf(got, size, "%.*s", (int)len, (const char *)d);
	snprintf(want, sizeof(want), "kup_echo %u", kup_chan_index(ch));
	return strcmp(got, want) ? 1 : 0;
}

/*
 * A sends PARK plus private bytes and goes away while kup_echo's worker
 * holds the message; B attaches the same channel before the worker
 * resumes. The worker's late reply must fail (-ENOTCONN), never land in
 * B's region, and the message it holds must stay readable; B is served
 * as a new session.
 */
static void park_and_close(struct __test_metadata *_metadata,
			   unsigned int *chan, long *parked0)
{
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;

	*parked0 = echo_stat("parked");
	ASSERT_LE(0, *parked0);
	ASSERT_EQ(0, echo_attach(&dev, &ch, 4096));
	*chan = kup_chan_index(ch);
	ASSERT_EQ(0, kup_send(ch, PARK_MSG, sizeof(PARK_MSG), 0));
	ASSERT_EQ(*parked0 + 1, echo_stat_wait("parked", *parked0 + 1, 10000));
	EXPECT_EQ(0, kup_chan_close(ch));
	kup_close(dev);
}

static void expect_stale_worker(struct __test_metadata *_metadata)
{
	EXPECT_EQ(-ENOTCONN, echo_stat("park_recv"));
	EXPECT_EQ(1, echo_stat("park_intact"));
	EXPECT_EQ(-ENOTCONN, echo_stat("park_send"));
}

TEST(echo_late_reply_never_reaches_next_process)
{
	unsigned int chan;
	int pipefd[2], status;
	long parked0;
	pid_t pid;
	char c;

	park_and_close(_metadata, &chan, &parked0);
	ASSERT_EQ(0, pipe(pipefd));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct kup_device *dev = NULL;
		struct kup_channel *ch = NULL;
		char got[256];
		int ret;

		if (kup_open(ECHO_NAME, &dev) ||
		    kup_chan_attach(dev, chan, 4096, 0, &ch) ||
		    write(pipefd[1], "a", 1) != 1)
			_exit(2);
		ret = expect_greeting(ch, got, sizeof(got));
		if (ret)
			fprintf(stderr, "B got %d: '%s'\n", ret, got);
		_exit(ret ? 1 : 0);
	}
	ASSERT_EQ(1, read(pipefd[0], &c, 1));
	ASSERT_EQ(0, echo_resume());
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	expect_stale_worker(_metadata);
	close(pipefd[0]);
	close(pipefd[1]);
}

/* The same process attaches again, pipelined: its first message survives. */
TEST(echo_late_reply_never_overwrites_pipelined)
{
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;
	const void *d = NULL;
	unsigned int chan;
	long parked0;

	park_and_close(_metadata, &chan, &parked0);
	ASSERT_EQ(0, kup_open(ECHO_NAME, &dev));
	ASSERT_EQ(0, kup_chan_attach_slots(dev, chan, 1024, 4, 0, &ch));
	ASSERT_EQ(0, kup_send(ch, "m1", 3, 0));
	ASSERT_EQ(0, echo_resume());
	ASSERT_EQ(3, kup_recv(ch, &d, 0));
	EXPECT_STREQ("m1", (const char *)d);
	expect_stale_worker(_metadata);
	kup_chan_close(ch);
	kup_close(dev);
}

/* kup_rot13 (FreeBSD names only): receive, release, transform, send. */
static int rot13_open(struct kup_device **dev, struct kup_channel **ch,
		      uint32_t chan, uint32_t nslots)
{
	const void *d = NULL;
	int ret;

	ret = kup_open(ROT13_NAME, dev);
	if (ret)
		return ret;
	ret = kup_chan_attach_slots(*dev, chan, 0, nslots, 0, ch);
	if (!ret && nslots == 1 && kup_recv(*ch, &d, 0) != 0)
		ret = -EBADMSG;		/* the first turn, passed empty */
	if (ret)
		kup_close(*dev);
	return ret;
}

TEST(rot13_late_reply_never_reaches_next_attach)
{
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;
	const void *d = NULL;
	long stalled0 = param_read("kup_rot13", "test_stalled");
	unsigned int chan;
	char msg[32] = "secret";
	ssize_t len;

	ASSERT_LE(0, stalled0);
	ASSERT_EQ(0, rot13_open(&dev, &ch, KUP_CHAN_ANY, 1));
	chan = kup_chan_index(ch);
	ASSERT_EQ(0, param_write("kup_rot13", "test_stall", "1"));
	ASSERT_EQ(0, kup_send(ch, msg, strlen(msg) + 1, 0));
	ASSERT_EQ(stalled0 + 1, param_wait("kup_rot13", "test_stalled",
					   stalled0 + 1, 10000));
	ASSERT_EQ(0, param_write("kup_rot13", "test_stall", "0"));
	EXPECT_EQ(0, kup_chan_close(ch));
	kup_close(dev);

	ASSERT_EQ(0, kup_open(ROT13_NAME, &dev));
	ASSERT_EQ(0, kup_chan_attach(dev, chan, 0, 0, &ch));
	snprintf(msg, sizeof(msg), "%ld",
		 param_read("kup_rot13", "test_resume") + 1);
	ASSERT_EQ(0, param_write("kup_rot13", "test_resume", msg));
	/* A new session starts with an empty pass, not A's "frperg". */
	len = kup_recv(ch, &d, 0);
	EXPECT_EQ(0, len) TH_LOG("got '%.*s'", (int)(len > 0 ? len : 0),
				 (const char *)d);
	if (len > 0) {
		/* A's reply took the turn; hand it back to go on. */
		ASSERT_EQ(0, kup_pass(ch, 0));
		kup_recv(ch, &d, 0);
	}
	ASSERT_EQ(0, kup_send(ch, "abc", 4, 0));
	ASSERT_EQ(4, kup_recv(ch, &d, 0));
	EXPECT_STREQ("nop", (const char *)d);
	kup_chan_close(ch);
	kup_close(dev);
}

static int chan_ioctl(int fd, unsigned long cmd, uint32_t chan)
{
	struct kup_chan_req r;

	memset(&r, 0, sizeof(r));
	r.chan = chan;
	return ioctl(fd, cmd, &r) < 0 ? -errno : 0;
}

/* Receive with kup_recv(NONBLOCK), polling at most ms: length or error. */
static ssize_t recv_within(struct kup_channel *ch, const void **d, int ms)
{
	ssize_t len;

	do {
		len = kup_recv(ch, d, KUP_NONBLOCK);
		if (len != -EAGAIN)
			return len;
		usleep(1000);
	} while (ms-- > 0);
	return -ETIMEDOUT;
}

/* Change a rot13 selftest parameter to val. */
static int rot13_param(const char *param, long val)
{
	char v[32];

	snprintf(v, sizeof(v), "%ld", val);
	return param_write("kup_rot13", param, v);
}

/*
 * kup_rot13 takes A's message and stops before releasing it; A detaches,
 * B attaches. Releasing the held message must not end the session (the
 * worker has seen no failure yet): the next attachment is not reported
 * while the worker, released but not yet answered, still works for A,
 * and its answer fails instead of reaching B.
 */
TEST(rot13_release_keeps_the_session)
{
	long stalled0 = param_read("kup_rot13", "test_stalled");
	long accepted0 = param_read("kup_rot13", "test_accepted");
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;
	const void *d = NULL;
	unsigned int chan;
	ssize_t len;

	ASSERT_LE(0, stalled0);
	ASSERT_LE(0, accepted0);
	ASSERT_EQ(0, rot13_open(&dev, &ch, KUP_CHAN_ANY, 1));
	chan = kup_chan_index(ch);
	ASSERT_EQ(accepted0 + 1, param_read("kup_rot13", "test_accepted"));
	/* Stop before the release, and again after it. */
	ASSERT_EQ(0, rot13_param("test_stall", 3));
	ASSERT_EQ(0, kup_send(ch, "secret", 7, 0));
	ASSERT_EQ(stalled0 + 1, param_wait("kup_rot13", "test_stalled",
					   stalled0 + 1, 10000));
	EXPECT_EQ(0, kup_chan_close(ch));
	kup_close(dev);
	ASSERT_EQ(0, kup_open(ROT13_NAME, &dev));
	ASSERT_EQ(0, kup_chan_attach(dev, chan, 0, 0, &ch));
	ASSERT_EQ(0, rot13_param("test_resume",
				 param_read("kup_rot13", "test_resume") + 1));
	ASSERT_EQ(stalled0 + 2, param_wait("kup_rot13", "test_stalled",
					   stalled0 + 2, 10000));
	/* Released, not answered: B must not be reported (bounded look). */
	EXPECT_EQ(accepted0 + 1, param_wait("kup_rot13", "test_accepted",
					    accepted0 + 2, 2000));
	ASSERT_EQ(0, rot13_param("test_stall", 0));
	ASSERT_EQ(0, rot13_param("test_resume",
				 param_read("kup_rot13", "test_resume") + 1));
	/* B's session starts with an empty pass, not A's "frperg". */
	len = recv_within(ch, &d, 10000);
	EXPECT_EQ(0, len) TH_LOG("got %zd '%.*s'", len,
				 (int)(len > 0 ? len : 0), (const char *)d);
	kup_chan_close(ch);
	kup_close(dev);
}

/*
 * kup_echo's worker sees A's detach (a failed call) and stops before it
 * ends the session; B attaches meanwhile. The failed call must not end
 * the session by itself, or the acceptor would report B and the worker's
 * kup_end_session() would then end B's session before it began.
 */
TEST(echo_end_session_ends_only_its_own)
{
	long parked0 = echo_stat("parked"), accepted0;
	char got[ECHO_HELLO_MAX + 64] = "";
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;
	unsigned int chan;

	ASSERT_LE(0, parked0);
	ASSERT_EQ(0, echo_attach(&dev, &ch, 4096));
	chan = kup_chan_index(ch);
	accepted0 = echo_stat("accepted");
	ASSERT_EQ(0, param_write("kup_echo", "test_stall_end", "1"));
	EXPECT_EQ(0, kup_chan_close(ch));
	kup_close(dev);
	ASSERT_EQ(0, kup_open(ECHO_NAME, &dev));
	ASSERT_EQ(0, kup_chan_attach(dev, chan, 4096, 0, &ch));
	/* The worker saw -ENOTCONN and stopped before kup_end_session(). */
	ASSERT_EQ(parked0 + 1, echo_stat_wait("parked", parked0 + 1, 10000));
	EXPECT_EQ(accepted0, echo_stat_wait("accepted", accepted0 + 1, 2000));
	ASSERT_EQ(0, param_write("kup_echo", "test_stall_end", "0"));
	ASSERT_EQ(0, echo_resume());
	EXPECT_EQ(0, expect_greeting(ch, got, sizeof(got))) TH_LOG("got '%s'", got);
	kup_chan_close(ch);
	kup_close(dev);
}

/*
 * kup_echo's session ends itself (KUPECHO:ENDSELF: the service loop's
 * session functions must not, but a buggy one may) and returns only once
 * the loop accepted the channel's next attachment: the loop must end the
 * session it served, not that next one, which gets its greeting and works.
 */
TEST(loop_leaves_next_session_alone)
{
	char got[ECHO_HELLO_MAX + 64] = "";
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;
	const void *d = NULL;
	unsigned int chan;

	ASSERT_EQ(0, echo_attach(&dev, &ch, 4096));
	chan = kup_chan_index(ch);
	ASSERT_EQ(0, kup_send(ch, "KUPECHO:ENDSELF", 15, 0));
	/* The kernel side ended our session: the channel broke. */
	EXPECT_EQ(-ECONNRESET, recv_within(ch, &d, 10000));
	EXPECT_EQ(0, kup_chan_close(ch));
	ASSERT_EQ(0, kup_chan_attach(dev, chan, 4096, 0, &ch));
	ASSERT_EQ(0, expect_greeting(ch, got, sizeof(got))) TH_LOG("got '%s'", got);
	ASSERT_EQ(0, kup_send(ch, "again", 5, 0));
	EXPECT_EQ(5, recv_within(ch, &d, 10000));
	kup_chan_close(ch);
	kup_close(dev);
}

/*
 * A fork child attaches through the parent's file and dies: its region
 * belongs to no live process, so the parent, which keeps the file, may
 * detach it (and then the child's pages are unpinned).
 */
TEST(parent_detaches_dead_childs_channel)
{
	struct kup_device *dev = NULL;
	long pins0 = pins_held();
	int pipefd[2], status;
	uint32_t chan;
	pid_t pid;

	ASSERT_EQ(0, kup_open(ECHO_NAME, &dev));
	ASSERT_EQ(0, pipe(pipefd));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct kup_channel *ch = NULL;
		uint32_t c;

		if (kup_chan_attach(dev, KUP_CHAN_ANY, 4096, 0, &ch))
			_exit(1);
		c = kup_chan_index(ch);
		_exit(write(pipefd[1], &c, sizeof(c)) == sizeof(c) ? 0 : 2);
	}
	ASSERT_EQ(sizeof(chan), read(pipefd[0], &chan, sizeof(chan)));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	EXPECT_LT(pins0, pins_held());
	EXPECT_EQ(0, chan_ioctl(kup_fd(dev), KUP_IOC_DETACH, chan));
	EXPECT_EQ(pins0, pins_wait(pins0, 5000));
	/* Still the parent's file: its own channels work. */
	kup_close(dev);
	close(pipefd[0]);
	close(pipefd[1]);
}

/* A pipelined process sends first: the session-start pass takes nothing. */
TEST(rot13_pipelined_first_message)
{
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;
	const void *d = NULL;

	ASSERT_EQ(0, rot13_open(&dev, &ch, KUP_CHAN_ANY, 2));
	ASSERT_EQ(0, kup_send(ch, "Hello", 6, 0));
	ASSERT_EQ(6, kup_recv(ch, &d, 0));
	EXPECT_STREQ("Uryyb", (const char *)d);
	ASSERT_EQ(0, kup_send(ch, "abc", 4, 0));
	ASSERT_EQ(4, kup_recv(ch, &d, 0));
	EXPECT_STREQ("nop", (const char *)d);
	kup_chan_close(ch);
	kup_close(dev);
}

/*
 * kupdev_receive() returns no length: a client such as kup_rot13 reads up
 * to a NUL. A short message after a long one must not be read with the
 * long one's tail (nor past the slot's line).
 */
TEST(rot13_reads_only_the_message)
{
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;
	const void *d = NULL;
	char xs[100];
	ssize_t len;

	memset(xs, 'x', sizeof(xs));
	ASSERT_EQ(0, rot13_open(&dev, &ch, KUP_CHAN_ANY, 1));
	ASSERT_EQ(0, kup_send(ch, xs, sizeof(xs), 0));	/* no NUL */
	ASSERT_EQ(101, kup_recv(ch, &d, 0));
	ASSERT_EQ(0, kup_send(ch, "abc", 3, 0));		/* no NUL */
	len = kup_recv(ch, &d, 0);
	EXPECT_EQ(4, len);
	EXPECT_STREQ("nop", (const char *)d);
	kup_chan_close(ch);
	kup_close(dev);
}

/*
 * The channel ioctls belong to the process that attached the channel: a
 * fork child sharing the file gets EPERM and cannot detach, wait on,
 * wake or redirect the parent's channel; the parent keeps working.
 */
TEST(fork_child_cannot_use_parents_channel)
{
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;
	int status;
	pid_t pid;

	ASSERT_EQ(0, echo_attach(&dev, &ch, 4096));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int fd = kup_fd(dev), bad = 0;
		uint32_t c = kup_chan_index(ch);
		struct kup_eventfd e;

		bad |= chan_ioctl(fd, KUP_IOC_WAKE, c) != -EPERM;
		bad |= (chan_ioctl(fd, KUP_IOC_WAIT, c) != -EPERM) << 1;
		memset(&e, 0, sizeof(e));
		e.chan = c;
		e.fd = KUP_EVENTFD_NONE;
		bad |= (ioctl(fd, KUP_IOC_EVENTFD, &e) == 0 || errno != EPERM)
		       << 2;
		bad |= (chan_ioctl(fd, KUP_IOC_DETACH, c) != -EPERM) << 3;
		_exit(bad);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	EXPECT_EQ(0, roundtrip(ch, 1, 100, 0));
	kup_chan_close(ch);
	kup_close(dev);
}

/*
 * RLIMIT_MEMLOCK is charged to the user, not to each process: a parent
 * and a fork child of one user together cannot pin more than the limit.
 * (root has CAP_IPC_LOCK: run as nobody.)
 */
TEST(memlock_is_per_user)
{
	int pipefd[2], status;
	pid_t pid;

	ASSERT_EQ(0, pipe(pipefd));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/* 64 KiB: one 9-page region fits, two do not. */
		struct rlimit rl = { 16 * 4096, 16 * 4096 };
		struct kup_device *dev = NULL;
		struct kup_channel *ch = NULL;
		int cstatus, ret;
		pid_t cpid;

		/* The device is root's (0600): open it first. */
		if (kup_open(ECHO_NAME, &dev))
			_exit(11);
		if (setrlimit(RLIMIT_MEMLOCK, &rl) || setgid(65534) ||
		    setuid(65534))
			_exit(10);
		if (kup_chan_attach(dev, KUP_CHAN_ANY, 16384, 0, &ch))
			_exit(12);
		cpid = fork();
		if (cpid == 0) {
			struct kup_channel *c2 = NULL;

			/* Its own attach through the inherited file. */
			ret = kup_chan_attach(dev, KUP_CHAN_ANY, 16384, 0, &c2);
			_exit(ret == -ENOMEM ? 0 : 22);
		}
		if (cpid < 0 || waitpid(cpid, &cstatus, 0) != cpid ||
		    !WIFEXITED(cstatus))
			_exit(13);
		kup_chan_close(ch);
		kup_close(dev);
		_exit(WEXITSTATUS(cstatus));
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	close(pipefd[0]);
	close(pipefd[1]);
}

/*
 * The kernel client may write a message it holds after the process has
 * detached (here kup_echo's SCRIBBLE, resumed after the detach): the pages
 * stay pinned until the hold ends, so the write lands in them. In memory
 * the process simply kept, the write shows; once the range got fresh
 * pages (mmap MAP_FIXED, as kup_chan_close() does before it frees the
 * region), it does not.
 */
static void late_kernel_write(struct __test_metadata *_metadata, bool fresh)
{
	long page = sysconf(_SC_PAGESIZE), scribbled0 = echo_stat("scribbled");
	size_t len = 4 * page, msg = 1000, n = strlen("KUPECHO:SCRIBBLE"), i;
	long parked0 = echo_stat("parked");
	struct kup_region_hdr *h;
	struct kup_attach a;
	struct kup_slot *slot;
	unsigned char *mem, *buf;
	int fd;

	mem = (unsigned char *)mmap(NULL, len, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, mem);
	memset(mem, 0, len);
	fd = open(ECHO_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd);
	memset(&a, 0, sizeof(a));
	a.addr = (uintptr_t)mem;
	a.len = len;
	a.chan = KUP_CHAN_ANY;
	a.buf_size = (__u32)page;
	ASSERT_EQ(0, ioctl(fd, KUP_IOC_ATTACH, &a));
	h = (struct kup_region_hdr *)mem;
	slot = (struct kup_slot *)(mem + h->slot_off);
	/* The greeting passes turn 1; answer with turn 2, out of line. */
	for (i = 0; i < 10000 && __atomic_load_n(&slot->turn,
						 __ATOMIC_ACQUIRE) != 1; i++)
		usleep(1000);
	ASSERT_EQ(1, slot->turn);
	buf = mem + h->to_kernel_off;
	memcpy(buf, "KUPECHO:SCRIBBLE", n);
	memset(buf + n, 0, msg - n);
	slot->len = msg;
	slot->seq = 2;
	slot->flags = 0;
	__atomic_store_n(&slot->turn, 2, __ATOMIC_SEQ_CST);
	/* The echo thread may sleep (kstate.kwait): wake it. */
	ASSERT_EQ(0, chan_ioctl(fd, KUP_IOC_WAKE, a.chan));
	ASSERT_EQ(parked0 + 1, echo_stat_wait("parked", parked0 + 1, 10000));
	close(fd);		/* detached: the kernel still holds the message */
	if (fresh)
		ASSERT_EQ(mem, mmap(mem, len, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
				    -1, 0));
	ASSERT_EQ(0, echo_resume());
	ASSERT_EQ(scribbled0 + 1, echo_stat_wait("scribbled", scribbled0 + 1,
						 10000));
	for (i = n; i < msg; i++)
		if (buf[i] != (fresh ? 0 : 0xa5))
			break;
	EXPECT_EQ(msg, i) TH_LOG("%s pages: byte %zu is %#x",
				 fresh ? "fresh" : "kept", i, buf[i]);
	munmap(mem, len);
}

TEST(late_kernel_write_lands_in_kept_pages)
{
	late_kernel_write(_metadata, false);
}

TEST(late_kernel_write_misses_fresh_pages)
{
	late_kernel_write(_metadata, true);
}

TEST_HARNESS_MAIN
