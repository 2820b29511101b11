// SPDX-License-Identifier: GPL-2.0
/*
 * kup_ktest: a test-only client of the kup kernel API (include/linux/kup.h)
 * that checks the API's documented claims from kernel context. It is built
 * only for the test guests (KUP_TESTS=m), never by dkms. Its user half is
 * selftests/kup_kapi_test.c. The model is lib/test_hmm.c.
 *
 * The module creates /dev/kup_ktest (KT_NCHAN channels of at most
 * KT_BUF_PAGES pages) and a kernel thread, the "worker", that runs one
 * named check at a time; the checks call only the public API. A selftest
 * drives them through /sys/kernel/debug/kup_ktest/:
 *
 *   run     write "<check> [arg...]" (decimal arguments, usually the
 *           channel the process attached): the worker runs the check.
 *           -EBUSY while one runs, -ENOENT for an unknown check.
 *   result  read one line: "<seq> <check> <status> <stage>[ <text>]".
 *           seq counts the runs; status is idle, running, pass or fail;
 *           stage is the last hand-off the check reached (see resume);
 *           text is "key=value ..." on a pass (what the check measured)
 *           and the reason on a failure: "line <n>: <call> = <got>, want
 *           <want>", the first expectation that failed.
 *   resume  any write: a check waiting at a hand-off goes on. At hand-off
 *           n a check shows "running n" and waits (at most 60 s) until
 *           resume has been written n times in this run: the process
 *           acts on the channel (detach, attach, write garbage, look at
 *           its pins) while the kernel side waits, with no sleep as
 *           synchronization.
 *   abort   any write: a check waiting at a hand-off fails at once.
 *
 * Every check ends every session of /dev/kup_ktest when it returns, so
 * one check's holds and sessions never reach the next check.
 */

#include <linux/debugfs.h>
#include <linux/err.h>
#include <linux/kernel.h>
#include <linux/kthread.h>
#include <linux/kup.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/wait.h>
#include <uapi/linux/kup.h>

#define KT_NAME		"kup_ktest"
#define KT_NCHAN	4
#define KT_BUF_PAGES	16
/* Devices the checks create besides KT_NAME */
#define KT_DUP_NAME	"kup_ktest_dup"
#define KT_SD_NAME	"kup_ktest_sd"
/* The longest name: KUP_NAME_MAX - 1 characters */
#define KT_LONG_NAME	"kup_ktest_kkkkkkkkkkkkkkkkkkkkk"
#define KT_ARGS		4
#define KT_TEXT		512
#define KT_HANDOFF_MS	60000
/* Scratch bytes of a check: KUP_MAX_SLOTS replies of 256 bytes */
#define KT_WORK		(KUP_MAX_SLOTS * 256)

enum kt_status { KT_IDLE, KT_RUNNING, KT_PASS, KT_FAIL };

static const char * const kt_status_names[] = {
	[KT_IDLE] = "idle",
	[KT_RUNNING] = "running",
	[KT_PASS] = "pass",
	[KT_FAIL] = "fail",
};

/* What the worker's check uses; only the worker touches it. */
struct kt_ctx {
	struct kup_dev *dev;
	unsigned long arg[KT_ARGS];
	bool failed;
	unsigned int served;		/* kt_serve_count() calls */
	struct kup_msg msgs[KUP_MAX_SLOTS];
	struct kup_msg reps[KUP_MAX_SLOTS];
	u8 *work;			/* KT_WORK bytes */
};

struct kt_check {
	const char *name;
	int (*fn)(struct kt_ctx *c);
};

/* What the debugfs files and the worker share, under lock. */
static struct {
	struct mutex lock;		/* everything below */
	wait_queue_head_t wq;		/* the worker and its hand-offs */
	const struct kt_check *check;	/* the last run */
	unsigned long arg[KT_ARGS];
	unsigned int seq;
	enum kt_status status;
	bool pending;			/* run written, the worker not started */
	unsigned int stage;		/* READ_ONCE outside the lock */
	unsigned int resumed;		/* READ_ONCE outside the lock */
	bool abort;			/* READ_ONCE outside the lock */
	char text[KT_TEXT];
} kt;

static struct kup_dev *kt_dev;
static struct task_struct *kt_worker;
static struct dentry *kt_debugfs;
static struct kt_ctx kt_ctx;

/* Record the first failure of the check; later ones are ignored. */
static __printf(2, 3) int kt_fail(struct kt_ctx *c, const char *fmt, ...)
{
	va_list ap;

	if (c->failed)
		return -EINVAL;
	c->failed = true;
	mutex_lock(&kt.lock);
	va_start(ap, fmt);
	vscnprintf(kt.text, sizeof(kt.text), fmt, ap);
	va_end(ap);
	mutex_unlock(&kt.lock);
	return -EINVAL;
}

/* Add "key=value" to what a passing check reports. */
static void kt_report(struct kt_ctx *c, const char *key, long val)
{
	size_t len;

	if (c->failed)
		return;
	mutex_lock(&kt.lock);
	len = strlen(kt.text);
	scnprintf(kt.text + len, sizeof(kt.text) - len, "%s%s=%ld",
		  len ? " " : "", key, val);
	mutex_unlock(&kt.lock);
}

/* " (-ENAME)" for an errno, else nothing. */
static const char *kt_errname(char *buf, size_t size, long v)
{
	if (v < 0 && v >= -MAX_ERRNO)
		scnprintf(buf, size, " (%pe)", ERR_PTR(v));
	else
		buf[0] = '\0';
	return buf;
}

static bool __kt_expect(struct kt_ctx *c, int line, const char *what,
			long got, long want)
{
	char g[40], w[40];

	if (got == want)
		return true;
	kt_fail(c, "line %d: %s = %ld%s, want %ld%s", line, what, got,
		kt_errname(g, sizeof(g), got), want,
		kt_errname(w, sizeof(w), want));
	return false;
}

