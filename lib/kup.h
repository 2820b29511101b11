/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * kup.h: the user half of the kup channel protocol, header-only.
 *
 *	struct kup_device *dev;
 *	struct kup_channel *ch;
 *	const void *reply;
 *
 *	kup_open("kup_echo", &dev);		// or a path: "/dev/kup_echo"
 *	kup_chan_attach(dev, KUP_CHAN_ANY, 4096, 0, &ch);
 *	kup_recv(ch, &reply, 0);		// the kernel holds the 1st turn
 *	kup_send(ch, "hello", 5, 0);		// no system call ...
 *	len = kup_recv(ch, &reply, 0);		// ... nor here, while both spin
 *	kup_chan_close(ch);
 *	kup_close(dev);
 *
 * Every function returns 0 (or a length) on success and a negative errno
 * on failure. Build with the kernel's uapi headers (include/uapi of this
 * tree) in the include path; C11 or C++11 and later, GCC or Clang; link
 * with -pthread on glibc older than 2.34.
 *
 * Threads: a channel belongs to one thread at a time; different threads
 * drive different channels with no lock on the data path. kup_open(),
 * kup_chan_attach() and kup_chan_close() may run concurrently in different
 * threads; kup_close() must not race with anything on its device.
 * kup_chan_shutdown() is the one call any thread may make on a channel at
 * any time: every call blocked or spinning on the channel, and every later
 * one, returns -ENOTCONN. kup_chan_close() and kup_close() free the
 * channel's memory: never while another thread may still be inside a
 * call on it. To stop a thread blocked on a channel, shut the channel
 * down, wait for the thread to return, then close the channel.
 *
 * Waiting: a blocking call spins on the turn word for the channel's spin
 * budget (kup_chan_set_spin()), then sets ustate.uwait and sleeps in the
 * kernel (KUP_IOC_WAIT) until the kernel passes the turn. KUP_SPIN_ONLY
 * never sleeps (pure polling, bounded by kup_chan_set_poll_limit(), by
 * default KUP_DEFAULT_POLL_LIMIT: seconds), KUP_NONBLOCK returns -EAGAIN
 * at once. The data path makes a system call
 * only to sleep, or to wake a kernel thread that announced it sleeps.
 *
 * The FreeBSD KUP names (kernproxy_*) are in lib/kernproxy.h, which
 * includes this header.
 */
#ifndef KUP_LIB_H
#define KUP_LIB_H

/*
 * The kup release this header comes from (the tree's VERSION file; make
 * install-check fails when they differ). KUP_CHECK_VERSION(major, minor)
 * is true when this header is OLDER than major.minor, as liburing's
 * IO_URING_CHECK_VERSION:
 *
 *	#if KUP_CHECK_VERSION(0, 2)
 *	#error "needs kup 0.2 or later"
 *	#endif
 *
 * The release is not the ABI: a program built with this header runs on
 * any kernel whose kup reports the same KUP_ABI_VERSION (the ABI policy
 * in include/uapi/linux/kup.h).
 */
#define KUP_VERSION_MAJOR	0
#define KUP_VERSION_MINOR	1
#define KUP_VERSION_PATCH	0
#define KUP_CHECK_VERSION(major, minor)					\
	((major) * 65536L + (minor) >					\
	 KUP_VERSION_MAJOR * 65536L + KUP_VERSION_MINOR)

/*
 * kup.h defines no feature-test macro: it leaves the program's choice
 * (_GNU_SOURCE changes strerror_r(), for one) as it is, and builds under
 * strict ISO C (-std=c11) whatever the system headers included before it
 * saw. It uses aligned_alloc() (C11) for regions; O_CLOEXEC and
 * MAP_ANONYMOUS, which glibc declares only for POSIX and GNU programs,
 * have fallbacks below.
 */

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>

#include <linux/kup.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef KUPLIB_INLINE
#define KUPLIB_INLINE static inline
#endif

#if defined(O_CLOEXEC)
#define KUPI_O_CLOEXEC	O_CLOEXEC
#elif defined(__O_CLOEXEC)	/* glibc, strict ISO C */
#define KUPI_O_CLOEXEC	__O_CLOEXEC
#else				/* set with fcntl() after open() */
#define KUPI_O_CLOEXEC	0
#endif

#if defined(MAP_ANONYMOUS)
#define KUPI_MAP_ANON	MAP_ANONYMOUS
#elif defined(MAP_ANON)
#define KUPI_MAP_ANON	MAP_ANON
#else		/* strict ISO C hides it in glibc: the kernel's own value */
#include <asm/mman.h>
#define KUPI_MAP_ANON	MAP_ANONYMOUS
#endif

/*
 * Test hook, not an API: tests/lib runs the library against a fake kernel
 * peer in the same process by defining these before it includes kup.h
 * (the sanitizer runtimes intercept the libc symbols themselves, so the
 * calls are routed here instead). Every call on the device and every
 * remap of a region goes through them. Programs leave them alone.
 */
#ifndef KUPLIB_OPEN
#define KUPLIB_OPEN	open
#endif
#ifndef KUPLIB_CLOSE
#define KUPLIB_CLOSE	close
#endif
#ifndef KUPLIB_IOCTL
#define KUPLIB_IOCTL	ioctl
#endif
#ifndef KUPLIB_MMAP
#define KUPLIB_MMAP	mmap
#endif

/*
 * The shared layout, checked by the compiler (the kernel checks the same
 * in driver/region.c): a new field can never silently overlap the next
 * part of the region or change the ABI's sizes.
 */
