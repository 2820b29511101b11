/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of kup's adversarial selftests (kup_fuzz_test, kup_life_test,
 * kup_soak): a seeded generator whose streams can be replayed, bounded
 * settings from the environment, the state of another process's thread,
 * and the memlock budget of an unprivileged user. Include after
 * kup_test.h.
 */
#ifndef KUP_STRESS_H
#define KUP_STRESS_H

#include <fcntl.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>

/*
 * splitmix64: one 64-bit word of state, so that every thread and every
 * process of a run gets its own stream, derived from the run's seed and
 * its index: the same seed replays the same sequence of calls per thread
 * (the interleaving of threads is the scheduler's).
 */
struct rng {
	uint64_t s;
};

static inline uint64_t rng_mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline uint64_t rng_next(struct rng *r)
{
	r->s += 0x9e3779b97f4a7c15ULL;
	return rng_mix(r->s);
}

/* Stream number a (and b) of a run with this seed. */
static inline void rng_init(struct rng *r, uint64_t seed, uint64_t a,
			    uint64_t b)
{
	r->s = rng_mix(seed ^ rng_mix(a * 0x9e3779b97f4a7c15ULL + b));
}

/* Uniform in [0, n); 0 when n is 0. */
static inline uint32_t rng_below(struct rng *r, uint32_t n)
{
	return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* true with probability pct percent */
static inline bool rng_pct(struct rng *r, unsigned int pct)
{
	return rng_below(r, 100) < pct;
}

static inline uint32_t rng_u32(struct rng *r)
{
	return (uint32_t)(rng_next(r) >> 32);
}

/* One of the n values of a table. */
#define rng_pick(r, tab) ((tab)[rng_below((r), sizeof(tab) / sizeof((tab)[0]))])

/* An unsigned number from the environment, else def; clamped to [lo, hi]. */
static inline unsigned long long env_ull(const char *name,
					 unsigned long long def,
					 unsigned long long lo,
					 unsigned long long hi)
{
	const char *s = getenv(name);
	unsigned long long v = def;
	char *end;

	if (s && *s) {
		errno = 0;
		v = strtoull(s, &end, 0);
		if (errno || *end)
			v = def;
	}
	return v < lo ? lo : v > hi ? hi : v;
}

/*
 * The seed of a run: KUP_FUZZ_SEED if set (decimal or 0x hex), else the
 * clock and the pid. Printed before anything else, so a failing run can be
 * replayed with KUP_FUZZ_SEED (make ... FUZZ_SEED=N).
 */
static inline uint64_t stress_seed(void)
{
	const char *s = getenv("KUP_FUZZ_SEED");
	struct timespec ts;

	if (s && *s)
		return strtoull(s, NULL, 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	return rng_mix((uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec) ^
	       (uint64_t)getpid();
}

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* The state letter (R, S, D, Z...) of thread tid of process pid, or 0. */
static inline char task_state(pid_t pid, pid_t tid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

/* Wait (at most ms) until thread tid of pid is in state want. */
static inline bool task_state_wait(pid_t pid, pid_t tid, char want, int ms)
{
	while (task_state(pid, tid) != want && ms-- > 0)
		usleep(1000);
	return task_state(pid, tid) == want;
}

/* Where a thread is in the kernel, for a report of a call that hangs. */
static inline void task_dump(pid_t pid, pid_t tid)
{
	char path[64], buf[2048];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stack", pid, tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	printf("# task %d/%d state %c, kernel stack:\n%s", pid, tid,
	       task_state(pid, tid), buf);
}

/* Wait (at most ms) for child pid to end; its status, or -1 if it did not. */
static inline int wait_child(pid_t pid, int ms)
{
	int status;

	for (;;) {
		pid_t got = waitpid(pid, &status, WNOHANG);

		if (got == pid)
			return status;
		if (got < 0 || ms-- <= 0)
			return -1;
		usleep(1000);
	}
}

/* Kill a child and reap it (bounded): its status, or -1. */
static inline int kill_child(pid_t pid, int ms)
{
	kill(pid, SIGKILL);
	return wait_child(pid, ms);
}

/* Raw attach of len bytes at mem: the channel, or -errno. */
static inline int raw_attach(int fd, void *mem, size_t len, __u32 nslots,
			     __u32 buf_size)
{
	struct kup_attach a;

	memset(&a, 0, sizeof(a));
	a.addr = (uintptr_t)mem;
	a.len = len;
	a.chan = KUP_CHAN_ANY;
	a.nslots = nslots;
	a.buf_size = buf_size;
	return ioctl(fd, KUP_IOC_ATTACH, &a) ? -errno : (int)a.chan;
}

/*
 * The memlock budget of user nobody in the lifecycle tests: a region of
 * exactly BUDGET_PAGES pages fits only if nothing of the user is charged
 * any more. The probe attaches to kup_rot13 (pages of buffers, 63 slots:
 * 3 control pages and 126 of buffers), whose sessions do not disturb
 * kup_echo's counters.
 */
#define NOBODY		65534
#define BUDGET_PAGES	129U
#define BUDGET_SLOTS	63U

/*
 * Become nobody with RLIMIT_MEMLOCK of BUDGET_PAGES pages (dropping every
 * capability, CAP_IPC_LOCK included): 0 or -errno. Open the device first:
 * it is root's.
 */
static inline int become_nobody(void)
{
	rlim_t lim = (rlim_t)BUDGET_PAGES * sysconf(_SC_PAGESIZE);
	struct rlimit rl = { lim, lim };

	if (setrlimit(RLIMIT_MEMLOCK, &rl) || setgid(NOBODY) ||
	    setuid(NOBODY))
		return -errno;
	return 0;
}

/*
 * In a new process as nobody, attach one region of exactly the whole
 * budget: 0 if it fits (nothing of the user is charged any more), else
 * the errno of the attach (ENOMEM: something is still charged), or 100+
 * for a failure of the set-up.
 */
static inline int nobody_full_budget(void)
{
	long page = sysconf(_SC_PAGESIZE);
	pid_t pid;
	int status;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return 100;
	if (pid == 0) {
		size_t len = (size_t)BUDGET_PAGES * page;
		void *mem;
		int chan;
		int fd = open("/dev/" ROT13_NAME, O_RDWR | O_CLOEXEC);

		mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (fd < 0 || mem == MAP_FAILED || become_nobody())
			_exit(101);
		if (kup_region_size(BUDGET_SLOTS, page, page) != len)
			_exit(102);
		chan = raw_attach(fd, mem, len, BUDGET_SLOTS, page);
		if (chan < 0)
			_exit(-chan);
		/* The header says the whole budget is in use. */
		if (region_pages(mem) != (long)BUDGET_PAGES)
			_exit(103);
		_exit(0);
	}
	status = wait_child(pid, 20000);
	if (status == -1) {
		kill_child(pid, 5000);
		return 104;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 105;
}

/*
 * Wait (at most ms) until the whole budget fits again: a region the kernel
 * client let go of last is freed from a workqueue, after its pins are.
 */
static inline int nobody_budget_wait(int ms)
{
	int ret = nobody_full_budget();

	while (ret == ENOMEM && ms > 0) {
		usleep(10000);
		ms -= 10;
		ret = nobody_full_budget();
	}
	return ret;
}

/* A word of memory shared by a test and the processes it forks. */
static inline void *shared_alloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

#define LOAD(p)		__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define ADD(p, v)	__atomic_add_fetch((p), (v), __ATOMIC_RELAXED)

/* Wait (at most ms) until *p >= want; returns the last value. */
static inline unsigned long wait_at_least(const unsigned long *p,
					  unsigned long want, int ms)
{
	unsigned long now = LOAD(p);

	while (now < want && ms-- > 0) {
		usleep(1000);
		now = LOAD(p);
	}
	return now;
}

/* finit_module() and delete_module(): 0 or -errno. */
static inline int module_load(const char *path, const char *params)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (syscall(SYS_finit_module, fd, params, 0))
		ret = -errno;
	close(fd);
	return ret;
}

static inline int module_unload(const char *name)
{
	return syscall(SYS_delete_module, name, O_NONBLOCK) ? -errno : 0;
}

/*
 * Sessions kup_echo started and those that ended (by any error): equal
 * once every worker is idle.
 */
static inline long echo_sessions_open(void)
{
	return echo_stat("sessions") - echo_stat("enotconn") -
	       echo_stat("eproto") - echo_stat("other_errors") -
	       echo_stat("shutdowns");
}

/*
 * Wait (at most ms) until every kup_echo session has ended. A test that
 * attaches right after a session failed waits for this first: while
 * kup_echo's worker is between the failed call (which ended the session)
 * and its kup_end_session(), a new attachment of that channel can be
 * bound and then ended unseen, and never served (see kup_soak's
 * competing_attaches_are_served).
 */
static inline long echo_idle_wait(int ms)
{
	long open = echo_sessions_open();

	while (open && ms-- > 0) {
		usleep(1000);
		open = echo_sessions_open();
	}
	return open;
}

#endif /* KUP_STRESS_H */
