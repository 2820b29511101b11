/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by kup's selftests. Every wait here is bounded and
 * pauses between polls.
 */
#ifndef KUP_TEST_H
#define KUP_TEST_H

#include <kup.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/*
 * The runner pipes the output through tee: one line at a time, so that a
 * hang shows where it hung.
 */
__attribute__((constructor)) static void kup_test_line_buffered(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
}

#define ECHO_NAME	"kup_echo"
#define ECHO_PATH	"/dev/kup_echo"
#define ROT13_NAME	"kup_rot13"

/* What kup_rot13 replies: s with its ASCII letters rotated by 13. */
static inline void rot13(char *s)
{
	for (; *s; s++) {
		if ((*s >= 'a' && *s <= 'm') || (*s >= 'A' && *s <= 'M'))
			*s += 13;
		else if ((*s >= 'n' && *s <= 'z') || (*s >= 'N' && *s <= 'Z'))
			*s -= 13;
	}
}

/* The value of key in a file of "key value" lines, or -1. */
static inline long keyval_get(const char *path, const char *key)
{
	char name[64];
	long val, ret = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fscanf(f, "%63s %ld", name, &val) == 2) {
		if (!strcmp(name, key)) {
			ret = val;
			break;
		}
	}
	fclose(f);
	return ret;
}

static inline long vmstat_get(const char *key)
{
	return keyval_get("/proc/vmstat", key);
}

/*
 * Pages pinned with FOLL_PIN and not yet unpinned, system-wide. The
 * counters are per-CPU batched: fold them first (root only).
 */
static inline long pins_held(void)
{
	FILE *f = fopen("/proc/sys/vm/stat_refresh", "w");

	if (f) {
		fputs("1", f);
		fclose(f);
	}
	return vmstat_get("nr_foll_pin_acquired") -
	       vmstat_get("nr_foll_pin_released");
}

/* Pages the kernel pinned for a region: its header says how many. */
static inline long region_pages(const void *mem)
{
	const struct kup_region_hdr *h = (const struct kup_region_hdr *)mem;
	long page = sysconf(_SC_PAGESIZE);

	return (long)((h->region_size + page - 1) / page);
}

/* Wait (at most ms) until pins_held() == want; returns the last value. */
static inline long pins_wait(long want, int ms)
{
	long now = pins_held();

	while (now != want && ms-- > 0) {
		usleep(1000);
		now = pins_held();
	}
	return now;
}

/*
 * VmPin in kB from an open /proc/<pid>/status (re-read from offset 0):
 * pages pinned for this process (kup counts its regions there; their
 * RLIMIT_MEMLOCK charge goes to the user).
 */
static inline long vm_pinned_kb_fd(int fd)
{
	char buf[4096], *p;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	long kb = -1;

	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strstr(buf, "VmPin:");
	if (!p || sscanf(p, "VmPin: %ld kB", &kb) != 1)
		return -1;
	return kb;
}

/* VmPin of this process in kB. */
static inline long vm_pinned_kb(void)
{
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	long kb;

	if (fd < 0)
		return -1;
	kb = vm_pinned_kb_fd(fd);
	close(fd);
	return kb;
}

/* A counter of /sys/kernel/debug/kup_echo/stats, or -1. */
static inline long echo_stat(const char *key)
{
	return keyval_get("/sys/kernel/debug/kup_echo/stats", key);
}

/*
 * How many messages a volume test moves: n, divided by KUP_TEST_DIVISOR
 * (1 to 1000; guest-init.sh sets 10 on the debug kernels, where every
 * access is checked and a message costs ten times as much). The volume
 * proves nothing there that a tenth of it does not; the checkers do.
 */
static inline unsigned long test_count(unsigned long n)
{
	const char *v = getenv("KUP_TEST_DIVISOR");
	unsigned long d = v ? strtoul(v, NULL, 10) : 1;

	if (d < 1 || d > 1000)
		d = 1;
	return n / d ? n / d : 1;
}

/* Wait (at most ms) until echo_stat(key) >= want. */
static inline long echo_stat_wait(const char *key, long want, int ms)
{
	long now = echo_stat(key);

	while (now < want && ms-- > 0) {
		usleep(1000);
		now = echo_stat(key);
	}
	return now;
}

/*
 * Send cmd (KUPECHO:PARK, or its HARDIRQ and SOFTIRQ variants) and wait
 * (10 s at most) until kup_echo parked it.
 */
static inline int echo_park(struct kup_channel *ch, const char *cmd)
{
	long parked0 = echo_stat("parked");
	int ret = kup_send(ch, cmd, strlen(cmd), 0);

	if (ret)
		return ret;
	return echo_stat_wait("parked", parked0 + 1, 10000) == parked0 + 1 ?
	       0 : -ETIMEDOUT;
}