/* Expect got == want; on a mismatch the check fails (and goes on). */
#define kt_expect(c, got, want) \
	__kt_expect(c, __LINE__, #got, (long)(got), (long)(want))

/* The same for a call that returns a pointer or an ERR_PTR: 0 is OK. */
#define kt_expect_ptr(c, got, want) \
	__kt_expect(c, __LINE__, #got, PTR_ERR_OR_ZERO(got), (long)(want))

/*
 * Hand-off n: wait until the process has done its part and written
 * resume n times in this run. Returns 0, or fails the check.
 */
static int kt_handoff(struct kt_ctx *c, unsigned int n)
{
	mutex_lock(&kt.lock);
	WRITE_ONCE(kt.stage, n);
	mutex_unlock(&kt.lock);
	wait_event_interruptible_timeout(kt.wq,
					 READ_ONCE(kt.resumed) >= n ||
					 READ_ONCE(kt.abort) ||
					 kthread_should_stop(),
					 msecs_to_jiffies(KT_HANDOFF_MS));
	if (READ_ONCE(kt.resumed) >= n)
		return 0;
	return kt_fail(c, "hand-off %u: %s", n,
		       kthread_should_stop() ? "module unloading" :
		       READ_ONCE(kt.abort) ? "aborted" :
		       "no resume within 60 s");
}

/* Byte i of message n: as pattern() in selftests/kup_test.h. */
static u8 kt_pattern(unsigned long n, size_t i)
{
	return (u8)(n * 131 + i * 7 + (i >> 8));
}

static void kt_fill(void *buf, size_t len, unsigned long n)
{
	u8 *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = kt_pattern(n, i);
}

/* Index of the first byte that is not kt_pattern(n, i), or -1. */
static long kt_bad_byte(const void *buf, size_t len, unsigned long n)
{
	const u8 *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != kt_pattern(n, i))
			return i;
	return -1;
}

/* A kup_serve() handler that counts its calls and echoes. */
static int kt_serve_count(void *arg, const struct kup_msg *msg,
			  struct kup_msg *reply)
{
	struct kt_ctx *c = arg;

	c->served++;
	return KUP_SERVE_NEXT;
}

/*
 * Accept the attachment the process made before the run (or before the
 * last hand-off): kup_wait_channel() must report channel want at once.
 */
static int kt_accept(struct kt_ctx *c, unsigned long want)
{
	if (!kt_expect(c, kup_wait_channel(c->dev, KUP_NONBLOCK), want))
		return -ENOTCONN;
	return 0;
}

/* Receive a message and expect its bytes to be the string s. */
static bool kt_recv_str(struct kt_ctx *c, unsigned int chan, const char *s)
{
	const void *data = NULL;
	ssize_t len;

	len = kup_recv(c->dev, chan, &data, 0);
	if (!kt_expect(c, len, strlen(s)))
		return false;
	return kt_expect(c, memcmp(data, s, len), 0);
}

static int kt_send_str(struct kt_ctx *c, unsigned int chan, const char *s)
{
	return kup_send(c->dev, chan, s, strlen(s), 0);
}

/* reset: end every session, report (and end) every pending attachment. */
static int kt_reset(struct kt_ctx *c)
{
	int chan, n = 0;
	unsigned int i;

	for (i = 0; i < KT_NCHAN; i++)
		kup_end_session(c->dev, i);
	while (n <= KT_NCHAN) {
		chan = kup_wait_channel(c->dev, KUP_NONBLOCK);
		if (chan < 0)
			break;
		kup_end_session(c->dev, chan);
		n++;
	}
	kt_expect(c, chan, -EAGAIN);
	kt_report(c, "drained", n);
	return 0;
}

/* roundtrip <chan>: send "ping", expect "pong": the channel works. */
static int kt_roundtrip(struct kt_ctx *c)
{
	unsigned long chan = c->arg[0];

	if (kt_accept(c, chan))
		return -ENOTCONN;
	kt_report(c, "buf", kup_chan_buf_size(c->dev, chan));
	if (kt_expect(c, kt_send_str(c, chan, "ping"), 0))
		kt_recv_str(c, chan, "pong");
	return 0;
}

/* kup_dev_create() must refuse this with want, and create nothing. */
static void __kt_create_fails(struct kt_ctx *c, int line, const char *name,
			      unsigned int nchan, unsigned int pages,
			      long want)
{
	struct kup_dev *d = kup_dev_create(name, nchan, pages);
	char what[96];

	scnprintf(what, sizeof(what), "kup_dev_create(\"%s\", %u, %u)",
		  name ? name : "(null)", nchan, pages);
	__kt_expect(c, line, what, PTR_ERR_OR_ZERO(d), want);
	if (!IS_ERR(d))
		kup_dev_destroy(d);
}

#define kt_create_fails(c, name, nchan, pages, want) \
	__kt_create_fails(c, __LINE__, name, nchan, pages, want)

/*
 * create_limits: kup_dev_create() refuses every argument out of its
 * documented range with -EINVAL, and accepts the extremes of the range.
 * Hand-off 1: /dev/KT_LONG_NAME exists (the process stats it).
 */
static int kt_create_limits(struct kt_ctx *c)
{
	static const char * const bad[] = {
		"", "a/b", "/kt", "kt/", ".kt", ".", "..",
		/* KUP_NAME_MAX characters: no room for the NUL */
		KT_LONG_NAME "k",
		KT_LONG_NAME "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk",
	};
	struct kup_dev *d;
	unsigned int i;
	int ret;

	BUILD_BUG_ON(sizeof(KT_LONG_NAME) != KUP_NAME_MAX);
	kt_create_fails(c, NULL, 1, 1, -EINVAL);
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		kt_create_fails(c, bad[i], 1, 1, -EINVAL);
	kt_create_fails(c, "kt_limits", 0, 1, -EINVAL);
	kt_create_fails(c, "kt_limits", KUP_MAX_CHANNELS + 1, 1, -EINVAL);
	kt_create_fails(c, "kt_limits", UINT_MAX, 1, -EINVAL);
	kt_create_fails(c, "kt_limits", 1, 0, -EINVAL);
	kt_create_fails(c, "kt_limits", 1, KUP_MAX_BUF_PAGES + 1, -EINVAL);
	kt_create_fails(c, "kt_limits", 1, UINT_MAX, -EINVAL);
	/* The largest of everything is fine. */
	d = kup_dev_create(KT_LONG_NAME, KUP_MAX_CHANNELS, KUP_MAX_BUF_PAGES);
	if (!kt_expect_ptr(c, d, 0))
		return -EINVAL;
	kt_expect(c, kup_dev_nchan(d), KUP_MAX_CHANNELS);
	kt_expect(c, kup_wait_channel(d, KUP_NONBLOCK), -EAGAIN);
	ret = kt_handoff(c, 1);
	kup_dev_destroy(d);
	return ret;
}

/*
 * create_dup <chan>: a second device of a name in use fails with -EEXIST
 * and leaves the first working. Hand-off 1: the process attaches channel
 * 1 of /dev/KT_DUP_NAME and <chan> of /dev/kup_ktest; each gets a message
 * and answers "ok". Then KT_DUP_NAME is destroyed while still attached.
 */
static int kt_create_dup(struct kt_ctx *c)
{
	unsigned long chan = c->arg[0];
	struct kup_dev *d, *d2;
	int ret;

	d = kup_dev_create(KT_DUP_NAME, 2, 1);
	if (!kt_expect_ptr(c, d, 0))
		return -EINVAL;
	d2 = kup_dev_create(KT_DUP_NAME, 2, 1);
	if (!kt_expect_ptr(c, d2, -EEXIST))
		kup_dev_destroy(d2);
	d2 = kup_dev_create(KT_NAME, 1, 1);
	if (!kt_expect_ptr(c, d2, -EEXIST))
		kup_dev_destroy(d2);
	ret = kt_handoff(c, 1);
	if (ret)
		goto out;
	/* Both first devices still work. */
	if (kt_expect(c, kup_wait_channel(d, KUP_NONBLOCK), 1) &&
	    kt_expect(c, kup_send(d, 1, "dup 1", 5, 0), 0)) {
		const void *data = NULL;

		if (kt_expect(c, kup_recv(d, 1, &data, 0), 2))
			kt_expect(c, memcmp(data, "ok", 2), 0);
	}
	if (!kt_accept(c, chan) &&
	    kt_expect(c, kt_send_str(c, chan, "first"), 0))
		kt_recv_str(c, chan, "ok");
out:
	kup_dev_destroy(d);
	return ret;
}

/*
 * Every data call and query on chan, whose attachment kup_wait_channel()
 * has not reported (or whose session is over), fails with -ENOTCONN.
 * Those that would not wait on the attachment are made blocking too.
 */
static void kt_unbound(struct kt_ctx *c, unsigned int chan)
{
	struct kup_msg m = { .data = "x", .len = 1 };
	const void *data;
	size_t size;

	kt_expect(c, kup_send(c->dev, chan, "x", 1, KUP_NONBLOCK), -ENOTCONN);
	kt_expect(c, kup_pass(c->dev, chan, KUP_NONBLOCK), -ENOTCONN);
	kt_expect(c, kup_send_batch(c->dev, chan, &m, 1, KUP_NONBLOCK),
		  -ENOTCONN);
	kt_expect(c, kup_recv(c->dev, chan, &data, KUP_NONBLOCK), -ENOTCONN);
	kt_expect(c, kup_recv_batch(c->dev, chan, c->msgs, KUP_MAX_SLOTS,
				    KUP_NONBLOCK), -ENOTCONN);
	kt_expect(c, kup_serve(c->dev, chan, kt_serve_count, c, KUP_NONBLOCK),
		  -ENOTCONN);
	kt_expect_ptr(c, kup_send_buf(c->dev, chan, &size, KUP_NONBLOCK),
		      -ENOTCONN);
	kt_expect(c, kup_chan_buf_size(c->dev, chan), -ENOTCONN);
	kt_expect(c, kup_chan_slots(c->dev, chan), -ENOTCONN);
	kt_expect(c, c->served, 0);
}

/*
 * session_once: nothing attached, kup_wait_channel(KUP_NONBLOCK) is
 * -EAGAIN. Hand-off 1: the process attaches channel 1 (ping-pong, 4096)
 * and channel 3 (2 slots, 1024). Before they are reported every call on
 * them is -ENOTCONN; then each is reported exactly once, and works. The
 * process must then receive "hello 1" as channel 1's first message.
 */
static int kt_session_once(struct kt_ctx *c)
{
	int a, b, ret;

	kt_expect(c, kup_wait_channel(c->dev, KUP_NONBLOCK), -EAGAIN);
	ret = kt_handoff(c, 1);
	if (ret)
		return ret;
	kt_unbound(c, 1);
	kt_unbound(c, 3);
	/* Would succeed (the kernel holds the first turn) if it reached. */
	kt_expect(c, kup_send(c->dev, 1, "wrong", 5, 0), -ENOTCONN);
	a = kup_wait_channel(c->dev, KUP_NONBLOCK);
	b = kup_wait_channel(c->dev, KUP_NONBLOCK);
	kt_expect(c, min(a, b), 1);
	kt_expect(c, max(a, b), 3);
	kt_expect(c, kup_wait_channel(c->dev, KUP_NONBLOCK), -EAGAIN);
	kt_expect(c, kup_chan_slots(c->dev, 1), 1);
	kt_expect(c, kup_chan_buf_size(c->dev, 1), 4096);
	kt_expect(c, kup_chan_slots(c->dev, 3), 2);
	kt_expect(c, kup_chan_buf_size(c->dev, 3), 1024);
	kt_expect(c, kt_send_str(c, 1, "hello 1"), 0);
	kt_report(c, "first", a);
	kt_report(c, "second", b);
	return 0;
}

/*
 * session_detach <chan>: the process attached <chan> (ping-pong) and
 * receives "A1". Hand-off 1: it detaches and attaches <chan> again. The
 * new attachment is not reported while the old session lasts: data
 * calls fail with -ENOTCONN (and reach nothing), and a failed call does
 * not end the session; kup_end_session() does, then the new one is
 * reported and gets "B1".
 * Hand-off 2: the process received "B1" and detached for good: every
 * call is -ENOTCONN and nothing is reported.
 */
static int kt_session_detach(struct kt_ctx *c)
{
	unsigned long chan = c->arg[0];
	int ret;

	if (kt_accept(c, chan))
		return -ENOTCONN;
	kt_expect(c, kt_send_str(c, chan, "A1"), 0);
	ret = kt_handoff(c, 1);
	if (ret)
		return ret;
	kt_expect(c, kup_wait_channel(c->dev, KUP_NONBLOCK), -EAGAIN);
	/* Both would succeed on the new attachment (the kernel's turn). */
	kt_expect(c, kt_send_str(c, chan, "late"), -ENOTCONN);
	kt_expect(c, kt_send_str(c, chan, "late"), -ENOTCONN);
	kt_expect(c, kup_wait_channel(c->dev, KUP_NONBLOCK), -EAGAIN);
	kup_end_session(c->dev, chan);
	if (kt_accept(c, chan))
		return -ENOTCONN;
	kt_expect(c, kup_wait_channel(c->dev, KUP_NONBLOCK), -EAGAIN);
	kt_expect(c, kt_send_str(c, chan, "B1"), 0);
	ret = kt_handoff(c, 2);
	if (ret)
		return ret;
	kt_unbound(c, chan);
	kt_expect(c, kup_wait_channel(c->dev, KUP_NONBLOCK), -EAGAIN);
	return 0;
}

/*
 * session_hold <chan>: the kernel holds the process's message "m1" when
 * it detaches. Hand-off 1: the process detached and attached <chan>
 * again. The held data stays readable; failed calls do not end the hold
 * nor the session, so the new attachment is not reported. Hand-off 2:
 * the process checks that the old region is still pinned. kup_release()
 * ends the hold (the old pages go), not the session; kup_end_session()
 * does: the new attachment is reported, gets "B1".
 */
static int kt_session_hold(struct kt_ctx *c)
{
	unsigned long chan = c->arg[0];
	const void *data = NULL;
	int ret;

	if (kt_accept(c, chan))
		return -ENOTCONN;
	if (!kt_expect(c, kt_send_str(c, chan, "go"), 0) ||
	    !kt_expect(c, kup_recv(c->dev, chan, &data, 0), 2))
		return -EINVAL;
	ret = kt_handoff(c, 1);
	if (ret)
		return ret;
	kt_expect(c, memcmp(data, "m1", 2), 0);
	kt_expect(c, kt_send_str(c, chan, "late"), -ENOTCONN);
	kt_expect(c, kup_wait_channel(c->dev, KUP_NONBLOCK), -EAGAIN);
	kt_expect(c, kup_recv(c->dev, chan, &data, KUP_NONBLOCK), -ENOTCONN);
	kt_expect(c, kup_chan_buf_size(c->dev, chan), -ENOTCONN);
	kt_expect(c, kup_wait_channel(c->dev, KUP_NONBLOCK), -EAGAIN);
	ret = kt_handoff(c, 2);
	if (ret)
		return ret;
	kup_release(c->dev, chan);
	kt_expect(c, kup_wait_channel(c->dev, KUP_NONBLOCK), -EAGAIN);
	kt_expect(c, kt_send_str(c, chan, "late"), -ENOTCONN);
	kup_end_session(c->dev, chan);
	if (kt_accept(c, chan))
		return -ENOTCONN;
	kt_expect(c, kt_send_str(c, chan, "B1"), 0);
	return 0;
}

/*
 * session_end <chan>: hand-off 1: the process detached and attached
 * <chan> again; no call failed, so only kup_end_session() ends the old
 * session and lets the new attachment be reported ("B1"). Hand-off 2:
 * the process received "B1" and answered "B2"; kup_end_session() while
 * it stays attached: every call is -ENOTCONN (the answer is not taken),
 * the attachment is not reported again, and the process sees its channel
 * broken with ECONNRESET.
 */
static int kt_session_end(struct kt_ctx *c)
{
	unsigned long chan = c->arg[0];
	int ret;

	if (kt_accept(c, chan))
		return -ENOTCONN;
	ret = kt_handoff(c, 1);
	if (ret)
		return ret;
	kt_expect(c, kup_wait_channel(c->dev, KUP_NONBLOCK), -EAGAIN);
	kup_end_session(c->dev, chan);
	if (kt_accept(c, chan))
		return -ENOTCONN;
	kt_expect(c, kt_send_str(c, chan, "B1"), 0);
	ret = kt_handoff(c, 2);
	if (ret)
		return ret;
	kup_end_session(c->dev, chan);
	kt_unbound(c, chan);
	/* Would take "B2" if it reached the attachment. */
	kt_expect(c, kt_send_str(c, chan, "B3"), -ENOTCONN);
	kt_expect(c, kup_wait_channel(c->dev, KUP_NONBLOCK), -EAGAIN);
	return 0;
}

/*
 * last_reply: the session's last reply, then its end, back to back, while
 * the process waits for that reply (asleep: the test resumes us once
 * ustate.uwait is set). The process must receive "last" before it sees
 * the end.
 */
static int kt_last_reply(struct kt_ctx *c)
{
	unsigned long chan = c->arg[0];
	int ret;

	if (kt_accept(c, chan))
		return -ENOTCONN;
	ret = kt_handoff(c, 1);
	if (ret)
		return ret;
	kt_expect(c, kt_send_str(c, chan, "last"), 0);
	kup_end_session(c->dev, chan);
	return 0;
}

/* einval_chan: a bad channel index is -EINVAL on every call. */
static int kt_einval_chan(struct kt_ctx *c)
{
	static const unsigned int bad[] = { KT_NCHAN, KT_NCHAN + 1, 1U << 31,
					    UINT_MAX };
	struct kup_msg m = { .data = "x", .len = 1 };
	const void *data;
	unsigned int i, ch;
	size_t size;

	kt_expect(c, kup_dev_nchan(c->dev), KT_NCHAN);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		ch = bad[i];
		kt_expect(c, kup_send(c->dev, ch, "x", 1, 0), -EINVAL);
		kt_expect(c, kup_send(c->dev, ch, "x", 1, KUP_NONBLOCK),
			  -EINVAL);
		kt_expect(c, kup_send_batch(c->dev, ch, &m, 1, 0), -EINVAL);
		kt_expect(c, kup_pass(c->dev, ch, 0), -EINVAL);
		kt_expect(c, kup_recv(c->dev, ch, &data, 0), -EINVAL);
		kt_expect(c, kup_recv(c->dev, ch, &data, KUP_NONBLOCK),
			  -EINVAL);
		kt_expect(c, kup_recv_batch(c->dev, ch, c->msgs, 1, 0),
			  -EINVAL);
		kt_expect(c, kup_serve(c->dev, ch, kt_serve_count, c, 0),
			  -EINVAL);
		kt_expect(c, kup_serve_inline(c->dev, ch, kt_serve_count, c,
					      KUP_NONBLOCK), -EINVAL);
		kt_expect(c, kup_dev_set_chan_spin_us(c->dev, ch, 0), -EINVAL);
		kt_expect_ptr(c, kup_send_buf(c->dev, ch, &size, 0), -EINVAL);
		kt_expect(c, kup_send_commit(c->dev, ch, 0), -EINVAL);
		kt_expect(c, kup_chan_buf_size(c->dev, ch), -EINVAL);
		kt_expect(c, kup_chan_slots(c->dev, ch), -EINVAL);
		/* No return value: they must do nothing, and not crash. */
		kup_release(c->dev, ch);
		kup_end_session(c->dev, ch);
	}
	kt_expect(c, c->served, 0);
	return 0;
}

