/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * kup_bench: what the benchmark program and kup_bench.ko share. Not part
 * of kup's ABI.
 *
 * /dev/kup_bench (a kup device): the first byte of each message selects
 * what the channel's kernel thread does with it:
 * Echo and sink messages are answered with kup_serve_inline() (the
 * handler inlined), or after KB_OP_INDIRECT with kup_serve() (the handler
 * called through a pointer), or after KB_OP_CALLS with kup_recv_batch()
 * and kup_send_batch().
 *   KB_OP_ECHO  reply with the same message;
 *   KB_OP_SINK  copy the message into kernel memory, reply with 4 bytes;
 *   KB_OP_PROTO struct kb_raw, sent inline: answer count more messages
 *               by writing the turn protocol by hand on the slot's line,
 *               bypassing kup's kernel API; then the session is over;
 *   KB_OP_CALLS echo, and answer the rest of the session with the batch
 *               calls;
 *   KB_OP_INDIRECT echo, and answer the rest of the session with
 *               kup_serve();
 *   KB_OP_RAW   struct kb_raw: keep the turn and bounce the word at
 *               KB_RAW_OFF of the to_kernel buffer count times with the
 *               process (odd values: the process's, even: the kernel's),
 *               with no protocol; then reply.
 *
 * /dev/kup_bench_ioctl (a plain misc device), the system-call paths:
 *   KB_IOC_ECHO  copy len bytes in and back out;
 *   KB_IOC_WQ    wake a kernel thread through a wait queue and sleep until
 *                it wakes the caller back.
 */
#ifndef _KUP_BENCH_H
#define _KUP_BENCH_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define KB_OP_ECHO	'E'
#define KB_OP_SINK	'S'
#define KB_OP_RAW	'R'
#define KB_OP_PROTO	'P'
#define KB_OP_CALLS	'C'
#define KB_OP_INDIRECT	'I'

#define KB_RAW_OFF	256	/* a line of its own, away from the op */

struct kb_raw {
	__u32 op;		/* KB_OP_RAW */
	__u32 count;		/* round trips */
};

#define KB_MAX_BUF	(64 * 1024)

struct kb_echo {
	__u64 buf;		/* in/out: user buffer */
	__u32 len;		/* in: bytes, <= KB_MAX_BUF */
	__u32 reserved;		/* in: zero */
};

#define KB_IOC_ECHO	_IOWR(0xC6, 0x00, struct kb_echo)
#define KB_IOC_WQ	_IO(0xC6, 0x01)

#endif /* _KUP_BENCH_H */
