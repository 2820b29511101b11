/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * kup: a shared-memory channel between one process and kernel code.
 *
 * User space allocates a region (posix_memalign, one or more pages) and
 * attaches it to a channel of a kup device (/dev/<name>) with
 * KUP_IOC_ATTACH. The driver pins the pages, maps them into the kernel and
 * writes a self-describing header at the start of the region. From then on
 * both sides talk through the region without system calls:
 *
 *   offset 0             struct kup_region_hdr   (kernel writes at attach)
 *   hdr.kstate_off       struct kup_kstate       (written by the kernel only)
 *   hdr.ustate_off       struct kup_ustate       (written by user space only)
 *   hdr.slot_off         struct kup_slot[nslots] (written by the turn holder)
 *   hdr.to_kernel_off    nslots buffers of buf_size bytes, user -> kernel
 *   hdr.to_user_off      nslots buffers of buf_size bytes, kernel -> user
 *
 * Every part starts on its own KUP_LINE_SIZE line so that words written by
 * different sides never share a cache line (128 bytes also defeats the
 * adjacent-line prefetcher of x86 and matches arm64/POWER line sizes).
 * A library must locate every part through the header offsets, never by
 * assuming this order: the layout may grow, the offsets stay meaningful.
 *
 * The turn protocol (each slot):
 *   slot.turn is a pass counter. Even: the kernel holds the turn; odd: user
 *   space holds it. It starts at 0 (the kernel holds the first turn, as in
 *   FreeBSD KUP). Only the holder writes its outgoing buffer, slot.len and
 *   slot.seq, then passes the turn by storing turn + 1 with release
 *   semantics. The other side observes the new value with an acquire load,
 *   checks that slot.seq equals the new turn (a new message, not a stale
 *   one) and that slot.len <= buf_size, and then reads the message. A pass
 *   without data is a message of length 0. A message of at most
 *   KUP_INLINE_MAX bytes may travel in the slot's own line instead of the
 *   buffer (slot.flags KUP_SLOT_INLINE): the receiver then gets the turn
 *   and the data in one cache line.
 *
 * Slots: a ping-pong channel (nslots 1, the default, as in FreeBSD KUP)
 * has one slot, whose first turn the kernel holds. A pipelined channel
 * (KUP_IOC_ATTACH with nslots 2..KUP_MAX_SLOTS) has nslots independent
 * slots that both sides use round-robin, and the process holds the first
 * turn of every slot (an empty message: turn 1, seq 1, len 0). The process
 * submits up to nslots messages, slot after slot, and collects the replies
 * in the same order; the kernel replies on the slot it received from, so
 * one wake-up drains every slot already passed to it.
 *
 * Sleeping (need-wakeup): a side that stops spinning sets its wait flag
 * (kstate.kwait or ustate.uwait) to the index + 1 of the slot it waits for,
 * issues a full barrier, re-checks that slot's turn and only then sleeps.
 * The side that passes slots stores their turns, issues a full barrier and
 * reads the peer's wait flag; only when the slot it names is now the
 * peer's does it wake the peer (user -> kernel: KUP_IOC_WAKE; kernel ->
 * user: wait queue, poll, eventfd). One of the two always sees the other's
 * store: no lost wakeup. On a pipelined channel a side may pass a batch of
 * slots and make this check once, after the last (KUP_MORE).
 * An event loop arms a channel the same way (set uwait, full barrier,
 * re-check the turn) before it waits on the device fd or an eventfd.
 *
 * Barrier pairs. Each site is labelled and names its partner's label
 * ("P1, pairs with P2 in ..."), on both sides:
 *
 *   kernel (driver/)                       process (lib/kup.h)
 *   H1 hdr.magic: store-release  -------> H2 load-acquire: header complete
 *   S1 kstate.state: store-release ---->  S2 load-acquire: error visible
 *   P2 slot.turn: load-acquire   <------- P1 store-release: message, len,
 *                                                          seq, flags first
 *   P3 slot.turn: store-release  -------> P4 load-acquire: the same, back
 *   W1 kwait = n; full barrier;   <-----> W2 slot.turn = t; full barrier;
 *      re-check turn, then sleep             read kwait: wake if set
 *   W4 slot.turn = t; full barrier; <---> W3 uwait = n; full barrier;
 *      read uwait: wake if set               re-check turn, then sleep
 *
 * In each W pair at least one side sees the other's first store: a
 * sleeper is always woken (need-wakeup, as io_uring's SQPOLL and AF_XDP).
 *
 * After KUP_IOC_DETACH the kernel may still write the old pages until its
 * last user lets go of them: before reusing the memory, give the range
 * fresh pages (mmap MAP_FIXED) or unmap it, as lib/kup.h does.
 *
 * The kernel treats the whole region as hostile input: it reads turn, len
 * and seq once, bounds them and keeps its own copy of the expected turn.
 * Garbage makes the channel KUP_STATE_BROKEN; it never makes the kernel
 * read or write outside the region.
 */
#ifndef _UAPI_LINUX_KUP_H
#define _UAPI_LINUX_KUP_H

#include <linux/ioctl.h>
#include <linux/types.h>

/*
 * ABI policy. KUP_ABI_VERSION is the major number of the ABI: the region
 * layout, the turn protocol and the ioctls as this header describes them.
 * It changes only when a change would break a program built against an
 * older header; the library (lib/kup.h) refuses a kernel whose major
 * differs from its own (struct kup_info and struct kup_region_hdr
 * abi_version), and accepts every kernel of the same major.
 *
 * Within a major, the ABI only grows: a new ioctl, a new flag, a field
 * carved out of a reserved word that was zero until then. Each addition
 * gets a bit in KUP_FEATURES, which the kernel reports in struct kup_info
 * features: a program tests the bit before it uses what it names, and
 * ignores bits it does not know (a newer kernel). A kernel older than
 * the features word reports zero there: ABI 1 as first published.
 * Reserved words stay zero, in and out, until a feature bit gives them a
 * meaning.
 */
#define KUP_ABI_VERSION		1
/*
 * What this header's kernel adds to ABI 1, for struct kup_info features.
 * ABI 1 as published defines no feature bit yet; the first compatible
 * addition takes bit 0.
 */
#define KUP_FEATURES		0ULL
/* "KUPREGN1" read as a little-endian 64-bit word */
#define KUP_REGION_MAGIC	0x314e474552505550ULL
#define KUP_LINE_SIZE		128
/* Channel index for KUP_IOC_ATTACH: the lowest free channel */
#define KUP_CHAN_ANY		0xffffffffU
/* Longest device name, including the terminating NUL */
#define KUP_NAME_MAX		32
/* Most slots of a pipelined channel */
#define KUP_MAX_SLOTS		64
/*
 * Bytes a region needs for nslots slots with buffers of buf_size bytes (a
 * multiple of KUP_LINE_SIZE): the control lines (header, kstate, ustate,
 * one per slot) rounded up to a page, then the buffers. This is exactly
 * the layout the kernel uses when KUP_IOC_ATTACH names a buf_size. A
 * larger region costs nothing: the kernel pins only what the layout uses.
 */
#define KUP_CTRL_SIZE(nslots)	((__u64)KUP_LINE_SIZE * (3 + (nslots)))

static __inline__ __u64 kup_region_size(__u32 nslots, __u64 buf_size,
					__u64 page_size)
{
	__u64 ctrl = KUP_CTRL_SIZE(nslots);

	return (ctrl + page_size - 1) / page_size * page_size +
	       2 * (__u64)nslots * buf_size;
}

/* struct kup_kstate.state */
enum kup_state {
	KUP_STATE_ATTACHED	= 1,	/* channel usable */
	KUP_STATE_DETACHED	= 2,	/* user space detached the region */
	KUP_STATE_SHUTDOWN	= 3,	/* the kernel client destroyed the device */
	/*
	 * The channel cannot be used any more; kstate.error says why:
	 * EPROTO or EBADMSG, the kernel saw garbage in the region;
	 * ECONNRESET, the kernel client ended the session.
	 */
	KUP_STATE_BROKEN	= 4,
};

/* At offset 0 of an attached region; written once by the kernel. */
struct kup_region_hdr {
	__u64 magic;		/* KUP_REGION_MAGIC */
	__u32 abi_version;	/* KUP_ABI_VERSION */
	__u32 hdr_size;		/* sizeof(struct kup_region_hdr) */
	__u64 region_size;	/* bytes in use, <= the attached length */
	__u32 chan;		/* channel index */
	__u32 nslots;		/* message slots (1: ping-pong) */
	__u32 buf_size;		/* bytes in each buffer */
	__u32 line_size;	/* KUP_LINE_SIZE */
	__u64 kstate_off;	/* struct kup_kstate */
	__u64 ustate_off;	/* struct kup_ustate */
	__u64 slot_off;		/* struct kup_slot, one per line */
	__u64 to_kernel_off;	/* nslots * buf_size bytes */
	__u64 to_user_off;	/* nslots * buf_size bytes */
	__u64 reserved[6];	/* zero */
};

/* Written by the kernel only. */
struct kup_kstate {
	__u32 state;		/* enum kup_state */
	__u32 kwait;		/* slot + 1 a kernel waiter sleeps for, or 0 */
	__u32 error;		/* positive errno that broke the channel */
	__u32 reserved0;
	/*
	 * Statistics, named for the wait flag whose waiter was woken:
	 * uwait_wakeups, kernel passes that woke a user waiter (ustate.uwait
	 * set); kwait_wakeups, KUP_IOC_WAKE calls received (user space woke
	 * the kernel waiter that kstate.kwait announced).
	 */
	__u64 uwait_wakeups;
	__u64 kwait_wakeups;
	__u64 reserved[4];
};

/* Written by user space only; the kernel reads uwait as a hint. */
struct kup_ustate {
	__u32 uwait;		/* slot + 1 a user waiter sleeps for, or 0 */
	__u32 reserved0;
	__u64 reserved[7];
};

/*
 * Flags of the data calls, with the same meaning on both sides: lib/kup.h
 * (kup_send(), kup_recv(), ...) and the kernel API (include/linux/kup.h).
 */
#define KUP_NONBLOCK		0x1U	/* -EAGAIN instead of waiting */
/*
 * A send (a reply, in the kernel) on a pipelined channel: another of the
 * same batch follows at once; skip the wake-up check (need-wakeup, above),
 * which the last one, without KUP_MORE, makes for the whole batch.
 * Ignored on ping-pong channels.
 */
#define KUP_MORE		0x4U

/* struct kup_slot.flags */
#define KUP_SLOT_INLINE		0x1U	/* the message is in slot.data */
#define KUP_INLINE_MAX		(KUP_LINE_SIZE - 16)

/* Written only by the side that holds the slot's turn; one line. */
struct kup_slot {
	__u32 turn;		/* pass counter: even kernel, odd user */
	__u32 len;		/* bytes of the message */
	__u32 seq;		/* turn value this message was passed with */
	__u32 flags;		/* KUP_SLOT_INLINE or zero */
	__u8 data[KUP_INLINE_MAX];	/* an inline message */
};

/* KUP_IOC_INFO: what a region for this device must look like. */
struct kup_info {
	__u32 abi_version;	/* out: KUP_ABI_VERSION, the major */
	__u32 nchan;		/* out: channels of the device */
	__u32 nslots;		/* out: most slots per channel */
	__u32 max_buf_size;	/* out: largest buffer, bytes */
	__u32 min_buf_size;	/* out: regions with smaller buffers are refused */
	__u32 reserved0;	/* out: zero */
	__u64 region_size;	/* out: bytes a 1-slot region of max_buf_size needs */
	__u64 page_size;	/* out: the kernel's page size */
	__u64 notify_count;	/* out: times the kernel client called notify */
	__u64 features;		/* out: KUP_FEATURES of the kernel (ABI policy) */
	__u64 reserved;		/* out: zero */
};

/*
 * KUP_IOC_ATTACH. The memory must be anonymous private memory, shmem
 * (memfd, MAP_SHARED|MAP_ANONYMOUS) or hugetlb, readable and writable.
 * buf_size: 0 asks for the largest buffers the region holds (at most the
 * device's max_buf_size); otherwise it is rounded up to a multiple of
 * KUP_LINE_SIZE, must lie within [min_buf_size, max_buf_size], and the
 * region must hold kup_region_size(nslots, buf_size, page_size) bytes.
 * On success the kernel writes back the channel and the buffer size.
 * Errors: EINVAL (argument, size or alignment), EFAULT (unmapped, not
 * writable), EOPNOTSUPP (other memory: a file mapping, device memory),
 * ENOMEM (RLIMIT_MEMLOCK of the user, or no memory), EBUSY (channel
 * taken, or none free), ESHUTDOWN (the kernel client shut down).
 */
struct kup_attach {
	__u64 addr;		/* in: region start, page aligned */
	__u64 len;		/* in: region length, >= one page */
	__u32 chan;		/* in: channel or KUP_CHAN_ANY; out: channel */
	__u32 flags;		/* in: zero */
	__u32 nslots;		/* in: 0 or 1 ping-pong, 2..KUP_MAX_SLOTS */
	__u32 buf_size;		/* in: bytes per buffer or 0; out: bytes */
	__u64 reserved;		/* in: zero */
};

/* KUP_IOC_EVENTFD */
#define KUP_EVENTFD_NONE	0xffffffffU
struct kup_eventfd {
	__u32 chan;		/* in: channel attached through this fd */
	__u32 fd;		/* in: an eventfd, or KUP_EVENTFD_NONE to remove */
	__u64 reserved;		/* in: zero */
};

/*
 * KUP_IOC_DETACH, KUP_IOC_WAKE, KUP_IOC_WAIT, and KUP_IOC_EVENTFD name a
 * channel attached through this open file by this process: a channel
 * attached through another file fails with ENOTCONN, one attached by
 * another process sharing the file (a fork child) with EPERM.
 */
struct kup_chan_req {
	__u32 chan;		/* in: channel attached through this fd */
	__u32 flags;		/* in: zero */
	__u64 reserved;		/* in: zero */
};

#define KUP_IOC_MAGIC	0xC5
#define KUP_IOC_INFO	_IOR(KUP_IOC_MAGIC, 0x00, struct kup_info)
#define KUP_IOC_ATTACH	_IOWR(KUP_IOC_MAGIC, 0x01, struct kup_attach)
#define KUP_IOC_DETACH	_IOW(KUP_IOC_MAGIC, 0x02, struct kup_chan_req)
/* Wake the kernel waiter of a channel (only needed when kstate.kwait). */
#define KUP_IOC_WAKE	_IOW(KUP_IOC_MAGIC, 0x03, struct kup_chan_req)
/*
 * Sleep until user space holds the turn of the slot ustate.uwait names
 * (0 or an out-of-range value: slot 0), then return 0; or fail: EINTR (a
 * signal), ESHUTDOWN, ENOTCONN (detached), or the errno that broke the
 * channel (EPROTO, EBADMSG, ECONNRESET).
 */
#define KUP_IOC_WAIT	_IOW(KUP_IOC_MAGIC, 0x04, struct kup_chan_req)
/*
 * Signal an eventfd whenever the kernel passes the turn while ustate.uwait
 * is set (the process armed the channel before waiting in poll, epoll or
 * io_uring), and when the channel stops (shutdown, detach, broken).
 */
#define KUP_IOC_EVENTFD	_IOW(KUP_IOC_MAGIC, 0x05, struct kup_eventfd)

#endif /* _UAPI_LINUX_KUP_H */
