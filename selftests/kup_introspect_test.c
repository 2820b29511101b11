// SPDX-License-Identifier: GPL-2.0
/*
 * kup introspection: the kup_abi attribute in sysfs, the fdinfo of a kup
 * file, /sys/kernel/debug/kup/<name>/channels and the kup trace events,
 * each checked against what the test did. Needs kup.ko and kup_echo.ko
 * (test_commands=1), debugfs, tracefs; KUP_ECHO_KO for the destroy test.
 */
#include "kup_test.h"

#include <pthread.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "kselftest_harness.h"

#define PARK_CMD	"KUPECHO:PARK"
#define DEBUGFS_ECHO	"/sys/kernel/debug/kup/kup_echo/channels"
#define TRACEFS		"/sys/kernel/tracing"
#define TRACE_INST	TRACEFS "/instances/kup_introspect"

/* The whole of a (small) file, NUL-terminated, or NULL. */
static char *slurp(const char *path)
{
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap);
	ssize_t n;
	int fd;

	if (!buf)
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		free(buf);
		return NULL;
	}
	for (;;) {
		if (len + 4096 > cap) {
			char *p = realloc(buf, cap * 2);

			if (!p)
				break;
			buf = p;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n <= 0)
			break;
		len += n;
	}
	close(fd);
	buf[len] = '\0';
	return buf;
}

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC | O_TRUNC);
	int ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		ret = -errno;
	close(fd);
	return ret;
}

/* The "kup-chan:" line of channel chan in text, copied to line, or false. */
static bool chan_line(const char *text, unsigned int chan, char *line,
		      size_t size)
{
	char key[48];
	const char *p, *end;

	snprintf(key, sizeof(key), "kup-chan:\tchan=%u ", chan);
	p = strstr(text, key);
	if (!p)
		return false;
	end = strchrnul(p, '\n');
	snprintf(line, size, "%.*s", (int)(end - p), p);
	return true;
}

/* The number after " key=" in line, or -1. */
static long field(const char *line, const char *key)
{
	char pat[48];
	const char *p;

	snprintf(pat, sizeof(pat), " %s=", key);
	p = strstr(line, pat);
	return p ? strtol(p + strlen(pat), NULL, 10) : -1;
}

/* The word after " key=" in line (up to a space), or "". */
static const char *word(const char *line, const char *key, char *out,
			size_t size)
{
	char pat[48];
	const char *p;

	snprintf(pat, sizeof(pat), " %s=", key);
	p = strstr(line, pat);
	out[0] = '\0';
	if (p)
		snprintf(out, size, "%.*s", (int)strcspn(p + strlen(pat), " \n"),
			 p + strlen(pat));
	return out;
}

/* The value of a "key:\tvalue" line of text, or -1. */
static long total(const char *text, const char *key)
{
	char pat[48];
	const char *p;

	snprintf(pat, sizeof(pat), "\n%s:\t", key);
	/* The first line has no newline before it. */
	if (!strncmp(text, pat + 1, strlen(pat + 1)))
		return strtol(text + strlen(pat + 1), NULL, 10);
	p = strstr(text, pat);
	return p ? strtol(p + strlen(pat), NULL, 10) : -1;
}

static char *fdinfo(struct kup_device *dev)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", kup_fd(dev));
	return slurp(path);
}

/* A field of channel ch's line in its file's fdinfo, or -1 (-2: no line). */
static long chan_field(struct kup_channel *ch, const char *key)
{
	char *text = fdinfo(ch->dev), line[512];
	long v = -2;

	if (text && chan_line(text, kup_chan_index(ch), line, sizeof(line)))
		v = field(line, key);
	free(text);
	return v;
}

static const char *chan_word(struct kup_channel *ch, const char *key,
			     char *out, size_t size)
{
	char *text = fdinfo(ch->dev), line[512];

	out[0] = '\0';
	if (text && chan_line(text, kup_chan_index(ch), line, sizeof(line)))
		word(line, key, out, size);
	free(text);
	return out;
}