static_assert(sizeof(struct kup_region_hdr) == KUP_LINE_SIZE,
	      "the header is one line");
static_assert(sizeof(struct kup_kstate) <= KUP_LINE_SIZE,
	      "kstate fits its line");
static_assert(sizeof(struct kup_ustate) <= KUP_LINE_SIZE,
	      "ustate fits its line");
static_assert(sizeof(struct kup_slot) == KUP_LINE_SIZE,
	      "a slot is exactly one line");
static_assert(offsetof(struct kup_slot, data) == 16 &&
	      offsetof(struct kup_slot, data) + KUP_INLINE_MAX ==
	      KUP_LINE_SIZE, "inline data fills the slot's line");
static_assert(sizeof(struct kup_info) == 64 &&
	      sizeof(struct kup_attach) == 40 &&
	      sizeof(struct kup_eventfd) == 16 &&
	      sizeof(struct kup_chan_req) == 16, "ioctl argument sizes");

/*
 * Every access to a word the other side (the kernel, or another thread)
 * writes, named as in the kernel, so that one grep finds both halves of
 * each barrier pair (labelled as in include/uapi/linux/kup.h).
 */
#define kup_read_once(p)		__atomic_load_n((p), __ATOMIC_RELAXED)
#define kup_write_once(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define kup_smp_load_acquire(p)	__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define kup_smp_store_release(p, v) \
	__atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define kup_smp_mb()		__atomic_thread_fence(__ATOMIC_SEQ_CST)

/*
 * The data path is forced inline (a call and a return per function cost
 * as much as the work), and its rare branches, sleeping and waking, are
 * kept out of line.
 */
#if defined(__GNUC__) || defined(__clang__)
#define KUPLIB_HOT	KUPLIB_INLINE __attribute__((__always_inline__))
#define KUPLIB_COLD	static __attribute__((__noinline__, __cold__, __unused__))
#else
#define KUPLIB_HOT	KUPLIB_INLINE
#define KUPLIB_COLD	KUPLIB_INLINE
#endif

/*
 * Flags of the data-path calls: KUP_NONBLOCK (-EAGAIN instead of waiting)
 * and KUP_MORE, shared with the kernel API (include/uapi/linux/kup.h),
 * and KUP_SPIN_ONLY, user space's own.
 *
 * KUP_MORE on kup_send(), kup_pass() on a pipelined channel: another send
 * follows at once; skip the wake-up check, which the next send without
 * KUP_MORE makes for all of them, or whatever ends the burst first: a
 * send that fails (-ENOBUFS on a full pipeline, -EMSGSIZE), a receive that
 * would wait, kup_chan_arm(). So
 *	while (kup_send(ch, m, n, KUP_MORE) == 0);
 * then kup_recv() is fine. Ignored on ping-pong channels.
 */
#define KUP_SPIN_ONLY	0x2U	/* wait by polling only, never sleep */

#define KUP_DEFAULT_SPINS	(1U << 10)
/*
 * Polls after which a KUP_SPIN_ONLY wait gives up (-ETIMEDOUT): 2^28. A
 * poll is a pause and two loads, some 3 ns (a short pause) to 40 ns (the
 * 140-cycle pause of recent x86): about 1 to 10 seconds. Longer waits set
 * their own bound (kup_chan_set_poll_limit()).
 */
#define KUP_DEFAULT_POLL_LIMIT	(1ULL << 28)

struct kup_channel;

struct kup_device {
	int fd;
	int error;			/* last error: lib/kernproxy.h */
	struct kup_info info;
	pthread_mutex_t lock;		/* the channel list */
	struct kup_channel *chans;
};

/* kup_channel.shut: being shut down, and shut down (detached) */
#define KUPI_SHUTTING	1
#define KUPI_SHUT	2

struct kup_channel {
	struct kup_device *dev;
	struct kup_channel *next;	/* on dev->chans */
	void *mem;			/* aligned_alloc()ed region */
	size_t mem_len;
	const struct kup_region_hdr *hdr;
	const struct kup_kstate *ks;
	struct kup_ustate *us;
	struct kup_slot *slots;		/* slot i is i lines further */
	unsigned char *to_kernel;	/* buffer i is i * buf_size further */
	const unsigned char *to_user;
	uint32_t chan;
	uint32_t buf_size;
	uint32_t nslots;		/* 1: ping-pong; more: pipelined */
	uint32_t usend;			/* next slot to send on */
	uint32_t urecv;			/* next slot to receive from */
	uint32_t uturn[KUP_MAX_SLOTS];	/* turn value while we hold a slot */
	unsigned char consumed[KUP_MAX_SLOTS]; /* its message was read */
	uint32_t inflight;		/* pipelined: sent, reply not read */
	uint32_t wake_owed;		/* KUP_MORE passes not checked yet */
	unsigned int spins;		/* spin budget, at most */
	unsigned int spin_cur;		/* adaptive budget, <= spins */
	unsigned long long poll_limit;
	unsigned long long syscalls;	/* wake/sleep ioctls made */
	int shut;			/* KUPI_SHUT: kup_chan_shutdown() detached it */
};

KUPLIB_HOT void kupi_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

/*
 * Open /dev/<name> (name: at most KUP_NAME_MAX - 1 bytes, else
 * -ENAMETOOLONG), or a path when name contains a '/'.
 */
