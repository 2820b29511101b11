// SPDX-License-Identifier: GPL-2.0
/*
 * Host tests of lib/kup.h against the fake kernel peer (fake_kernel.c):
 * the library's system calls go to the fake through its test hook, and
 * the "kernel threads" are pthreads that play driver/chan.c. Built and
 * run plain and under AddressSanitizer + UBSan and ThreadSanitizer by
 * the Makefile (make check).
 */
#define _GNU_SOURCE
#include "harness.h"
#include "fake_kernel.h"

#define KUPLIB_OPEN	fk_open
#define KUPLIB_CLOSE	fk_close
#define KUPLIB_IOCTL	fk_ioctl
#define KUPLIB_MMAP	fk_mmap
#include <kernproxy.h>	/* and kup.h */

#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>

#define DEV_NAME	"fake0"
#define MAX_BUF		(16 * 4096)
#define NCHAN		4

/* Deterministic payload: byte i of message n. */
static unsigned char pattern(unsigned long n, size_t i)
{
	return (unsigned char)(n * 131 + i * 7 + (i >> 8));
}

static void fill(void *buf, size_t len, unsigned long n)
{
	unsigned char *p = (unsigned char *)buf;
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = pattern(n, i);
}

/* Index of the first wrong byte, or -1. */
static long check_fill(const void *buf, size_t len, unsigned long n)
{
	const unsigned char *p = (const unsigned char *)buf;
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != pattern(n, i))
			return (long)i;
	return -1;
}

/* Larger than any buffer: for sends that must fail with -EMSGSIZE. */
static unsigned char big[MAX_BUF + 1];