/* Wait (at most ms) until the kernel thread of ch sleeps for its turn. */
static bool kernel_asleep(struct kup_channel *ch, int ms)
{
	while (!__atomic_load_n(&ch->ks->kwait, __ATOMIC_ACQUIRE) && ms-- > 0)
		usleep(1000);
	return __atomic_load_n(&ch->ks->kwait, __ATOMIC_ACQUIRE) != 0;
}

/* How many times s occurs in the file path (-1: unreadable). */
static int count_in(const char *path, const char *s)
{
	char *text = slurp(path);
	const char *p = text;
	int n = 0;

	if (!text)
		return -1;
	while ((p = strstr(p, s))) {
		n++;
		p += strlen(s);
	}
	free(text);
	return n;
}

/*
 * Resume the parked echo once the process sleeps for it: ustate.uwait
 * set and, when wait_for is given, one more of that text in the file
 * trace_path (the kup_sleep event of KUP_IOC_WAIT).
 */
struct resumer {
	struct kup_channel *ch;
	const char *trace_path;
	char wait_for[96];
	int seen;
	volatile int ret;
};

static void *resume_when_asleep(void *arg)
{
	struct resumer *r = (struct resumer *)arg;
	int i;

	for (i = 0; i < 10000 && !__atomic_load_n(&r->ch->us->uwait,
						  __ATOMIC_ACQUIRE); i++)
		usleep(1000);
	for (; r->trace_path && i < 10000; i++) {
		if (count_in(r->trace_path, r->wait_for) > r->seen)
			break;
		usleep(1000);
	}
	r->ret = i < 10000 ? echo_resume() : -ETIMEDOUT;
	return NULL;
}

/* A receive that sleeps until the parked echo is resumed. */
static ssize_t sleeping_recv(struct kup_channel *ch, const char *trace_path,
			     const char *wait_for)
{
	struct resumer r = { .ch = ch, .trace_path = trace_path, .ret = 1 };
	const void *d = NULL;
	pthread_t t;
	ssize_t len;

	if (wait_for) {
		snprintf(r.wait_for, sizeof(r.wait_for), "%s", wait_for);
		r.seen = count_in(trace_path, wait_for);
	}
	kup_chan_set_spin(ch, 0);
	if (pthread_create(&t, NULL, resume_when_asleep, &r))
		return -EAGAIN;
	len = kup_recv(ch, &d, 0);
	pthread_join(t, NULL);
	kup_chan_set_spin(ch, 1000);
	return r.ret ? r.ret : len;
}

/* Every kup device carries kup_abi; the node stays 0600. */
TEST(sysfs_kup_abi)
{
	static const char *const names[] = { "kup_echo", "kup_rot13" };
	char path[128], *text;
	struct stat st;
	unsigned int i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "/sys/class/misc/%s/kup_abi",
			 names[i]);
		text = slurp(path);
		ASSERT_NE(NULL, text) TH_LOG("%s: %s", path, strerror(errno));
		EXPECT_EQ(KUP_ABI_VERSION, strtoul(text, NULL, 10));
		EXPECT_EQ(0, strcmp(text + strspn(text, "0123456789"), "\n"));
		free(text);
		ASSERT_EQ(0, stat(path, &st));
		EXPECT_EQ(0444, st.st_mode & 0777);
		snprintf(path, sizeof(path), "/dev/%s", names[i]);
		ASSERT_EQ(0, stat(path, &st));
		EXPECT_EQ(0600, st.st_mode & 0777);
	}
	/* Not on other misc devices. */
	EXPECT_NE(0, access("/sys/class/misc/cpu_dma_latency/kup_abi", F_OK));
}