KUPLIB_INLINE int kup_open(const char *name, struct kup_device **devp)
{
	char path[sizeof("/dev/") + KUP_NAME_MAX];
	struct kup_device *dev;
	size_t len;
	int ret;

	if (!devp)
		return -EINVAL;
	*devp = NULL;
	if (!name)
		return -EINVAL;
	if (!strchr(name, '/')) {
		len = strlen(name);
		if (len >= KUP_NAME_MAX)
			return -ENAMETOOLONG;
		memcpy(path, "/dev/", 5);
		memcpy(path + 5, name, len + 1);
		name = path;
	}
	dev = (struct kup_device *)calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	pthread_mutex_init(&dev->lock, NULL);
	dev->fd = KUPLIB_OPEN(name, O_RDWR | KUPI_O_CLOEXEC);
	if (dev->fd < 0) {
		ret = -errno;
		free(dev);
		return ret;
	}
	if (!KUPI_O_CLOEXEC)
		fcntl(dev->fd, F_SETFD, FD_CLOEXEC);
	if (KUPLIB_IOCTL(dev->fd, KUP_IOC_INFO, &dev->info) < 0) {
		ret = -errno;
		KUPLIB_CLOSE(dev->fd);
		free(dev);
		return ret;
	}
	/*
	 * The ABI policy (include/uapi/linux/kup.h): the major must match;
	 * a newer kernel of the same major is fine, its additions are in
	 * dev->info.features.
	 */
	if (dev->info.abi_version != KUP_ABI_VERSION) {
		KUPLIB_CLOSE(dev->fd);
		free(dev);
		return -EPROTONOSUPPORT;
	}
	*devp = dev;
	return 0;
}

/* KUP_IOC_DETACH of the channel: 0 or -errno. */
KUPLIB_INLINE int kupi_detach(const struct kup_channel *ch)
{
	struct kup_chan_req req;

	memset(&req, 0, sizeof(req));
	req.chan = ch->chan;
	if (KUPLIB_IOCTL(ch->dev->fd, KUP_IOC_DETACH, &req) < 0)
		return errno > 0 ? -errno : -EIO;
	return 0;
}

/*
 * Give the region's range fresh pages, then free it. The kernel may keep
 * the pinned pages until its last user lets go and may write them until
 * then: late kernel writes land in the old pages, never in memory the
 * process reuses.
 */
KUPLIB_INLINE int kupi_chan_free(struct kup_channel *ch)
{
	void *p;
	int ret;

	p = KUPLIB_MMAP(ch->mem, ch->mem_len, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | KUPI_MAP_ANON | MAP_FIXED, -1, 0);
	if (p == MAP_FAILED) {
		ret = errno > 0 ? -errno : -ENOMEM;	/* before free() */
		free(ch);
		return ret;	/* leak the range rather than reuse it */
	}
	free(ch->mem);
	free(ch);
	return 0;
}

/*
 * Close the device and every channel still attached through it. Each
 * channel is detached first: close() detaches nothing while a dup()ed or
 * inherited descriptor keeps the file open. A fork child cannot detach
 * its parent's channels (the kernel refuses with EPERM): its kup_close()
 * frees the child's own copy of the memory and leaves them alone.
 */
KUPLIB_INLINE void kup_close(struct kup_device *dev)
{
	struct kup_channel *ch, *next;

	if (!dev)
		return;
	for (ch = dev->chans; ch; ch = next) {
		next = ch->next;
		if (!kup_smp_load_acquire(&ch->shut))
			kupi_detach(ch);
		kupi_chan_free(ch);
	}
	KUPLIB_CLOSE(dev->fd);
	pthread_mutex_destroy(&dev->lock);
	free(dev);
}

/* The fd to add to poll/epoll/io_uring; see kup_chan_arm(). */
KUPLIB_INLINE int kup_fd(const struct kup_device *dev)
{
	return dev->fd;
}

/*
 * Bytes a region needs for nslots slots of buf_size bytes (rounded up to a
 * line, as KUP_IOC_ATTACH does), whole pages.
 */
KUPLIB_INLINE size_t kup_region_len(const struct kup_device *dev,
				    uint32_t nslots, size_t buf_size)
{
	size_t page = (size_t)dev->info.page_size;
	size_t line = (buf_size + KUP_LINE_SIZE - 1) / KUP_LINE_SIZE *
		      KUP_LINE_SIZE;
	size_t len = (size_t)kup_region_size(nslots, line, page);

	return (len + page - 1) / page * page;
}

/*
 * Whether part [off, off + len) of a region of size bytes lies inside it
 * and starts on a line, without overflow.
 */
KUPLIB_INLINE int kupi_part_ok(uint64_t off, uint64_t len, uint64_t size)
{
	return off % KUP_LINE_SIZE == 0 && off <= size && len <= size - off;
}

/*
 * Check the header the kernel wrote and locate every part through it:
 * each inside the region, on its own line, whatever the values.
 */
