/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A small test harness with TAP output. Each test runs in a child process
 * of its own (forked while the parent has no other thread), under a time
 * bound: a crash, a sanitizer report, a hang or a failed check fails that
 * test only. Exit status: 0 all passed, 1 a test failed, 4 all skipped.
 *
 *	TEST(name, seconds) { CHECK(...); REQUIRE(...); SKIP("why"); }
 *	...
 *	HARNESS_MAIN(test_list)
 *
 * CHECK records a failure and goes on; REQUIRE ends the test at once
 * (_exit: no leak check on a test that already failed).
 */
#ifndef KUP_HARNESS_H
#define KUP_HARNESS_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct test {
	const char *name;
	void (*fn)(void);
	unsigned int timeout_s;
};

#define TEST(name, secs)						\
	static void test_##name(void);					\
	static const struct test desc_##name = { #name, test_##name,	\
						 secs };		\
	static void test_##name(void)

#define T(name)	(&desc_##name)

static int t_failed;

#define T_SKIP_EXIT	4

static void t_report(const char *file, int line, const char *what)
{
	printf("# %s:%d: %s\n", file, line, what);
	fflush(stdout);
	__atomic_store_n(&t_failed, 1, __ATOMIC_SEQ_CST);
}

#define CHECK(cond, ...)						\
	do {								\
		if (!(cond)) {						\
			char msg_[512];					\
			int n_ = snprintf(msg_, sizeof(msg_),		\
					  "check failed: %s: ", #cond);	\
			snprintf(msg_ + n_, sizeof(msg_) - n_,		\
				 __VA_ARGS__);				\
			t_report(__FILE__, __LINE__, msg_);		\
		}							\
	} while (0)

#define REQUIRE(cond, ...)						\
	do {								\
		if (!(cond)) {						\
			CHECK(cond, __VA_ARGS__);			\
			_exit(1);					\
		}							\
	} while (0)

/* a == b for integers, both values shown */
#define CHECK_EQ(a, b)							\
	do {								\
		long long a_ = (long long)(a), b_ = (long long)(b);	\
		CHECK(a_ == b_, "%s is %lld, want %lld", #a, a_, b_);	\
	} while (0)

#define REQUIRE_EQ(a, b)						\
	do {								\
		long long a_ = (long long)(a), b_ = (long long)(b);	\
		REQUIRE(a_ == b_, "%s is %lld, want %lld", #a, a_, b_);	\
	} while (0)

#define SKIP(...)							\
	do {								\
		printf("# SKIP ");					\
		printf(__VA_ARGS__);					\
		printf("\n");						\
		fflush(stdout);						\
		_exit(T_SKIP_EXIT);					\
	} while (0)

static double t_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Run one test in a child; 0 pass, 1 fail, T_SKIP_EXIT skip. */
static int t_run(const struct test *t, int (*after)(void), double scale)
{
	double end = t_now() + t->timeout_s * scale;
	int status;
	pid_t pid;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		printf("# fork: %s\n", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		t->fn();
		if (after && after())
			t_failed = 1;
		fflush(stdout);
		if (t_failed)
			_exit(1);
		exit(0);	/* the leak check runs here */
	}
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			printf("# waitpid: %s\n", strerror(errno));
			return 1;
		}
		if (t_now() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			printf("# timed out after %.0f s\n",
			       t->timeout_s * scale);
			return 1;
		}
		usleep(2000);
	}
	if (WIFSIGNALED(status)) {
		printf("# killed by signal %d\n", WTERMSIG(status));
		return 1;
	}
	if (WEXITSTATUS(status) == T_SKIP_EXIT)
		return T_SKIP_EXIT;
	if (WEXITSTATUS(status)) {
		if (WEXITSTATUS(status) != 1)
			printf("# exit status %d (a sanitizer report?)\n",
			       WEXITSTATUS(status));
		return 1;
	}
	return 0;
}

/*
 * Run the tests named on the command line, or all. KUP_TEST_TIME_SCALE
 * stretches every time bound (slow sanitizers).
 */
static int t_main(const struct test *const *tests, int argc, char **argv,
		  int (*after)(void))
{
	const char *sc = getenv("KUP_TEST_TIME_SCALE");
	double scale = sc ? atof(sc) : 1.0;
	int pass = 0, fail = 0, skip = 0, n = 0, i, j;

	if (scale <= 0)
		scale = 1.0;
	for (i = 0; tests[i]; i++)
		;
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("TAP version 13\n");
	printf("1..%d\n", argc > 1 ? argc - 1 : i);
	for (i = 0; tests[i]; i++) {
		int ret;

		if (argc > 1) {
			for (j = 1; j < argc; j++)
				if (!strcmp(argv[j], tests[i]->name))
					break;
			if (j == argc)
				continue;
		}
		n++;
		printf("# %s\n", tests[i]->name);
		ret = t_run(tests[i], after, scale);
		if (ret == T_SKIP_EXIT) {
			printf("ok %d %s # SKIP\n", n, tests[i]->name);
			skip++;
		} else if (ret) {
			printf("not ok %d %s\n", n, tests[i]->name);
			fail++;
		} else {
			printf("ok %d %s\n", n, tests[i]->name);
			pass++;
		}
	}
	if (argc > 1 && n != argc - 1) {
		printf("# unknown test name\n");
		fail += argc - 1 - n;
	}
	printf("# Totals: pass:%d fail:%d xfail:0 xpass:0 skip:%d error:0\n",
	       pass, fail, skip);
	printf("%d passed, %d failed, %d skipped\n", pass, fail, skip);
	if (fail)
		return 1;
	return pass ? 0 : T_SKIP_EXIT;
}

#endif /* KUP_HARNESS_H */