/*
 * einval_args <chan>: on a working ping-pong channel, kup_send_commit()
 * without kup_send_buf() (at session start, on a received message, after
 * a commit) and the batch calls with no message are -EINVAL, and pass no
 * turn: the process must receive "ok" after its "m1", and "sb" (2 bytes,
 * written in place) after its "m2".
 */
static int kt_einval_args(struct kt_ctx *c)
{
	unsigned long chan = c->arg[0];
	const void *data;
	size_t size;
	void *buf;

	if (kt_accept(c, chan))
		return -ENOTCONN;
	kt_expect(c, kup_send_commit(c->dev, chan, 0), -EINVAL);
	kt_expect(c, kup_recv_batch(c->dev, chan, c->msgs, 0, 0), -EINVAL);
	kt_expect(c, kup_recv_batch(c->dev, chan, c->msgs, 0, KUP_NONBLOCK),
		  -EINVAL);
	kt_expect(c, kup_send_batch(c->dev, chan, c->msgs, 0, 0), -EINVAL);
	kt_expect(c, kup_send_batch(c->dev, chan, c->msgs, 0, KUP_NONBLOCK),
		  -EINVAL);
	if (!kt_expect(c, kt_send_str(c, chan, "go"), 0) ||
	    !kt_expect(c, kup_recv(c->dev, chan, &data, 0), 2))
		return -EINVAL;
	/* A received message is no send buffer. */
	kt_expect(c, kup_send_commit(c->dev, chan, 1), -EINVAL);
	if (!kt_expect(c, kt_send_str(c, chan, "ok"), 0) ||
	    !kt_recv_str(c, chan, "m2"))
		return -EINVAL;
	buf = kup_send_buf(c->dev, chan, &size, 0);
	if (!kt_expect_ptr(c, buf, 0))
		return -EINVAL;
	memcpy(buf, "sb", 2);
	kt_expect(c, kup_send_commit(c->dev, chan, 2), 0);
	kt_expect(c, kup_send_commit(c->dev, chan, 2), -EINVAL);
	return 0;
}