KUPLIB_INLINE int kupi_chan_map(struct kup_channel *ch)
{
	const struct kup_region_hdr *hp;
	unsigned char *base = (unsigned char *)ch->mem;
	struct kup_region_hdr h;
	uint64_t size, bufs;
	uint32_t i;

	hp = (const struct kup_region_hdr *)ch->mem;
	/*
	 * H2, pairs with H1 in driver/region.c (kup_region_format()): the
	 * header is complete once the magic shows.
	 */
	if (kup_smp_load_acquire(&hp->magic) != KUP_REGION_MAGIC)
		return -EBADMSG;
	/* Each value read once: checked and used from the copy. */
	memcpy(&h, hp, sizeof(h));
	if (h.abi_version != KUP_ABI_VERSION)
		return -EPROTONOSUPPORT;
	size = h.region_size;
	/* nslots <= KUP_MAX_SLOTS, buf_size < 2^32: no overflow. */
	bufs = (uint64_t)ch->nslots * h.buf_size;
	if (h.hdr_size < sizeof(h) || h.hdr_size > size ||
	    size > ch->mem_len || h.chan != ch->chan ||
	    h.nslots != ch->nslots || h.line_size != KUP_LINE_SIZE ||
	    !h.buf_size || h.buf_size % KUP_LINE_SIZE ||
	    !kupi_part_ok(h.kstate_off, sizeof(struct kup_kstate), size) ||
	    !kupi_part_ok(h.ustate_off, sizeof(struct kup_ustate), size) ||
	    !kupi_part_ok(h.slot_off, (uint64_t)ch->nslots * KUP_LINE_SIZE,
			  size) ||
	    !kupi_part_ok(h.to_kernel_off, bufs, size) ||
	    !kupi_part_ok(h.to_user_off, bufs, size))
		return -EBADMSG;
	ch->hdr = hp;
	ch->ks = (const struct kup_kstate *)(base + h.kstate_off);
	ch->us = (struct kup_ustate *)(base + h.ustate_off);
	ch->slots = (struct kup_slot *)(base + h.slot_off);
	ch->to_kernel = base + h.to_kernel_off;
	ch->to_user = base + h.to_user_off;
	ch->buf_size = h.buf_size;
	for (i = 0; i < ch->nslots; i++) {
		/*
		 * Ping-pong: the kernel holds turn 0 and will pass turn 1
		 * with a message. Pipelined: we hold turn 1 of every slot,
		 * with no message.
		 */
		ch->uturn[i] = 1;
		ch->consumed[i] = ch->nslots > 1;
	}
	return 0;
}

/*
 * Allocate a region for nslots slots (1: ping-pong; 2..KUP_MAX_SLOTS:
 * pipelined) with buffers of buf_size bytes rounded up to KUP_LINE_SIZE
 * (0: the device's largest), attach it to channel chan (KUP_CHAN_ANY: the
 * lowest free one) and check it. flags: zero. The buffers hold at least
 * buf_size bytes (kup_chan_buf_size()), or the attach fails: -EINVAL
 * outside the device's [min_buf_size, max_buf_size], -EMSGSIZE if the
 * kernel gave less (a kernel older than struct kup_attach.buf_size refuses
 * a non-zero one with -EINVAL).
 */
KUPLIB_INLINE int kup_chan_attach_slots(struct kup_device *dev, uint32_t chan,
					size_t buf_size, uint32_t nslots,
					unsigned int flags,
					struct kup_channel **chp)
{
	size_t min = KUP_LINE_SIZE, want = 0, layout;
	struct kup_attach arg;
	struct kup_channel *ch;
	int ret;

	if (!chp)
		return -EINVAL;
	*chp = NULL;
	if (!dev || flags || !nslots || nslots > KUP_MAX_SLOTS)
		return -EINVAL;
	layout = dev->info.max_buf_size;
	if (buf_size) {
		if (buf_size > dev->info.max_buf_size)
			return -EINVAL;
		want = (buf_size + KUP_LINE_SIZE - 1) / KUP_LINE_SIZE *
		       KUP_LINE_SIZE;
		if (min < dev->info.min_buf_size)
			min = dev->info.min_buf_size;
		if (want < min || want > dev->info.max_buf_size)
			return -EINVAL;
		layout = want;
	}
	ch = (struct kup_channel *)calloc(1, sizeof(*ch));
	if (!ch)
		return -ENOMEM;
	ch->dev = dev;
	ch->spins = KUP_DEFAULT_SPINS;
	ch->spin_cur = KUP_DEFAULT_SPINS;
	ch->poll_limit = KUP_DEFAULT_POLL_LIMIT;
	ch->nslots = nslots;
	/* Exactly what the kernel's layout uses for this buf_size. */
	ch->mem_len = kup_region_len(dev, nslots, layout);
	/* mem_len is whole pages: a multiple of the alignment, as C11 wants */
	ch->mem = aligned_alloc((size_t)dev->info.page_size, ch->mem_len);
	if (!ch->mem) {
		free(ch);
		return -ENOMEM;
	}
	memset(ch->mem, 0, ch->mem_len);

	memset(&arg, 0, sizeof(arg));
	arg.addr = (uintptr_t)ch->mem;
	arg.len = ch->mem_len;
	arg.chan = chan;
	arg.nslots = nslots;
	arg.buf_size = (uint32_t)want;
	if (KUPLIB_IOCTL(dev->fd, KUP_IOC_ATTACH, &arg) < 0) {
		ret = -errno;
		free(ch->mem);
		free(ch);
		return ret;
	}
	ch->chan = arg.chan;
	ret = kupi_chan_map(ch);
	if (!ret && ch->buf_size < buf_size)
		ret = -EMSGSIZE;
	if (ret) {
		kupi_detach(ch);
		kupi_chan_free(ch);
		return ret;
	}
	pthread_mutex_lock(&dev->lock);
	ch->next = dev->chans;
	dev->chans = ch;
	pthread_mutex_unlock(&dev->lock);
	*chp = ch;
	return 0;
}

/* A ping-pong channel: kup_chan_attach_slots() with one slot. */
KUPLIB_INLINE int kup_chan_attach(struct kup_device *dev, uint32_t chan,
				  size_t buf_size, unsigned int flags,
				  struct kup_channel **chp)
{
	return kup_chan_attach_slots(dev, chan, buf_size, 1, flags, chp);
}