static void ms_sleep(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/*
 * The kernel client of most tests: greets on a ping-pong channel
 * ("fake <chan>"), then echoes every message. Commands: "HOLD" keeps the
 * turn without answering until the channel stops; "DELAY" answers after
 * 20 ms. On a pipelined channel a reply is passed with FK_MORE while the
 * next message already waits (one wake-up check per run, as kup_serve()).
 */
static int greet(struct fk_sess *s)
{
	char hello[32];

	snprintf(hello, sizeof(hello), "fake %u", fk_chan(s));
	return fk_send(s, hello, (uint32_t)strlen(hello), 0);
}

static void serve_echo(struct fk_sess *s, void *arg)
{
	unsigned char *buf = (unsigned char *)fk_sess_buf(s);
	ssize_t n;
	int more, i;

	(void)arg;
	if (fk_nslots(s) == 1 && greet(s))
		return;
	for (;;) {
		n = fk_recv(s, buf, 0);
		if (n < 0)
			break;
		if (n == 4 && !memcmp(buf, "HOLD", 4)) {
			/* Bounded: the fake's waits end within seconds. */
			for (i = 0; i < 20000 && fk_ready(s, 0) >= 0; i++)
				ms_sleep(1);
			break;
		}
		if (n == 5 && !memcmp(buf, "DELAY", 5))
			ms_sleep(20);
		more = fk_nslots(s) > 1 && fk_ready(s, 1) == 1;
		if (fk_send(s, buf, (uint32_t)n, more ? FK_MORE : 0))
			break;
	}
}

static struct fk_config echo_cfg(void)
{
	struct fk_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.name = DEV_NAME;
	cfg.nchan = NCHAN;
	cfg.max_buf = MAX_BUF;
	cfg.min_buf = KUP_LINE_SIZE;
	cfg.spins = 2000;
	cfg.timeout_ms = 3000;
	cfg.serve = serve_echo;
	return cfg;
}

static struct fk_dev *fake_dev(const struct fk_config *cfg,
			       struct kup_device **devp)
{
	struct fk_dev *fk = fk_dev_create(cfg);

	REQUIRE(fk, "fk_dev_create");
	REQUIRE_EQ(kup_open(cfg->name, devp), 0);
	return fk;
}

/* Attach a ping-pong channel and read the greeting. */
static struct kup_channel *echo_attach(struct kup_device *dev, size_t buf)
{
	struct kup_channel *ch = NULL;
	const void *d = NULL;
	ssize_t len;

	REQUIRE_EQ(kup_chan_attach(dev, KUP_CHAN_ANY, buf, 0, &ch), 0);
	len = kup_recv(ch, &d, 0);
	REQUIRE(len > 0 && !memcmp(d, "fake ", 5), "greeting: %zd", len);
	return ch;
}

/* One round trip of message n, len bytes, checked; 0 or why not. */
static int roundtrip(struct kup_channel *ch, unsigned long n, size_t len,
		     unsigned int flags, int zero_copy)
{
	unsigned char *msg = NULL;
	const void *d = NULL;
	size_t size;
	ssize_t got;
	void *buf;
	int ret;

	if (zero_copy) {
		ret = kup_send_buf(ch, &buf, &size, flags);
		if (ret)
			return ret;
		if (len > size)
			return -EMSGSIZE;
		fill(buf, len, n);
		ret = kup_send_commit(ch, len);
	} else {
		msg = (unsigned char *)malloc(len + 1);
		if (!msg)
			return -ENOMEM;
		fill(msg, len, n);
		ret = kup_send(ch, msg, len, flags);
		free(msg);
	}
	if (ret)
		return ret;
	got = kup_recv(ch, &d, flags);
	if (got < 0)
		return (int)got;
	if ((size_t)got != len)
		return 1000;
	if (check_fill(d, len, n) >= 0)
		return 1001;
	/* Small messages come in the slot's own line. */
	if (len <= KUP_INLINE_MAX &&
	    d != (const void *)kupi_slot(ch, (ch->urecv + ch->nslots - 1) %
					 ch->nslots)->data)
		return 1002;
	return 0;
}

/*
 * Stream n messages through a pipelined channel at the given depth,
 * lengths from lens[] in turn; with burst, KUP_MORE on all sends of a
 * window but the last. 0, -errno, or 1000+ for wrong data.
 */
static int pipe_stream(struct kup_channel *ch, unsigned long n,
		       unsigned int depth, int burst, const size_t *lens,
		       size_t nlens)
{
	unsigned long sent = 0, got = 0;
	unsigned char *msg = (unsigned char *)malloc(MAX_BUF);
	const void *d = NULL;
	int ret = 0, first;
	ssize_t len;

	if (!msg)
		return -ENOMEM;
	while (got < n) {
		while (sent < n && kup_chan_inflight(ch) < depth) {
			size_t l = lens[sent % nlens];
			int more = burst && sent + 1 < n &&
				   kup_chan_inflight(ch) + 1 < depth;

			fill(msg, l, sent);
			ret = kup_send(ch, msg, l, more ? KUP_MORE : 0);
			if (ret)
				goto out;
			sent++;
		}
		first = 1;
		do {
			len = kup_recv(ch, &d, first ? 0 : KUP_NONBLOCK);
			if (len == -EAGAIN && !first)
				break;
			if (len < 0) {
				ret = (int)len;
				goto out;
			}
			if ((size_t)len != lens[got % nlens]) {
				ret = 1000;
				goto out;
			}
			if (check_fill(d, len, got) >= 0) {
				ret = 1001;
				goto out;
			}
			got++;
			first = 0;
		} while (burst && got < sent);
	}
out:
	free(msg);
	return ret;
}

static int no_fake_failures(void)
{
	if (!fk_failures())
		return 0;
	printf("# the fake kernel saw %lu failures\n", fk_failures());
	return 1;
}

TEST(open_and_info, 10)
{
	struct fk_config cfg = echo_cfg();
	struct kup_device *dev = NULL, *dev2 = NULL;
	struct fk_dev *fk = fake_dev(&cfg, &dev);

	CHECK_EQ(dev->info.abi_version, KUP_ABI_VERSION);
	CHECK_EQ(dev->info.nchan, NCHAN);
	CHECK_EQ(dev->info.max_buf_size, MAX_BUF);
	CHECK_EQ(dev->info.page_size, sysconf(_SC_PAGESIZE));
	CHECK(kup_fd(dev) >= 0, "fd %d", kup_fd(dev));
	CHECK_EQ(kup_open("/dev/" DEV_NAME, &dev2), 0);
	kup_close(dev2);
	CHECK_EQ(kup_open("nosuch", &dev2), -ENOENT);
	CHECK(dev2 == NULL, "dev2 set on failure");
	CHECK_EQ(kup_open(NULL, &dev2), -EINVAL);
	kup_close(dev);
	fk_dev_destroy(fk);
}

static const size_t size_classes[] = {
	/* bytes, the 4- and 8-byte moves, their tails, inline, buffer */
	0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65,
	KUP_INLINE_MAX - 1, KUP_INLINE_MAX, KUP_INLINE_MAX + 1, 127, 128,
	129, 255, 256, 1000, 4095, 4096, 4097, 8191, 8192,
};

/* A newer kernel's region header: it uses words that are reserved here. */
static void hdr_newer(struct kup_region_hdr *h, void *arg)
{
	unsigned int i;

	(void)arg;
	for (i = 0; i < sizeof(h->reserved) / sizeof(h->reserved[0]); i++)
		h->reserved[i] = 0x5a5a5a5a00000000ULL + i;
}

/*
 * The ABI policy (include/uapi/linux/kup.h): this library, built against
 * an older header, runs on a newer kernel of the same major, which
 * reports feature bits and fills words this header calls reserved; it
 * refuses another major.
 */
TEST(abi_newer_kernel, 20)
{
	const uint64_t extra = (1ULL << 0) | (1ULL << 17) | (1ULL << 63);
	struct fk_config cfg = echo_cfg();
	struct kup_device *dev = NULL, *dev2 = NULL;
	struct kup_channel *ch;
	struct fk_dev *fk;
	unsigned long n = 0;
	size_t len;

	cfg.features = KUP_FEATURES | extra;
	cfg.info_reserved = 0xabcdef;
	fk = fake_dev(&cfg, &dev);
	CHECK_EQ(dev->info.abi_version, KUP_ABI_VERSION);
	CHECK_EQ(dev->info.features, KUP_FEATURES | extra);
	fk_corrupt_hdr(fk, hdr_newer, NULL);
	ch = echo_attach(dev, 0);
	CHECK_EQ(ch->hdr->reserved[0], 0x5a5a5a5a00000000ULL);
	for (len = 0; len <= 2 * KUP_INLINE_MAX; len += 37)
		CHECK_EQ(roundtrip(ch, n++, len, 0, len & 1), 0);
	CHECK_EQ(kup_chan_close(ch), 0);
	kup_close(dev);
	fk_dev_destroy(fk);

	/* Another major: refused at open, whatever the features. */
	cfg = echo_cfg();
	cfg.abi_version = KUP_ABI_VERSION + 1;
	fk = fk_dev_create(&cfg);
	REQUIRE(fk, "fk_dev_create");
	CHECK_EQ(kup_open(cfg.name, &dev2), -EPROTONOSUPPORT);
	CHECK(dev2 == NULL, "dev2 set on failure");
	fk_dev_destroy(fk);
}

TEST(pingpong_every_size, 30)
{
	struct fk_config cfg = echo_cfg();
	struct kup_device *dev = NULL;
	struct fk_dev *fk = fake_dev(&cfg, &dev);
	struct kup_channel *ch = echo_attach(dev, 0);
	size_t max = kup_chan_buf_size(ch), len, i;
	unsigned long n = 0;

	CHECK_EQ(max, MAX_BUF);
	for (len = 0; len <= 2 * KUP_INLINE_MAX + 8; len++) {
		CHECK_EQ(roundtrip(ch, n++, len, 0, 0), 0);
		CHECK_EQ(roundtrip(ch, n++, len, 0, 1), 0);
	}
	for (i = 0; i < sizeof(size_classes) / sizeof(size_classes[0]); i++)
		CHECK_EQ(roundtrip(ch, n++, size_classes[i], 0, i & 1), 0);
	for (len = max - 2; len <= max; len++)
		CHECK_EQ(roundtrip(ch, n++, len, 0, len & 1), 0);
	CHECK_EQ(kup_send(ch, big, max + 1, 0), -EMSGSIZE);
	CHECK_EQ(kup_send_commit(ch, max + 1), -EMSGSIZE);
	CHECK_EQ(kup_chan_ready(ch), 1);
	CHECK_EQ(kup_chan_close(ch), 0);
	kup_close(dev);
	fk_dev_destroy(fk);
}

TEST(pipelined_every_size, 30)
{
	static const unsigned int slots[] = { 2, 3, 8, KUP_MAX_SLOTS };
	struct fk_config cfg = echo_cfg();
	struct kup_device *dev = NULL;
	struct fk_dev *fk = fake_dev(&cfg, &dev);
	size_t nsz = sizeof(size_classes) / sizeof(size_classes[0]);
	const void *d = NULL;
	unsigned int i;

	for (i = 0; i < sizeof(slots) / sizeof(slots[0]); i++) {
		struct kup_channel *ch = NULL;

		REQUIRE_EQ(kup_chan_attach_slots(dev, KUP_CHAN_ANY, 8192,
						 slots[i], 0, &ch), 0);
		CHECK_EQ(kup_chan_buf_size(ch), 8192);
		CHECK_EQ(ch->hdr->nslots, slots[i]);
		/* We hold every first turn: nothing to receive. */
		CHECK_EQ(kup_recv(ch, &d, 0), -EDEADLK);
		CHECK_EQ(pipe_stream(ch, 2 * nsz, slots[i], 0, size_classes,
				     nsz), 0);
		CHECK_EQ(pipe_stream(ch, 2 * nsz, slots[i], 1, size_classes,
				     nsz), 0);
		CHECK_EQ(kup_chan_inflight(ch), 0);
		CHECK_EQ(kup_chan_close(ch), 0);
	}
	kup_close(dev);
	fk_dev_destroy(fk);
}

/* Both sides sleep at every wait and wake each other. */
TEST(stress_both_sleeping, 60)
{
	static const size_t lens[] = { 8, 100, 200, 3000 };
	struct fk_config cfg = echo_cfg();
	struct kup_device *dev = NULL;
	struct kup_channel *ch, *pch = NULL;
	struct fk_stats st;
	struct fk_dev *fk;
	unsigned long n;

	cfg.spins = 0;
	fk = fake_dev(&cfg, &dev);
	ch = echo_attach(dev, 4096);
	kup_chan_set_spin(ch, 0);
	for (n = 0; n < 3000; n++) {
		int ret = roundtrip(ch, n, 8 + n % 200, 0, n & 1);

		REQUIRE(!ret, "message %lu: %d", n, ret);
	}
	REQUIRE_EQ(kup_chan_attach_slots(dev, KUP_CHAN_ANY, 4096, 4, 0,
					 &pch), 0);
	kup_chan_set_spin(pch, 0);
	CHECK_EQ(pipe_stream(pch, 3000, 4, 0, lens, 4), 0);
	CHECK_EQ(pipe_stream(pch, 3000, 4, 1, lens, 4), 0);
	fk_get_stats(fk, &st);
	CHECK(st.waits > 100, "the process slept %lu times", st.waits);
	CHECK(st.wakes > 100, "the process woke the kernel %lu times",
	      st.wakes);
	kup_chan_close(pch);
	kup_chan_close(ch);
	kup_close(dev);
	fk_dev_destroy(fk);
}

/*
 * Both sides poll; the process never sleeps (KUP_SPIN_ONLY, or a spin
 * budget longer than any wait). One channel at a time: two polling
 * threads on two CPUs.
 */
TEST(stress_both_spinning, 60)
{
	static const size_t lens[] = { 8, 100, 200, 3000 };
	struct fk_config cfg = echo_cfg();
	struct kup_device *dev = NULL;
	struct kup_channel *ch, *pch = NULL;
	struct fk_stats st0, st;
	struct fk_dev *fk;
	unsigned long n;

	cfg.spins = 100000000;
	cfg.timeout_ms = 10000;
	fk = fake_dev(&cfg, &dev);
	ch = echo_attach(dev, 4096);
	fk_get_stats(fk, &st0);
	kup_chan_set_poll_limit(ch, 1ULL << 32);
	for (n = 0; n < 20000; n++) {
		int ret = roundtrip(ch, n, 8 + n % 300, KUP_SPIN_ONLY, n & 1);

		REQUIRE(!ret, "message %lu: %d", n, ret);
	}
	fk_get_stats(fk, &st);
	CHECK_EQ(st.waits - st0.waits, 0);
	CHECK_EQ(kup_chan_close(ch), 0);
	REQUIRE_EQ(kup_chan_attach_slots(dev, KUP_CHAN_ANY, 4096, 8, 0,
					 &pch), 0);
	kup_chan_set_spin(pch, 1U << 30);
	fk_get_stats(fk, &st0);
	CHECK_EQ(pipe_stream(pch, 20000, 8, 1, lens, 4), 0);
	fk_get_stats(fk, &st);
	CHECK_EQ(st.waits - st0.waits, 0);
	kup_chan_close(pch);
	kup_close(dev);
	fk_dev_destroy(fk);
}

struct stress_arg {
	struct kup_channel *ch;
	unsigned int nslots;
	unsigned long count;
	unsigned int seed;
	int err;
	unsigned long done;
};

/*
 * Spin budgets that change all the time, 0 to a few polls, so that the
 * sleeps and the passes interleave every possible way.
 */
static void *stress_worker(void *p)
{
	static const size_t lens[] = { 1, 64, 112, 113, 500 };
	struct stress_arg *a = (struct stress_arg *)p;
	unsigned long n;
	int ret;

	for (n = 0; n < a->count; n += 50) {
		kup_chan_set_spin(a->ch, rand_r(&a->seed) % 8);
		if (a->nslots == 1) {
			unsigned long i;

			for (i = 0; i < 50; i++) {
				ret = roundtrip(a->ch, n + i, lens[i % 5], 0,
						i & 1);
				if (ret)
					break;
			}
		} else {
			ret = pipe_stream(a->ch, 50, 1 + rand_r(&a->seed) %
					  a->nslots, n & 64, lens, 5);
		}
		if (ret) {
			a->err = ret;
			break;
		}
		a->done = n + 50;
	}
	return NULL;
}

/* No lost wake-up: a sleep that is never woken times the fake out. */
TEST(lost_wakeup_stress, 90)
{
	struct fk_config cfg = echo_cfg();
	struct stress_arg a[NCHAN];
	struct kup_device *dev = NULL;
	pthread_t t[NCHAN];
	struct fk_dev *fk;
	unsigned int i, k;

	cfg.spins = 4;
	cfg.timeout_ms = 2000;
	fk = fake_dev(&cfg, &dev);
	memset(a, 0, sizeof(a));
	for (i = 0; i < NCHAN; i++) {
		a[i].nslots = i % 2 ? 4 : 1;
		a[i].count = 4000;
		a[i].seed = i + 1;
		if (a[i].nslots == 1)
			a[i].ch = echo_attach(dev, 4096);
		else
			REQUIRE_EQ(kup_chan_attach_slots(dev, KUP_CHAN_ANY,
							 4096, 4, 0, &a[i].ch),
				   0);
	}
	for (k = 0; k < 3; k++) {
		fk_dev_set_spins(fk, k);
		for (i = 0; i < NCHAN; i++)
			REQUIRE_EQ(pthread_create(&t[i], NULL, stress_worker,
						  &a[i]), 0);
		for (i = 0; i < NCHAN; i++) {
			pthread_join(t[i], NULL);
			CHECK(!a[i].err, "channel %u: error %d after %lu", i,
			      a[i].err, a[i].done);
		}
	}
	for (i = 0; i < NCHAN; i++)
		kup_chan_close(a[i].ch);
	kup_close(dev);
	fk_dev_destroy(fk);
}

/* Bursts of KUP_MORE sends, the last without, against a sleeping kernel. */
TEST(more_bursts, 60)
{
	struct fk_config cfg = echo_cfg();
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;
	const void *d = NULL;
	unsigned long n = 0, got = 0;
	unsigned int round, k, i;
	unsigned char msg[64];
	struct fk_dev *fk;
	ssize_t len;

	cfg.spins = 0;
	fk = fake_dev(&cfg, &dev);
	REQUIRE_EQ(kup_chan_attach_slots(dev, KUP_CHAN_ANY, 4096, 8, 0, &ch),
		   0);
	kup_chan_set_spin(ch, 0);
	for (round = 0; round < 400; round++) {
		k = 1 + round % 8;
		for (i = 0; i < k; i++) {
			fill(msg, sizeof(msg), n);
			REQUIRE_EQ(kup_send(ch, msg, sizeof(msg),
					    i + 1 < k ? KUP_MORE : 0), 0);
			n++;
		}
		for (i = 0; i < k; i++) {
			len = kup_recv(ch, &d, 0);
			REQUIRE(len == sizeof(msg), "round %u: %zd", round,
				len);
			REQUIRE(check_fill(d, len, got) < 0, "round %u",
				round);
			got++;
		}
	}
	kup_chan_close(ch);
	kup_close(dev);
	fk_dev_destroy(fk);
}

struct blocked {
	struct kup_channel *ch;
	unsigned int flags;
	unsigned int spins;
	ssize_t ret;
	int started;
};

static void *blocked_recv(void *p)
{
	struct blocked *b = (struct blocked *)p;
	const void *d = NULL;

	kup_chan_set_spin(b->ch, b->spins);
	kup_chan_set_poll_limit(b->ch, 1ULL << 40);
	__atomic_store_n(&b->started, 1, __ATOMIC_SEQ_CST);
	b->ret = kup_recv(b->ch, &d, b->flags);
	return NULL;
}

/*
 * Start a receive that waits (asleep, or polling with KUP_SPIN_ONLY) for a
 * kernel that holds the turn.
 */
static void start_blocked(struct fk_dev *fk, struct blocked *b,
			  pthread_t *t, struct kup_channel *ch,
			  unsigned int flags)
{
	memset(b, 0, sizeof(*b));
	b->ch = ch;
	b->flags = flags;
	b->ret = 1;
	REQUIRE_EQ(kup_send(ch, "HOLD", 4, 0), 0);
	REQUIRE_EQ(pthread_create(t, NULL, blocked_recv, b), 0);
	if (flags & KUP_SPIN_ONLY) {
		while (!__atomic_load_n(&b->started, __ATOMIC_SEQ_CST))
			ms_sleep(1);
		ms_sleep(20);
	} else {
		REQUIRE_EQ(fk_wait_user_asleep(fk, kup_chan_index(ch), 3000),
			   0);
	}
}

TEST(error_shutdown, 20)
{
	struct fk_config cfg = echo_cfg();
	struct kup_device *dev = NULL;
	struct kup_channel *a, *b;
	struct blocked ba, bb;
	const void *d = NULL;
	pthread_t ta, tb;
	struct fk_dev *fk;

	fk = fake_dev(&cfg, &dev);
	a = echo_attach(dev, 4096);
	b = echo_attach(dev, 4096);
	start_blocked(fk, &ba, &ta, a, 0);
	start_blocked(fk, &bb, &tb, b, KUP_SPIN_ONLY);
	fk_dev_shutdown(fk);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	CHECK_EQ(ba.ret, -ESHUTDOWN);
	CHECK_EQ(bb.ret, -ESHUTDOWN);
	CHECK_EQ(a->ks->state, KUP_STATE_SHUTDOWN);
	CHECK_EQ(kup_chan_ready(a), -ESHUTDOWN);
	CHECK_EQ(kup_send(a, "x", 1, 0), -ESHUTDOWN);
	CHECK_EQ(kup_recv(b, &d, KUP_NONBLOCK), -ESHUTDOWN);
	CHECK_EQ(kup_chan_close(a), 0);
	CHECK_EQ(kup_chan_close(b), 0);
	kup_close(dev);
	fk_dev_destroy(fk);
}

static struct fk_sess *g_sess[NCHAN];

/* Greet, then hand the session to the test and wait for it to stop. */
static void serve_park(struct fk_sess *s, void *arg)
{
	int i;

	(void)arg;
	if (fk_nslots(s) == 1 && greet(s))
		return;
	__atomic_store_n(&g_sess[fk_chan(s)], s, __ATOMIC_SEQ_CST);
	for (i = 0; i < 20000 && fk_ready(s, 0) >= 0; i++)
		ms_sleep(1);
}

static struct fk_sess *parked(uint32_t chan)
{
	struct fk_sess *s;
	int i;

	for (i = 0; i < 3000; i++) {
		s = __atomic_load_n(&g_sess[chan], __ATOMIC_SEQ_CST);
		if (s)
			return s;
		ms_sleep(1);
	}
	REQUIRE(0, "no kernel session on channel %u", chan);
	return NULL;
}

/* A channel stopped by the kernel side: errors, not hangs. */
TEST(error_detached_and_broken, 30)
{
	static const struct {
		uint32_t state, err;
		int want;
	} raw[] = {
		{ KUP_STATE_DETACHED, 0, -ENOTCONN },
		{ KUP_STATE_SHUTDOWN, 0, -ESHUTDOWN },
		{ KUP_STATE_BROKEN, EBADMSG, -EBADMSG },
		{ KUP_STATE_BROKEN, 0, -EPROTO },
		{ KUP_STATE_BROKEN, 5000, -EPROTO },
		{ 0, 0, -EPROTO },
		{ 99, EIO, -EIO },
	};
	struct fk_config cfg = echo_cfg();
	struct kup_device *dev = NULL;
	struct kup_channel *ch;
	struct blocked b;
	const void *d = NULL;
	struct fk_dev *fk;
	unsigned int i;
	pthread_t t;

	cfg.serve = serve_park;
	fk = fake_dev(&cfg, &dev);
	/* Asleep, then detached from the kernel side. */
	ch = echo_attach(dev, 4096);
	memset(&b, 0, sizeof(b));
	b.ch = ch;
	REQUIRE_EQ(kup_send(ch, "x", 1, 0), 0);
	REQUIRE_EQ(pthread_create(&t, NULL, blocked_recv, &b), 0);
	REQUIRE_EQ(fk_wait_user_asleep(fk, kup_chan_index(ch), 3000), 0);
	REQUIRE_EQ(fk_detach(fk, kup_chan_index(ch)), 0);
	pthread_join(t, NULL);
	CHECK_EQ(b.ret, -ENOTCONN);
	CHECK_EQ(kup_chan_ready(ch), -ENOTCONN);
	kup_chan_close(ch);
	/* Asleep, then broken. */
	ch = echo_attach(dev, 4096);
	memset(&b, 0, sizeof(b));
	b.ch = ch;
	REQUIRE_EQ(kup_send(ch, "x", 1, 0), 0);
	REQUIRE_EQ(pthread_create(&t, NULL, blocked_recv, &b), 0);
	REQUIRE_EQ(fk_wait_user_asleep(fk, kup_chan_index(ch), 3000), 0);
	REQUIRE_EQ(fk_break(parked(kup_chan_index(ch)), EPROTO), 0);
	pthread_join(t, NULL);
	CHECK_EQ(b.ret, -EPROTO);
	CHECK_EQ(kup_chan_close(ch), 0);
	/* Raw states, seen while polling and without waiting. */
	for (i = 0; i < sizeof(raw) / sizeof(raw[0]); i++) {
		__atomic_store_n(&g_sess[0], NULL, __ATOMIC_SEQ_CST);
		REQUIRE_EQ(kup_chan_attach(dev, 0, 4096, 0, &ch), 0);
		REQUIRE_EQ(kup_recv(ch, &d, 0), 6);
		REQUIRE_EQ(kup_send(ch, "x", 1, 0), 0);
		REQUIRE_EQ(fk_set_state(parked(0), raw[i].state, raw[i].err),
			   0);
		kup_chan_set_poll_limit(ch, 1ULL << 40);
		CHECK(kup_recv(ch, &d, KUP_SPIN_ONLY) == raw[i].want,
		      "case %u", i);
		CHECK(kup_recv(ch, &d, KUP_NONBLOCK) == raw[i].want,
		      "case %u", i);
		CHECK(kup_send(ch, "x", 1, KUP_NONBLOCK) == raw[i].want,
		      "case %u", i);
		CHECK(kup_chan_ready(ch) == raw[i].want, "case %u", i);
		CHECK(d == NULL, "case %u", i);
		kup_chan_close(ch);
	}
	kup_close(dev);
	fk_dev_destroy(fk);
}

/* Answer one message, then end the session as kup_end_session() does. */
static void serve_reply_then_end(struct fk_sess *s, void *arg)
{
	unsigned char buf[4096];
	ssize_t n;

	(void)arg;
	if (fk_nslots(s) == 1 && greet(s))
		return;
	n = fk_recv(s, buf, 0);
	if (n < 0 || fk_send(s, buf, (uint32_t)n, 0))
		return;
	fk_break(s, ECONNRESET);
}

/*
 * The kernel passes a last message and then ends the session: the message
 * is still received; only the next receive reports the end.
 */
TEST(message_before_end_is_delivered, 20)
{
	struct fk_config cfg = echo_cfg();
	struct kup_device *dev = NULL;
	struct kup_channel *ch;
	const void *d = NULL;
	struct fk_dev *fk;
	int i;

	cfg.serve = serve_reply_then_end;
	fk = fake_dev(&cfg, &dev);
	ch = echo_attach(dev, 4096);
	REQUIRE_EQ(kup_send(ch, "bye", 3, 0), 0);
	for (i = 0; i < 10000 && __atomic_load_n(&ch->ks->state,
				__ATOMIC_ACQUIRE) != KUP_STATE_BROKEN; i++)
		usleep(1000);
	REQUIRE_EQ(ch->ks->state, KUP_STATE_BROKEN);
	CHECK_EQ(kup_chan_ready(ch), 1);
	CHECK_EQ(kup_recv(ch, &d, 0), 3);
	CHECK(d && !memcmp(d, "bye", 3), "the last message");
	CHECK_EQ(kup_recv(ch, &d, 0), -ECONNRESET);
	CHECK_EQ(kup_chan_ready(ch), -ECONNRESET);
	CHECK_EQ(kup_send(ch, "x", 1, KUP_NONBLOCK), -ECONNRESET);
	kup_chan_close(ch);
	kup_close(dev);
	fk_dev_destroy(fk);
}

/* All out of range for 4 slots and for 1 */
static uint32_t g_kwait_garbage[] = { 0xffffffffU, 1000, 65, 9, 5, 6 };

/* Echo, with a hostile kstate.kwait before every receive. */
static void serve_kwait_garbage(struct fk_sess *s, void *arg)
{
	unsigned char buf[4096];
	unsigned int i = 0;
	ssize_t n;

	(void)arg;
	if (fk_nslots(s) == 1 && greet(s))
		return;
	for (;; i++) {
		if (fk_set_kwait(s, g_kwait_garbage[i % 6]))
			break;
		n = fk_recv(s, buf, 0);
		if (n < 0 || fk_send(s, buf, (uint32_t)n, 0))
			break;
	}
}

/* kstate.kwait out of range: bounded, never a wake-up for nothing. */
TEST(hostile_kwait, 30)
{
	static const size_t lens[] = { 10, 300 };
	struct fk_config cfg = echo_cfg();
	struct kup_device *dev = NULL;
	struct kup_channel *ch, *pch = NULL;
	struct fk_stats st;
	struct fk_dev *fk;
	unsigned long n;

	cfg.serve = serve_kwait_garbage;
	cfg.spins = 1000000000;
	cfg.timeout_ms = 10000;
	fk = fake_dev(&cfg, &dev);
	ch = echo_attach(dev, 4096);
	for (n = 0; n < 200; n++)
		CHECK_EQ(roundtrip(ch, n, 10 + n, KUP_SPIN_ONLY, 0), 0);
	REQUIRE_EQ(kup_chan_attach_slots(dev, KUP_CHAN_ANY, 4096, 4, 0,
					 &pch), 0);
	kup_chan_set_spin(pch, 1U << 30);
	CHECK_EQ(pipe_stream(pch, 200, 4, 1, lens, 2), 0);
	fk_get_stats(fk, &st);
	CHECK_EQ(st.wakes, 0);
	kup_chan_close(pch);
	kup_chan_close(ch);
	kup_close(dev);
	fk_dev_destroy(fk);
}

static const struct {
	uint32_t len, seq_delta, flags, turn_delta;
	int want;
} g_slot_garbage[] = {
	{ 4096 + 1, 0, 0, 0, -EBADMSG },		/* past the buffer */
	{ 0xffffffffU, 0, 0, 0, -EBADMSG },
	{ KUP_INLINE_MAX + 1, 0, KUP_SLOT_INLINE, 0, -EBADMSG },
	{ 8, 1, 0, 0, -EBADMSG },			/* wrong seq */
	{ 8, 0xfffffffeU, 0, 0, -EBADMSG },
	{ 8, 0, 0x80, 0, -EBADMSG },			/* unknown flag */
	{ 8, 0, 0xffffffffU, 0, -EBADMSG },
	{ 8, 2, 0, 2, -EPROTO },		/* a turn from nowhere */
	{ 8, 0xfffffffeU, 0, 0xfffffffeU, -EPROTO },
};

static unsigned int g_garbage_case;

/* Pass the turn with garbage from g_slot_garbage. */
static void serve_slot_garbage(struct fk_sess *s, void *arg)
{
	unsigned int i = __atomic_load_n(&g_garbage_case, __ATOMIC_SEQ_CST);
	unsigned char buf[4096];
	int k;

	(void)arg;
	if (fk_nslots(s) > 1 && fk_recv(s, buf, 0) < 0)
		return;
	fk_send_raw(s, g_slot_garbage[i].len, g_slot_garbage[i].seq_delta,
		    g_slot_garbage[i].flags, g_slot_garbage[i].turn_delta);
	for (k = 0; k < 20000 && fk_ready(s, 0) >= 0; k++)
		ms_sleep(1);
}

/* Hostile slot.len, seq, flags and turn: an error, nothing read. */
TEST(hostile_slot, 30)
{
	struct fk_config cfg = echo_cfg();
	struct kup_device *dev = NULL;
	struct fk_dev *fk;
	unsigned int i, nslots;

	cfg.serve = serve_slot_garbage;
	fk = fake_dev(&cfg, &dev);
	for (i = 0; i < sizeof(g_slot_garbage) / sizeof(g_slot_garbage[0]);
	     i++) {
		for (nslots = 1; nslots <= 2; nslots++) {
			struct kup_channel *ch = NULL;
			const void *d = &d;

			__atomic_store_n(&g_garbage_case, i, __ATOMIC_SEQ_CST);
			REQUIRE_EQ(kup_chan_attach_slots(dev, KUP_CHAN_ANY,
							 4096, nslots, 0, &ch),
				   0);
			if (nslots > 1)
				REQUIRE_EQ(kup_send(ch, "x", 1, 0), 0);
			CHECK(kup_recv(ch, &d, 0) == g_slot_garbage[i].want,
			      "case %u, %u slots", i, nslots);
			CHECK(d == NULL, "case %u", i);
			/* Nothing was taken: the same error again. */
			CHECK(kup_recv(ch, &d, KUP_NONBLOCK) ==
			      g_slot_garbage[i].want, "case %u, %u slots", i,
			      nslots);
			kup_chan_close(ch);
		}
	}
	kup_close(dev);
	fk_dev_destroy(fk);
}

TEST(eventfd_and_arm, 20)
{
	struct fk_config cfg = echo_cfg();
	struct kup_device *dev = NULL;
	struct kup_channel *ch;
	struct pollfd pfd;
	const void *d = NULL;
	struct fk_dev *fk;
	uint64_t cnt;
	int efd, i;

	fk = fake_dev(&cfg, &dev);
	ch = echo_attach(dev, 4096);
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	REQUIRE(efd >= 0, "eventfd");
	CHECK_EQ(kup_chan_set_eventfd(ch, 1000), -EBADF);
	REQUIRE_EQ(kup_chan_set_eventfd(ch, efd), 0);
	/* Our turn: already ready, nothing to arm. */
	CHECK_EQ(kup_chan_arm(ch), 1);
	kup_chan_disarm(ch);
	REQUIRE_EQ(kup_send(ch, "DELAY", 5, 0), 0);
	CHECK_EQ(kup_chan_arm(ch), 0);
	pfd.fd = efd;
	pfd.events = POLLIN;
	/* A late check of the greeting's pass may signal it too. */
	for (i = 0; i < 3 && kup_chan_ready(ch) != 1; i++) {
		CHECK_EQ(poll(&pfd, 1, 3000), 1);
		CHECK_EQ(read(efd, &cnt, 8), 8);
	}
	kup_chan_disarm(ch);
	CHECK_EQ(kup_chan_ready(ch), 1);
	CHECK_EQ(kup_recv(ch, &d, KUP_NONBLOCK), 5);
	CHECK_EQ(kup_chan_set_eventfd(ch, -1), 0);
	CHECK_EQ(kup_chan_close(ch), 0);
	close(efd);
	kup_close(dev);
	fk_dev_destroy(fk);
}

TEST(nonblocking_and_bounds, 20)
{
	struct fk_config cfg = echo_cfg();
	struct kup_device *dev = NULL;
	struct kup_channel *ch, *pch = NULL;
	const void *d = NULL;
	struct fk_dev *fk;
	unsigned int i;

	fk = fake_dev(&cfg, &dev);
	ch = echo_attach(dev, 4096);
	/* Holding the turn with the message read: nothing can come. */
	CHECK_EQ(kup_recv(ch, &d, 0), -EDEADLK);
	REQUIRE_EQ(kup_send(ch, "HOLD", 4, 0), 0);
	CHECK_EQ(kup_recv(ch, &d, KUP_NONBLOCK), -EAGAIN);
	CHECK_EQ(kup_send(ch, "x", 1, KUP_NONBLOCK), -EAGAIN);
	CHECK_EQ(kup_pass(ch, KUP_NONBLOCK), -EAGAIN);
	CHECK_EQ(kup_chan_ready(ch), 0);
	kup_chan_set_poll_limit(ch, 10000);
	CHECK_EQ(kup_recv(ch, &d, KUP_SPIN_ONLY), -ETIMEDOUT);
	CHECK_EQ(kup_chan_close(ch), 0);

	REQUIRE_EQ(kup_chan_attach_slots(dev, KUP_CHAN_ANY, 1024, 4, 0, &pch),
		   0);
	CHECK_EQ(kup_recv(pch, &d, 0), -EDEADLK);
	for (i = 0; i < 4; i++)
		CHECK_EQ(kup_send(pch, "m", 1, 0), 0);
	CHECK_EQ(kup_chan_inflight(pch), 4);
	CHECK_EQ(kup_send(pch, "m", 1, 0), -ENOBUFS);
	CHECK_EQ(kup_send(pch, big, kup_chan_buf_size(pch) + 1, 0), -EMSGSIZE);
	for (i = 0; i < 4; i++)
		CHECK_EQ(kup_recv(pch, &d, 0), 1);
	CHECK_EQ(kup_recv(pch, &d, 0), -EDEADLK);
	CHECK_EQ(kup_chan_close(pch), 0);
	kup_close(dev);
	fk_dev_destroy(fk);
}

TEST(kernproxy_names, 20)
{
	struct fk_config cfg = echo_cfg();
	void *h, *c[NCHAN], *extra;
	struct fk_dev *fk;
	char *r;
	int i;

	cfg.min_buf = cfg.max_buf = 4096;	/* a fixed-size KUP device */
	fk = fk_dev_create(&cfg);
	REQUIRE(fk, "fk_dev_create");
	errno = 0;
	CHECK(kernproxy_open("nosuch") == NULL, "open nosuch");
	CHECK_EQ(errno, ENOENT);
	h = kernproxy_open(DEV_NAME);
	REQUIRE(h, "kernproxy_open");
	for (i = 0; i < NCHAN; i++) {
		c[i] = kernproxy_channel(h, 1, 1);
		REQUIRE(c[i], "channel %d: error %d", i, kernproxy_error(h));
		r = (char *)kernproxy_receive(c[i], 0);
		CHECK(r && !strncmp(r, "fake ", 5), "greeting");
	}
	CHECK_EQ(kup_chan_index((struct kup_channel *)c[0]), 1);
	CHECK_EQ(kup_chan_buf_size((struct kup_channel *)c[0]), 4096);
	extra = kernproxy_channel(h, 0, 1);
	CHECK(extra == NULL, "a fifth channel");
	CHECK_EQ(kernproxy_error(h), EKU_NOTREADY);
	CHECK(kernproxy_receive(c[0], KP_NB) == NULL, "nothing to receive");
	CHECK_EQ(kernproxy_send(c[0], (void *)"hello", 6, KP_NB), 0);
	r = (char *)kernproxy_receive(c[0], 0);
	CHECK(r && !strcmp(r, "hello"), "echo");
	CHECK_EQ(kernproxy_send(c[0], r, 1 << 20, 0), -EMSGSIZE);
	fk_dev_shutdown(fk);
	CHECK(kernproxy_receive(c[1], 0) == NULL, "after shutdown");
	CHECK_EQ(kernproxy_error(h), EKU_SHUTDOWN);
	kernproxy_close(h);
	fk_dev_destroy(fk);
}

static void hdr_set_buf_size(struct kup_region_hdr *h, void *arg)
{
	h->buf_size = (uint32_t)(uintptr_t)arg;
}

/* Buffers of at least the size asked for, rounded up to a line. */
TEST(attach_buf_size, 20)
{
	static const struct {
		size_t ask;
		uint32_t nslots;
		size_t want;
	} cases[] = {
		{ 5000, 1, 5120 }, { 4097, 1, 4224 }, { 3000, 64, 3072 },
		{ 1, 1, KUP_LINE_SIZE }, { 1024, 4, 1024 }, { 8191, 2, 8192 },
		{ MAX_BUF - 1, 1, MAX_BUF }, { 0, 1, MAX_BUF },
		{ 0, 4, MAX_BUF },
	};
	struct fk_config cfg = echo_cfg();
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;
	struct fk_dev *fk;
	unsigned int i;

	fk = fake_dev(&cfg, &dev);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t page = dev->info.page_size, want = cases[i].want;
		size_t len = (size_t)kup_region_size(cases[i].nslots, want,
						     page);

		REQUIRE_EQ(kup_chan_attach_slots(dev, KUP_CHAN_ANY,
						 cases[i].ask, cases[i].nslots,
						 0, &ch), 0);
		CHECK(kup_chan_buf_size(ch) == want, "case %u: %zu bytes", i,
		      kup_chan_buf_size(ch));
		CHECK_EQ(ch->hdr->buf_size, want);
		CHECK(ch->mem_len == (len + page - 1) / page * page,
		      "case %u: region of %zu bytes", i, ch->mem_len);
		if (cases[i].nslots == 1) {
			const void *d = NULL;

			CHECK(kup_recv(ch, &d, 0) > 0, "greeting");
			CHECK_EQ(roundtrip(ch, i, want, 0, 0), 0);
			CHECK_EQ(roundtrip(ch, i, cases[i].ask, 0, 1), 0);
		} else {
			size_t l = want;

			CHECK_EQ(pipe_stream(ch, 2 * cases[i].nslots,
					     cases[i].nslots, 1, &l, 1), 0);
		}
		CHECK_EQ(kup_send(ch, big, want + 1, 0), -EMSGSIZE);
		CHECK_EQ(kup_chan_close(ch), 0);
	}
	CHECK_EQ(kup_chan_attach(dev, KUP_CHAN_ANY, MAX_BUF + 1, 0, &ch),
		 -EINVAL);
	CHECK_EQ(kup_chan_attach(dev, KUP_CHAN_ANY, (size_t)-1, 0, &ch),
		 -EINVAL);
	CHECK(ch == NULL, "ch set on failure");
	/* A kernel that gives less than asked: the attach fails. */
	fk_corrupt_hdr(fk, hdr_set_buf_size, (void *)(uintptr_t)4096);
	CHECK_EQ(kup_chan_attach(dev, 0, 5000, 0, &ch), -EMSGSIZE);
	CHECK(!fk_chan_attached(fk, 0), "left attached");
	kup_close(dev);
	fk_dev_destroy(fk);

	/* A fixed-size (KUP API) device: sizes that round to its size. */
	cfg.min_buf = cfg.max_buf = 4096;
	fk = fake_dev(&cfg, &dev);
	CHECK_EQ(kup_chan_attach(dev, KUP_CHAN_ANY, 128, 0, &ch), -EINVAL);
	CHECK_EQ(kup_chan_attach(dev, KUP_CHAN_ANY, 4000, 0, &ch), 0);
	CHECK_EQ(kup_chan_buf_size(ch), 4096);
	kup_close(dev);
	fk_dev_destroy(fk);
}

