// SPDX-License-Identifier: GPL-2.0
/*
 * kup demo: one thread per channel of /dev/kup_echo exchanges messages
 * with the echo service's kernel threads through shared memory, and
 * prints what it sent, what came back, and round-trip figures.
 *
 *	kup_demo [messages per channel [channels [user spins [kernel spins]]]]
 */
#include <kup.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SHOW	3		/* messages printed per channel */

struct lane {
	struct kup_channel *ch;
	unsigned long rounds;
	unsigned long ok;
	double ns_total;
	char shown[SHOW][2][96];
	int err;
};

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void *lane_fn(void *arg)
{
	struct lane *l = arg;
	unsigned int chan = kup_chan_index(l->ch);
	const void *reply;
	char msg[96];
	unsigned long i;
	ssize_t len;
	double t0;

	/* The kernel holds the first turn and greets us. */
	len = kup_recv(l->ch, &reply, 0);
	if (len < 0) {
		l->err = (int)len;
		return NULL;
	}
	t0 = now_ns();
	for (i = 0; i < l->rounds; i++) {
		int n = snprintf(msg, sizeof(msg),
				 "thread %u, channel %u, message %lu", chan,
				 chan, i);

		if (n < 0 || (size_t)n >= sizeof(msg))
			n = sizeof(msg) - 1;	/* truncated: send what fits */
		l->err = kup_send(l->ch, msg, (size_t)n, 0);
		if (l->err)
			break;
		len = kup_recv(l->ch, &reply, 0);
		if (len != n || memcmp(reply, msg, n)) {
			l->err = len < 0 ? (int)len : -EBADMSG;
			break;
		}
		if (i < SHOW) {
			snprintf(l->shown[i][0], sizeof(l->shown[i][0]), "%s", msg);
			snprintf(l->shown[i][1], sizeof(l->shown[i][1]), "%.*s",
				 (int)len, (const char *)reply);
		}
		l->ok++;
	}
	l->ns_total = now_ns() - t0;
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned long rounds = argc > 1 ? strtoul(argv[1], NULL, 0) : 50000;
	unsigned long want = argc > 2 ? strtoul(argv[2], NULL, 0) : 0;
	long uspins = argc > 3 ? strtol(argv[3], NULL, 0) : -1;
	FILE *f;

	/* The echo threads read their spin budget at each attach. */
	if (argc > 4) {
		f = fopen("/sys/module/kup_echo/parameters/spins", "w");
		if (!f || fputs(argv[4], f) < 0 || fclose(f)) {
			perror("kup_demo: kup_echo spins");
			return 1;
		}
	}
	struct kup_device *dev;
	struct lane *lanes;
	pthread_t *threads;
	unsigned int n, i;
	int ret, fail = 0;

	ret = kup_open("kup_echo", &dev);
	if (ret) {
		fprintf(stderr, "kup_demo: /dev/kup_echo: %s\n", strerror(-ret));
		return 1;
	}
	n = dev->info.nchan;
	if (want && want < n)
		n = want;
	lanes = calloc(n, sizeof(*lanes));
	threads = calloc(n, sizeof(*threads));
	if (!lanes || !threads)
		return 1;
	printf("kup demo: /dev/kup_echo, ABI %u, %u channels, %lu round trips each\n",
	       dev->info.abi_version, n, rounds);
	for (i = 0; i < n; i++) {
		ret = kup_chan_attach(dev, i, 4096, 0, &lanes[i].ch);
		if (ret) {
			fprintf(stderr, "kup_demo: attach %u: %s\n", i,
				strerror(-ret));
			return 1;
		}
		lanes[i].rounds = rounds;
		if (uspins >= 0)
			kup_chan_set_spin(lanes[i].ch, uspins);
		printf("  channel %u: region of %zu bytes at %p pinned by the kernel, buffers of %zu bytes\n",
		       i, lanes[i].ch->mem_len, lanes[i].ch->mem,
		       kup_chan_buf_size(lanes[i].ch));
	}
	for (i = 0; i < n; i++)
		pthread_create(&threads[i], NULL, lane_fn, &lanes[i]);
	for (i = 0; i < n; i++)
		pthread_join(threads[i], NULL);

	for (i = 0; i < n; i++) {
		struct lane *l = &lanes[i];
		int k;

		for (k = 0; k < SHOW && (unsigned long)k < l->ok; k++)
			printf("  ch%u sent \"%s\"  got back \"%s\"\n", i,
			       l->shown[k][0], l->shown[k][1]);
	}
	printf("\n  channel  round trips  errors  mean round trip\n");
	for (i = 0; i < n; i++) {
		struct lane *l = &lanes[i];

		printf("  %7u  %11lu  %6s  %10.2f us\n", i, l->ok,
		       l->err ? strerror(-l->err) : "none",
		       l->ok ? l->ns_total / l->ok / 1000.0 : 0.0);
		if (l->err || l->ok != l->rounds)
			fail = 1;
		kup_chan_close(l->ch);
	}
	kup_close(dev);
	printf("\nkup demo: %s (no system call per message while both sides spin;\n"
	       "  %u threads and %u kernel threads share 2 emulated CPUs here, so\n"
	       "  they also sleep and wake each other through the need-wakeup flags)\n",
	       fail ? "FAILED" : "every message came back intact", n, n);
	free(lanes);
	free(threads);
	return fail;
}