/*
 * Stop the channel, from any thread: detach it in the kernel and free
 * nothing. Every call on it returns -ENOTCONN (-ESHUTDOWN if the device
 * was shut down first): one asleep in the kernel is woken by the detach,
 * one polling sees KUP_STATE_DETACHED, and so do later ones; a message the
 * kernel passed before the detach is still received first. Once the
 * threads that used it have returned, the owning thread frees it with
 * kup_chan_close(). Returns 0, also when the channel was shut down
 * already, or -errno (-EPERM in a fork child, which cannot detach its
 * parent's channels).
 */
KUPLIB_INLINE int kup_chan_shutdown(struct kup_channel *ch)
{
	int ret, open = 0;

	if (!ch)
		return -EINVAL;
	/*
	 * One caller detaches: the channel's index may be attached again
	 * once it is free, and a second detach would hit that attachment.
	 * A flag between user threads, no kernel pairing: the acquire
	 * pairs with the releases below.
	 */
	if (!__atomic_compare_exchange_n(&ch->shut, &open, KUPI_SHUTTING, 0,
					 __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE))
		return 0;	/* shut down, or being shut down, already */
	ret = kupi_detach(ch);
	if (ret && ret != -ENOTCONN) {
		kup_smp_store_release(&ch->shut, 0);
		return ret;
	}
	/* Pairs with the acquire loads in kup_chan_close() and kup_close(). */
	kup_smp_store_release(&ch->shut, KUPI_SHUT);
	return 0;
}

/*
 * Detach the channel, unless kup_chan_shutdown() did, and free its region.
 * No other thread may be inside a call on the channel (see the top).
 */
KUPLIB_INLINE int kup_chan_close(struct kup_channel *ch)
{
	struct kup_device *dev;
	struct kup_channel **pp;
	int ret, ret2;

	if (!ch)
		return 0;
	dev = ch->dev;
	pthread_mutex_lock(&dev->lock);
	for (pp = &dev->chans; *pp; pp = &(*pp)->next) {
		if (*pp == ch) {
			*pp = ch->next;
			break;
		}
	}
	pthread_mutex_unlock(&dev->lock);
	/* Shut down: detached already, and its index may be another's now. */
	ret = kup_smp_load_acquire(&ch->shut) ? 0 : kupi_detach(ch);
	ret2 = kupi_chan_free(ch);
	return ret ? ret : ret2;
}

KUPLIB_INLINE uint32_t kup_chan_index(const struct kup_channel *ch)
{
	return ch->chan;
}

KUPLIB_INLINE size_t kup_chan_buf_size(const struct kup_channel *ch)
{
	return ch->buf_size;
}

/* Spins on the turn word before a blocking call sleeps (0: sleep now). */
KUPLIB_INLINE void kup_chan_set_spin(struct kup_channel *ch,
				     unsigned int spins)
{
	ch->spins = spins;
	ch->spin_cur = spins;
}

/*
 * Polls after which a KUP_SPIN_ONLY call gives up with -ETIMEDOUT
 * (default KUP_DEFAULT_POLL_LIMIT).
 */
KUPLIB_INLINE void kup_chan_set_poll_limit(struct kup_channel *ch,
					   unsigned long long polls)
{
	ch->poll_limit = polls;
}

/* 0 if the channel is usable, else why not. */
KUPLIB_HOT int kupi_chan_check(const struct kup_channel *ch)
{
	/*
	 * S2, pairs with S1 in driver/region.c (kup_region_set_state()): the
	 * error code is visible with the state.
	 */
	uint32_t state = kup_smp_load_acquire(&ch->ks->state);
	uint32_t err;

	/* Checked at every poll: one compare, no jump table. */
	if (__builtin_expect(state == KUP_STATE_ATTACHED, 1))
		return 0;
	switch (state) {
	case KUP_STATE_SHUTDOWN:
		return -ESHUTDOWN;
	case KUP_STATE_DETACHED:
		return -ENOTCONN;
	default:
		err = kup_read_once(&ch->ks->error);
		return err && err < 4096 ? -(int)err : -EPROTO;
	}
}

KUPLIB_HOT struct kup_slot *kupi_slot(const struct kup_channel *ch,
				      uint32_t s)
{
	return (struct kup_slot *)((unsigned char *)ch->slots +
				   (size_t)s * KUP_LINE_SIZE);
}

KUPLIB_HOT uint32_t kupi_next(const struct kup_channel *ch, uint32_t s)
{
	return s + 1 < ch->nslots ? s + 1 : 0;
}

/* 1: we hold slot s's turn; 0: the kernel does; < 0: the channel stopped. */
KUPLIB_HOT int kupi_turn(const struct kup_channel *ch, uint32_t s)
{
	int ret = kupi_chan_check(ch);
	uint32_t t;

	if (ret)
		return ret;
	/*
	 * P4, pairs with P3 in driver/turn.h (kup_kpass()): the kernel's
	 * message, len, seq and flags are visible once the turn is.
	 */
	t = kup_smp_load_acquire(&kupi_slot(ch, s)->turn);
	if (t == ch->uturn[s])
		return 1;
	if (t == ch->uturn[s] - 1)
		return 0;
	return -EPROTO;		/* someone in this process wrote the turn */
}

/* The kernel thread sleeps waiting for a turn we passed: wake it. */
KUPLIB_COLD void kupi_wake_kernel(struct kup_channel *ch)
{
	struct kup_chan_req req;

	/* Shut down: its index may be another attachment's (kupi_sleep()). */
	if (kup_smp_load_acquire(&ch->shut))
		return;
	memset(&req, 0, sizeof(req));
	req.chan = ch->chan;
	ch->syscalls++;
	KUPLIB_IOCTL(ch->dev->fd, KUP_IOC_WAKE, &req);
}