/*
 * KUP_IOC_WAIT failing (the kernel's errors, and others): the receive
 * returns the error; nothing turns it into an endless loop.
 */
TEST(wait_errors, 10)
{
	static const int errs[] = {
		ESHUTDOWN, ENOTCONN, EPROTO, EBADMSG, EINTR, EIO, EFAULT,
		EINVAL,
	};
	struct fk_config cfg = echo_cfg();
	struct kup_device *dev = NULL;
	struct kup_channel *ch;
	const void *d = NULL;
	struct fk_dev *fk;
	unsigned int i;

	fk = fake_dev(&cfg, &dev);
	ch = echo_attach(dev, 4096);
	kup_chan_set_spin(ch, 0);
	REQUIRE_EQ(kup_send(ch, "HOLD", 4, 0), 0);
	for (i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		/* Every sleep fails, the channel stays attached. */
		fk_fail_wait(fk, errs[i], 1000000);
		CHECK(kup_recv(ch, &d, 0) == -errs[i], "errno %d", errs[i]);
		CHECK(d == NULL, "errno %d", errs[i]);
		CHECK(ch->us->uwait == 0, "uwait left set");
	}
	fk_fail_wait(fk, 0, 0);
	CHECK_EQ(kup_chan_ready(ch), 0);
	kup_chan_close(ch);
	kup_close(dev);
	fk_dev_destroy(fk);
}

