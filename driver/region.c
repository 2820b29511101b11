// SPDX-License-Identifier: GPL-2.0
/*
 * User memory for kup channels: account, pin, map; and the reverse.
 *
 * The model is net/xdp/xdp_umem.c and io_uring's buffers: charge the pages
 * to the user's RLIMIT_MEMLOCK (user->locked_vm, shared by every process
 * of the user; CAP_IPC_LOCK exempt) and show them in the process's VmPin,
 * pin them with FOLL_LONGTERM so they can neither move nor be reclaimed,
 * and vmap() them so that any kernel thread, not only the attaching
 * process, can reach the memory. Only anonymous, shmem and hugetlb memory
 * is accepted (kup_vma_ok()). Release runs in reverse order behind a
 * refcount, after an RCU grace period, so a kernel thread that looked the
 * region up never touches it after it is gone.
 */

#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/hugetlb_inline.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/pid.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/user.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/userfaultfd_k.h>
#include <linux/vmalloc.h>
#include <linux/wait_bit.h>
#include <uapi/linux/magic.h>

#include "region.h"
#include "trace.h"

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

/*
 * Charge npages to the user's RLIMIT_MEMLOCK unless the caller has
 * CAP_IPC_LOCK, as io_uring and AF_XDP do: the limit holds for all the
 * user's processes together, forks included. The pages show in the
 * process's VmPin either way.
 */
static int kup_account(struct kup_region *r)
{
	unsigned long limit, cur, want;
	struct user_struct *user;

	if (!capable(CAP_IPC_LOCK)) {
		user = get_uid(current_user());
		limit = rlimit(RLIMIT_MEMLOCK) >> PAGE_SHIFT;
		cur = atomic_long_read(&user->locked_vm);
		do {
			if (check_add_overflow(cur, r->npages, &want) ||
			    want > limit) {
				free_uid(user);
				return -ENOMEM;
			}
		} while (!atomic_long_try_cmpxchg(&user->locked_vm, &cur,
						  want));
		r->user = user;
	}
	r->mm = current->mm;
	mmgrab(r->mm);
	atomic64_add(r->npages, &r->mm->pinned_vm);
	return 0;
}

static void kup_unaccount(struct kup_region *r)
{
	atomic64_sub(r->npages, &r->mm->pinned_vm);
	mmdrop(r->mm);
	if (r->user) {
		atomic_long_sub(r->npages, &r->user->locked_vm);
		free_uid(r->user);
	}
}

static void kup_region_free(struct kup_region *r)
{
	/* After a grace period (see the callers): no reader is left. */
	struct eventfd_ctx *evfd = rcu_dereference_protected(r->evfd, true);

	/*
	 * kup_region_kill() synced the wake-ups of a published region (and
	 * no call queues one after it); an unpublished one never had any.
	 */
	if (evfd)
		eventfd_ctx_put(evfd);
	vunmap(r->vaddr);
	/* The kernel may have written any page: mark them all dirty. */
	unpin_user_pages_dirty_lock(r->pages, r->npages, true);
	kup_unaccount(r);
	put_pid(r->pid);
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
	/*
	 * I1, pairs with I2 in driver/chan.c (kup_op_end()): a call that
	 * counted itself after our grace period sees r->dead, or we see its
	 * count.
	 */
	smp_mb();
	wait_var_event(&r->inflight, !atomic_read(&r->inflight));
	/*
	 * Every call that could queue a wake-up saw r->dead or has left:
	 * after this, none runs, and the owner's file may go.
	 */
	irq_work_sync(&r->wake_work);
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

/*
 * Wake whoever waits for the process's side of the channel: threads in
 * KUP_IOC_WAIT, poll/epoll/io_uring on the owner's file, the eventfd.
 * Process context, or the irq_work below (hard irq, or its kthread on
 * PREEMPT_RT), never under a caller's locks.
 */
static void kup_region_wake_now(struct kup_region *r)
{
	struct eventfd_ctx *evfd;

	wake_up(r->uwq);
	wake_up(r->pollq);
	rcu_read_lock();
	evfd = rcu_dereference(r->evfd);
	if (evfd)
		eventfd_signal(evfd);
	rcu_read_unlock();
}

static void kup_region_wake_fn(struct irq_work *work)
{
	kup_region_wake_now(container_of(work, struct kup_region, wake_work));
}

/*
 * Wake the process's waiters now, or with defer from an irq_work: a
 * wait-queue or eventfd wake-up takes locks that a caller in hard-irq
 * context, in a tracepoint under the scheduler's locks, or on PREEMPT_RT
 * must not take. Context: any with defer, else process context.
 */
static void kup_region_wake(struct kup_region *r, bool defer)
{
	if (defer)
		irq_work_queue(&r->wake_work);
	else
		kup_region_wake_now(r);
}

/* A pass wakes the process (kup_kwake()): as kup_region_wake(), traced. */
void kup_region_wake_user(struct kup_region *r, bool defer)
{
	trace_kup_wakeup(r->ch, KUP_TRACE_USER);
	kup_region_wake(r, defer);
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
		synchronize_rcu();	/* kup_region_wake_now() may hold it */
		eventfd_ctx_put(old);
	}
	return 0;
}

