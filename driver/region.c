// SPDX-License-Identifier: GPL-2.0
/*
 * User memory for kup channels: account, pin, map; and the reverse.
 *
 * The model is net/xdp/xdp_umem.c: charge the pages to the caller's
 * RLIMIT_MEMLOCK (CAP_IPC_LOCK exempt), pin them with FOLL_LONGTERM so
 * they can neither move nor be reclaimed, and vmap() them so that any
 * kernel thread, not only the attaching process, can reach the memory.
 * Release runs in reverse order behind a refcount, after an RCU grace
 * period, so a kernel thread that looked the region up never touches it
 * after it is gone.
 */

#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <linux/wait_bit.h>

#include "compat.h"
#include "region.h"

static struct workqueue_struct *kup_wq;

/* Where each part of the region starts; see include/uapi/linux/kup.h. */
#define KUP_KSTATE_OFF		(1 * KUP_LINE_SIZE)
#define KUP_USTATE_OFF		(2 * KUP_LINE_SIZE)
#define KUP_SLOT_OFF		(3 * KUP_LINE_SIZE)

/*
 * Where the buffers start, and their size. A buffer size the process
 * asked for (want, within [min_buf, max_buf]) is rounded up to a line,
 * and the buffers start on the page after the control lines, as
 * kup_region_size() in the uapi header computes. Without one, buffers
 * start on the next page when the region has room for a page per buffer
 * (so that large buffers are page aligned), else on the next line, and
 * are as large as fit. Returns where they start, or 0 when the region is
 * too small or want is out of range.
 */
static size_t kup_layout(u64 len, u32 nslots, u32 want, u32 min_buf,
			 u32 max_buf, size_t *buf_size)
{
	size_t ctrl = KUP_CTRL_SIZE(nslots);
	size_t base = PAGE_ALIGN(ctrl);
	size_t size, room, nbuf = 2 * nslots;

	min_buf = max_t(u32, min_buf, KUP_LINE_SIZE);
	if (want) {
		if (want > max_buf)
			return 0;
		size = round_up(want, KUP_LINE_SIZE);
		if (size < min_buf || size > max_buf ||
		    len < base + nbuf * size)
			return 0;
	} else if (len >= base + nbuf * PAGE_SIZE) {
		room = (len - base) / nbuf;
		size = min_t(size_t, round_down(room, PAGE_SIZE), max_buf);
	} else if (len > ctrl) {
		base = ctrl;
		room = (len - base) / nbuf;
		size = min_t(size_t, round_down(room, KUP_LINE_SIZE), max_buf);
	} else {
		return 0;
	}
	if (size < min_buf)
		return 0;
	*buf_size = size;
	return base;
}

static void kup_region_free(struct kup_region *r)
{
	/* After a grace period (see the callers): no reader is left. */
	struct eventfd_ctx *evfd = rcu_dereference_protected(r->evfd, true);

	if (evfd)
		eventfd_ctx_put(evfd);
	vunmap(r->vaddr);
	/* The kernel may have written any page: mark them all dirty. */
	unpin_user_pages_dirty_lock(r->pages, r->npages, true);
	account_locked_vm(r->mm, r->npages, false);
	mmdrop(r->mm);
	kvfree(r->pages);
	kfree(r->kslots);
	kfree(r);
}

static void kup_region_free_work(struct work_struct *work)
{
	kup_region_free(container_of(to_rcu_work(work), struct kup_region,
				     free_work));
}

/* Any context: the last reference frees the region from a workqueue. */
void kup_region_put(struct kup_region *r)
{
	if (refcount_dec_and_test(&r->ref))
		queue_rcu_work(kup_wq, &r->free_work);
}

/*
 * Process context: the last reference frees the region before returning,
 * so that a detach gives the memlock budget back at once.
 */
void kup_region_put_sync(struct kup_region *r)
{
	might_sleep();
	if (refcount_dec_and_test(&r->ref)) {
		/* RCU readers may still hold the pointer without a reference. */
		synchronize_rcu();
		kup_region_free(r);
	}
}