/* fdinfo: the channels this file attached, their sizes, pages, totals. */
TEST(fdinfo_channels)
{
	struct kup_device *dev = NULL, *other = NULL;
	struct kup_channel *a = NULL, *b = NULL, *o = NULL;
	char *text, line[512], state[32];
	long pages;

	ASSERT_EQ(0, kup_open(ECHO_NAME, &dev));
	text = fdinfo(dev);
	ASSERT_NE(NULL, text);
	EXPECT_NE(NULL, strstr(text, "\nkup-dev:\tkup_echo\n"));
	EXPECT_EQ(0, total(text, "kup-channels"));
	EXPECT_EQ(0, total(text, "kup-pinned-pages"));
	free(text);

	ASSERT_EQ(0, kup_chan_attach(dev, KUP_CHAN_ANY, 4096, 0, &a));
	ASSERT_EQ(0, kup_chan_attach_slots(dev, KUP_CHAN_ANY, 8192, 4, 0, &b));
	/* Another file's channel is not this file's. */
	ASSERT_EQ(0, kup_open(ECHO_NAME, &other));
	ASSERT_EQ(0, kup_chan_attach(other, KUP_CHAN_ANY, 4096, 0, &o));

	text = fdinfo(dev);
	ASSERT_NE(NULL, text);
	EXPECT_EQ(2, total(text, "kup-channels"));
	pages = region_pages(a->mem) + region_pages(b->mem);
	EXPECT_EQ(pages, total(text, "kup-pinned-pages"));
	ASSERT_TRUE(chan_line(text, kup_chan_index(a), line, sizeof(line)));
	EXPECT_EQ(1, field(line, "slots"));
	EXPECT_EQ((long)kup_chan_buf_size(a), field(line, "buf_size"));
	EXPECT_EQ(4096, field(line, "buf_size"));
	EXPECT_EQ(region_pages(a->mem), field(line, "pages"));
	EXPECT_EQ(getpid(), field(line, "pid"));
	EXPECT_STREQ("attached", word(line, "state", state, sizeof(state)));
	EXPECT_EQ(0, field(line, "error"));
	ASSERT_TRUE(chan_line(text, kup_chan_index(b), line, sizeof(line)));
	EXPECT_EQ(4, field(line, "slots"));
	EXPECT_EQ(8192, field(line, "buf_size"));
	EXPECT_EQ(region_pages(b->mem), field(line, "pages"));
	/* Pipelined: the process holds the first turn of every slot. */
	EXPECT_EQ(4, field(line, "user_turns"));
	EXPECT_EQ(0, field(line, "kernel_turns"));
	EXPECT_FALSE(chan_line(text, kup_chan_index(o), line, sizeof(line)));
	free(text);

	text = fdinfo(other);
	ASSERT_NE(NULL, text);
	EXPECT_EQ(1, total(text, "kup-channels"));
	EXPECT_TRUE(chan_line(text, kup_chan_index(o), line, sizeof(line)));
	free(text);

	/* A detached channel leaves the list and the totals. */
	ASSERT_EQ(0, kup_chan_close(b));
	text = fdinfo(dev);
	ASSERT_NE(NULL, text);
	EXPECT_EQ(1, total(text, "kup-channels"));
	EXPECT_EQ(region_pages(a->mem), total(text, "kup-pinned-pages"));
	free(text);
	kup_chan_close(a);
	kup_chan_close(o);
	kup_close(other);
	kup_close(dev);
}

/* fdinfo follows whose turn it is, and a break. */
TEST(fdinfo_turns_and_break)
{
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;
	const void *d = NULL;
	char state[32];

	ASSERT_EQ(0, echo_attach(&dev, &ch, 4096));
	/* The greeting was received: the process holds the turn. */
	EXPECT_EQ(1, chan_field(ch, "user_turns"));
	EXPECT_EQ(0, chan_field(ch, "kernel_turns"));
	/* Parked in the kernel: the kernel holds it. */
	ASSERT_EQ(0, echo_park(ch, PARK_CMD));
	EXPECT_EQ(0, chan_field(ch, "user_turns"));
	EXPECT_EQ(1, chan_field(ch, "kernel_turns"));
	ASSERT_EQ(0, echo_resume());
	ASSERT_EQ((ssize_t)strlen(PARK_CMD), kup_recv(ch, &d, 0));
	EXPECT_EQ(1, chan_field(ch, "user_turns"));
	EXPECT_STREQ("attached", chan_word(ch, "state", state, sizeof(state)));
	/* kup_serve()'s handler fails: the kernel side breaks the channel. */
	ASSERT_EQ(0, kup_send(ch, "KUPECHO:OVERSIZE", 17, 0));
	ASSERT_EQ(-ECONNRESET, kup_recv(ch, &d, 0));
	EXPECT_STREQ("broken", chan_word(ch, "state", state, sizeof(state)));
	EXPECT_EQ(ECONNRESET, chan_field(ch, "error"));
	kup_chan_close(ch);
	kup_close(dev);
}