/*
 * The natural loop: send with KUP_MORE until the pipeline is full, then
 * receive. The failing send (or the receive about to wait) must make the
 * wake-up check the burst skipped, or both sides sleep for ever.
 */
TEST(more_on_full_pipeline, 15)
{
	struct fk_config cfg = echo_cfg();
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;
	unsigned long sent = 0, got = 0;
	unsigned int round, k, i;
	const void *d = NULL;
	unsigned char msg[200];
	struct fk_dev *fk;
	ssize_t len;
	int ret;

	cfg.spins = 0;
	cfg.timeout_ms = 2000;
	fk = fake_dev(&cfg, &dev);
	REQUIRE_EQ(kup_chan_attach_slots(dev, KUP_CHAN_ANY, 4096, 4, 0, &ch),
		   0);
	kup_chan_set_spin(ch, 0);
	for (round = 0; round < 60; round++) {
		/* The kernel is asleep, waiting for the next message. */
		REQUIRE_EQ(fk_wait_kernel_asleep(fk, kup_chan_index(ch),
						 2000), 0);
		switch (round % 3) {
		case 0:	/* until the send fails */
			for (;;) {
				fill(msg, sizeof(msg), sent);
				ret = kup_send(ch, msg, sizeof(msg), KUP_MORE);
				if (ret)
					break;
				sent++;
			}
			CHECK_EQ(ret, -ENOBUFS);
			break;
		case 1:	/* a receive ends the burst */
		case 2:	/* a non-blocking receive ends it */
			k = 1 + round % 3;
			for (i = 0; i < k; i++) {
				fill(msg, sizeof(msg), sent);
				REQUIRE_EQ(kup_send(ch, msg, sizeof(msg),
						    KUP_MORE), 0);
				sent++;
			}
			if (round % 3 == 2)
				kup_recv(ch, &d, KUP_NONBLOCK) == -EAGAIN ?
					(void)0 : (void)got++;
			break;
		}
		while (got < sent) {
			len = kup_recv(ch, &d, 0);
			REQUIRE(len == sizeof(msg), "round %u: %zd", round,
				len);
			REQUIRE(check_fill(d, len, got) < 0, "round %u",
				round);
			got++;
		}
	}
	kup_chan_close(ch);
	kup_close(dev);
	fk_dev_destroy(fk);
}