void kup_region_set_state(struct kup_region *r, u32 state, u32 error)
{
	WRITE_ONCE(r->ks->error, error);
	/*
	 * S1, pairs with S2 in lib/kup.h (kupi_chan_check()): a process that
	 * sees the new state also sees the error code.
	 */
	smp_store_release(&r->ks->state, state);
	/*
	 * Threads asleep in KUP_IOC_WAIT, poll and the eventfd must learn
	 * that the channel stopped. Any context (kup_region_break() runs in
	 * kernel calls made from any context): deferred.
	 */
	kup_region_wake(r, true);
}

/*
 * The device shut down: the region's last state, which no break can
 * override (kup_region_break()).
 */
void kup_region_shutdown(struct kup_region *r)
{
	/*
	 * X1, pairs with X2 in kup_region_break(): xchg() is fully ordered,
	 * so a break whose state lands after ours sees ESHUTDOWN in r->error.
	 */
	xchg(&r->error, ESHUTDOWN);
	kup_region_set_state(r, KUP_STATE_SHUTDOWN, ESHUTDOWN);
}

/*
 * The channel cannot go on: the first error sticks. A device shutdown
 * (kup_region_shutdown()) overrides it, whatever the order: the process
 * ends up seeing KUP_STATE_SHUTDOWN with ESHUTDOWN. Context: any.
 * Return: the negative errno the channel stopped with.
 */
int kup_region_break(struct kup_region *r, int err)
{
	if (cmpxchg(&r->error, 0, err) == 0) {
		trace_kup_break(r->ch, r, err);
		kup_region_set_state(r, KUP_STATE_BROKEN, err);
		/*
		 * X2, pairs with X1 in kup_region_shutdown(): if our state
		 * landed after the shutdown's, we see its error here and
		 * publish the shutdown again.
		 */
		smp_mb();
		if (READ_ONCE(r->error) == ESHUTDOWN)
			kup_region_set_state(r, KUP_STATE_SHUTDOWN,
					     ESHUTDOWN);
	}
	return -READ_ONCE(r->error);
}

/*
 * The memory a region may live in: anonymous private memory, shmem (a
 * memfd, shared anonymous memory, a tmpfs file, all on tmpfs) and hugetlb.
 * A long-term pin of any other file's pages would have the kernel write
 * page cache behind its filesystem's back (6.1's GUP allows it, later ones
 * refuse some cases): refused on every kernel alike.
 */
static bool kup_vma_ok(struct vm_area_struct *vma)
{
	struct inode *inode;

	/*
	 * Memory registered with userfaultfd is refused too: its faults
	 * cannot be served while we pin under the mmap lock.
	 */
	if ((vma->vm_flags & (VM_IO | VM_PFNMAP | VM_MIXEDMAP)) ||
	    userfaultfd_armed(vma))
		return false;
	if (vma_is_anonymous(vma) || is_vm_hugetlb_page(vma))
		return true;
	if (!vma->vm_file)
		return false;
	/*
	 * A regular file on tmpfs (a memfd, shared anonymous memory and
	 * tmpfs files all are): device nodes on devtmpfs, which is tmpfs
	 * too, are not regular files.
	 */
	inode = file_inode(vma->vm_file);
	return S_ISREG(inode->i_mode) && inode->i_sb->s_magic == TMPFS_MAGIC;
}

/*
 * Check every VMA of the range and pin it, under one mmap_read_lock(), so
 * the mapping cannot change between the check and the pin. EFAULT for a
 * hole or memory GUP refuses (read-only), EOPNOTSUPP for a wrong kind.
 */
static int kup_pin(struct kup_region *r, unsigned long addr)
{
	VMA_ITERATOR(vmi, current->mm, addr);
	unsigned long end = addr + r->npages * PAGE_SIZE, next = addr;
	struct vm_area_struct *vma;
	unsigned long done = 0;
	long ret = 0;

	if (mmap_read_lock_killable(current->mm))
		return -EINTR;
	for_each_vma_range(vmi, vma, end) {
		if (vma->vm_start > next) {
			ret = -EFAULT;
			break;
		}
		if (!kup_vma_ok(vma)) {
			ret = -EOPNOTSUPP;
			break;
		}
		next = vma->vm_end;
	}
	if (!ret && next < end)
		ret = -EFAULT;
	while (!ret && done < r->npages) {
		ret = pin_user_pages(addr + done * PAGE_SIZE, r->npages - done,
				     FOLL_WRITE | FOLL_LONGTERM,
				     r->pages + done);
		if (ret > 0) {
			done += ret;
			ret = 0;
		} else if (!ret) {
			ret = -EFAULT;
		}
	}
	mmap_read_unlock(current->mm);
	if (ret && done)
		unpin_user_pages(r->pages, done);
	return ret;
}