/* Wake-ups each way, counted after exchanges where each side slept. */
TEST(fdinfo_wakeups)
{
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;
	const void *d = NULL;
	char *text;

	ASSERT_EQ(0, param_write("kup_echo", "spin_us", "500"));
	ASSERT_EQ(0, echo_attach(&dev, &ch, 4096));
	/* The kernel thread sleeps for our message: our pass wakes it. */
	ASSERT_TRUE(kernel_asleep(ch, 10000));
	ASSERT_EQ(0, kup_send(ch, "x", 1, 0));
	ASSERT_EQ(1, kup_recv(ch, &d, 0));
	EXPECT_LE(1, ch->ks->kwait_wakeups);
	EXPECT_EQ((long)ch->ks->kwait_wakeups, chan_field(ch, "kernel_wakeups"));
	/* We sleep for the echo: its pass wakes us. */
	ASSERT_EQ(0, echo_park(ch, PARK_CMD));
	ASSERT_EQ((ssize_t)strlen(PARK_CMD), sleeping_recv(ch, NULL, NULL));
	EXPECT_LE(1, ch->ks->uwait_wakeups);
	EXPECT_EQ((long)ch->ks->uwait_wakeups, chan_field(ch, "user_wakeups"));
	text = fdinfo(dev);
	ASSERT_NE(NULL, text);
	EXPECT_EQ((long)ch->ks->uwait_wakeups, total(text, "kup-user-wakeups"));
	EXPECT_EQ((long)ch->ks->kwait_wakeups, total(text, "kup-kernel-wakeups"));
	free(text);
	kup_chan_close(ch);
	kup_close(dev);
}