/*
 * edeadlk <chan> <pchan>: kup_recv() (and kup_recv_batch(), kup_serve())
 * when the kernel holds the turn and consumed its message is -EDEADLK,
 * blocking or not, without disturbing the hold. <chan> is ping-pong: at
 * session start and after receiving "m1" (answered "ok"). <pchan> has 4
 * slots, the process sent "p0" and "p1": after taking p0, even with p1
 * waiting (answered "r0", "r1").
 */
static int kt_edeadlk(struct kt_ctx *c)
{
	unsigned long chan = c->arg[0], pchan = c->arg[1];
	const void *data = NULL;
	int i;

	if (kt_accept(c, chan))
		return -ENOTCONN;
	/* Session start: the kernel holds the first turn, no message. */
	for (i = 0; i < 2; i++) {
		kt_expect(c, kup_recv(c->dev, chan, &data, 0), -EDEADLK);
		kt_expect(c, kup_recv(c->dev, chan, &data, KUP_NONBLOCK),
			  -EDEADLK);
		kt_expect(c, kup_recv_batch(c->dev, chan, c->msgs, 4, 0),
			  -EDEADLK);
		kt_expect(c, kup_serve(c->dev, chan, kt_serve_count, c, 0),
			  -EDEADLK);
		kt_expect(c, kup_serve(c->dev, chan, kt_serve_count, c,
				       KUP_NONBLOCK), -EDEADLK);
		if (i)
			break;
		/* Now with a message held. */
		if (!kt_expect(c, kt_send_str(c, chan, "go"), 0) ||
		    !kt_expect(c, kup_recv(c->dev, chan, &data, 0), 2))
			return -EINVAL;
	}
	kt_expect(c, memcmp(data, "m1", 2), 0);
	kt_expect(c, c->served, 0);
	kt_expect(c, kt_send_str(c, chan, "ok"), 0);

	if (kt_accept(c, pchan))
		return -ENOTCONN;
	if (!kt_recv_str(c, pchan, "p0"))
		return -EINVAL;
	kt_expect(c, kup_recv(c->dev, pchan, &data, 0), -EDEADLK);
	kt_expect(c, kup_recv_batch(c->dev, pchan, c->msgs, 4, 0), -EDEADLK);
	kt_expect(c, kup_serve(c->dev, pchan, kt_serve_count, c, 0),
		  -EDEADLK);
	kt_expect(c, c->served, 0);
	kt_expect(c, kt_send_str(c, pchan, "r0"), 0);
	if (kt_recv_str(c, pchan, "p1"))
		kt_expect(c, kt_send_str(c, pchan, "r1"), 0);
	return 0;
}