/*
 * Called on detach, in process context, with the region already
 * unpublished and its waiters woken: every kernel call fails from now on,
 * and the calls under way (they see r->dead at their next check) have
 * left when this returns.
 * What may still hold a reference is a kernel client's hold (kup_recv(),
 * kup_send_buf()): an active one keeps the pages until it ends, an idle
 * one is taken over by the detach (kup_chan_steal_held()).
 */
void kup_region_kill(struct kup_region *r)
{
	might_sleep();
	WRITE_ONCE(r->dead, true);
	/*
	 * Every kernel call that found the region has now left its
	 * read-side section or counted itself in r->inflight (driver/chan.c).
	 */
	synchronize_rcu();
	/* Pairs with atomic_dec_and_test() in kup_op_end() (driver/chan.c). */
	smp_mb();
	wait_var_event(&r->inflight, !atomic_read(&r->inflight));
}

/*
 * After kup_region_kill(): drop the channel's reference. No RCU reader
 * can still reach the region (kill waited for a grace period), so the
 * last reference frees it at once.
 */
void kup_region_put_killed(struct kup_region *r)
{
	if (refcount_dec_and_test(&r->ref))
		kup_region_free(r);
}

/* Signal the channel's eventfd, if any. Context: any. */
void kup_region_notify(struct kup_region *r)
{
	struct eventfd_ctx *evfd;

	rcu_read_lock();
	evfd = rcu_dereference(r->evfd);
	if (evfd)
		kup_eventfd_signal(evfd);
	rcu_read_unlock();
}

/* Register (or with KUP_EVENTFD_NONE remove) the eventfd. Process context. */
int kup_region_set_eventfd(struct kup_region *r, u32 fd)
{
	struct eventfd_ctx *evfd = NULL, *old;

	if (fd != KUP_EVENTFD_NONE) {
		if (fd > INT_MAX)
			return -EBADF;
		evfd = eventfd_ctx_fdget(fd);
		if (IS_ERR(evfd))
			return PTR_ERR(evfd);
	}
	old = unrcu_pointer(xchg(&r->evfd, RCU_INITIALIZER(evfd)));
	if (old) {
		synchronize_rcu();	/* kup_region_notify() may hold it */
		eventfd_ctx_put(old);
	}
	return 0;
}

void kup_region_set_state(struct kup_region *r, u32 state, u32 error)
{
	WRITE_ONCE(r->ks->error, error);
	/*
	 * Pairs with the acquire load of kstate.state in lib/kup.h
	 * (__kup_chan_check): a process that sees the new state also sees
	 * the error code.
	 */
	smp_store_release(&r->ks->state, state);
	/* An event loop waiting for this channel must learn that it stopped. */
	kup_region_notify(r);
}

static int kup_pin(struct kup_region *r, unsigned long addr)
{
	unsigned long done = 0;
	int ret;

	while (done < r->npages) {
		ret = pin_user_pages_fast(addr + done * PAGE_SIZE,
					  r->npages - done,
					  FOLL_WRITE | FOLL_LONGTERM,
					  r->pages + done);
		if (ret <= 0) {
			if (done)
				unpin_user_pages(r->pages, done);
			return ret ? ret : -EFAULT;
		}
		done += ret;
	}
	return 0;
}

/*
 * Write the header and the initial protocol state. Ping-pong: the kernel
 * holds the first turn, with no message. Pipelined: the process holds the
 * first turn of every slot, as if the kernel had passed an empty message.
 */
