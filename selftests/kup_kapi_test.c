// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel API's documented claims (include/linux/kup.h), checked from
 * kernel context: kup_ktest.ko (selftests/kmod) runs one named check at a
 * time in a kernel thread, with the public calls only, and asserts what
 * each call returns; this side attaches the channels of /dev/kup_ktest,
 * acts at the check's hand-offs, and asserts what the process sees:
 * messages, turns, wake-ups, pins, RLIMIT_MEMLOCK. Needs kup.ko and
 * kup_ktest.ko.
 */
#include "kup_test.h"

#include <linux/capability.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "kselftest_harness.h"

#define KT_DEV		"kup_ktest"
#define KT_DIR		"/sys/kernel/debug/kup_ktest/"
#define KT_DUP		"kup_ktest_dup"
#define KT_SD		"kup_ktest_sd"
#define KT_LONG		"kup_ktest_kkkkkkkkkkkkkkkkkkkkk"
#define KT_MAX_BUF	(16 * 4096)	/* kup_ktest's KT_BUF_PAGES */
/* Bound of every wait for the kernel side, in 1 ms polls */
#define KT_WAIT_MS	30000
#define KAPI_TIMEOUT	180

/* The debugfs files of kup_ktest, opened once (as root). */
struct kt {
	int run, resume, abort, result;
	unsigned int seq;		/* of our last run */
};

/* A line of "result": "<seq> <check> <status> <stage>[ <text>]" */
struct kt_res {
	unsigned int seq, stage;
	char name[32], status[16], text[600];
};

static int kt_open(struct kt *t)
{
	t->run = open(KT_DIR "run", O_WRONLY | O_CLOEXEC);
	t->resume = open(KT_DIR "resume", O_WRONLY | O_CLOEXEC);
	t->abort = open(KT_DIR "abort", O_WRONLY | O_CLOEXEC);
	t->result = open(KT_DIR "result", O_RDONLY | O_CLOEXEC);
	if (t->run < 0 || t->resume < 0 || t->abort < 0 || t->result < 0)
		return -errno;
	return 0;
}

static void kt_close(struct kt *t)
{
	close(t->run);
	close(t->resume);
	close(t->abort);
	close(t->result);
}

static int kt_read(const struct kt *t, struct kt_res *r)
{
	char buf[800];
	ssize_t n = pread(t->result, buf, sizeof(buf) - 1, 0);
	int off = 0;

	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	r->text[0] = '\0';
	if (sscanf(buf, "%u %31s %15s %u%n", &r->seq, r->name, r->status,
		   &r->stage, &off) != 4)
		return -EBADMSG;
	if (buf[off] == ' ')
		snprintf(r->text, sizeof(r->text), "%s", buf + off + 1);
	return 0;
}

static int kt_write(int fd, const char *s)
{
	return write(fd, s, strlen(s)) == (ssize_t)strlen(s) ? 0 : -errno;
}

/* Start a check: "<name> [arg...]". */
static int kt_run(struct kt *t, const char *fmt, ...)
{
	struct kt_res r;
	char cmd[128];
	va_list ap;
	int ret;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	ret = kt_read(t, &r);
	if (ret)
		return ret;
	ret = kt_write(t->run, cmd);
	if (!ret)
		t->seq = r.seq + 1;
	return ret;
}

static int kt_resume(struct kt *t)
{
	return kt_write(t->resume, "1");
}

/*
 * Wait until our run reached hand-off stage (0: until it is over).
 * Returns 0 (r tells where it is), -ETIMEDOUT, or another error.
 */
static int kt_wait(const struct kt *t, struct kt_res *r, unsigned int stage)
{
	int ms = KT_WAIT_MS, ret;

	for (;;) {
		ret = kt_read(t, r);
		if (ret)
			return ret;
		if (r->seq != t->seq)
			return -ESTALE;
		if (strcmp(r->status, "running") ||
		    (stage && r->stage >= stage))
			return 0;
		if (ms-- <= 0)
			return -ETIMEDOUT;
		usleep(1000);
	}
}

/* Wait (bounded) until no check runs: after a test, or a killed one. */
static int kt_idle(const struct kt *t)
{
	struct kt_res r;
	int ms = KT_WAIT_MS;

	while (!kt_read(t, &r) && !strcmp(r.status, "running") && ms-- > 0)
		usleep(1000);
	return strcmp(r.status, "running") ? 0 : -ETIMEDOUT;
}

/* The value of key=value in a passing check's text, or LONG_MIN. */
static long kt_val(const struct kt_res *r, const char *key)
{
	char pat[40];
	const char *p;
	size_t n;

	n = snprintf(pat, sizeof(pat), "%s=", key);
	for (p = r->text; (p = strstr(p, pat)); p += n)
		if (p == r->text || p[-1] == ' ')
			return strtol(p + n, NULL, 10);
	return LONG_MIN;
}

/* Our run must be waiting at hand-off stage. */
static void kt_stage(struct __test_metadata *_metadata, struct kt *t,
		     unsigned int stage)
{
	struct kt_res r;

	ASSERT_EQ(0, kt_wait(t, &r, stage)) TH_LOG("waiting for stage %u",
						   stage);
	ASSERT_STREQ("running", r.status)
		TH_LOG("%s at stage %u: %s", r.name, stage, r.text);
	ASSERT_EQ(stage, r.stage);
}

/* Our run must be over and have passed; r gets its result. */
static void kt_pass(struct __test_metadata *_metadata, struct kt *t,
		    struct kt_res *r)
{
	ASSERT_EQ(0, kt_wait(t, r, 0));
	ASSERT_STREQ("pass", r->status) TH_LOG("%s: %s", r->name, r->text);
}

/*
 * Receive what the check sends, bounded: a check that failed sends
 * nothing more, so give up once it is over (after a last try), or after
 * KT_WAIT_MS polls.
 */
static ssize_t kt_recv(const struct kt *t, struct kup_channel *ch,
		       const void **d)
{
	int ms = KT_WAIT_MS, over = 0;
	struct kt_res r;
	ssize_t len;

	for (;;) {
		len = kup_recv(ch, d, KUP_NONBLOCK);
		if (len != -EAGAIN || over)
			return len;
		if (kt_read(t, &r) || r.seq != t->seq ||
		    strcmp(r.status, "running"))
			over = 1;
		else if (ms-- <= 0)
			return -ETIMEDOUT;
		else
			usleep(1000);
	}
}

/* Receive the next message and expect it to be the string s. */
static int recv_str(const struct kt *t, struct kup_channel *ch,
		    const char *s)
{
	const void *d = NULL;
	ssize_t len = kt_recv(t, ch, &d);

	if (len < 0)
		return (int)len;
	if ((size_t)len != strlen(s) || memcmp(d, s, len)) {
		fprintf(stderr, "# got '%.*s', want '%s'\n", (int)len,
			(const char *)d, s);
		return 1;
	}
	return 0;
}