/*
 * emsgsize <chan>: a send larger than the buffer is -EMSGSIZE (alone or
 * in a batch: then nothing is sent), and so is kup_send_commit() with
 * len > size; that failure does not end the send buffer's hold: a commit
 * of the full buffer (pattern 7) follows. The process answers with a
 * full buffer of pattern 8, answered with one of pattern 9.
 */
static int kt_emsgsize(struct kt_ctx *c)
{
	unsigned long chan = c->arg[0];
	struct kup_msg m[2];
	const void *data;
	ssize_t size, len;
	size_t sz = 0;
	void *buf;

	if (kt_accept(c, chan))
		return -ENOTCONN;
	size = kup_chan_buf_size(c->dev, chan);
	if (!kt_expect(c, size, 4096))
		return -EINVAL;
	m[0].data = "x";
	m[0].len = 1;
	m[1].data = c->work;
	m[1].len = size + 1;
	kt_expect(c, kup_send(c->dev, chan, c->work, size + 1, 0), -EMSGSIZE);
	kt_expect(c, kup_send(c->dev, chan, c->work, size + 1, KUP_NONBLOCK),
		  -EMSGSIZE);
	kt_expect(c, kup_send(c->dev, chan, c->work, SIZE_MAX, 0), -EMSGSIZE);
	kt_expect(c, kup_send_batch(c->dev, chan, m, 2, 0), -EMSGSIZE);
	buf = kup_send_buf(c->dev, chan, &sz, KUP_NONBLOCK);
	if (!kt_expect_ptr(c, buf, 0))
		return -EINVAL;
	kt_expect(c, sz, size);
	kt_fill(buf, size, 7);
	kt_expect(c, kup_send_commit(c->dev, chan, size + 1), -EMSGSIZE);
	kt_expect(c, kup_send_commit(c->dev, chan, SIZE_MAX), -EMSGSIZE);
	if (!kt_expect(c, kup_send_commit(c->dev, chan, size), 0))
		return -EINVAL;
	len = kup_recv(c->dev, chan, &data, 0);
	if (!kt_expect(c, len, size) ||
	    !kt_expect(c, kt_bad_byte(data, len, 8), -1))
		return -EINVAL;
	kt_fill(c->work, size, 9);
	kt_expect(c, kup_send(c->dev, chan, c->work, size, 0), 0);
	return 0;
}

/*
 * ebusy <chan>: on a pipelined channel (4 slots) a reply with no message
 * received on its slot is -EBUSY, blocking or not, before and after the
 * process sent one (hand-off 1: it sent "p0"); p0 comes through intact
 * and is answered "r0"; the next slot is -EBUSY again.
 */
static int kt_ebusy(struct kt_ctx *c)
{
	struct kup_msg m = { .data = "x", .len = 1 };
	unsigned long chan = c->arg[0];
	size_t size;
	int i, ret;

	if (kt_accept(c, chan))
		return -ENOTCONN;
	kt_expect(c, kup_chan_slots(c->dev, chan), 4);
	for (i = 1; i <= 2; i++) {
		kt_expect(c, kup_send(c->dev, chan, "x", 1, 0), -EBUSY);
		kt_expect(c, kup_send(c->dev, chan, "x", 1, KUP_NONBLOCK),
			  -EBUSY);
		kt_expect(c, kup_pass(c->dev, chan, 0), -EBUSY);
		kt_expect(c, kup_send_batch(c->dev, chan, &m, 1, 0), -EBUSY);
		kt_expect_ptr(c, kup_send_buf(c->dev, chan, &size, 0), -EBUSY);
		if (i == 2)
			break;
		ret = kt_handoff(c, 1);
		if (ret)
			return ret;
	}
	if (!kt_recv_str(c, chan, "p0"))
		return -EINVAL;
	kt_expect(c, kt_send_str(c, chan, "r0"), 0);
	kt_expect(c, kup_send(c->dev, chan, "x", 1, 0), -EBUSY);
	return 0;
}

/*
 * eagain <chan>: with the turn passed to the process ("go"), every
 * KUP_NONBLOCK call is -EAGAIN (kup_serve(): 0, nothing answered).
 * Hand-off 1: the process answered "m1"; a non-blocking receive takes it,
 * a non-blocking send answers "ok".
 */
static int kt_eagain(struct kt_ctx *c)
{
	struct kup_msg m = { .data = "x", .len = 1 };
	unsigned long chan = c->arg[0];
	const void *data = NULL;
	size_t size;
	int ret;

	if (kt_accept(c, chan))
		return -ENOTCONN;
	if (!kt_expect(c, kt_send_str(c, chan, "go"), 0))
		return -EINVAL;
	kt_expect(c, kup_recv(c->dev, chan, &data, KUP_NONBLOCK), -EAGAIN);
	kt_expect(c, kup_recv_batch(c->dev, chan, c->msgs, 4, KUP_NONBLOCK),
		  -EAGAIN);
	kt_expect(c, kup_send(c->dev, chan, "x", 1, KUP_NONBLOCK), -EAGAIN);
	kt_expect(c, kup_pass(c->dev, chan, KUP_NONBLOCK), -EAGAIN);
	kt_expect(c, kup_send_batch(c->dev, chan, &m, 1, KUP_NONBLOCK),
		  -EAGAIN);
	kt_expect_ptr(c, kup_send_buf(c->dev, chan, &size, KUP_NONBLOCK),
		      -EAGAIN);
	kt_expect(c, kup_serve(c->dev, chan, kt_serve_count, c, KUP_NONBLOCK),
		  0);
	kt_expect(c, c->served, 0);
	ret = kt_handoff(c, 1);
	if (ret)
		return ret;
	if (kt_expect(c, kup_recv(c->dev, chan, &data, KUP_NONBLOCK), 2) &&
	    kt_expect(c, memcmp(data, "m1", 2), 0))
		kt_expect(c, kup_send(c->dev, chan, "ok", 2, KUP_NONBLOCK), 0);
	return 0;
}

/*
 * send_buf_sizes <chan>: kup_send_buf() + kup_send_commit() of 0, 1,
 * KUP_INLINE_MAX, KUP_INLINE_MAX + 1 and the whole buffer, message i of
 * pattern 100 + i; the process echoes each one back, checked here.
 */
