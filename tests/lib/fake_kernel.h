/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A fake kup kernel peer, in user space, for host tests of lib/kup.h.
 *
 * It plays the roles of driver/device.c (the ioctls the library makes:
 * INFO, ATTACH, DETACH, WAKE, WAIT, EVENTFD; open and close of the device
 * file) and of driver/turn.h and driver/chan.c (the kernel half of the
 * turn protocol) with the same memory orders: an acquire load of
 * slot.turn, a release store to pass it, a full barrier and the kwait /
 * uwait need-wakeup protocol.
 * Like the driver it reads every value from the region once, bounds it and
 * keeps its own expected turn; garbage breaks the channel.
 *
 * The "kernel threads" are pthreads: one per attach runs the device's
 * serve function (struct fk_config) with the kernel API below. The
 * library reaches the fake through its test hook (KUPLIB_OPEN, _CLOSE,
 * _IOCTL, _MMAP): a test defines those as fk_open, fk_close, fk_ioctl and
 * fk_mmap before it includes kup.h.
 *
 * Where the real kernel keeps pinned pages, the fake has only the
 * process's memory: a detach waits until no kernel call uses the region
 * any more (as kup_region_kill() does), and kernel calls copy messages in
 * and out instead of handing out pointers into the region.
 *
 * The fake's sleeps look again every struct fk_config.timeout_ms: one
 * whose condition came true meanwhile without a wake-up is a lost
 * wake-up, counted in fk_failures() (and the sleeper goes on, so that the
 * test ends); one still waiting for its peer sleeps on. Every test is
 * bounded by the harness besides.
 */
#ifndef KUP_FAKE_KERNEL_H
#define KUP_FAKE_KERNEL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/kup.h>

/* Flags of the kernel API: the uapi header's, as include/linux/kup.h's */
#define FK_NONBLOCK	KUP_NONBLOCK
#define FK_MORE		KUP_MORE

#define FK_MAX_CHAN	8

struct fk_dev;
struct fk_sess;

/* A kernel client's thread body, run once per attach. */
typedef void (*fk_serve_fn)(struct fk_sess *s, void *arg);

struct fk_config {
	const char *name;	/* /dev/<name> */
	uint32_t nchan;		/* 1..FK_MAX_CHAN */
	uint32_t max_buf;	/* bytes, a multiple of the page size */
	uint32_t min_buf;	/* bytes */
	unsigned int spins;	/* kernel spin budget before it sleeps */
	unsigned int timeout_ms; /* lost wake-up after, 0: 5000 */
	fk_serve_fn serve;	/* NULL: no kernel thread */
	void *arg;
	/*
	 * What KUP_IOC_INFO reports, to play another kernel (ABI policy):
	 * abi_version 0 is KUP_ABI_VERSION; features and info_reserved go
	 * to struct kup_info features and reserved as they are.
	 */
	uint32_t abi_version;
	uint64_t features;
	uint64_t info_reserved;
};

/* The library's test hook */
int fk_open(const char *path, int flags);
int fk_close(int fd);
int fk_ioctl(int fd, unsigned long req, void *arg);
void *fk_mmap(void *addr, size_t len, int prot, int flags, int fd,
	      off_t off);

/* A second descriptor of the same open file (as dup()). */
int fk_dup(int fd);

struct fk_dev *fk_dev_create(const struct fk_config *cfg);
/* Every channel stops with ESHUTDOWN (kup_dev_shutdown()). */
void fk_dev_shutdown(struct fk_dev *dev);
/* Shut down, join the kernel threads, free. */
void fk_dev_destroy(struct fk_dev *dev);
void fk_dev_set_spins(struct fk_dev *dev, unsigned int spins);

/* Faults */
/* The next count KUP_IOC_WAIT calls fail at once with err. */
void fk_fail_wait(struct fk_dev *dev, int err, unsigned int count);
/* The next count fk_mmap() calls fail with err. */
void fk_fail_mmap(int err, unsigned int count);
/* Applied once to the header the next attach writes. */
typedef void (*fk_hdr_fn)(struct kup_region_hdr *h, void *arg);
void fk_corrupt_hdr(struct fk_dev *dev, fk_hdr_fn fn, void *arg);

/* Kernel API, for serve functions. Every call returns -errno on failure. */
uint32_t fk_chan(const struct fk_sess *s);
uint32_t fk_nslots(const struct fk_sess *s);
uint32_t fk_buf_size(const struct fk_sess *s);
struct fk_dev *fk_sess_dev(const struct fk_sess *s);
/*
 * buf_size bytes for the serve function, kept with the session (reachable
 * for the leak check even from a fork child, where the thread is gone).
 */
void *fk_sess_buf(const struct fk_sess *s);
/* Wait for the process's next message and copy it to buf (buf_size). */
ssize_t fk_recv(struct fk_sess *s, void *buf, unsigned int flags);
/*
 * 1 if the slot ahead slots after the kernel's current one holds a message
 * the kernel has not read (its turn is the kernel's), 0 if not, -errno if
 * the channel stopped.
 */
int fk_ready(struct fk_sess *s, uint32_t ahead);
/* Wait for the turn, copy len bytes, pass it (FK_MORE: skip the check). */
int fk_send(struct fk_sess *s, const void *data, uint32_t len,
	    unsigned int flags);
/*
 * Hostile pass: wait for the turn, then pass it with slot.len = len,
 * slot.seq = the right value + seq_delta, slot.flags = sflags and a turn
 * of the right value + turn_delta.
 */
int fk_send_raw(struct fk_sess *s, uint32_t len, uint32_t seq_delta,
		uint32_t sflags, uint32_t turn_delta);
/* Write kstate.kwait (hostile values). */
int fk_set_kwait(struct fk_sess *s, uint32_t kwait);
/* Break the channel with err (as the driver's kup_region_break()). */
int fk_break(struct fk_sess *s, uint32_t err);
/* Write kstate.state and kstate.error as they are (hostile values). */
int fk_set_state(struct fk_sess *s, uint32_t state, uint32_t err);
/* Detach the channel as KUP_IOC_DETACH does, from the kernel side. */
int fk_detach(struct fk_dev *dev, uint32_t chan);

/* Test helpers */
struct fk_stats {
	unsigned long waits;		/* KUP_IOC_WAIT calls */
	unsigned long wakes;		/* KUP_IOC_WAKE calls */
	unsigned long detaches;		/* successful KUP_IOC_DETACH */
	unsigned long eperm;		/* calls refused with EPERM */
	unsigned long uwait_wakeups;	/* the kernel woke a user */
	unsigned long attaches;		/* successful KUP_IOC_ATTACH */
	unsigned long releases;		/* last close of a file */
};
void fk_get_stats(struct fk_dev *dev, struct fk_stats *st);
/* Lost wake-ups and other failures the fake saw, since the start. */
unsigned long fk_failures(void);
/* 1 if chan has a region attached. */
int fk_chan_attached(struct fk_dev *dev, uint32_t chan);
/* Wait at most ms until chan's kernel thread sleeps; 0 or -ETIMEDOUT. */
int fk_wait_kernel_asleep(struct fk_dev *dev, uint32_t chan,
			  unsigned int ms);
/* Wait at most ms until a user thread sleeps in KUP_IOC_WAIT on chan. */
int fk_wait_user_asleep(struct fk_dev *dev, uint32_t chan, unsigned int ms);
/* Wait at most ms until every kernel thread of dev has returned. */
int fk_wait_sessions_done(struct fk_dev *dev, unsigned int ms);

#endif /* KUP_FAKE_KERNEL_H */