/* Part of a received inline message sent back: the copy overlaps. */
TEST(inline_overlap, 20)
{
	struct fk_config cfg = echo_cfg();
	struct kup_device *dev = NULL;
	unsigned char ref[256], buf[256], src[256];
	struct kup_channel *ch;
	const unsigned char *d;
	const void *p = NULL;
	size_t len, off, k;
	struct fk_dev *fk;
	long bad;
	int sh;

	/* The copy itself, both directions, every length and shift. */
	for (len = 0; len <= KUP_INLINE_MAX; len++) {
		for (sh = -17; sh <= 17; sh++) {
			fill(src, sizeof(src), len + 1000 * (sh + 17));
			memcpy(buf, src, sizeof(buf));
			memcpy(ref, src, sizeof(ref));
			memmove(ref + 64 + sh, ref + 64, len);
			kupi_copy_inline(buf + 64 + sh, buf + 64, len);
			REQUIRE(!memcmp(buf, ref, sizeof(buf)),
				"len %zu shift %d", len, sh);
		}
	}
	fk = fake_dev(&cfg, &dev);
	ch = echo_attach(dev, 4096);
	for (len = 1; len <= KUP_INLINE_MAX; len++) {
		for (off = 1; off < len; off++) {
			fill(src, len, len);
			REQUIRE_EQ(kup_send(ch, src, len, 0), 0);
			REQUIRE_EQ(kup_recv(ch, &p, 0), len);
			d = (const unsigned char *)p;
			/* As kup_send(ch, d + 3, 50, 0) after 53 bytes */
			REQUIRE_EQ(kup_send(ch, d + off, len - off, 0), 0);
			REQUIRE_EQ(kup_recv(ch, &p, 0), len - off);
			d = (const unsigned char *)p;
			for (bad = 0, k = 0; k < len - off; k++)
				bad += d[k] != pattern(len, k + off);
			CHECK(!bad, "%zu bytes at %zu of %zu: %ld wrong",
			      len - off, off, len, bad);
		}
	}
	/* The same through kup_send_buf() and kup_send_commit(). */
	for (len = 0; len <= KUP_INLINE_MAX + 1; len++)
		CHECK_EQ(roundtrip(ch, len, len, 0, 1), 0);
	kup_chan_close(ch);
	kup_close(dev);
	fk_dev_destroy(fk);
}