static int send_str(struct kup_channel *ch, const char *s)
{
	return kup_send(ch, s, strlen(s), 0);
}

/* A character device of mode 0600 owned by root. */
static int node_is_private(const char *path)
{
	struct stat st;

	if (stat(path, &st))
		return -errno;
	return S_ISCHR(st.st_mode) && (st.st_mode & 07777) == 0600 &&
	       st.st_uid == 0 ? 0 : 1;
}

/* /dev/kmsg, past its last record: it reads what the kernel logs next. */
static int kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

/* 1 if a record logged since kmsg_open() holds s, else 0. */
static int kmsg_has(int fd, const char *s)
{
	char rec[8192];
	int found = 0;
	ssize_t n;

	for (;;) {
		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)	/* overwritten: go on */
			continue;
		if (n <= 0)
			break;
		rec[n] = '\0';
		if (strstr(rec, s)) {
			fprintf(stderr, "# kernel: %s", rec);
			found = 1;
		}
	}
	return found;
}

/* Wait (at most ms) until path is gone. */
static int path_gone(const char *path, int ms)
{
	while (!access(path, F_OK) && ms-- > 0)
		usleep(1000);
	return access(path, F_OK) ? 0 : -EEXIST;
}

/* What an eventfd counted, or -errno (-EAGAIN: nothing). */
static long evfd_take(int efd)
{
	uint64_t v;

	if (read(efd, &v, sizeof(v)) != sizeof(v))
		return -errno;
	return (long)v;
}

/* Wait (at most ms) until fd is readable, then evfd_take(). */
static long evfd_wait(int efd, int ms)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };

	if (poll(&p, 1, ms) != 1)
		return -ETIMEDOUT;
	return evfd_take(efd);
}

static unsigned long long uwait_wakeups(const struct kup_channel *ch)
{
	return __atomic_load_n(&ch->ks->uwait_wakeups, __ATOMIC_ACQUIRE);
}

/* Slot s's turn word. */
static uint32_t turn_of(const struct kup_channel *ch, uint32_t s)
{
	return __atomic_load_n(&kupi_slot(ch, s)->turn, __ATOMIC_ACQUIRE);
}

FIXTURE(kapi) {
	struct kt kt;
	struct kup_device *dev;
	long page;
};

FIXTURE_SETUP(kapi)
{
	struct kt_res r;

	/*
	 * The 6.1 harness runs the test after a SKIP in the setup: leave as
	 * the harness does for a skipped test (exit code 255).
	 */
	if (access("/dev/" KT_DEV, F_OK))
		SKIP(_exit(255), "no /dev/%s (load kup.ko and kup_ktest.ko)",
		     KT_DEV);
	self->page = sysconf(_SC_PAGESIZE);
	ASSERT_EQ(0, kt_open(&self->kt)) TH_LOG("%s: %s", KT_DIR,
						strerror(errno));
	/* A check of a killed test may still wait at a hand-off. */
	kt_write(self->kt.abort, "1");
	ASSERT_EQ(0, kt_idle(&self->kt));
	ASSERT_EQ(0, kt_run(&self->kt, "reset"));
	kt_pass(_metadata, &self->kt, &r);
	ASSERT_EQ(0, kup_open(KT_DEV, &self->dev));
}

FIXTURE_TEARDOWN(kapi)
{
	if (self->kt.run <= 0)
		return;
	/* Ends a hand-off; detaching ends a kernel call waiting for us. */
	kt_write(self->kt.abort, "1");
	kup_close(self->dev);
	EXPECT_EQ(0, kt_idle(&self->kt));
	kt_close(&self->kt);
}

/* claim 1: the device node is root's, mode 0600. */
TEST_F_TIMEOUT(kapi, node_mode_0600, KAPI_TIMEOUT)
{
	EXPECT_EQ(0, node_is_private("/dev/" KT_DEV));
}

/*
 * claim 1: kup_dev_create() refuses NULL, empty, too long names, '/',
 * a leading '.', 0 or too many channels, 0 or too many pages (-EINVAL),
 * and accepts the extremes: the longest name, KUP_MAX_CHANNELS channels,
 * KUP_MAX_BUF_PAGES pages; that node exists while the device does.
 */
TEST_F_TIMEOUT(kapi, create_limits, KAPI_TIMEOUT)
{
	struct kt_res r;

	ASSERT_EQ(KUP_NAME_MAX - 1, strlen(KT_LONG));
	ASSERT_EQ(0, kt_run(&self->kt, "create_limits"));
	kt_stage(_metadata, &self->kt, 1);
	EXPECT_EQ(0, node_is_private("/dev/" KT_LONG));
	ASSERT_EQ(0, kt_resume(&self->kt));
	kt_pass(_metadata, &self->kt, &r);
	EXPECT_EQ(0, path_gone("/dev/" KT_LONG, 10000));
}

/*
 * claim 1: a second device of a name in use fails with -EEXIST (a kup
 * name, and the client's own device's), quietly (no stack dump in the
 * kernel log), and both first devices still work; destroyed while
 * attached, the device says so in the region.
 */
TEST_F_TIMEOUT(kapi, create_duplicate_name, KAPI_TIMEOUT)
{
	struct kup_channel *dch = NULL, *ch = NULL;
	struct kup_device *dup = NULL;
	int kmsg = kmsg_open();
	struct kt_res r;

	ASSERT_LE(0, kmsg);
	ASSERT_EQ(0, kt_run(&self->kt, "create_dup 2"));
	kt_stage(_metadata, &self->kt, 1);
	/* The refusals were logged (if at all) before the hand-off. */
	EXPECT_EQ(0, kmsg_has(kmsg, "Call Trace"));
	close(kmsg);
	EXPECT_EQ(0, node_is_private("/dev/" KT_DUP));
	ASSERT_EQ(0, kup_open(KT_DUP, &dup));
	ASSERT_EQ(0, kup_chan_attach(dup, 1, 4096, 0, &dch));
	ASSERT_EQ(0, kup_chan_attach(self->dev, 2, 4096, 0, &ch));
	ASSERT_EQ(0, kt_resume(&self->kt));
	EXPECT_EQ(0, recv_str(&self->kt, dch, "dup 1"));
	EXPECT_EQ(0, send_str(dch, "ok"));
	EXPECT_EQ(0, recv_str(&self->kt, ch, "first"));
	EXPECT_EQ(0, send_str(ch, "ok"));
	kt_pass(_metadata, &self->kt, &r);
	EXPECT_EQ(-ESHUTDOWN, kup_chan_ready(dch));
	EXPECT_EQ(0, path_gone("/dev/" KT_DUP, 10000));
	kup_close(dup);
}