/*
 * Need-wakeup, waker half, after our turn stores: a full barrier, then
 * kstate.kwait (W2, pairs with W1 in driver/chan.c, kup_sleep_kturn()):
 * either we see kwait here, or the kernel sees our turns before it
 * sleeps. The kernel may wait for any slot we passed: wake it if that
 * slot is now its.
 */
KUPLIB_HOT void kupi_wake_check(struct kup_channel *ch)
{
	uint32_t k;

	ch->wake_owed = 0;
	kup_smp_mb();	/* W2, pairs with W1 in driver/chan.c */
	k = kup_read_once(&ch->ks->kwait);
	if (k && k <= ch->nslots && kupi_turn(ch, k - 1) == 0)
		kupi_wake_kernel(ch);
}

/*
 * A burst of KUP_MORE passes ends without the send that makes its check
 * (a send failed, a receive is about to wait, an event loop arms the
 * channel): make it now, or a kernel thread asleep for one of those slots
 * sleeps on while we wait for its reply.
 */
KUPLIB_HOT void kupi_end_burst(struct kup_channel *ch)
{
	if (__builtin_expect(ch->wake_owed, 0))
		kupi_wake_check(ch);
}

/* Need-wakeup, waiter half: flag, full barrier, re-check, sleep. */
KUPLIB_INLINE int kupi_sleep(struct kup_channel *ch, uint32_t s)
{
	struct kup_chan_req req;
	int ret;

	kup_write_once(&ch->us->uwait, s + 1);
	/*
	 * W3, pairs with W4 in driver/turn.h (kup_kwake()), between the
	 * kernel's turn store and its uwait load: either the kernel sees
	 * uwait and wakes us, or we see its turn here.
	 */
	kup_smp_mb();
	ret = kupi_turn(ch, s);
	/*
	 * Shut down by another thread: its index may be attached again,
	 * and a WAIT by index would sleep on that attachment.
	 */
	if (!ret && kup_smp_load_acquire(&ch->shut))
		ret = -ENOTCONN;
	if (!ret) {
		memset(&req, 0, sizeof(req));
		req.chan = ch->chan;
		ch->syscalls++;
		/*
		 * 0 once the turn is ours; else -EINTR (a signal),
		 * -ESHUTDOWN, -ENOTCONN, the error that broke the channel,
		 * or one the kernel had no reason to give: all returned.
		 */
		if (KUPLIB_IOCTL(ch->dev->fd, KUP_IOC_WAIT, &req) < 0)
			ret = errno > 0 ? -errno : -EIO;
	}
	kup_write_once(&ch->us->uwait, 0);
	return ret < 0 ? ret : 0;
}

/*
 * The spin budget ran out while waiting for slot s's turn: sleep, spin
 * again for the budget when woken, and so on. A wait that had to sleep
 * halves the next budget (spinning while the peer cannot run, on an
 * oversubscribed machine, only delays it), but never below a quarter of
 * ch->spins: a few unlucky waits must not leave a busy channel spinning
 * for next to nothing, sleeping and making system calls at every wait.
 * As kup_spin_adapt() in driver/turn.h, which can also tell a short sleep
 * from a long one by the clock; the library reads no clock.
 */
KUPLIB_COLD int kupi_wait_slow(struct kup_channel *ch, uint32_t s)
{
	unsigned long long i;
	int ret;

	for (;;) {
		ret = kupi_sleep(ch, s);
		if (ret)
			return ret;
		i = 0;
		do {
			kupi_pause();
			ret = kupi_turn(ch, s);
		} while (!ret && ++i < ch->spin_cur);
		if (ret)
			break;
	}
	if (ret < 0)
		return ret;
	ch->spin_cur = ch->spin_cur / 2 > ch->spins / 4 ?
		       ch->spin_cur / 2 : ch->spins / 4;
	return 0;
}

/*
 * Wait until we hold slot s's turn: poll it (inline: the turn is often
 * ours already, or soon), and past the spin budget sleep. A wait that
 * ended while spinning restores the whole budget, ch->spins.
 */
KUPLIB_HOT int kupi_wait(struct kup_channel *ch, uint32_t s,
			 unsigned int flags)
{
	unsigned long long i;
	int ret = kupi_turn(ch, s);

	if (ret)
		return ret < 0 ? ret : 0;
	kupi_end_burst(ch);
	if (flags & KUP_NONBLOCK)
		return -EAGAIN;
	for (i = 1;; i++) {
		kupi_pause();
		ret = kupi_turn(ch, s);
		if (ret)
			break;
		if (flags & KUP_SPIN_ONLY) {
			if (i >= ch->poll_limit)
				return -ETIMEDOUT;
		} else if (i >= ch->spin_cur) {
			return kupi_wait_slow(ch, s);
		}
	}
	if (ret < 0)
		return ret;
	ch->spin_cur = ch->spins;
	return 0;
}

/*
 * Copy an inline message (at most KUP_INLINE_MAX bytes) with a few
 * fixed-size moves, overlapping at the end, rather than a call into libc.
 * Source and destination may overlap (part of a message just received in
 * the same slot line, sent back): then memmove, whose semantics the fixed
 * moves do not have.
 */