static void kup_region_format(struct kup_region *r, size_t base, u32 chan)
{
	struct kup_region_hdr *h = r->vaddr;
	bool pipe = r->nslots > 1;
	u32 i;

	memset(r->vaddr, 0, base);
	r->hdr = h;
	r->ks = r->vaddr + KUP_KSTATE_OFF;
	r->us = r->vaddr + KUP_USTATE_OFF;
	r->slots = r->vaddr + KUP_SLOT_OFF;
	r->to_kernel = r->vaddr + base;
	r->to_user = r->to_kernel + (size_t)r->nslots * r->buf_size;
	r->kslot = 0;
	r->spin_cur = U32_MAX;	/* clamped to the device's budget */
	for (i = 0; i < r->nslots; i++) {
		struct kup_slot *s = kup_slot(r, i);

		r->kslots[i].kturn = pipe ? 2 : 0;
		r->kslots[i].consumed = !pipe;
		if (pipe) {
			s->turn = 1;
			s->seq = 1;
		}
	}

	h->abi_version = KUP_ABI_VERSION;
	h->hdr_size = sizeof(*h);
	h->region_size = base + 2 * (u64)r->nslots * r->buf_size;
	h->chan = chan;
	h->nslots = r->nslots;
	h->buf_size = r->buf_size;
	h->line_size = KUP_LINE_SIZE;
	h->kstate_off = KUP_KSTATE_OFF;
	h->ustate_off = KUP_USTATE_OFF;
	h->slot_off = KUP_SLOT_OFF;
	h->to_kernel_off = base;
	h->to_user_off = base + (u64)r->nslots * r->buf_size;
	r->ks->state = KUP_STATE_ATTACHED;
	/*
	 * The magic goes last: the ioctl return orders all of this before the
	 * process looks, but a reader racing the attach (another thread) that
	 * sees the magic also sees a complete header. Pairs with the acquire
	 * load of hdr.magic in lib/kup.h (__kup_chan_map).
	 */
	smp_store_release(&h->magic, KUP_REGION_MAGIC);
}

/*
 * Pin and map [addr, addr + len) of the current process for channel chan,
 * with buffers of want bytes (0: as large as fit), which must hold min_buf
 * to max_buf bytes. Only the part the layout uses is pinned: a region
 * larger than needed costs nothing more.
 */
struct kup_region *kup_region_pin(u64 addr, u64 len, u32 nslots, u32 want,
				  u32 min_buf, u32 max_buf, u32 chan)
{
	struct kup_region *r;
	size_t base, buf_size;
	int ret;

	if (!nslots || nslots > KUP_MAX_SLOTS || !PAGE_ALIGNED(addr) ||
	    len < PAGE_SIZE ||
	    addr != (unsigned long)addr || len != (unsigned long)len ||
	    addr + len < addr)
		return ERR_PTR(-EINVAL);
	if (!access_ok(u64_to_user_ptr(addr), len))
		return ERR_PTR(-EFAULT);

	base = kup_layout(len, nslots, want, min_buf, max_buf, &buf_size);
	if (!base)
		return ERR_PTR(-EINVAL);

	r = kzalloc(sizeof(*r), GFP_KERNEL);
	if (!r)
		return ERR_PTR(-ENOMEM);
	refcount_set(&r->ref, 1);
	INIT_RCU_WORK(&r->free_work, kup_region_free_work);
	r->buf_size = buf_size;
	r->nslots = nslots;
	r->npages = PAGE_ALIGN(base + 2 * nslots * buf_size) >> PAGE_SHIFT;

	ret = -ENOMEM;
	r->kslots = kcalloc(nslots, sizeof(*r->kslots), GFP_KERNEL);
	if (!r->kslots)
		goto err_free;
	r->pages = kvmalloc_array(r->npages, sizeof(*r->pages), GFP_KERNEL);
	if (!r->pages)
		goto err_free;

	/* Charged to RLIMIT_MEMLOCK unless the caller has CAP_IPC_LOCK. */
	ret = account_locked_vm(current->mm, r->npages, true);
	if (ret)
		goto err_pages;
	r->mm = current->mm;
	mmgrab(r->mm);

	ret = kup_pin(r, addr);
	if (ret)
		goto err_unaccount;

	r->vaddr = vmap(r->pages, r->npages, VM_MAP, PAGE_KERNEL);
	if (!r->vaddr) {
		ret = -ENOMEM;
		goto err_unpin;
	}
	kup_region_format(r, base, chan);
	return r;

err_unpin:
	unpin_user_pages(r->pages, r->npages);
err_unaccount:
	account_locked_vm(r->mm, r->npages, false);
	mmdrop(r->mm);
err_pages:
	kvfree(r->pages);
err_free:
	kfree(r->kslots);
	kfree(r);
	return ERR_PTR(ret);
}

int kup_region_init(void)
{
	kup_wq = alloc_workqueue("kup", WQ_UNBOUND, 0);
	return kup_wq ? 0 : -ENOMEM;
}

void kup_region_exit(void)
{
	/* Every region is gone before the module can go: flush the frees. */
	rcu_barrier();
	destroy_workqueue(kup_wq);
}