/*
 * claim 2: -EAGAIN with nothing attached; before kup_wait_channel()
 * reports a channel every call on it is -ENOTCONN and reaches nothing;
 * each attachment is reported exactly once.
 */
TEST_F_TIMEOUT(kapi, session_reported_once, KAPI_TIMEOUT)
{
	struct kup_channel *ch1 = NULL, *ch3 = NULL;
	const void *d = NULL;
	struct kt_res r;

	ASSERT_EQ(0, kt_run(&self->kt, "session_once"));
	kt_stage(_metadata, &self->kt, 1);
	ASSERT_EQ(0, kup_chan_attach(self->dev, 1, 4096, 0, &ch1));
	ASSERT_EQ(0, kup_chan_attach_slots(self->dev, 3, 1024, 2, 0, &ch3));
	ASSERT_EQ(0, kt_resume(&self->kt));
	kt_pass(_metadata, &self->kt, &r);
	EXPECT_EQ(1, kt_val(&r, "first"));
	EXPECT_EQ(3, kt_val(&r, "second"));
	/* The first message of channel 1 is the one sent after the report. */
	EXPECT_EQ(0, recv_str(&self->kt, ch1, "hello 1"));
	/* Nothing reached channel 3: both its first turns are still ours. */
	EXPECT_EQ(1, turn_of(ch3, 0));
	EXPECT_EQ(1, turn_of(ch3, 1));
	/* Nothing came; the check's end ended the session, visibly. */
	EXPECT_EQ(-ECONNRESET, kup_recv(ch3, &d, KUP_NONBLOCK));
}

/*
 * claim 2: after the process detaches, calls are -ENOTCONN, and a new
 * attachment of the channel is reported only once kup_end_session()
 * ended the session (failed calls do not); nothing reaches the new one
 * first.
 */
TEST_F_TIMEOUT(kapi, session_ends_after_failed_call, KAPI_TIMEOUT)
{
	struct kup_channel *a = NULL, *b = NULL;
	struct kt_res r;

	ASSERT_EQ(0, kup_chan_attach(self->dev, 0, 4096, 0, &a));
	ASSERT_EQ(0, kt_run(&self->kt, "session_detach 0"));
	EXPECT_EQ(0, recv_str(&self->kt, a, "A1"));
	kt_stage(_metadata, &self->kt, 1);
	ASSERT_EQ(0, kup_chan_close(a));
	ASSERT_EQ(0, kup_chan_attach(self->dev, 0, 4096, 0, &b));
	ASSERT_EQ(0, kt_resume(&self->kt));
	EXPECT_EQ(0, recv_str(&self->kt, b, "B1"));
	kt_stage(_metadata, &self->kt, 2);
	ASSERT_EQ(0, kup_chan_close(b));
	ASSERT_EQ(0, kt_resume(&self->kt));
	kt_pass(_metadata, &self->kt, &r);
}

/*
 * claim 2: a reply passed before the session ends is received before the
 * end shows, even by a thread that was already asleep waiting for it
 * (both happen before it wakes); the next call reports the end.
 */
TEST_F_TIMEOUT(kapi, last_reply_before_session_end, KAPI_TIMEOUT)
{
	struct recv_waiter w = { .spins = 0, .ret = 1 };
	struct kup_channel *a = NULL;
	const void *d = NULL;
	struct kt_res r;
	pthread_t t;
	int i;

	ASSERT_EQ(0, kup_chan_attach(self->dev, 0, 4096, 0, &a));
	ASSERT_EQ(0, kt_run(&self->kt, "last_reply 0"));
	kt_stage(_metadata, &self->kt, 1);
	w.ch = a;
	ASSERT_EQ(0, pthread_create(&t, NULL, recv_waiter_fn, &w));
	ASSERT_TRUE(flag_wait(&a->us->uwait, KT_WAIT_MS));
	ASSERT_EQ(1, a->us->uwait);
	ASSERT_EQ(0, kt_resume(&self->kt));
	kt_pass(_metadata, &self->kt, &r);
	for (i = 0; i < KT_WAIT_MS && w.ret == 1; i++)
		usleep(1000);
	EXPECT_EQ(4, w.ret);
	if (w.ret == 1)
		kup_chan_shutdown(a);
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(-ECONNRESET, kup_recv(a, &d, KUP_NONBLOCK));
	EXPECT_EQ(0, kup_chan_close(a));
}

/*
 * claim 2 (and 4 for a received message): while the kernel holds a
 * message of a detached attachment, the data stays readable and pinned,
 * failed calls end neither the hold nor the session; kup_release() of
 * the last hold ends the hold, kup_end_session() the session, and the
 * next attachment is reported.
 */
TEST_F_TIMEOUT(kapi, session_ends_with_release, KAPI_TIMEOUT)
{
	struct kup_channel *a = NULL, *b = NULL;
	long pins0, na, nb;
	struct kt_res r;

	pins0 = pins_held();
	ASSERT_EQ(0, kup_chan_attach(self->dev, 0, 4096, 0, &a));
	na = region_pages(a->mem);
	ASSERT_EQ(0, kt_run(&self->kt, "session_hold 0"));
	EXPECT_EQ(0, recv_str(&self->kt, a, "go"));
	ASSERT_EQ(0, send_str(a, "m1"));
	kt_stage(_metadata, &self->kt, 1);
	ASSERT_EQ(0, kup_chan_close(a));
	ASSERT_EQ(0, kup_chan_attach(self->dev, 0, 4096, 0, &b));
	nb = region_pages(b->mem);
	/* The old region is still pinned: the kernel holds "m1". */
	EXPECT_EQ(pins0 + na + nb, pins_held());
	ASSERT_EQ(0, kt_resume(&self->kt));
	kt_stage(_metadata, &self->kt, 2);
	EXPECT_EQ(pins0 + na + nb, pins_held());
	ASSERT_EQ(0, kt_resume(&self->kt));
	kt_pass(_metadata, &self->kt, &r);
	EXPECT_EQ(0, recv_str(&self->kt, b, "B1"));
	EXPECT_EQ(pins0 + nb, pins_wait(pins0 + nb, 10000));
}

/*
 * claim 2: kup_end_session() ends a session with no failed call, and,
 * while the process stays attached, makes every call -ENOTCONN without
 * the attachment being reported again.
 */