static int kt_send_buf_sizes(struct kt_ctx *c)
{
	unsigned long chan = c->arg[0];
	size_t sizes[5], size = 0;
	const void *data;
	ssize_t bufsz, len;
	unsigned int i;
	void *buf;

	if (kt_accept(c, chan))
		return -ENOTCONN;
	bufsz = kup_chan_buf_size(c->dev, chan);
	if (!kt_expect(c, bufsz > KUP_INLINE_MAX + 1, true))
		return -EINVAL;
	sizes[0] = 0;
	sizes[1] = 1;
	sizes[2] = KUP_INLINE_MAX;
	sizes[3] = KUP_INLINE_MAX + 1;
	sizes[4] = bufsz;
	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		buf = kup_send_buf(c->dev, chan, &size, 0);
		if (!kt_expect_ptr(c, buf, 0))
			return -EINVAL;
		kt_expect(c, size, bufsz);
		/* The tail is garbage the process must not see. */
		memset(buf, 0xa5, size);
		kt_fill(buf, sizes[i], 100 + i);
		if (!kt_expect(c, kup_send_commit(c->dev, chan, sizes[i]), 0))
			return -EINVAL;
		len = kup_recv(c->dev, chan, &data, 0);
		if (!kt_expect(c, len, sizes[i]) ||
		    !kt_expect(c, kt_bad_byte(data, len, 100 + i), -1))
			return -EINVAL;
	}
	kt_report(c, "buf", bufsz);
	return 0;
}

/*
 * send_buf_detach <chan>: the process detaches while the kernel holds
 * the send buffer (hand-off 1: it checks its pages are still pinned).
 * The buffer stays writable, kup_send_commit() fails with -ENOTCONN and
 * does not end the hold: a second commit finds it (-ENOTCONN again, not
 * -EINVAL), and the pages stay (hand-off 2); kup_release() ends it.
 */
static int kt_send_buf_detach(struct kt_ctx *c)
{
	unsigned long chan = c->arg[0];
	size_t size = 0;
	void *buf;
	int ret;

	if (kt_accept(c, chan))
		return -ENOTCONN;
	buf = kup_send_buf(c->dev, chan, &size, 0);
	if (!kt_expect_ptr(c, buf, 0))
		return -EINVAL;
	ret = kt_handoff(c, 1);
	if (ret)
		return ret;
	memset(buf, 0x5a, size);
	kt_expect(c, kup_send_commit(c->dev, chan, size), -ENOTCONN);
	kt_expect(c, kup_send_commit(c->dev, chan, size), -ENOTCONN);
	kt_expect(c, kup_wait_channel(c->dev, KUP_NONBLOCK), -EAGAIN);
	ret = kt_handoff(c, 2);
	if (ret)
		return ret;
	kup_release(c->dev, chan);
	kt_expect(c, kup_send_commit(c->dev, chan, 0), -EINVAL);
	kt_expect(c, kup_wait_channel(c->dev, KUP_NONBLOCK), -EAGAIN);
	return 0;
}

/* Length of message i of a batch64 round: inline and buffer sizes. */
static size_t kt_batch_len(unsigned int i)
{
	return 1 + 3 * i;
}

/*
 * Take the messages of a round of KUP_MAX_SLOTS (message i of pattern
 * base + i) at most max at a time, answer each run with one
 * kup_send_batch() (reply i: pattern base + 1000 + i, one byte longer).
 */
static int kt_batch_round(struct kt_ctx *c, unsigned int chan,
			  unsigned int base, unsigned int max)
{
	unsigned int done = 0, i, k, n;
	int ret;
	u8 *p;

	while (done < KUP_MAX_SLOTS) {
		n = min_t(unsigned int, max, KUP_MAX_SLOTS - done);
		ret = kup_recv_batch(c->dev, chan, c->msgs, max, KUP_NONBLOCK);
		if (!kt_expect(c, ret, n))
			return -EINVAL;
		for (k = 0; k < n; k++) {
			i = done + k;
			if (!kt_expect(c, c->msgs[k].len, kt_batch_len(i)) ||
			    !kt_expect(c, kt_bad_byte(c->msgs[k].data,
						      c->msgs[k].len,
						      base + i), -1))
				return -EINVAL;
			p = c->work + (size_t)k * 256;
			kt_fill(p, kt_batch_len(i) + 1, base + 1000 + i);
			c->reps[k].data = p;
			c->reps[k].len = kt_batch_len(i) + 1;
		}
		if (!kt_expect(c, kup_send_batch(c->dev, chan, c->reps, n, 0), n))
			return -EINVAL;
		done += n;
	}
	return 0;
}

/*
 * batch64 <chan>: a channel of KUP_MAX_SLOTS slots of 256 bytes; the
 * process sent a whole round (message i: kt_batch_len(i) bytes of
 * pattern i) before the run. kup_recv_batch() takes all 64 at once, one
 * kup_send_batch() answers them in order. Hand-off 1: the process
 * received the replies and sent another round (pattern 2000 + i), taken
 * 10 at a time.
 */
static int kt_batch64(struct kt_ctx *c)
{
	unsigned long chan = c->arg[0];
	const void *data;
	int ret;

	if (kt_accept(c, chan))
		return -ENOTCONN;
	if (!kt_expect(c, kup_chan_slots(c->dev, chan), KUP_MAX_SLOTS) ||
	    !kt_expect(c, kup_chan_buf_size(c->dev, chan), 256))
		return -EINVAL;
	ret = kt_batch_round(c, chan, 0, KUP_MAX_SLOTS);
	if (ret)
		return ret;
	/* Every slot answered: the process holds every turn. */
	kt_expect(c, kup_recv_batch(c->dev, chan, c->msgs, KUP_MAX_SLOTS,
				    KUP_NONBLOCK), -EAGAIN);
	kt_expect(c, kup_recv(c->dev, chan, &data, KUP_NONBLOCK), -EAGAIN);
	kt_expect(c, kup_send(c->dev, chan, "x", 1, KUP_NONBLOCK), -EBUSY);
	ret = kt_handoff(c, 1);
	if (ret)
		return ret;
	return kt_batch_round(c, chan, 2000, 10);
}

/*
 * more <chan>: KUP_MORE on a pipelined channel (4 slots). The process
 * sent 4 messages, armed the channel (ustate.uwait: slot 0) and watches
 * kstate.uwait_wakeups and its eventfd. Replies with KUP_MORE make no
 * wake-up (hand-offs 1 and 2); the last reply without it makes exactly one for
 * the batch (hand-off 3: the process received them, sent 4 more and
 * armed again); kup_send_batch() of 4 makes exactly one too.
 */
static int kt_more(struct kt_ctx *c)
{
	unsigned long chan = c->arg[0];
	int i, ret;

	if (kt_accept(c, chan))
		return -ENOTCONN;
	if (!kt_expect(c, kup_recv_batch(c->dev, chan, c->msgs, 4,
					 KUP_NONBLOCK), 4))
		return -EINVAL;
	for (i = 0; i < 4; i++) {
		kt_expect(c, kup_send(c->dev, chan, c->msgs[i].data,
				      c->msgs[i].len, i < 3 ? KUP_MORE : 0),
			  0);
		if (i == 0 || i == 2 || i == 3) {
			ret = kt_handoff(c, i == 0 ? 1 : i);
			if (ret)
				return ret;
		}
	}
	if (!kt_expect(c, kup_recv_batch(c->dev, chan, c->msgs, 4,
					 KUP_NONBLOCK), 4))
		return -EINVAL;
	kt_expect(c, kup_send_batch(c->dev, chan, c->msgs, 4, 0), 4);
	return 0;
}

