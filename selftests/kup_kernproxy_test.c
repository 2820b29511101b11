// SPDX-License-Identifier: GPL-2.0
/*
 * The FreeBSD KUP user API end to end: this program uses only the
 * kernproxy_* names of lib/kernproxy.h, and kup_rot13 uses only the kupdev_*
 * names of the kernel API. Several channels, one thread each.
 */
#include "kup_test.h"

#include <kernproxy.h>

#include <pthread.h>

#include "kselftest_harness.h"

#define NCHAN	4
#define ROUNDS	2000

struct client {
	void *chan;
	int id;
	int errors;
};

static void *client_fn(void *arg)
{
	struct client *c = (struct client *)arg;
	char msg[128], want[128];
	char *reply;
	int i;

	/* kup_rot13 passes the first turn to us, without data. */
	if (!kernproxy_receive(c->chan, 0)) {
		c->errors++;
		return NULL;
	}
	for (i = 0; i < ROUNDS; i++) {
		snprintf(msg, sizeof(msg), "Channel %d says hello #%d", c->id, i);
		if (kernproxy_send(c->chan, msg, strlen(msg) + 1, 0)) {
			c->errors++;
			break;
		}
		reply = (char *)kernproxy_receive(c->chan, 0);
		strcpy(want, msg);
		rot13(want);
		if (!reply || strcmp(reply, want)) {
			c->errors++;
			break;
		}
	}
	return NULL;
}

TEST(kernproxy_many_channels)
{
	struct client c[NCHAN];
	pthread_t t[NCHAN];
	void *handle;
	int i;

	handle = kernproxy_open(ROT13_NAME);
	if (!handle && errno == ENOENT)
		SKIP(return, "no /dev/%s (load kup_rot13.ko)", ROT13_NAME);
	ASSERT_NE(NULL, handle);
	for (i = 0; i < NCHAN; i++) {
		c[i].chan = kernproxy_channel(handle, i, 1);
		ASSERT_NE(NULL, c[i].chan) TH_LOG("error %d",
						  kernproxy_error(handle));
		c[i].id = i;
		c[i].errors = 0;
	}
	for (i = 0; i < NCHAN; i++)
		ASSERT_EQ(0, pthread_create(&t[i], NULL, client_fn, &c[i]));
	for (i = 0; i < NCHAN; i++) {
		ASSERT_EQ(0, pthread_join(t[i], NULL));
		EXPECT_EQ(0, c[i].errors);
	}
	/* Every channel is taken: not ready, in KUP's words. */
	EXPECT_EQ(NULL, kernproxy_channel(handle, 0, 1));
	EXPECT_EQ(EKU_NOTREADY, kernproxy_error(handle));
	kernproxy_close(handle);
}

TEST(kernproxy_errors)
{
	void *handle, *chan;
	char *r;

	EXPECT_EQ(NULL, kernproxy_open("kup_no_such_device"));
	EXPECT_EQ(ENOENT, errno);
	handle = kernproxy_open(ROT13_NAME);
	ASSERT_NE(NULL, handle);
	/* kernproxy_channel(chan_id) falls back to the next free channel. */
	chan = kernproxy_channel(handle, 2, 1);
	ASSERT_NE(NULL, chan);
	ASSERT_NE(NULL, kernproxy_receive(chan, 0));
	/* Our turn, message consumed: nothing to receive. */
	EXPECT_EQ(NULL, kernproxy_receive(chan, KP_NB));
	ASSERT_EQ(0, kernproxy_send(chan, "abc", 4, KP_NB));
	r = (char *)kernproxy_receive(chan, 0);
	ASSERT_NE(NULL, r);
	EXPECT_STREQ("nop", r);
	/* A message larger than the channel. */
	EXPECT_EQ(-EMSGSIZE, kernproxy_send(chan, r, 1 << 20, 0));
	kernproxy_close(handle);
}

/*
 * kupdev_receive() returns the message followed by a NUL the process
 * cannot take away: kup_rot13 reads up to it with strlen(), as KUP
 * clients do, and stops there even when the message fills the buffer and
 * every byte of the region after the control lines is non-zero.
 */
TEST(kernproxy_receive_terminated)
{
	struct kup_channel *ch;
	void *handle, *chan;
	unsigned char *from;
	size_t size;
	char *msg, *r;

	handle = kernproxy_open(ROT13_NAME);
	if (!handle && errno == ENOENT)
		SKIP(return, "no /dev/%s (load kup_rot13.ko)", ROT13_NAME);
	ASSERT_NE(NULL, handle);
	chan = kernproxy_channel(handle, 0, 1);
	ASSERT_NE(NULL, chan);
	ch = (struct kup_channel *)chan;
	ASSERT_NE(NULL, kernproxy_receive(chan, 0));
	size = kup_chan_buf_size(ch);
	msg = (char *)malloc(size);
	ASSERT_NE(NULL, msg);
	memset(msg, 'a', size);
	/* Both buffers and whatever follows them, to the region's end. */
	from = (unsigned char *)ch->to_kernel;
	memset(from, 'a', (unsigned char *)ch->mem + ch->mem_len - from);
	ASSERT_EQ(0, kernproxy_send(chan, msg, size, 0));
	r = (char *)kernproxy_receive(chan, 0);
	ASSERT_NE(NULL, r);
	EXPECT_EQ(size - 1, strnlen(r, size));
	EXPECT_EQ('n', r[0]);
	EXPECT_EQ('n', r[size - 2]);
	free(msg);
	kernproxy_close(handle);
}

/*
 * The kernel module goes away while a program holds a channel:
 * kernproxy_receive() fails, blocking or not, and kernproxy_error() says
 * EKU_SHUTDOWN; kernproxy_send() fails with -ESHUTDOWN.
 */
TEST(kernproxy_shutdown)
{
	const char *ko = getenv("KUP_ROT13_KO");
	void *handle, *chan;
	char cmd[512], *r;

	ASSERT_NE(NULL, ko);
	handle = kernproxy_open(ROT13_NAME);
	ASSERT_NE(NULL, handle);
	chan = kernproxy_channel(handle, 0, 1);
	ASSERT_NE(NULL, chan);
	ASSERT_NE(NULL, kernproxy_receive(chan, 0));
	ASSERT_EQ(0, kernproxy_send(chan, "x", 2, 0));
	r = (char *)kernproxy_receive(chan, 0);
	ASSERT_NE(NULL, r);
	EXPECT_STREQ("k", r);
	/* We hold the turn, the kernel thread waits for us: unload. */
	ASSERT_EQ(0, system("rmmod kup_rot13"));
	EXPECT_EQ(NULL, kernproxy_receive(chan, 0));
	EXPECT_EQ(EKU_SHUTDOWN, kernproxy_error(handle));
	EXPECT_EQ(NULL, kernproxy_receive(chan, KP_NB));
	EXPECT_EQ(EKU_SHUTDOWN, kernproxy_error(handle));
	EXPECT_EQ(-ESHUTDOWN, kernproxy_send(chan, "y", 2, KP_NB));
	kernproxy_close(handle);
	snprintf(cmd, sizeof(cmd), "insmod %s", ko);
	ASSERT_EQ(0, system(cmd));
	ASSERT_TRUE(path_wait("/dev/" ROT13_NAME, 5000));
}

TEST_HARNESS_MAIN