TEST_F_TIMEOUT(kapi, session_ends_with_end_session, KAPI_TIMEOUT)
{
	struct kup_channel *a = NULL, *b = NULL;
	const void *d = NULL;
	struct kt_res r;

	ASSERT_EQ(0, kup_chan_attach(self->dev, 0, 4096, 0, &a));
	ASSERT_EQ(0, kt_run(&self->kt, "session_end 0"));
	kt_stage(_metadata, &self->kt, 1);
	ASSERT_EQ(0, kup_chan_close(a));
	ASSERT_EQ(0, kup_chan_attach(self->dev, 0, 4096, 0, &b));
	ASSERT_EQ(0, kt_resume(&self->kt));
	EXPECT_EQ(0, recv_str(&self->kt, b, "B1"));
	ASSERT_EQ(0, send_str(b, "B2"));
	kt_stage(_metadata, &self->kt, 2);
	ASSERT_EQ(0, kt_resume(&self->kt));
	kt_pass(_metadata, &self->kt, &r);
	/* "B2" was neither taken nor answered; the session's end shows. */
	EXPECT_EQ(-ECONNRESET, kup_chan_ready(b));
	EXPECT_EQ(-ECONNRESET, kup_recv(b, &d, KUP_NONBLOCK));
	EXPECT_EQ(KUP_STATE_BROKEN, b->ks->state);
	EXPECT_EQ(ECONNRESET, b->ks->error);
	EXPECT_EQ(2, b->slots->len);
}

/* claim 3: a bad channel index is -EINVAL on every call and query. */
TEST_F_TIMEOUT(kapi, einval_bad_channel, KAPI_TIMEOUT)
{
	struct kt_res r;

	ASSERT_EQ(0, kt_run(&self->kt, "einval_chan"));
	kt_pass(_metadata, &self->kt, &r);
}

/*
 * claim 3: kup_send_commit() without kup_send_buf() (at session start,
 * holding a received message, after a commit) and the batch calls with
 * no message are -EINVAL and pass no turn.
 */
TEST_F_TIMEOUT(kapi, einval_arguments, KAPI_TIMEOUT)
{
	struct kup_channel *ch = NULL;
	struct kt_res r;

	ASSERT_EQ(0, kup_chan_attach(self->dev, 1, 4096, 0, &ch));
	ASSERT_EQ(0, kt_run(&self->kt, "einval_args 1"));
	EXPECT_EQ(0, recv_str(&self->kt, ch, "go"));
	ASSERT_EQ(0, send_str(ch, "m1"));
	/* Not a stale byte of the buffer, committed by mistake. */
	EXPECT_EQ(0, recv_str(&self->kt, ch, "ok"));
	ASSERT_EQ(0, send_str(ch, "m2"));
	EXPECT_EQ(0, recv_str(&self->kt, ch, "sb"));
	kt_pass(_metadata, &self->kt, &r);
	/* Nothing more came; the check's end ended the session. */
	EXPECT_EQ(-ECONNRESET, kup_chan_ready(ch));
}

/*
 * claim 3: -EDEADLK from kup_recv(), kup_recv_batch() and kup_serve()
 * when the kernel holds the turn and consumed its message (at session
 * start, holding a message; pipelined even with the next one waiting),
 * without disturbing the hold.
 */
TEST_F_TIMEOUT(kapi, edeadlk, KAPI_TIMEOUT)
{
	struct kup_channel *p = NULL, *q = NULL;
	struct kt_res r;

	ASSERT_EQ(0, kup_chan_attach(self->dev, 0, 4096, 0, &p));
	ASSERT_EQ(0, kup_chan_attach_slots(self->dev, 1, 256, 4, 0, &q));
	ASSERT_EQ(0, send_str(q, "p0"));
	ASSERT_EQ(0, send_str(q, "p1"));
	ASSERT_EQ(0, kt_run(&self->kt, "edeadlk 0 1"));
	EXPECT_EQ(0, recv_str(&self->kt, p, "go"));
	ASSERT_EQ(0, send_str(p, "m1"));
	EXPECT_EQ(0, recv_str(&self->kt, p, "ok"));
	EXPECT_EQ(0, recv_str(&self->kt, q, "r0"));
	EXPECT_EQ(0, recv_str(&self->kt, q, "r1"));
	kt_pass(_metadata, &self->kt, &r);
}

/*
 * claim 3: -EMSGSIZE for a send larger than the buffer (alone or in a
 * batch: nothing sent) and for kup_send_commit() with len > size, which
 * keeps the send buffer: a full-buffer commit follows, intact.
 */
TEST_F_TIMEOUT(kapi, emsgsize, KAPI_TIMEOUT)
{
	struct kup_channel *ch = NULL;
	const void *d = NULL;
	struct kt_res r;
	size_t size;
	void *buf;

	ASSERT_EQ(0, kup_chan_attach(self->dev, 0, 4096, 0, &ch));
	ASSERT_EQ(4096, kup_chan_buf_size(ch));
	ASSERT_EQ(0, kt_run(&self->kt, "emsgsize 0"));
	/* The first message is the committed buffer: the batch sent none. */
	ASSERT_EQ(4096, kt_recv(&self->kt, ch, &d));
	EXPECT_EQ(-1, check(d, 4096, 7));
	ASSERT_EQ(0, kup_send_buf(ch, &buf, &size, 0));
	ASSERT_EQ(4096, size);
	fill(buf, size, 8);
	ASSERT_EQ(0, kup_send_commit(ch, size));
	ASSERT_EQ(4096, kt_recv(&self->kt, ch, &d));
	EXPECT_EQ(-1, check(d, 4096, 9));
	kt_pass(_metadata, &self->kt, &r);
}

/*
 * claim 3: -EBUSY for a reply on a pipelined slot whose message was not
 * received (before and after the process sent it); the message is not
 * destroyed.
 */
TEST_F_TIMEOUT(kapi, ebusy, KAPI_TIMEOUT)
{
	struct kup_channel *ch = NULL;
	const void *d = NULL;
	struct kt_res r;

	ASSERT_EQ(0, kup_chan_attach_slots(self->dev, 0, 256, 4, 0, &ch));
	ASSERT_EQ(0, kt_run(&self->kt, "ebusy 0"));
	kt_stage(_metadata, &self->kt, 1);
	ASSERT_EQ(0, send_str(ch, "p0"));
	ASSERT_EQ(0, kt_resume(&self->kt));
	EXPECT_EQ(0, recv_str(&self->kt, ch, "r0"));
	kt_pass(_metadata, &self->kt, &r);
	/* Nothing came on the next slot; the check's end shows. */
	EXPECT_EQ(-ECONNRESET, kup_recv(ch, &d, KUP_NONBLOCK));
}