struct looper {
	struct kup_channel *ch;
	int ret;
	unsigned long done;
};

/* Round trips until the channel stops. */
static void *loop_roundtrips(void *p)
{
	struct looper *l = (struct looper *)p;
	int ret;

	for (;;) {
		ret = roundtrip(l->ch, l->done, 1 + l->done % 300, 0,
				l->done & 1);
		if (ret) {
			l->ret = ret;
			return NULL;
		}
		l->done++;
	}
}

/*
 * kup_chan_shutdown() from another thread stops every call on the
 * channel, asleep, polling or busy, with -ENOTCONN; kup_chan_close()
 * afterwards frees it.
 */
TEST(shutdown_unblocks, 30)
{
	struct fk_config cfg = echo_cfg();
	struct kup_device *dev = NULL;
	struct kup_channel *ch[3], *pch = NULL;
	struct blocked b[3];
	struct looper lp;
	const void *d = NULL;
	struct fk_dev *fk;
	pthread_t t[3], tl;
	unsigned int i;

	fk = fake_dev(&cfg, &dev);
	ch[0] = echo_attach(dev, 4096);
	ch[1] = echo_attach(dev, 4096);
	REQUIRE_EQ(kup_chan_attach_slots(dev, KUP_CHAN_ANY, 4096, 4, 0,
					 &ch[2]), 0);
	start_blocked(fk, &b[0], &t[0], ch[0], 0);
	start_blocked(fk, &b[1], &t[1], ch[1], KUP_SPIN_ONLY);
	start_blocked(fk, &b[2], &t[2], ch[2], 0);
	for (i = 0; i < 3; i++) {
		CHECK_EQ(kup_chan_shutdown(ch[i]), 0);
		CHECK(!fk_chan_attached(fk, kup_chan_index(ch[i])),
		      "channel %u still attached", i);
	}
	for (i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		CHECK(b[i].ret == -ENOTCONN, "thread %u: %zd", i, b[i].ret);
	}
	/* Every later call fails the same way, a second shutdown is fine. */
	CHECK_EQ(kup_send(ch[0], "x", 1, 0), -ENOTCONN);
	CHECK_EQ(kup_recv(ch[2], &d, 0), -ENOTCONN);
	CHECK_EQ(kup_chan_ready(ch[1]), -ENOTCONN);
	CHECK_EQ(kup_chan_shutdown(ch[0]), 0);
	CHECK_EQ(kup_chan_close(ch[0]), 0);
	CHECK_EQ(kup_chan_close(ch[1]), 0);

	/* A busy channel, stopped from another thread. */
	memset(&lp, 0, sizeof(lp));
	lp.ch = echo_attach(dev, 4096);
	kup_chan_set_spin(lp.ch, 3);
	REQUIRE_EQ(pthread_create(&tl, NULL, loop_roundtrips, &lp), 0);
	ms_sleep(30);
	CHECK_EQ(kup_chan_shutdown(lp.ch), 0);
	pthread_join(tl, NULL);
	CHECK_EQ(lp.ret, -ENOTCONN);
	CHECK(lp.done > 0, "no round trip before the shutdown");
	CHECK_EQ(kup_chan_close(lp.ch), 0);

	/* kup_close() takes shut-down channels too (ch[2], pch). */
	REQUIRE_EQ(kup_chan_attach_slots(dev, KUP_CHAN_ANY, 4096, 2, 0, &pch),
		   0);
	CHECK_EQ(kup_chan_shutdown(pch), 0);
	kup_close(dev);
	fk_dev_destroy(fk);
}