KUPLIB_HOT void kupi_copy_inline(void *dst, const void *src, size_t len)
{
	unsigned char *d = (unsigned char *)dst;
	const unsigned char *p = (const unsigned char *)src;
	uint64_t a, b;
	uint32_t x, y;
	size_t i;

	/* One of the differences wraps to a huge value unless they overlap. */
	if (__builtin_expect((uintptr_t)d - (uintptr_t)p < len ||
			     (uintptr_t)p - (uintptr_t)d < len, 0)) {
		memmove(d, p, len);
		return;
	}
	if (len >= 8) {
		for (i = 0; i + 8 < len; i += 8) {
			__builtin_memcpy(&a, p + i, 8);
			__builtin_memcpy(d + i, &a, 8);
		}
		__builtin_memcpy(&b, p + len - 8, 8);
		__builtin_memcpy(d + len - 8, &b, 8);
	} else if (len >= 4) {
		__builtin_memcpy(&x, p, 4);
		__builtin_memcpy(&y, p + len - 4, 4);
		__builtin_memcpy(d, &x, 4);
		__builtin_memcpy(d + len - 4, &y, 4);
	} else {
		for (i = 0; i < len; i++)
			d[i] = p[i];
	}
}

/*
 * The slot the next send uses, once we hold its turn. Ping-pong: wait for
 * the turn (sending without reading the kernel's message drops it).
 * Pipelined: never wait; -ENOBUFS while that slot is in flight or holds a
 * reply not yet received (receive first).
 */
KUPLIB_HOT int kupi_send_slot(struct kup_channel *ch, unsigned int flags)
{
	uint32_t s = ch->usend;
	int ret;

	if (ch->nslots == 1)
		return kupi_wait(ch, s, flags);
	ret = kupi_turn(ch, s);
	if (ret < 0)
		return ret;
	if (ret && ch->consumed[s])
		return 0;
	kupi_end_burst(ch);
	return -ENOBUFS;
}

/* Need-wakeup, waker half: store the turn, full barrier, read kwait. */
KUPLIB_HOT void kupi_pass(struct kup_channel *ch, uint32_t len,
			  uint32_t sflags, unsigned int flags)
{
	uint32_t s = ch->usend;
	struct kup_slot *slot = kupi_slot(ch, s);
	uint32_t next = ch->uturn[s] + 1;

	kup_write_once(&slot->len, len);
	kup_write_once(&slot->seq, next);
	kup_write_once(&slot->flags, sflags);
	/*
	 * P1, pairs with P2 in driver/turn.h (kup_kturn(), kup_take_run()):
	 * the kernel sees our message, len, seq and flags before it sees its
	 * turn.
	 */
	kup_smp_store_release(&slot->turn, next);
	ch->uturn[s] += 2;
	ch->consumed[s] = 0;
	ch->inflight += ch->nslots > 1;
	ch->usend = kupi_next(ch, s);
	/*
	 * The last send of a batch checks for all of them, or whatever ends
	 * the batch first (kupi_end_burst()). (Ping-pong has no batches: the
	 * next send waits for the kernel, which must be awake.)
	 */
	if ((flags & KUP_MORE) && ch->nslots > 1) {
		ch->wake_owed = 1;
		return;
	}
	kupi_wake_check(ch);
}

/*
 * Copy len bytes to the kernel and pass the turn: on a ping-pong channel
 * once we hold the turn; on a pipelined one in the next slot, if free.
 */
KUPLIB_HOT int kup_send(struct kup_channel *ch, const void *data,
			size_t len, unsigned int flags)
{
	int ret;

	if (len > ch->buf_size) {
		kupi_end_burst(ch);
		return -EMSGSIZE;
	}
	ret = kupi_send_slot(ch, flags);
	if (ret)
		return ret;
	/* Small messages travel in the slot's line: one line for the kernel. */
	if (len <= KUP_INLINE_MAX) {
		kupi_copy_inline(kupi_slot(ch, ch->usend)->data, data, len);
		kupi_pass(ch, (uint32_t)len, KUP_SLOT_INLINE, flags);
	} else {
		/* data may lie in the buffer itself (kup_send_buf()). */
		memmove(ch->to_kernel + (size_t)ch->usend * ch->buf_size, data,
			len);
		kupi_pass(ch, (uint32_t)len, 0, flags);
	}
	return 0;
}

/* Pass the turn without data (a message of length 0). */
KUPLIB_HOT int kup_pass(struct kup_channel *ch, unsigned int flags)
{
	return kup_send(ch, NULL, 0, flags);
}

/*
 * Whether the kernel passed slot s with a message we have not read yet:
 * received even once the channel stopped (a graceful end, or a shutdown,
 * delivers what was sent before it; the next wait reports the stop).
 */
KUPLIB_HOT int kupi_msg_waiting(const struct kup_channel *ch, uint32_t s)
{
	/* P4, pairs with P3 in driver/turn.h (kup_kpass()). */
	return !ch->consumed[s] &&
	       kup_smp_load_acquire(&kupi_slot(ch, s)->turn) == ch->uturn[s];
}

/*
 * Wait for the kernel's next message: *data points at it in the shared
 * buffer (zero-copy), valid until we send on that slot again, and is NULL
 * on failure. Pipelined channels return replies in the order of the
 * sends. Returns the length; -EDEADLK when nothing can come (ping-pong:
 * we hold the turn and read its message; pipelined: nothing in flight).
 * A message the kernel sent before the channel stopped is still received;
 * the call after it reports why the channel stopped.
 */