/* claim 3: -EAGAIN for every KUP_NONBLOCK call when it is not our turn. */
TEST_F_TIMEOUT(kapi, eagain, KAPI_TIMEOUT)
{
	struct kup_channel *ch = NULL;
	struct kt_res r;

	ASSERT_EQ(0, kup_chan_attach(self->dev, 0, 4096, 0, &ch));
	ASSERT_EQ(0, kt_run(&self->kt, "eagain 0"));
	EXPECT_EQ(0, recv_str(&self->kt, ch, "go"));
	/* Answer only once the kernel has tried everything. */
	kt_stage(_metadata, &self->kt, 1);
	ASSERT_EQ(0, send_str(ch, "m1"));
	ASSERT_EQ(0, kt_resume(&self->kt));
	EXPECT_EQ(0, recv_str(&self->kt, ch, "ok"));
	kt_pass(_metadata, &self->kt, &r);
}

/*
 * claim 4: what the kernel writes in place with kup_send_buf() arrives
 * intact, for 0, 1, KUP_INLINE_MAX, KUP_INLINE_MAX + 1 bytes and a full
 * buffer; an inline size is moved into the slot's line.
 */
TEST_F_TIMEOUT(kapi, send_buf_commit_sizes, KAPI_TIMEOUT)
{
	size_t sizes[] = { 0, 1, KUP_INLINE_MAX, KUP_INLINE_MAX + 1, 4096 };
	struct kup_channel *ch = NULL;
	const void *d = NULL;
	struct kt_res r;
	unsigned int i;
	ssize_t len;

	ASSERT_EQ(0, kup_chan_attach(self->dev, 0, 4096, 0, &ch));
	ASSERT_EQ(0, kt_run(&self->kt, "send_buf_sizes 0"));
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		len = kt_recv(&self->kt, ch, &d);
		ASSERT_EQ((ssize_t)sizes[i], len) TH_LOG("message %u", i);
		EXPECT_EQ(-1, check(d, len, 100 + i)) TH_LOG("message %u", i);
		if (sizes[i] <= KUP_INLINE_MAX) {
			EXPECT_EQ(KUP_SLOT_INLINE, ch->slots->flags);
			EXPECT_EQ((const void *)ch->slots->data, d);
		} else {
			EXPECT_EQ(0, ch->slots->flags);
			EXPECT_EQ((const void *)ch->to_user, d);
		}
		ASSERT_EQ(0, kup_send(ch, d, len, 0));
	}
	kt_pass(_metadata, &self->kt, &r);
	EXPECT_EQ(4096, kt_val(&r, "buf"));
}

/*
 * claim 4: the hold of kup_send_buf() keeps the region pinned (pins,
 * VmPin) after the process detached; kup_send_commit() then fails with
 * -ENOTCONN and, like any failed call, does not end the hold;
 * kup_release() does, and the pages go.
 */
TEST_F_TIMEOUT(kapi, send_buf_hold_survives_detach, KAPI_TIMEOUT)
{
	struct kup_channel *ch = NULL;
	long pins0, vm0, n, kb;
	struct kt_res r;
	int i;

	pins0 = pins_held();
	vm0 = vm_pinned_kb();
	ASSERT_EQ(0, kup_chan_attach(self->dev, 0, 4096, 0, &ch));
	n = region_pages(ch->mem);
	kb = n * self->page / 1024;
	ASSERT_EQ(0, kt_run(&self->kt, "send_buf_detach 0"));
	kt_stage(_metadata, &self->kt, 1);
	EXPECT_EQ(pins0 + n, pins_held());
	ASSERT_EQ(0, kup_chan_close(ch));
	EXPECT_EQ(pins0 + n, pins_held());
	EXPECT_EQ(vm0 + kb, vm_pinned_kb());
	ASSERT_EQ(0, kt_resume(&self->kt));
	kt_stage(_metadata, &self->kt, 2);
	/* After the failed commit. */
	EXPECT_EQ(pins0 + n, pins_held());
	EXPECT_EQ(vm0 + kb, vm_pinned_kb());
	ASSERT_EQ(0, kt_resume(&self->kt));
	kt_pass(_metadata, &self->kt, &r);
	EXPECT_EQ(pins0, pins_wait(pins0, 10000));
	for (i = 0; i < 10000 && vm_pinned_kb() != vm0; i++)
		usleep(1000);
	EXPECT_EQ(vm0, vm_pinned_kb());
}

/* Message i of a batch64 round: as kt_batch_len() in kup_ktest.c. */
static size_t batch_len(unsigned int i)
{
	return 1 + 3 * i;
}

/* Send a round of KUP_MAX_SLOTS messages, KUP_MORE on all but the last. */
static int batch_send(struct kup_channel *ch, unsigned int base)
{
	unsigned char msg[256];
	unsigned int i;
	int ret;

	for (i = 0; i < KUP_MAX_SLOTS; i++) {
		fill(msg, batch_len(i), base + i);
		ret = kup_send(ch, msg, batch_len(i),
			       i + 1 < KUP_MAX_SLOTS ? KUP_MORE : 0);
		if (ret)
			return ret;
	}
	return 0;
}

/* Receive a round of replies, in order: 0, an errno, or 1 + the index. */
static int batch_recv(const struct kt *t, struct kup_channel *ch,
		      unsigned int base)
{
	const void *d = NULL;
	unsigned int i;
	ssize_t len;

	for (i = 0; i < KUP_MAX_SLOTS; i++) {
		len = kt_recv(t, ch, &d);
		if (len < 0)
			return (int)len;
		if ((size_t)len != batch_len(i) + 1 ||
		    check(d, len, base + 1000 + i) >= 0)
			return 1 + i;
	}
	return 0;
}

/*
 * claim 5: a channel of KUP_MAX_SLOTS slots attaches; a whole round of
 * 64 messages is taken by one kup_recv_batch() and answered by one
 * kup_send_batch(), replies in order; a second round is taken 10 at a
 * time.
 */
TEST_F_TIMEOUT(kapi, batch_of_64_slots, KAPI_TIMEOUT)
{
	struct kup_channel *ch = NULL;
	struct kt_res r;

	ASSERT_EQ(0, kup_chan_attach_slots(self->dev, 2, 256, KUP_MAX_SLOTS,
					   0, &ch));
	ASSERT_EQ(256, kup_chan_buf_size(ch));
	ASSERT_EQ(KUP_MAX_SLOTS, ch->hdr->nslots);
	ASSERT_EQ(0, batch_send(ch, 0));
	ASSERT_EQ(0, kt_run(&self->kt, "batch64 2"));
	EXPECT_EQ(0, batch_recv(&self->kt, ch, 0));
	kt_stage(_metadata, &self->kt, 1);
	ASSERT_EQ(0, batch_send(ch, 2000));
	ASSERT_EQ(0, kt_resume(&self->kt));
	EXPECT_EQ(0, batch_recv(&self->kt, ch, 2000));
	kt_pass(_metadata, &self->kt, &r);
}