struct hdr_case {
	const char *what;
	unsigned int field;
	uint64_t value;
	int want;
};

enum {
	H_MAGIC, H_ABI, H_HDR_SIZE, H_REGION, H_CHAN, H_NSLOTS, H_BUF,
	H_LINE, H_KSTATE, H_USTATE, H_SLOT, H_TO_KERNEL, H_TO_USER,
};

static void hdr_corrupt(struct kup_region_hdr *h, void *arg)
{
	const struct hdr_case *c = (const struct hdr_case *)arg;

	switch (c->field) {
	case H_MAGIC: h->magic = c->value; break;
	case H_ABI: h->abi_version = (uint32_t)c->value; break;
	case H_HDR_SIZE: h->hdr_size = (uint32_t)c->value; break;
	case H_REGION: h->region_size = c->value; break;
	case H_CHAN: h->chan = (uint32_t)c->value; break;
	case H_NSLOTS: h->nslots = (uint32_t)c->value; break;
	case H_BUF: h->buf_size = (uint32_t)c->value; break;
	case H_LINE: h->line_size = (uint32_t)c->value; break;
	case H_KSTATE: h->kstate_off = c->value; break;
	case H_USTATE: h->ustate_off = c->value; break;
	case H_SLOT: h->slot_off = c->value; break;
	case H_TO_KERNEL: h->to_kernel_off = c->value; break;
	case H_TO_USER: h->to_user_off = c->value; break;
	}
}

/*
 * A header the library must refuse: offsets that wrap, point outside the
 * region or off a line. (2 slots of 4096 bytes: a 20480-byte region.)
 */
TEST(bad_headers, 30)
{
	static const struct hdr_case cases[] = {
		{ "magic", H_MAGIC, 1, -EBADMSG },
		{ "abi", H_ABI, KUP_ABI_VERSION + 1, -EPROTONOSUPPORT },
		{ "hdr_size", H_HDR_SIZE, 8, -EBADMSG },
		{ "region_size", H_REGION, 1 << 20, -EBADMSG },
		{ "chan", H_CHAN, 3, -EBADMSG },
		{ "nslots", H_NSLOTS, 3, -EBADMSG },
		{ "buf_size 0", H_BUF, 0, -EBADMSG },
		{ "buf_size off a line", H_BUF, 4000, -EBADMSG },
		{ "line_size", H_LINE, 64, -EBADMSG },
		{ "kstate wraps", H_KSTATE, ~0ULL - 63, -EBADMSG },
		{ "kstate off a line", H_KSTATE, 130, -EBADMSG },
		{ "kstate outside", H_KSTATE, 20480, -EBADMSG },
		{ "ustate wraps", H_USTATE, ~0ULL - 127, -EBADMSG },
		{ "ustate off a line", H_USTATE, 2 * 128 + 8, -EBADMSG },
		{ "slots wrap", H_SLOT, ~0ULL - 127, -EBADMSG },
		{ "slots past the end", H_SLOT, 20480 - 128, -EBADMSG },
		{ "slots off a line", H_SLOT, 3 * 128 + 64, -EBADMSG },
		{ "to_kernel wraps", H_TO_KERNEL, ~0ULL - 4095, -EBADMSG },
		{ "to_kernel past the end", H_TO_KERNEL, 16384, -EBADMSG },
		{ "to_kernel off a line", H_TO_KERNEL, 4096 + 4, -EBADMSG },
		{ "to_user wraps", H_TO_USER, ~0ULL - 8191, -EBADMSG },
		{ "to_user off a line", H_TO_USER, 12288 + 1, -EBADMSG },
	};
	struct fk_config cfg = echo_cfg();
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;
	struct fk_stats st;
	struct fk_dev *fk;
	unsigned int i;

	fk = fake_dev(&cfg, &dev);
	/* The layout the cases assume */
	REQUIRE_EQ(kup_chan_attach_slots(dev, 0, 4096, 2, 0, &ch), 0);
	REQUIRE_EQ(ch->hdr->region_size, 20480);
	REQUIRE_EQ(ch->hdr->to_kernel_off, 4096);
	REQUIRE_EQ(ch->hdr->to_user_off, 12288);
	kup_chan_close(ch);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fk_corrupt_hdr(fk, hdr_corrupt, (void *)&cases[i]);
		CHECK(kup_chan_attach_slots(dev, 0, 4096, 2, 0, &ch) ==
		      cases[i].want, "%s", cases[i].what);
		CHECK(!ch, "%s: a channel", cases[i].what);
		if (ch) {
			kup_chan_close(ch);
			ch = NULL;
		}
		CHECK(!fk_chan_attached(fk, 0), "%s: left attached",
		      cases[i].what);
	}
	fk_get_stats(fk, &st);
	CHECK_EQ(st.detaches, 1 + sizeof(cases) / sizeof(cases[0]));
	kup_close(dev);
	fk_dev_destroy(fk);
}

/*
 * KUP_SPIN_ONLY's default bound is seconds of polling, not hours: time
 * 2^22 polls here, extrapolate.
 */
TEST(spin_only_default_bound, 30)
{
	struct fk_config cfg = echo_cfg();
	struct kup_device *dev = NULL;
	struct kup_channel *ch;
	const void *d = NULL;
	struct fk_dev *fk;
	double t, est;

	fk = fake_dev(&cfg, &dev);
	ch = echo_attach(dev, 4096);
	CHECK_EQ(ch->poll_limit, KUP_DEFAULT_POLL_LIMIT);
	REQUIRE_EQ(kup_send(ch, "HOLD", 4, 0), 0);
	kup_chan_set_poll_limit(ch, 1ULL << 22);
	t = t_now();
	CHECK_EQ(kup_recv(ch, &d, KUP_SPIN_ONLY), -ETIMEDOUT);
	t = t_now() - t;
	est = t / (1 << 22) * (double)KUP_DEFAULT_POLL_LIMIT;
	/*
	 * Timing is never an assertion (sanitizers and a loaded machine
	 * make a poll many times slower): the bound is a count of polls,
	 * 2^28, seconds on a machine that polls at native speed. Reported.
	 */
	printf("# %.1f ns a poll: the default bound is %.1f s here\n",
	       t / (1 << 22) * 1e9, est);
	CHECK(KUP_DEFAULT_POLL_LIMIT <= (1ULL << 28),
	      "the default bound is %llu polls", KUP_DEFAULT_POLL_LIMIT);
	kup_chan_close(ch);
	kup_close(dev);
	fk_dev_destroy(fk);
}