/* debugfs lists every attached channel with the pid that attached it. */
TEST(debugfs_pids)
{
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;
	int to_child[2], to_parent[2];
	char *text, line[512], c = 0;
	unsigned int child_chan = 0;
	pid_t child;
	int status;

	ASSERT_EQ(0, kup_open(ECHO_NAME, &dev));
	ASSERT_EQ(0, kup_chan_attach(dev, KUP_CHAN_ANY, 4096, 0, &ch));
	ASSERT_EQ(0, pipe(to_child));
	ASSERT_EQ(0, pipe(to_parent));
	child = fork();
	ASSERT_LE(0, child);
	if (child == 0) {
		struct kup_device *cdev = NULL;
		struct kup_channel *cch = NULL;
		unsigned int idx;

		if (kup_open(ECHO_NAME, &cdev) ||
		    kup_chan_attach(cdev, KUP_CHAN_ANY, 4096, 0, &cch))
			_exit(1);
		idx = kup_chan_index(cch);
		if (write(to_parent[1], &idx, sizeof(idx)) != sizeof(idx) ||
		    read(to_child[0], &c, 1) != 1)
			_exit(2);
		_exit(0);
	}
	ASSERT_EQ(sizeof(child_chan), read(to_parent[0], &child_chan,
					   sizeof(child_chan)));
	text = slurp(DEBUGFS_ECHO);
	ASSERT_NE(NULL, text) TH_LOG("%s: %s", DEBUGFS_ECHO, strerror(errno));
	EXPECT_EQ(4, total(text, "kup-nchan"));
	EXPECT_LE(2, total(text, "kup-channels"));
	ASSERT_TRUE(chan_line(text, kup_chan_index(ch), line, sizeof(line)));
	EXPECT_EQ(getpid(), field(line, "pid"));
	EXPECT_EQ(4096, field(line, "buf_size"));
	ASSERT_TRUE(chan_line(text, child_chan, line, sizeof(line)));
	EXPECT_EQ(child, field(line, "pid"));
	free(text);
	ASSERT_EQ(1, write(to_child[1], &c, 1));
	ASSERT_EQ(child, waitpid(child, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* The child's file is closed: its channel is gone. */
	text = slurp(DEBUGFS_ECHO);
	ASSERT_NE(NULL, text);
	if (chan_line(text, child_chan, line, sizeof(line)))
		EXPECT_NE(child, field(line, "pid"));
	free(text);
	close(to_child[0]);
	close(to_child[1]);
	close(to_parent[0]);
	close(to_parent[1]);
	kup_chan_close(ch);
	kup_close(dev);
}

/* A debugfs file held open while the device is destroyed: -EIO, no crash. */
TEST(debugfs_open_across_destroy)
{
	const char *ko = getenv("KUP_ECHO_KO");
	char buf[256], cmd[512];
	int fd;

	if (!ko)
		SKIP(return, "KUP_ECHO_KO (path of kup_echo.ko) not set");
	fd = open(DEBUGFS_ECHO, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(16, read(fd, buf, 16));
	ASSERT_EQ(0, system("rmmod kup_echo"));
	EXPECT_NE(0, access(DEBUGFS_ECHO, F_OK));
	EXPECT_EQ(-1, read(fd, buf, sizeof(buf)));
	EXPECT_EQ(EIO, errno);
	close(fd);
	snprintf(cmd, sizeof(cmd), "insmod %s test_commands=1", ko);
	ASSERT_EQ(0, system(cmd));
	ASSERT_TRUE(path_wait(ECHO_PATH, 5000));
	EXPECT_TRUE(path_wait(DEBUGFS_ECHO, 5000));
}

/* The events of channel chan in text, in order, one per line in out. */
static int chan_events(const char *text, unsigned int chan, char out[][256],
		       int max)
{
	char key[48];
	const char *p = text, *ev, *end;
	int n = 0;

	snprintf(key, sizeof(key), "dev=kup_echo chan=%u ", chan);
	while (n < max && (p = strstr(p, key))) {
		end = strchrnul(p, '\n');
		ev = p;
		while (ev > text && ev[-1] != '\n')
			ev--;
		/* "<task>-<pid> [cpu] flags time: <event>: <fields>" */
		ev = strstr(ev, ": kup_");
		if (ev && ev < p)
			snprintf(out[n++], 256, "%.*s", (int)(end - ev - 2),
				 ev + 2);
		p = end;
	}
	return n;
}

/* The first of the events from index from on that starts with prefix. */
static int find_event(char ev[][256], int n, int from, const char *prefix)
{
	for (; from < n; from++)
		if (!strncmp(ev[from], prefix, strlen(prefix)))
			return from;
	return -1;
}

FIXTURE(trace) {
	bool made;
};

FIXTURE_SETUP(trace)
{
	if (access(TRACEFS "/instances", F_OK))
		ASSERT_EQ(0, mount("tracefs", TRACEFS, "tracefs", 0, NULL))
			TH_LOG("mount tracefs: %s", strerror(errno));
	if (access(TRACE_INST, F_OK)) {
		ASSERT_EQ(0, mkdir(TRACE_INST, 0700))
			TH_LOG("%s: %s", TRACE_INST, strerror(errno));
		self->made = true;
	}
	ASSERT_EQ(0, access(TRACE_INST "/events/kup/kup_attach", F_OK));
	ASSERT_EQ(0, write_str(TRACE_INST "/trace", ""));
	ASSERT_EQ(0, write_str(TRACE_INST "/events/kup/enable", "1"));
}

FIXTURE_TEARDOWN(trace)
{
	write_str(TRACE_INST "/events/kup/enable", "0");
	if (self->made)
		rmdir(TRACE_INST);
}

/* Attach, sleeping exchanges both ways, a break, a detach: all traced. */
TEST_F(trace, events)
{
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;
	char ev[64][256], want[128], *text;
	int n, i, at, pass, hello, sleep;
	unsigned int idx;
	const void *d = NULL;
	long pages;

	ASSERT_EQ(0, param_write("kup_echo", "spin_us", "500"));
	ASSERT_EQ(0, echo_attach(&dev, &ch, 4096));
	idx = kup_chan_index(ch);
	pages = region_pages(ch->mem);
	/* The kernel sleeps for us, we wake it. */
	ASSERT_TRUE(kernel_asleep(ch, 10000));
	ASSERT_EQ(0, kup_send(ch, "hello", 5, 0));
	ASSERT_EQ(5, kup_recv(ch, &d, 0));
	/* We sleep in KUP_IOC_WAIT for the parked echo, its pass wakes us. */
	ASSERT_EQ(0, echo_park(ch, PARK_CMD));
	snprintf(want, sizeof(want), "kup_sleep: dev=kup_echo chan=%u side=user",
		 idx);
	ASSERT_EQ((ssize_t)strlen(PARK_CMD),
		  sleeping_recv(ch, TRACE_INST "/trace", want));
	/* The kernel side breaks the channel. */
	ASSERT_EQ(0, kup_send(ch, "KUPECHO:OVERSIZE", 17, 0));
	ASSERT_EQ(-ECONNRESET, kup_recv(ch, &d, 0));
	kup_chan_close(ch);
	kup_close(dev);
	ASSERT_EQ(0, write_str(TRACE_INST "/events/kup/enable", "0"));

	text = slurp(TRACE_INST "/trace");
	ASSERT_NE(NULL, text);
	n = chan_events(text, idx, ev, 64);
	free(text);
	for (i = 0; i < n; i++)
		TH_LOG("%s", ev[i]);
	ASSERT_LE(0, at = find_event(ev, n, 0, "kup_attach:"));
	EXPECT_EQ(0, at);
	EXPECT_EQ(getpid(), field(ev[at], "tgid"));
	EXPECT_EQ(1, field(ev[at], "slots"));
	EXPECT_EQ(4096, field(ev[at], "buf_size"));
	EXPECT_EQ(pages, field(ev[at], "pages"));
	/* The greeting: "kup_echo <chan>". */
	snprintf(want, sizeof(want), "kup_echo %u", idx);
	ASSERT_LE(0, pass = find_event(ev, n, at, "kup_pass:"));
	EXPECT_EQ((long)strlen(want), field(ev[pass], "len"));
	EXPECT_EQ(0, field(ev[pass], "slot"));
	/*
	 * The kernel slept for our hello and we woke it. (We may have slept
	 * for the greeting first: its event comes before the pass is seen.)
	 */
	snprintf(want, sizeof(want),
		 "kup_sleep: dev=kup_echo chan=%u side=kernel", idx);
	ASSERT_LE(0, i = find_event(ev, n, pass, want));
	snprintf(want, sizeof(want),
		 "kup_wakeup: dev=kup_echo chan=%u side=kernel", idx);
	ASSERT_LE(0, i = find_event(ev, n, i, want));
	ASSERT_LE(0, pass = find_event(ev, n, i, "kup_pass:"));
	EXPECT_EQ(5, field(ev[pass], "len"));
	hello = pass;
	/* The parked echo's pass: we slept for it, it woke us. */
	for (i = pass + 1; i < n; i++)
		if (!strncmp(ev[i], "kup_pass:", 9) &&
		    field(ev[i], "len") == (long)strlen(PARK_CMD))
			break;
	ASSERT_LT(i, n);
	pass = i;
	snprintf(want, sizeof(want), "kup_sleep: dev=kup_echo chan=%u side=user",
		 idx);
	/* The last user sleep before that pass came after the hello's. */
	for (sleep = -1, i = hello; (i = find_event(ev, n, i + 1, want)) >= 0 &&
	     i < pass;)
		sleep = i;
	EXPECT_LT(hello, sleep);
	ASSERT_LE(0, i = find_event(ev, n, pass, "kup_wakeup:"));
	EXPECT_NE(NULL, strstr(ev[i], "side=user"));
	ASSERT_LE(0, i = find_event(ev, n, i, "kup_break:"));
	EXPECT_EQ(ECONNRESET, field(ev[i], "error"));
	ASSERT_LE(0, i = find_event(ev, n, i, "kup_detach:"));
	EXPECT_EQ(field(ev[at], "gen"), field(ev[i], "gen"));
	EXPECT_EQ(ECONNRESET, field(ev[i], "error"));
}

TEST_HARNESS_MAIN