/*
 * claim 5: replies with KUP_MORE make no wake-up check; the last reply
 * without it makes one for the whole batch (kstate.uwait_wakeups, the
 * eventfd), and so does one kup_send_batch().
 */
TEST_F_TIMEOUT(kapi, more_one_wakeup_per_batch, KAPI_TIMEOUT)
{
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	const char *msg[] = { "m0", "m1", "m2", "m3" };
	const char *msg2[] = { "n0", "n1", "n2", "n3" };
	struct kup_channel *ch = NULL;
	unsigned long long k0;
	struct kt_res r;
	int i;

	ASSERT_LE(0, efd);
	ASSERT_EQ(0, kup_chan_attach_slots(self->dev, 1, 256, 4, 0, &ch));
	ASSERT_EQ(0, kup_chan_set_eventfd(ch, efd));
	for (i = 0; i < 4; i++)
		ASSERT_EQ(0, kup_send(ch, msg[i], 2, i < 3 ? KUP_MORE : 0));
	k0 = uwait_wakeups(ch);
	/* Armed for slot 0, whose reply comes first. */
	ASSERT_EQ(0, kup_chan_arm(ch));
	EXPECT_EQ(1, ch->us->uwait);
	ASSERT_EQ(0, kt_run(&self->kt, "more 1"));
	kt_stage(_metadata, &self->kt, 1);
	/* Slot 0's reply is here, with no wake-up. */
	EXPECT_EQ(3, turn_of(ch, 0));
	EXPECT_EQ(k0, uwait_wakeups(ch));
	EXPECT_EQ(-EAGAIN, evfd_take(efd));
	ASSERT_EQ(0, kt_resume(&self->kt));
	kt_stage(_metadata, &self->kt, 2);
	EXPECT_EQ(3, turn_of(ch, 2));
	EXPECT_EQ(k0, uwait_wakeups(ch));
	EXPECT_EQ(-EAGAIN, evfd_take(efd));
	ASSERT_EQ(0, kt_resume(&self->kt));
	kt_stage(_metadata, &self->kt, 3);
	/* The last reply's check: one wake-up for the four. */
	EXPECT_EQ(3, turn_of(ch, 3));
	EXPECT_EQ(k0 + 1, uwait_wakeups(ch));
	EXPECT_EQ(1, evfd_take(efd));
	kup_chan_disarm(ch);
	for (i = 0; i < 4; i++)
		EXPECT_EQ(0, recv_str(&self->kt, ch, msg[i]));
	for (i = 0; i < 4; i++)
		ASSERT_EQ(0, kup_send(ch, msg2[i], 2, i < 3 ? KUP_MORE : 0));
	k0 = uwait_wakeups(ch);
	ASSERT_EQ(0, kup_chan_arm(ch));
	ASSERT_EQ(0, kt_resume(&self->kt));
	kt_pass(_metadata, &self->kt, &r);
	EXPECT_EQ(k0 + 1, uwait_wakeups(ch));
	/* The batch's one wake-up, and the session's end (the check's). */
	EXPECT_EQ(2, evfd_take(efd));
	kup_chan_disarm(ch);
	for (i = 0; i < 4; i++)
		EXPECT_EQ(0, recv_str(&self->kt, ch, msg2[i]));
	close(efd);
}

/* claim 5: on a ping-pong channel KUP_MORE is ignored: the send wakes. */
TEST_F_TIMEOUT(kapi, more_ignored_on_ping_pong, KAPI_TIMEOUT)
{
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct kup_channel *ch = NULL;
	unsigned long long k0;
	struct kt_res r;

	ASSERT_LE(0, efd);
	ASSERT_EQ(0, kup_chan_attach(self->dev, 0, 4096, 0, &ch));
	ASSERT_EQ(0, kup_chan_set_eventfd(ch, efd));
	k0 = uwait_wakeups(ch);
	ASSERT_EQ(0, kup_chan_arm(ch));
	ASSERT_EQ(0, kt_run(&self->kt, "more_pingpong 0"));
	kt_pass(_metadata, &self->kt, &r);
	EXPECT_EQ(k0 + 1, uwait_wakeups(ch));
	/* The send's wake-up, and the session's end (the check's). */
	EXPECT_EQ(2, evfd_take(efd));
	kup_chan_disarm(ch);
	EXPECT_EQ(0, recv_str(&self->kt, ch, "m"));
	close(efd);
}

static int wait_ioctl(int fd, uint32_t chan)
{
	struct kup_chan_req req;

	memset(&req, 0, sizeof(req));
	req.chan = chan;
	return ioctl(fd, KUP_IOC_WAIT, &req) < 0 ? -errno : 0;
}

/*
 * claim 6: kup_dev_shutdown() makes every open file of the device report
 * EPOLLHUP, signals the channel's eventfd, wakes a thread asleep in a
 * receive with -ESHUTDOWN; KUP_IOC_WAIT, open and attach fail after it.
 */