/* Where the parts of the layout are; nothing is written yet. */
static void kup_region_layout(struct kup_region *r, size_t base)
{
	r->hdr = r->vaddr;
	r->ks = r->vaddr + KUP_KSTATE_OFF;
	r->us = r->vaddr + KUP_USTATE_OFF;
	r->slots = r->vaddr + KUP_SLOT_OFF;
	r->to_kernel = r->vaddr + base;
	r->to_user = r->to_kernel + (size_t)r->nslots * r->buf_size;
}

/**
 * kup_region_format() - write the header and the initial protocol state
 * @r: a region from kup_region_pin(), not published yet
 * @chan: the channel it is attached to
 *
 * Called once the attach can no longer fail, so that a failed attach
 * writes nothing into the process's memory. Ping-pong: the kernel holds
 * the first turn, with no message. Pipelined: the process holds the first
 * turn of every slot, as if the kernel had passed an empty message.
 */
void kup_region_format(struct kup_region *r, u32 chan)
{
	size_t base = (u8 *)r->to_kernel - (u8 *)r->vaddr;
	struct kup_region_hdr *h = r->hdr;
	bool pipe = r->nslots > 1;
	u32 i;

	memset(r->vaddr, 0, base);
	r->kcur = 0;
	r->spin_cur = U32_MAX;	/* clamped to the channel's budget */
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
	 * H1, pairs with H2 in lib/kup.h (kupi_chan_map()). The magic goes
	 * last: the ioctl's return orders all of this before the process
	 * looks, but a reader racing the attach (another thread) that sees
	 * the magic also sees a complete header.
	 */
	smp_store_release(&h->magic, KUP_REGION_MAGIC);
}

/*
 * Pin and map [addr, addr + len) of the current process, with buffers of
 * want bytes (0: as large as fit), which must hold min_buf to max_buf
 * bytes. Only the part the layout uses is pinned: a region larger than
 * needed costs nothing more. Nothing is written to the memory until
 * kup_region_format().
 */
struct kup_region *kup_region_pin(u64 addr, u64 len, u32 nslots, u32 want,
				  u32 min_buf, u32 max_buf)
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

	r = kzalloc(sizeof(*r), GFP_KERNEL_ACCOUNT);
	if (!r)
		return ERR_PTR(-ENOMEM);
	refcount_set(&r->ref, 1);
	INIT_RCU_WORK(&r->free_work, kup_region_free_work);
	init_irq_work(&r->wake_work, kup_region_wake_fn);
	r->buf_size = buf_size;
	r->nslots = nslots;
	r->npages = PAGE_ALIGN(base + 2 * nslots * buf_size) >> PAGE_SHIFT;

	ret = -ENOMEM;
	r->kslots = kcalloc(nslots, sizeof(*r->kslots), GFP_KERNEL_ACCOUNT);
	if (!r->kslots)
		goto err_free;
	r->pages = kvmalloc_array(r->npages, sizeof(*r->pages),
				  GFP_KERNEL_ACCOUNT);
	if (!r->pages)
		goto err_free;

	ret = kup_account(r);
	if (ret)
		goto err_pages;

	ret = kup_pin(r, addr);
	if (ret)
		goto err_unaccount;

	r->vaddr = vmap(r->pages, r->npages, VM_MAP, PAGE_KERNEL);
	if (!r->vaddr) {
		ret = -ENOMEM;
		goto err_unpin;
	}
	kup_region_layout(r, base);
	/* Who attached it, for debugfs (the pid outlives the process). */
	r->pid = get_task_pid(current, PIDTYPE_TGID);
	return r;

err_unpin:
	unpin_user_pages(r->pages, r->npages);
err_unaccount:
	kup_unaccount(r);
err_pages:
	kvfree(r->pages);
err_free:
	kfree(r->kslots);
	kfree(r);
	return ERR_PTR(ret);
}

int kup_region_init(void)
{
	/*
	 * The shared layout (lib/kup.h checks the same): a new field can
	 * never silently overlap the next part of the region.
	 */
	BUILD_BUG_ON(sizeof(struct kup_region_hdr) != KUP_LINE_SIZE);
	BUILD_BUG_ON(sizeof(struct kup_kstate) > KUP_LINE_SIZE);
	BUILD_BUG_ON(sizeof(struct kup_ustate) > KUP_LINE_SIZE);
	BUILD_BUG_ON(sizeof(struct kup_slot) != KUP_LINE_SIZE);
	BUILD_BUG_ON(offsetof(struct kup_slot, data) != 16);
	BUILD_BUG_ON(offsetof(struct kup_slot, data) + KUP_INLINE_MAX !=
		     KUP_LINE_SIZE);
	BUILD_BUG_ON(sizeof(struct kup_info) != 64);
	BUILD_BUG_ON(sizeof(struct kup_attach) != 40);
	BUILD_BUG_ON(sizeof(struct kup_eventfd) != 16);
	BUILD_BUG_ON(sizeof(struct kup_chan_req) != 16);

	kup_wq = alloc_workqueue("kup", WQ_UNBOUND, 0);
	return kup_wq ? 0 : -ENOMEM;
}

void kup_region_exit(void)
{
	/* Every region is gone before the module can go: flush the frees. */
	rcu_barrier();
	destroy_workqueue(kup_wq);
}