KUPLIB_HOT ssize_t kup_recv(struct kup_channel *ch, const void **data,
			    unsigned int flags)
{
	uint32_t s = ch->urecv, len, seq, sflags;
	struct kup_slot *slot = kupi_slot(ch, s);
	int ret;

	*data = NULL;
	if (ch->nslots > 1 && ch->consumed[s] && kupi_turn(ch, s) == 1)
		return -EDEADLK;
	if (!kupi_msg_waiting(ch, s)) {
		ret = kupi_wait(ch, s, flags);
		/*
		 * A wait reports the channel's stop without looking at the
		 * turn: the kernel's last message, passed before the stop,
		 * may be there all the same. It comes first.
		 */
		if (ret && !kupi_msg_waiting(ch, s))
			return ret;
	}
	if (ch->consumed[s])
		return -EDEADLK;
	/* Ordered after the turn by P4 (kupi_msg_waiting(), kupi_turn()). */
	len = kup_read_once(&slot->len);
	seq = kup_read_once(&slot->seq);
	sflags = kup_read_once(&slot->flags);
	if (seq != ch->uturn[s] || len > ch->buf_size ||
	    (sflags & ~KUP_SLOT_INLINE) ||
	    ((sflags & KUP_SLOT_INLINE) && len > KUP_INLINE_MAX))
		return -EBADMSG;
	ch->consumed[s] = 1;
	ch->inflight -= ch->nslots > 1;
	ch->urecv = kupi_next(ch, s);
	*data = sflags & KUP_SLOT_INLINE ? (const void *)slot->data :
		(const void *)(ch->to_user + (size_t)s * ch->buf_size);
	return (ssize_t)len;
}

/* Zero-copy send: the outgoing buffer of the next send, once it is ours. */
KUPLIB_HOT int kup_send_buf(struct kup_channel *ch, void **buf,
			    size_t *size, unsigned int flags)
{
	int ret;

	*buf = NULL;
	*size = 0;
	ret = kupi_send_slot(ch, flags);
	if (ret)
		return ret;
	*buf = ch->to_kernel + (size_t)ch->usend * ch->buf_size;
	*size = ch->buf_size;
	return 0;
}

/*
 * Pass the turn with len bytes written in place after kup_send_buf(). The
 * slot must be ours, as for kup_send() but without waiting: -EPERM on a
 * ping-pong channel whose turn the kernel holds; -ENOBUFS on a pipelined
 * one whose slot is in flight or holds a reply not received yet.
 */
KUPLIB_HOT int kup_send_commit(struct kup_channel *ch, size_t len)
{
	uint32_t s = ch->usend;
	int ret;

	if (len > ch->buf_size) {
		kupi_end_burst(ch);
		return -EMSGSIZE;
	}
	ret = kupi_turn(ch, s);
	if (ret <= 0 || (ch->nslots > 1 && !ch->consumed[s])) {
		kupi_end_burst(ch);
		if (ret < 0)
			return ret;
		return ch->nslots > 1 ? -ENOBUFS : -EPERM;
	}
	/* Small messages move into the slot's line: one line for the kernel. */
	if (len <= KUP_INLINE_MAX) {
		kupi_copy_inline(kupi_slot(ch, s)->data,
				 ch->to_kernel + (size_t)s * ch->buf_size, len);
		kupi_pass(ch, (uint32_t)len, KUP_SLOT_INLINE, 0);
	} else {
		kupi_pass(ch, (uint32_t)len, 0, 0);
	}
	return 0;
}

/* Messages sent on a pipelined channel whose replies were not received. */
KUPLIB_INLINE uint32_t kup_chan_inflight(const struct kup_channel *ch)
{
	return ch->inflight;
}

/*
 * 1 if the next receive would not wait (we hold the turn of its slot),
 * 0 if it would, < 0 if the channel stopped. No system call.
 */
KUPLIB_HOT int kup_chan_ready(const struct kup_channel *ch)
{
	if (kupi_msg_waiting(ch, ch->urecv))
		return 1;
	return kupi_turn(ch, ch->urecv);
}

/*
 * Before waiting in poll/epoll/io_uring on kup_fd(): ask the kernel to
 * wake the fd when it passes the turn the next receive waits for.
 * Returns 1 if that turn is already ours (do not wait), 0 if armed.
 * kup_chan_disarm() afterwards.
 */
KUPLIB_INLINE int kup_chan_arm(struct kup_channel *ch)
{
	kupi_end_burst(ch);
	kup_write_once(&ch->us->uwait, ch->urecv + 1);
	/*
	 * W3 as in kupi_sleep(), pairs with W4 in driver/turn.h
	 * (kup_kwake()): the kernel sees uwait, or we see its turn below.
	 */
	kup_smp_mb();
	return kupi_turn(ch, ch->urecv);
}

KUPLIB_INLINE void kup_chan_disarm(struct kup_channel *ch)
{
	kup_write_once(&ch->us->uwait, 0);
}

/*
 * Have the kernel signal eventfd efd when it passes this channel's turn
 * while the channel is armed (kup_chan_arm()), and when the channel
 * stops; efd < 0 removes it. One eventfd may serve many channels.
 */
KUPLIB_INLINE int kup_chan_set_eventfd(struct kup_channel *ch, int efd)
{
	struct kup_eventfd arg;

	memset(&arg, 0, sizeof(arg));
	arg.chan = ch->chan;
	arg.fd = efd < 0 ? KUP_EVENTFD_NONE : (uint32_t)efd;
	if (KUPLIB_IOCTL(ch->dev->fd, KUP_IOC_EVENTFD, &arg) < 0)
		return -errno;
	return 0;
}

/* System calls the data path of this channel made (sleeps and wakes). */
KUPLIB_INLINE unsigned long long kup_chan_syscalls(const struct kup_channel *ch)
{
	return ch->syscalls;
}

#ifdef __cplusplus
}
#endif

#endif /* KUP_LIB_H */