TEST_F_TIMEOUT(kapi, shutdown_hup_eventfd_wait, KAPI_TIMEOUT)
{
	struct recv_waiter b = { .spins = 0, .ret = 1 };
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN }, out;
	struct kup_device *sd = NULL;
	struct kup_channel *ch = NULL, *ch1 = NULL;
	const void *d = NULL;
	struct pollfd pfd;
	struct kt_res r;
	long pins0;
	pthread_t t;
	int fd2, i;

	ASSERT_LE(0, efd);
	ASSERT_LE(0, ep);
	pins0 = pins_held();
	ASSERT_EQ(0, kt_run(&self->kt, "shutdown"));
	kt_stage(_metadata, &self->kt, 1);
	EXPECT_EQ(0, node_is_private("/dev/" KT_SD));
	ASSERT_EQ(0, kup_open(KT_SD, &sd));
	fd2 = open("/dev/" KT_SD, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, kup_chan_attach(sd, 0, 4096, 0, &ch));
	ASSERT_EQ(0, kup_chan_set_eventfd(ch, efd));
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, kup_fd(sd), &ev));
	EXPECT_EQ(0, epoll_wait(ep, &out, 1, 0));
	EXPECT_EQ(-EAGAIN, evfd_take(efd));
	/* A thread asleep in a receive (the kernel holds the first turn). */
	b.ch = ch;
	ASSERT_EQ(0, pthread_create(&t, NULL, recv_waiter_fn, &b));
	ASSERT_TRUE(flag_wait(&ch->us->uwait, KT_WAIT_MS));
	ASSERT_EQ(1, ch->us->uwait);
	ASSERT_EQ(0, kt_resume(&self->kt));
	kt_stage(_metadata, &self->kt, 2);
	ASSERT_EQ(1, epoll_wait(ep, &out, 1, KT_WAIT_MS));
	EXPECT_TRUE(out.events & EPOLLHUP) TH_LOG("events 0x%x", out.events);
	pfd.fd = fd2;
	pfd.events = POLLIN;
	EXPECT_EQ(1, poll(&pfd, 1, KT_WAIT_MS));
	EXPECT_TRUE(pfd.revents & POLLHUP) TH_LOG("revents 0x%x", pfd.revents);
	EXPECT_EQ(1, evfd_wait(efd, KT_WAIT_MS));
	EXPECT_EQ(KUP_STATE_SHUTDOWN, ch->ks->state);
	EXPECT_EQ(ESHUTDOWN, ch->ks->error);
	for (i = 0; i < KT_WAIT_MS && b.ret == 1; i++)
		usleep(1000);
	EXPECT_EQ(-ESHUTDOWN, b.ret);
	if (b.ret == 1)
		kup_chan_shutdown(ch);
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(-ESHUTDOWN, wait_ioctl(kup_fd(sd), 0));
	EXPECT_EQ(-ESHUTDOWN, kup_recv(ch, &d, KUP_NONBLOCK));
	EXPECT_EQ(-ESHUTDOWN, kup_chan_attach(sd, 1, 4096, 0, &ch1));
	EXPECT_EQ(-1, open("/dev/" KT_SD, O_RDWR | O_CLOEXEC));
	EXPECT_EQ(ENODEV, errno);
	ASSERT_EQ(0, kt_resume(&self->kt));
	kt_pass(_metadata, &self->kt, &r);
	/* Destroyed: the node goes, the region stays until we close. */
	EXPECT_EQ(0, path_gone("/dev/" KT_SD, 10000));
	EXPECT_EQ(KUP_STATE_SHUTDOWN, ch->ks->state);
	EXPECT_EQ(-ESHUTDOWN, wait_ioctl(kup_fd(sd), 0));
	kup_close(sd);
	close(fd2);
	EXPECT_EQ(pins0, pins_wait(pins0, 10000));
	close(ep);
	close(efd);
}

/*
 * claim 6: garbage written by the process breaks the channel at the
 * kernel's next call (-EPROTO), which signals the eventfd and shows as
 * EPOLLERR; the session is over.
 */
TEST_F_TIMEOUT(kapi, broken_channel_signals_eventfd, KAPI_TIMEOUT)
{
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct kup_channel *ch = NULL;
	struct pollfd pfd;
	struct kt_res r;

	ASSERT_LE(0, efd);
	ASSERT_EQ(0, kup_chan_attach(self->dev, 3, 4096, 0, &ch));
	ASSERT_EQ(0, kup_chan_set_eventfd(ch, efd));
	ASSERT_EQ(0, kt_run(&self->kt, "break 3"));
	EXPECT_EQ(0, recv_str(&self->kt, ch, "x"));
	kt_stage(_metadata, &self->kt, 1);
	/* The pass may have woken our receive asleep (armed): drain. */
	evfd_take(efd);
	/* We hold turn 1; a turn the kernel never passed. */
	__atomic_store_n(&ch->slots->turn, 1000, __ATOMIC_RELEASE);
	ASSERT_EQ(0, kt_resume(&self->kt));
	kt_pass(_metadata, &self->kt, &r);
	EXPECT_EQ(1, evfd_wait(efd, KT_WAIT_MS));
	EXPECT_EQ(KUP_STATE_BROKEN, ch->ks->state);
	EXPECT_EQ(EPROTO, ch->ks->error);
	pfd.fd = kup_fd(self->dev);
	pfd.events = POLLIN;
	EXPECT_EQ(1, poll(&pfd, 1, 0));
	EXPECT_TRUE(pfd.revents & POLLERR) TH_LOG("revents 0x%x", pfd.revents);
	EXPECT_EQ(-EPROTO, kup_chan_ready(ch));
	close(efd);
}

/*
 * claim 7: the kernel pins only what the layout uses: regions much
 * larger than their layout pin exactly hdr.region_size rounded up to
 * pages (pins, VmPin), and the kernel uses the whole layout.
 */
TEST_F_TIMEOUT(kapi, pins_only_the_layout, KAPI_TIMEOUT)
{
	static const struct {
		size_t len;
		uint32_t nslots, buf_size, want;
	} cases[] = {
		{ 4 << 20, 1, 4096, 4096 },
		{ 4 << 20, 1, 0, KT_MAX_BUF },	/* as large as allowed */
		{ 1 << 20, 8, 1024, 1024 },
	};
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct kup_region_hdr *h;
		struct kup_slot *s0;
		long pins0, vm0, want_pages;
		struct kup_attach a;
		struct kup_chan_req req;
		struct kt_res r;
		uint64_t want;
		void *mem;

		mem = mmap(NULL, cases[i].len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ASSERT_NE(MAP_FAILED, mem);
		want = kup_region_size(cases[i].nslots, cases[i].want,
				       self->page);
		want_pages = (want + self->page - 1) / self->page;
		ASSERT_GT(cases[i].len / self->page / 4, want_pages);
		pins0 = pins_held();
		vm0 = vm_pinned_kb();
		memset(&a, 0, sizeof(a));
		a.addr = (uintptr_t)mem;
		a.len = cases[i].len;
		a.chan = 1;
		a.nslots = cases[i].nslots;
		a.buf_size = cases[i].buf_size;
		ASSERT_EQ(0, ioctl(kup_fd(self->dev), KUP_IOC_ATTACH, &a))
			TH_LOG("case %u: %s", i, strerror(errno));
		EXPECT_EQ(cases[i].want, a.buf_size) TH_LOG("case %u", i);
		h = mem;
		EXPECT_EQ(want, h->region_size) TH_LOG("case %u", i);
		EXPECT_EQ(want_pages, pins_held() - pins0) TH_LOG("case %u", i);
		EXPECT_EQ(want_pages * self->page / 1024, vm_pinned_kb() - vm0)
			TH_LOG("case %u", i);
		s0 = (struct kup_slot *)((char *)mem + h->slot_off);
		if (cases[i].nslots > 1) {
			/* We hold turn 1 of slot 0: pass an empty message. */
			s0->len = 0;
			s0->seq = 2;
			s0->flags = 0;
			__atomic_store_n(&s0->turn, 2, __ATOMIC_RELEASE);
		}
		ASSERT_EQ(0, kt_run(&self->kt, "pin_layout 1"));
		kt_pass(_metadata, &self->kt, &r);
		EXPECT_EQ(cases[i].want, kt_val(&r, "buf"));
		EXPECT_EQ(cases[i].nslots, kt_val(&r, "slots"));
		/* The kernel passed a full buffer, the end of the layout. */
		EXPECT_EQ(cases[i].nslots > 1 ? 3 : 1,
			  __atomic_load_n(&s0->turn, __ATOMIC_ACQUIRE));
		EXPECT_EQ(cases[i].want, s0->len);
		EXPECT_EQ(-1, check((char *)mem + h->to_user_off,
				    cases[i].want, 500)) TH_LOG("case %u", i);
		memset(&req, 0, sizeof(req));
		req.chan = 1;
		ASSERT_EQ(0, ioctl(kup_fd(self->dev), KUP_IOC_DETACH, &req));
		EXPECT_EQ(pins0, pins_wait(pins0, 10000));
		EXPECT_EQ(vm0, vm_pinned_kb());
		munmap(mem, cases[i].len);
	}
}