/*
 * kup_send_commit() on a pipelined channel checks its slot as kup_send()
 * does: a slot whose reply was not received yet is not passed over.
 */
TEST(send_commit_pipelined, 20)
{
	struct fk_config cfg = echo_cfg();
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;
	const void *d = NULL;
	struct fk_dev *fk;
	size_t size;
	void *buf;
	int i;

	fk = fake_dev(&cfg, &dev);
	REQUIRE_EQ(kup_chan_attach_slots(dev, KUP_CHAN_ANY, 1024, 2, 0, &ch),
		   0);
	REQUIRE_EQ(kup_send(ch, "m0", 3, 0), 0);
	REQUIRE_EQ(kup_send(ch, "m1", 3, 0), 0);
	/* Both replies are back; read the first one only. */
	for (i = 0; i < 3000 && __atomic_load_n(&kupi_slot(ch, 1)->turn,
						__ATOMIC_ACQUIRE) != 3; i++)
		ms_sleep(1);
	REQUIRE_EQ(kup_recv(ch, &d, 0), 3);
	CHECK(!strcmp((const char *)d, "m0"), "first reply");
	/* Slot 0 is free: buffer, commit. */
	REQUIRE_EQ(kup_send_buf(ch, &buf, &size, 0), 0);
	memcpy(buf, "c0", 3);
	CHECK_EQ(kup_send_commit(ch, 3), 0);
	/* Slot 1 holds m1's reply, unread: a second commit must not pass. */
	CHECK_EQ(kup_send_commit(ch, 3), -ENOBUFS);
	CHECK_EQ(kup_recv(ch, &d, 0), 3);
	CHECK(!strcmp((const char *)d, "m1"), "second reply: %s",
	      (const char *)d);
	CHECK_EQ(kup_recv(ch, &d, 0), 3);
	CHECK(!strcmp((const char *)d, "c0"), "third reply: %s",
	      (const char *)d);
	CHECK_EQ(kup_chan_inflight(ch), 0);
	/* Every slot back with us: a commit without kup_send_buf() is fine. */
	CHECK_EQ(kup_send_commit(ch, 0), 0);
	CHECK_EQ(kup_recv(ch, &d, 0), 0);
	kup_chan_close(ch);
	kup_close(dev);
	fk_dev_destroy(fk);
}

/* kup_close() detaches every channel, even when the fd is shared. */
TEST(close_detaches_shared_fd, 20)
{
	struct fk_config cfg = echo_cfg();
	struct kup_device *dev = NULL;
	struct kup_channel *pch = NULL;
	struct fk_stats st;
	struct fk_dev *fk;
	int fd2;

	fk = fake_dev(&cfg, &dev);
	echo_attach(dev, 4096);
	REQUIRE_EQ(kup_chan_attach_slots(dev, KUP_CHAN_ANY, 4096, 4, 0, &pch),
		   0);
	fd2 = fk_dup(kup_fd(dev));
	REQUIRE(fd2 >= 0, "dup");
	kup_close(dev);
	CHECK(!fk_chan_attached(fk, 0), "channel 0 still attached");
	CHECK(!fk_chan_attached(fk, 1), "channel 1 still attached");
	fk_get_stats(fk, &st);
	CHECK_EQ(st.detaches, 2);
	CHECK_EQ(st.releases, 0);
	CHECK_EQ(fk_close(fd2), 0);
	fk_dev_destroy(fk);
}

/*
 * A fork child's kup_close() cannot detach its parent's channels (EPERM):
 * it frees its own copy and leaves the parent's channels working.
 */
TEST(close_in_fork_child, 20)
{
	struct fk_config cfg = echo_cfg();
	struct kup_device *dev = NULL;
	struct kup_channel *ch, *pch = NULL;
	static const size_t lens[] = { 10 };
	int status = -1;
	struct fk_dev *fk;
	pid_t pid;

	cfg.spins = 0;
	fk = fake_dev(&cfg, &dev);
	ch = echo_attach(dev, 4096);
	REQUIRE_EQ(kup_chan_attach_slots(dev, KUP_CHAN_ANY, 4096, 4, 0, &pch),
		   0);
	REQUIRE_EQ(roundtrip(ch, 1, 10, 0, 0), 0);
	/* Both kernel threads asleep: no lock is held across the fork. */
	REQUIRE_EQ(fk_wait_kernel_asleep(fk, 0, 3000), 0);
	REQUIRE_EQ(fk_wait_kernel_asleep(fk, 1, 3000), 0);
	fflush(stdout);
	pid = fork();
	REQUIRE(pid >= 0, "fork");
	if (pid == 0) {
		struct fk_stats st;

		kup_close(dev);
		fk_get_stats(fk, &st);
		if (st.eperm != 2) {
			printf("# child: %lu EPERM detaches\n", st.eperm);
			_exit(1);
		}
		exit(0);	/* the leak check */
	}
	REQUIRE_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "child status %#x", status);
	CHECK(fk_chan_attached(fk, 0), "channel 0 detached");
	CHECK_EQ(roundtrip(ch, 2, 10, 0, 0), 0);
	CHECK_EQ(pipe_stream(pch, 8, 4, 1, lens, 1), 0);
	kup_close(dev);
	CHECK(!fk_chan_attached(fk, 0), "channel 0 still attached");
	fk_dev_destroy(fk);
}

/* A failed remap of a region: the error comes back, read before free(). */
TEST(chan_free_mmap_failure, 20)
{
	struct fk_config cfg = echo_cfg();
	struct kup_device *dev = NULL;
	struct kup_channel *ch;
	struct fk_dev *fk;

	fk = fake_dev(&cfg, &dev);
	ch = echo_attach(dev, 4096);
	fk_fail_mmap(ENOMEM, 1);
	CHECK_EQ(kup_chan_close(ch), -ENOMEM);
	CHECK(!fk_chan_attached(fk, 0), "still attached");
	ch = echo_attach(dev, 4096);
	fk_fail_mmap(EAGAIN, 1);
	kup_close(dev);
	CHECK(!fk_chan_attached(fk, 0), "still attached");
	fk_dev_destroy(fk);
}

/* Device names up to KUP_NAME_MAX - 1 bytes, paths as long as any. */
TEST(open_names, 10)
{
	struct fk_config cfg = echo_cfg();
	struct kup_device *dev = NULL;
	char name[KUP_NAME_MAX + 1], path[300];
	struct fk_dev *fk;

	memset(name, 'n', sizeof(name));
	name[KUP_NAME_MAX - 1] = '\0';
	CHECK_EQ(kup_open(name, &dev), -ENOENT);
	name[KUP_NAME_MAX - 1] = 'n';
	name[KUP_NAME_MAX] = '\0';
	CHECK_EQ(kup_open(name, &dev), -ENAMETOOLONG);
	/* A path: no limit of the library's own. */
	snprintf(path, sizeof(path), "/tmp/%0250d", 7);
	CHECK_EQ(kup_open(path, &dev), -ENOENT);
	cfg.name = "n012345678901234567890123456789";
	REQUIRE_EQ(strlen(cfg.name), KUP_NAME_MAX - 1);
	fk = fake_dev(&cfg, &dev);
	kup_close(dev);
	fk_dev_destroy(fk);
}

static const struct test *const tests[] = {
	T(open_and_info),
	T(abi_newer_kernel),
	T(pingpong_every_size),
	T(pipelined_every_size),
	T(stress_both_sleeping),
	T(stress_both_spinning),
	T(lost_wakeup_stress),
	T(more_bursts),
	T(error_shutdown),
	T(error_detached_and_broken),
	T(message_before_end_is_delivered),
	T(hostile_kwait),
	T(hostile_slot),
	T(eventfd_and_arm),
	T(nonblocking_and_bounds),
	T(kernproxy_names),
	T(attach_buf_size),
	T(wait_errors),
	T(more_on_full_pipeline),
	T(inline_overlap),
	T(shutdown_unblocks),
	T(bad_headers),
	T(spin_only_default_bound),
	T(send_commit_pipelined),
	T(close_detaches_shared_fd),
	T(close_in_fork_child),
	T(chan_free_mmap_failure),
	T(open_names),
	NULL
};

int main(int argc, char **argv)
{
	return t_main(tests, argc, argv, no_fake_failures);
}