/*
 * more_pingpong <chan>: KUP_MORE is ignored on a ping-pong channel: a
 * send with it wakes the armed process at once.
 */
static int kt_more_pingpong(struct kt_ctx *c)
{
	unsigned long chan = c->arg[0];

	if (kt_accept(c, chan))
		return -ENOTCONN;
	kt_expect(c, kup_send(c->dev, chan, "m", 1, KUP_MORE), 0);
	return 0;
}

/*
 * shutdown: on a device of its own, KT_SD_NAME. Hand-off 1: the process
 * opened it, attached channel 0, registered an eventfd, polls, and has a
 * thread asleep in a receive. kup_dev_shutdown(): every call, blocking
 * or not, is -ESHUTDOWN. Hand-off 2: the process checks EPOLLHUP, the
 * eventfd, KUP_IOC_WAIT. Then the device is destroyed, still attached.
 */
static int kt_shutdown(struct kt_ctx *c)
{
	const void *data = NULL;
	struct kup_dev *d;
	size_t size;
	int ret;

	d = kup_dev_create(KT_SD_NAME, 2, 1);
	if (!kt_expect_ptr(c, d, 0))
		return -EINVAL;
	ret = kt_handoff(c, 1);
	if (ret)
		goto out;
	kt_expect(c, kup_wait_channel(d, KUP_NONBLOCK), 0);
	kup_dev_shutdown(d);
	/*
	 * A client ends its session once its calls fail, after the
	 * shutdown: the process must still see SHUTDOWN, not a break.
	 */
	kup_end_session(d, 0);
	kt_expect(c, kup_wait_channel(d, KUP_NONBLOCK), -ESHUTDOWN);
	kt_expect(c, kup_wait_channel(d, 0), -ESHUTDOWN);
	kt_expect(c, kup_send(d, 0, "x", 1, 0), -ESHUTDOWN);
	kt_expect(c, kup_recv(d, 0, &data, 0), -ESHUTDOWN);
	kt_expect(c, kup_recv(d, 0, &data, KUP_NONBLOCK), -ESHUTDOWN);
	kt_expect_ptr(c, kup_send_buf(d, 0, &size, 0), -ESHUTDOWN);
	kt_expect(c, kup_serve(d, 0, kt_serve_count, c, 0), -ESHUTDOWN);
	kt_expect(c, kup_chan_buf_size(d, 0), -ESHUTDOWN);
	kt_expect(c, kup_chan_slots(d, 0), -ESHUTDOWN);
	ret = kt_handoff(c, 2);
out:
	kup_dev_destroy(d);
	return ret;
}

/*
 * break <chan>: the kernel passes "x". Hand-off 1: the process wrote a
 * turn the kernel never passed. The next call breaks the channel with
 * -EPROTO, and so do later ones, until kup_end_session(): then they are
 * -ENOTCONN and the attachment is not reported again.
 */
static int kt_break(struct kt_ctx *c)
{
	unsigned long chan = c->arg[0];
	const void *data = NULL;
	int ret;

	if (kt_accept(c, chan))
		return -ENOTCONN;
	if (!kt_expect(c, kt_send_str(c, chan, "x"), 0))
		return -EINVAL;
	ret = kt_handoff(c, 1);
	if (ret)
		return ret;
	kt_expect(c, kup_recv(c->dev, chan, &data, KUP_NONBLOCK), -EPROTO);
	kt_expect(c, kup_recv(c->dev, chan, &data, KUP_NONBLOCK), -EPROTO);
	kt_expect(c, kup_wait_channel(c->dev, KUP_NONBLOCK), -EAGAIN);
	kup_end_session(c->dev, chan);
	kt_expect(c, kup_recv(c->dev, chan, &data, KUP_NONBLOCK), -ENOTCONN);
	kt_expect(c, kup_wait_channel(c->dev, KUP_NONBLOCK), -EAGAIN);
	return 0;
}

/*
 * pin_layout <chan>: report the buffer size and slots the kernel sees;
 * send a whole buffer (pattern 500), after receiving the process's
 * message first on a pipelined channel.
 */
static int kt_pin_layout(struct kt_ctx *c)
{
	unsigned long chan = c->arg[0];
	const void *data;
	ssize_t bufsz;
	size_t size = 0;
	int slots;
	void *buf;

	if (kt_accept(c, chan))
		return -ENOTCONN;
	bufsz = kup_chan_buf_size(c->dev, chan);
	slots = kup_chan_slots(c->dev, chan);
	kt_report(c, "buf", bufsz);
	kt_report(c, "slots", slots);
	if (slots > 1 && !kt_expect(c, kup_recv(c->dev, chan, &data, 0), 0))
		return -EINVAL;
	buf = kup_send_buf(c->dev, chan, &size, 0);
	if (!kt_expect_ptr(c, buf, 0))
		return -EINVAL;
	kt_fill(buf, size, 500);
	kt_expect(c, kup_send_commit(c->dev, chan, size), 0);
	return 0;
}

/*
 * hold_detach <chan>: the kernel holds the process's "m1" when it
 * detaches (hand-off 1); a failed call does not end the hold (hand-off
 * 2); kup_release() does. The process watches its RLIMIT_MEMLOCK charge.
 */
static int kt_hold_detach(struct kt_ctx *c)
{
	unsigned long chan = c->arg[0];
	const void *data = NULL;
	int ret;

	if (kt_accept(c, chan))
		return -ENOTCONN;
	if (!kt_expect(c, kt_send_str(c, chan, "go"), 0) ||
	    !kt_expect(c, kup_recv(c->dev, chan, &data, 0), 2))
		return -EINVAL;
	ret = kt_handoff(c, 1);
	if (ret)
		return ret;
	kt_expect(c, kt_send_str(c, chan, "x"), -ENOTCONN);
	ret = kt_handoff(c, 2);
	if (ret)
		return ret;
	kt_expect(c, memcmp(data, "m1", 2), 0);
	kup_release(c->dev, chan);
	return 0;
}

static const struct kt_check kt_checks[] = {
	{ "reset", kt_reset },
	{ "roundtrip", kt_roundtrip },
	{ "create_limits", kt_create_limits },
	{ "create_dup", kt_create_dup },
	{ "session_once", kt_session_once },
	{ "session_detach", kt_session_detach },
	{ "session_hold", kt_session_hold },
	{ "session_end", kt_session_end },
	{ "last_reply", kt_last_reply },
	{ "einval_chan", kt_einval_chan },
	{ "einval_args", kt_einval_args },
	{ "edeadlk", kt_edeadlk },
	{ "emsgsize", kt_emsgsize },
	{ "ebusy", kt_ebusy },
	{ "eagain", kt_eagain },
	{ "send_buf_sizes", kt_send_buf_sizes },
	{ "send_buf_detach", kt_send_buf_detach },
	{ "batch64", kt_batch64 },
	{ "more", kt_more },
	{ "more_pingpong", kt_more_pingpong },
	{ "shutdown", kt_shutdown },
	{ "break", kt_break },
	{ "pin_layout", kt_pin_layout },
	{ "hold_detach", kt_hold_detach },
};