/* Resume kup_echo's worker parked on KUPECHO:PARK, HARDIRQ or SOFTIRQ. */
static inline int echo_resume(void)
{
	int fd = open("/sys/kernel/debug/kup_echo/resume", O_WRONLY | O_CLOEXEC);
	int ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, "1", 1) != 1)
		ret = -errno;
	close(fd);
	return ret;
}

/* A module parameter's value as a number, or -1. */
static inline long param_read(const char *mod, const char *param)
{
	char path[256];
	long val = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/module/%s/parameters/%s", mod,
		 param);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%ld", &val) != 1)
		val = -1;
	fclose(f);
	return val;
}

/* Wait (at most ms) until param_read() >= want. */
static inline long param_wait(const char *mod, const char *param, long want,
			      int ms)
{
	long now = param_read(mod, param);

	while (now < want && ms-- > 0) {
		usleep(1000);
		now = param_read(mod, param);
	}
	return now;
}

/* Write a module parameter; returns 0 or -errno. */
static inline int param_write(const char *mod, const char *param,
			      const char *val)
{
	char path[256];
	FILE *f;
	int ret = 0;

	snprintf(path, sizeof(path), "/sys/module/%s/parameters/%s", mod,
		 param);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	if (fputs(val, f) < 0)
		ret = -EIO;
	if (fclose(f))
		ret = -errno;
	return ret;
}

/* Wait (at most ms) for a path to exist. */
static inline bool path_wait(const char *path, int ms)
{
	struct stat st;

	while (stat(path, &st) && ms-- > 0)
		usleep(1000);
	return !stat(path, &st);
}

/*
 * Wait (at most ms) until a need-wakeup flag of a channel is set
 * (ustate.uwait: a thread of ours sleeps in the kernel for its turn;
 * kstate.kwait: the kernel thread does): true once it is.
 */
static inline bool flag_wait(const uint32_t *flag, int ms)
{
	while (!__atomic_load_n(flag, __ATOMIC_ACQUIRE) && ms-- > 0)
		usleep(1000);
	return __atomic_load_n(flag, __ATOMIC_ACQUIRE) != 0;
}

/* Deterministic payload: byte i of message n. */
static inline unsigned char pattern(unsigned long n, size_t i)
{
	return (unsigned char)(n * 131 + i * 7 + (i >> 8));
}

static inline void fill(void *buf, size_t len, unsigned long n)
{
	unsigned char *p = (unsigned char *)buf;
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = pattern(n, i);
}

/* Index of the first wrong byte, or -1. */
static inline long check(const void *buf, size_t len, unsigned long n)
{
	const unsigned char *p = (const unsigned char *)buf;
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i] != pattern(n, i))
			return (long)i;
	return -1;
}

#define ECHO_HELLO_MAX	32

/* Open kup_echo, attach a channel and consume the kernel's greeting. */
static inline int echo_attach(struct kup_device **devp,
			      struct kup_channel **chp, size_t buf)
{
	const void *d = NULL;
	ssize_t len;
	int ret;

	ret = kup_open(ECHO_NAME, devp);
	if (ret)
		return ret;
	ret = kup_chan_attach(*devp, KUP_CHAN_ANY, buf, 0, chp);
	if (ret) {
		kup_close(*devp);
		return ret;
	}
	len = kup_recv(*chp, &d, 0);
	if (len <= 0 || len >= ECHO_HELLO_MAX || memcmp(d, "kup_echo ", 9)) {
		kup_close(*devp);
		return len < 0 ? (int)len : -EBADMSG;
	}
	return 0;
}

/*
 * One round trip of message n, len bytes, written in place (zero-copy)
 * and checked on return: 0, a negative errno, or 1 for wrong data.
 */
static inline int roundtrip(struct kup_channel *ch, unsigned long n,
			    size_t len, unsigned int flags)
{
	const void *d = NULL;
	void *buf;
	size_t size;
	ssize_t got;
	int ret;

	ret = kup_send_buf(ch, &buf, &size, flags);
	if (ret)
		return ret;
	if (len > size)
		return -EMSGSIZE;
	fill(buf, len, n);
	ret = kup_send_commit(ch, len);
	if (ret)
		return ret;
	got = kup_recv(ch, &d, flags);
	if (got < 0)
		return (int)got;
	if ((size_t)got != len || check(d, len, n) >= 0)
		return 1;
	return 0;
}

/* A thread that blocks in kup_recv() and records its tid and result. */
struct recv_waiter {
	struct kup_channel *ch;
	unsigned int spins;
	volatile pid_t tid;
	volatile ssize_t ret;
};

static inline void *recv_waiter_fn(void *arg)
{
	struct recv_waiter *w = (struct recv_waiter *)arg;
	const void *d = NULL;

	kup_chan_set_spin(w->ch, w->spins);
	w->tid = gettid();
	w->ret = kup_recv(w->ch, &d, 0);
	return NULL;
}

#endif /* KUP_TEST_H */