/* Capabilities of this process: effective set = permitted, less drop. */
static int caps_set(uint32_t drop)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return -errno;
	d[0].effective = d[0].permitted & ~drop;
	d[1].effective = d[1].permitted;
	return syscall(SYS_capset, &h, d) ? -errno : 0;
}

/*
 * Become user uid (no other process has it: a fresh RLIMIT_MEMLOCK
 * charge) with RLIMIT_MEMLOCK of pages pages, keeping capabilities
 * (then all effective) or not.
 */
static int become(uid_t uid, long pages, long page, int keep_caps)
{
	struct rlimit rl = { pages * page, pages * page };

	if (setrlimit(RLIMIT_MEMLOCK, &rl))
		return -errno;
	if (keep_caps && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0))
		return -errno;
	if (setresgid(uid, uid, uid) || setresuid(uid, uid, uid))
		return -errno;
	return keep_caps ? caps_set(0) : 0;
}

/* A ping-pong channel whose region is exactly pages pages. */
static int attach_pages(struct kup_device *dev, uint32_t chan, long pages,
			long page, struct kup_channel **ch)
{
	return kup_chan_attach(dev, chan, (pages - 1) * page / 2, 0, ch);
}

/* Child: kup_ktest's "roundtrip <chan>" over ch; 0 if it passed. */
static int child_roundtrip(struct kt *t, struct kup_channel *ch)
{
	struct kt_res r;

	if (kt_run(t, "roundtrip %u", kup_chan_index(ch)) ||
	    recv_str(t, ch, "ping") || send_str(ch, "pong") ||
	    kt_wait(t, &r, 0) || strcmp(r.status, "pass")) {
		fprintf(stderr, "# roundtrip: %s %s\n", r.status, r.text);
		return -1;
	}
	return 0;
}

/* Child: wait for stage n of our run; 0 if it is there. */
static int child_stage(struct kt *t, unsigned int n)
{
	struct kt_res r;

	if (kt_wait(t, &r, n) || strcmp(r.status, "running") ||
	    r.stage != n) {
		fprintf(stderr, "# stage %u: %s %s\n", n, r.status, r.text);
		return -1;
	}
	return 0;
}

static int exit_status(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/*
 * claim 8: with CAP_IPC_LOCK a process attaches far more than its tiny
 * RLIMIT_MEMLOCK (4 pages) allows, uncharged: without the capability it
 * can then still attach its 4 pages, and not one more (-ENOMEM). Both
 * regions show in VmPin and the channel works.
 */
TEST_F_TIMEOUT(kapi, cap_ipc_lock_exempt, KAPI_TIMEOUT)
{
	long page = self->page;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct kup_channel *a = NULL, *b = NULL, *c = NULL;
		int sfd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);

		if (sfd < 0 || become(4242, 4, page, 1))
			_exit(10);
		if (attach_pages(self->dev, 0, 16, page, &a))
			_exit(11);
		if (vm_pinned_kb_fd(sfd) != 16 * page / 1024)
			_exit(12);
		if (child_roundtrip(&self->kt, a))
			_exit(13);
		if (caps_set(1U << CAP_IPC_LOCK))
			_exit(14);
		if (attach_pages(self->dev, 1, 4, page, &b))
			_exit(15);	/* a was charged after all */
		if (attach_pages(self->dev, 2, 4, page, &c) != -ENOMEM)
			_exit(16);
		if (vm_pinned_kb_fd(sfd) != 20 * page / 1024)
			_exit(17);
		_exit(0);
	}
	EXPECT_EQ(0, exit_status(pid));
}

/*
 * claim 8: after a detach the RLIMIT_MEMLOCK charge comes back only when
 * the kernel's hold on a message of the region ends (kup_release()), not
 * at the detach nor at a failed call.
 */
TEST_F_TIMEOUT(kapi, memlock_charge_until_hold_ends, KAPI_TIMEOUT)
{
	long page = self->page;
	struct kt_res r;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct kup_channel *a = NULL, *b = NULL;
		int sfd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
		int i, ret;

		if (sfd < 0 || become(4243, 16, page, 0))
			_exit(10);
		if (attach_pages(self->dev, 0, 16, page, &a))
			_exit(11);
		/* The limit is full. */
		if (attach_pages(self->dev, 1, 2, page, &b) != -ENOMEM)
			_exit(12);
		if (kt_run(&self->kt, "hold_detach 0") ||
		    recv_str(&self->kt, a, "go") || send_str(a, "m1") ||
		    child_stage(&self->kt, 1))
			_exit(13);
		if (kup_chan_close(a))
			_exit(14);
		/* The kernel holds "m1": still charged, still pinned. */
		if (attach_pages(self->dev, 1, 16, page, &b) != -ENOMEM)
			_exit(15);
		if (vm_pinned_kb_fd(sfd) != 16 * page / 1024)
			_exit(16);
		if (kt_resume(&self->kt) || child_stage(&self->kt, 2))
			_exit(17);
		/* After a failed call too. */
		if (attach_pages(self->dev, 1, 16, page, &b) != -ENOMEM)
			_exit(18);
		if (kt_resume(&self->kt) || kt_wait(&self->kt, &r, 0) ||
		    strcmp(r.status, "pass"))
			_exit(19);
		/* Released: the region is freed (after a grace period). */
		for (i = 0; i < KT_WAIT_MS; i++) {
			ret = attach_pages(self->dev, 1, 16, page, &b);
			if (ret != -ENOMEM)
				break;
			usleep(1000);
		}
		if (ret)
			_exit(20);
		if (vm_pinned_kb_fd(sfd) != 16 * page / 1024)
			_exit(21);
		_exit(0);
	}
	EXPECT_EQ(0, exit_status(pid));
	ASSERT_EQ(0, kt_idle(&self->kt));
	ASSERT_EQ(0, kt_read(&self->kt, &r));
	EXPECT_STREQ("pass", r.status) TH_LOG("%s: %s", r.name, r.text);
}

TEST_HARNESS_MAIN