/* Run the check that run asked for, in the worker. */
static void kt_run_one(void)
{
	struct kt_ctx *c = &kt_ctx;
	const struct kt_check *check;
	unsigned int i;
	int ret;

	mutex_lock(&kt.lock);
	check = kt.check;
	memcpy(c->arg, kt.arg, sizeof(c->arg));
	kt.pending = false;
	mutex_unlock(&kt.lock);

	c->dev = kt_dev;
	c->failed = false;
	c->served = 0;
	ret = check->fn(c);
	if (ret && !c->failed)
		kt_fail(c, "returned %d", ret);
	/* Nothing of this check reaches the next one. */
	for (i = 0; i < KT_NCHAN; i++)
		kup_end_session(kt_dev, i);

	mutex_lock(&kt.lock);
	kt.status = c->failed ? KT_FAIL : KT_PASS;
	if (c->failed)
		pr_info("%s: failed: %s\n", check->name, kt.text);
	mutex_unlock(&kt.lock);
}

static int kt_worker_fn(void *unused)
{
	while (!kthread_should_stop()) {
		wait_event_interruptible(kt.wq, READ_ONCE(kt.pending) ||
					 kthread_should_stop());
		if (READ_ONCE(kt.pending) && !kthread_should_stop())
			kt_run_one();
	}
	return 0;
}

/* run: "<check> [arg...]" */
static ssize_t kt_run_write(struct file *file, const char __user *ubuf,
			    size_t count, loff_t *ppos)
{
	unsigned long arg[KT_ARGS] = { 0 };
	const struct kt_check *check = NULL;
	char buf[128], *p, *word;
	unsigned int i, n = 0;
	int ret;

	if (count >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, count))
		return -EFAULT;
	buf[count] = '\0';
	p = strim(buf);
	word = strsep(&p, " ");
	for (i = 0; i < ARRAY_SIZE(kt_checks); i++)
		if (!strcmp(word, kt_checks[i].name))
			check = &kt_checks[i];
	if (!check)
		return -ENOENT;
	while ((word = strsep(&p, " "))) {
		if (!*word)
			continue;
		if (n == KT_ARGS)
			return -E2BIG;
		ret = kstrtoul(word, 0, &arg[n++]);
		if (ret)
			return ret;
	}

	mutex_lock(&kt.lock);
	if (kt.pending || kt.status == KT_RUNNING) {
		mutex_unlock(&kt.lock);
		return -EBUSY;
	}
	kt.check = check;
	memcpy(kt.arg, arg, sizeof(arg));
	kt.seq++;
	kt.status = KT_RUNNING;
	kt.text[0] = '\0';
	WRITE_ONCE(kt.stage, 0);
	WRITE_ONCE(kt.resumed, 0);
	WRITE_ONCE(kt.abort, false);
	WRITE_ONCE(kt.pending, true);
	mutex_unlock(&kt.lock);
	wake_up_all(&kt.wq);
	return count;
}

/* resume (what) or abort (!what): any write. */
static ssize_t kt_signal(bool what)
{
	mutex_lock(&kt.lock);
	if (what)
		WRITE_ONCE(kt.resumed, kt.resumed + 1);
	else
		WRITE_ONCE(kt.abort, true);
	mutex_unlock(&kt.lock);
	wake_up_all(&kt.wq);
	return 0;
}

/*
 * create: a write creates and destroys a device, in the writer's task
 * (for fault injection with /proc/<pid>/task/<tid>/fail-nth), and fails
 * with kup_dev_create()'s error, if any.
 */
static ssize_t kt_create_write(struct file *file, const char __user *ubuf,
			       size_t count, loff_t *ppos)
{
	struct kup_dev *d = kup_dev_create("kt_fault", 2, 1);

	if (IS_ERR(d))
		return PTR_ERR(d);
	kup_dev_destroy(d);
	return count;
}

static ssize_t kt_resume_write(struct file *file, const char __user *ubuf,
			       size_t count, loff_t *ppos)
{
	kt_signal(true);
	return count;
}

static ssize_t kt_abort_write(struct file *file, const char __user *ubuf,
			      size_t count, loff_t *ppos)
{
	kt_signal(false);
	return count;
}

/* result: "<seq> <check> <status> <stage>[ <text>]", read at any offset. */
static ssize_t kt_result_read(struct file *file, char __user *ubuf,
			      size_t count, loff_t *ppos)
{
	char *buf;
	ssize_t ret;
	int len;

	buf = kmalloc(KT_TEXT + 128, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	mutex_lock(&kt.lock);
	len = scnprintf(buf, KT_TEXT + 128, "%u %s %s %u%s%s\n", kt.seq,
			kt.check ? kt.check->name : "-",
			kt_status_names[kt.status], kt.stage,
			kt.text[0] ? " " : "", kt.text);
	mutex_unlock(&kt.lock);
	ret = simple_read_from_buffer(ubuf, count, ppos, buf, len);
	kfree(buf);
	return ret;
}

static const struct file_operations kt_run_fops = {
	.owner = THIS_MODULE,
	.write = kt_run_write,
	.llseek = noop_llseek,
};

static const struct file_operations kt_resume_fops = {
	.owner = THIS_MODULE,
	.write = kt_resume_write,
	.llseek = noop_llseek,
};

static const struct file_operations kt_abort_fops = {
	.owner = THIS_MODULE,
	.write = kt_abort_write,
	.llseek = noop_llseek,
};

static const struct file_operations kt_create_fops = {
	.owner = THIS_MODULE,
	.write = kt_create_write,
	.llseek = noop_llseek,
};

static const struct file_operations kt_result_fops = {
	.owner = THIS_MODULE,
	.read = kt_result_read,
	.llseek = default_llseek,
};

static int __init kt_init(void)
{
	int ret;

	mutex_init(&kt.lock);
	init_waitqueue_head(&kt.wq);
	kt_ctx.work = kmalloc(KT_WORK, GFP_KERNEL);
	if (!kt_ctx.work)
		return -ENOMEM;
	kt_dev = kup_dev_create(KT_NAME, KT_NCHAN, KT_BUF_PAGES);
	if (IS_ERR(kt_dev)) {
		ret = PTR_ERR(kt_dev);
		goto err_free;
	}
	kt_worker = kthread_run(kt_worker_fn, NULL, "kup_ktest");
	if (IS_ERR(kt_worker)) {
		ret = PTR_ERR(kt_worker);
		goto err_dev;
	}
	kt_debugfs = debugfs_create_dir(KT_NAME, NULL);
	debugfs_create_file("run", 0200, kt_debugfs, NULL, &kt_run_fops);
	debugfs_create_file("create", 0200, kt_debugfs, NULL,
			    &kt_create_fops);
	debugfs_create_file("resume", 0200, kt_debugfs, NULL,
			    &kt_resume_fops);
	debugfs_create_file("abort", 0200, kt_debugfs, NULL, &kt_abort_fops);
	debugfs_create_file("result", 0400, kt_debugfs, NULL,
			    &kt_result_fops);
	return 0;

err_dev:
	kup_dev_destroy(kt_dev);
err_free:
	kfree(kt_ctx.work);
	return ret;
}

static void __exit kt_exit(void)
{
	debugfs_remove(kt_debugfs);
	/* Wake a check blocked in a kup call; a hand-off sees the stop. */
	kup_dev_shutdown(kt_dev);
	kthread_stop(kt_worker);
	kup_dev_destroy(kt_dev);
	kfree(kt_ctx.work);
}

module_init(kt_init);
module_exit(kt_exit);

MODULE_LICENSE("GPL");
MODULE_IMPORT_NS("KUP");
MODULE_DESCRIPTION("kup kernel API checks for the selftests (test only)");
