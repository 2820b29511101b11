// SPDX-License-Identifier: GPL-2.0
/*
 * kup devices: one misc device per kernel client device, its channels,
 * and the file operations through which a process attaches regions.
 *
 * Lifetime: a device is referenced by its client (until kup_dev_destroy())
 * and by every open file; the last reference frees it. A channel holds one
 * reference to its attached region. The kernel calls take none of their
 * own: they use the region inside an RCU read-side section, or counted in
 * r->inflight while they sleep, and a detach waits for both
 * (kup_region_kill(); see chan.c): a detach or a dying process never
 * pulls memory out from under a kernel thread. A hold (a message the
 * client received) is covered by a second reference, which the channel
 * keeps from one hold to the next (ch->held) and a detach takes over when
 * no hold is active.
 *
 * Ownership: a region belongs to the file it was attached through and to
 * the process that attached it (region->owner, region->mm); the channel
 * ioctls check both on the region they find, so a racing detach and
 * attach cannot hand one process another's channel.
 */

#include <linux/bitmap.h>
#include <linux/ctype.h>
#include <linux/device.h>
#include <linux/fs.h>
#include <linux/kup.h>
#include <linux/module.h>
#include <linux/nospec.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "chan.h"
#include "debugfs.h"
#include "device.h"
#include "region.h"
#include "trace.h"
#include "turn.h"

/* kup_wait_channel() and poll learn of releases and notifies here. */
static void kup_dev_wake_files(struct kup_dev *dev)
{
	struct kup_file *kf;
	unsigned long flags;

	spin_lock_irqsave(&dev->files_lock, flags);
	list_for_each_entry(kf, &dev->files, node)
		wake_up_all(&kf->poll_wq);
	spin_unlock_irqrestore(&dev->files_lock, flags);
}

static void kup_dev_kick_fn(struct irq_work *work)
{
	struct kup_dev *dev = container_of(work, struct kup_dev, kick_work);

	if (test_and_clear_bit(KUP_KICK_ATTACH, &dev->kick))
		wake_up_all(&dev->attach_wq);
	if (test_and_clear_bit(KUP_KICK_FILES, &dev->kick))
		kup_dev_wake_files(dev);
}

/*
 * Wake kup_wait_channel() (KUP_KICK_ATTACH) or every poller of the device
 * (KUP_KICK_FILES), from any context: an irq_work (see
 * kup_region_wake_user()). The bit is set before the work is queued, and
 * the work clears it before it wakes: no request is lost.
 */
void kup_dev_kick(struct kup_dev *dev, unsigned int what)
{
	set_bit(what, &dev->kick);
	irq_work_queue(&dev->kick_work);
}

/*
 * How long a kernel waiter spins before it sleeps: long enough to ride
 * out the process (or its vCPU) being descheduled for a millisecond or
 * two, the common case of a busy peer that seems to stop.
 */
#define KUP_SPIN_US_DEFAULT	4000
#define KUP_SPIN_US_MAX		(4 * USEC_PER_SEC)

static unsigned int kup_default_spin_us = KUP_SPIN_US_DEFAULT;
module_param_named(spin_us, kup_default_spin_us, uint, 0644);
MODULE_PARM_DESC(spin_us, "Default time kernel waiters spin before they sleep, in microseconds (at most 4000000; default 4000; taken by devices created later)");

static u32 kup_spin_ns(unsigned int usecs)
{
	return min_t(unsigned int, usecs, KUP_SPIN_US_MAX) * NSEC_PER_USEC;
}

static void kup_dev_free(struct kref *ref)
{
	struct kup_dev *dev = container_of(ref, struct kup_dev, ref);

	irq_work_sync(&dev->kick_work);
	bitmap_free(dev->pending);
	kfree(dev);
}

static void kup_dev_put(struct kup_dev *dev)
{
	kref_put(&dev->ref, kup_dev_free);
}

/*
 * The registered devices, for their names: misc_register() of a name in
 * use fails with -EEXIST only after sysfs logged a stack dump.
 */
static DEFINE_MUTEX(kup_devs_lock);
static LIST_HEAD(kup_devs);

static bool kup_name_taken(const char *name)
{
	struct kup_dev *dev;

	lockdep_assert_held(&kup_devs_lock);
	list_for_each_entry(dev, &kup_devs, node)
		if (!strcmp(dev->name, name))
			return true;
	return false;
}

static bool kup_name_valid(const char *name)
{
	size_t len = strnlen(name, KUP_NAME_MAX);
	size_t i;

	if (!len || len >= KUP_NAME_MAX || name[0] == '.')
		return false;
	for (i = 0; i < len; i++)
		if (!isalnum(name[i]) && !strchr("_-.", name[i]))
			return false;
	return true;
}

static const struct file_operations kup_fops;

/*
 * /sys/class/misc/<name>/kup_abi: the ABI version, on every kup device
 * whatever its name, so that one udev rule (ATTR{kup_abi}=="?*") matches
 * them all. An attribute group of the device, created before the uevent.
 */
static ssize_t kup_abi_show(struct device *d, struct device_attribute *attr,
			    char *buf)
{
	return sysfs_emit(buf, "%u\n", KUP_ABI_VERSION);
}
static DEVICE_ATTR_RO(kup_abi);

static struct attribute *kup_dev_attrs[] = {
	&dev_attr_kup_abi.attr,
	NULL,
};
ATTRIBUTE_GROUPS(kup_dev);

/*
 * @fixed: every region must hold buffers of exactly @buf_pages pages (the
 * FreeBSD KUP API has no way to tell a client the size of a buffer).
 */
struct kup_dev *__kup_dev_create(const char *name, unsigned int nchan,
				 unsigned int buf_pages, bool fixed)
{
	struct kup_dev *dev;
	unsigned int i;
	int ret;

	if (!name || !kup_name_valid(name) || !nchan ||
	    nchan > KUP_MAX_CHANNELS || !buf_pages ||
	    buf_pages > KUP_MAX_BUF_PAGES)
		return ERR_PTR(-EINVAL);

	dev = kzalloc(struct_size(dev, chans, nchan), GFP_KERNEL);
	if (!dev)
		return ERR_PTR(-ENOMEM);
	dev->pending = bitmap_zalloc(nchan, GFP_KERNEL);
	if (!dev->pending) {
		kfree(dev);
		return ERR_PTR(-ENOMEM);
	}
	kref_init(&dev->ref);
	mutex_init(&dev->lock);
	raw_spin_lock_init(&dev->bind_lock);
	init_waitqueue_head(&dev->attach_wq);
	spin_lock_init(&dev->files_lock);
	INIT_LIST_HEAD(&dev->files);
	init_irq_work(&dev->kick_work, kup_dev_kick_fn);
	atomic64_set(&dev->notify_count, 0);
	strscpy(dev->name, name, sizeof(dev->name));
	dev->nchan = nchan;
	dev->max_buf = buf_pages * PAGE_SIZE;
	dev->min_buf = fixed ? dev->max_buf : KUP_LINE_SIZE;
	dev->spin_ns = kup_spin_ns(READ_ONCE(kup_default_spin_us));
	for (i = 0; i < nchan; i++) {
		struct kup_chan *ch = &dev->chans[i];

		ch->dev = dev;
		ch->index = i;
		ch->spin_ns = KUP_SPIN_DEV;
		init_waitqueue_head(&ch->kwq);
		init_waitqueue_head(&ch->uwq);
	}

	dev->misc = (struct miscdevice) {
		.minor = MISC_DYNAMIC_MINOR,
		.name = dev->name,
		.fops = &kup_fops,
		.mode = 0600,
		.groups = kup_dev_groups,
	};
	mutex_lock(&kup_devs_lock);
	ret = kup_name_taken(dev->name) ? -EEXIST : misc_register(&dev->misc);
	if (!ret)
		list_add(&dev->node, &kup_devs);
	mutex_unlock(&kup_devs_lock);
	if (ret) {
		kup_dev_put(dev);
		return ERR_PTR(ret);
	}
	dev->registered = true;
	/* The name is ours now: so is kup/<name> in debugfs. */
	kup_debugfs_dev_add(dev);
	pr_debug("created /dev/%s: %u channels of %u pages\n", name, nchan,
		 buf_pages);
	return dev;
}

/**
 * kup_dev_create() - create /dev/@name with @nchan channels
 * @name: device name: letters, digits, '_', '-', '.'; shorter than
 *	KUP_NAME_MAX
 * @nchan: number of channels, 1..KUP_MAX_CHANNELS
 * @buf_pages: largest buffer per direction, in pages, 1..KUP_MAX_BUF_PAGES
 *
 * A process may attach a smaller region; its buffers are then smaller
 * (kup_chan_buf_size()).
 * Context: process context, may sleep.
 * Return: the device, or an ERR_PTR: -EINVAL bad argument, -ENOMEM, or
 *	the error of misc_register() (-EEXIST: the name is taken).
 */
struct kup_dev *kup_dev_create(const char *name, unsigned int nchan,
			       unsigned int buf_pages)
{
	return __kup_dev_create(name, nchan, buf_pages, false);
}
EXPORT_SYMBOL_NS_GPL(kup_dev_create, "KUP");

unsigned int kup_dev_nchan(const struct kup_dev *dev)
{
	return dev->nchan;
}
EXPORT_SYMBOL_NS_GPL(kup_dev_nchan, "KUP");

/**
 * kup_dev_set_spin_us() - set how long kernel waiters spin before sleeping
 * @dev: the device
 * @usecs: microseconds, at most 4000000 (larger values are clamped); 0
 *	sleeps at once. The default is the module parameter spin_us.
 *
 * The budget is time spent spinning: time the waiter was switched out
 * does not count, but a spin ends after four budgets on the clock in any
 * case (see kup_spin_spent()). A waiter spins for the whole budget after
 * a wait that ended within it, and for less, never under a quarter of it,
 * after the process stayed away longer. Channels set with
 * kup_dev_set_chan_spin_us() keep theirs.
 * Context: any.
 */
void kup_dev_set_spin_us(struct kup_dev *dev, unsigned int usecs)
{
	WRITE_ONCE(dev->spin_ns, kup_spin_ns(usecs));
}
EXPORT_SYMBOL_NS_GPL(kup_dev_set_spin_us, "KUP");

/**
 * kup_dev_set_chan_spin_us() - set one channel's spin budget
 * @dev: the device
 * @chan: channel index
 * @usecs: microseconds, as kup_dev_set_spin_us(); KUP_SPIN_US_DEV: the
 *	device's budget again
 *
 * Context: any.
 * Return: 0, or -EINVAL if @chan is out of range.
 */
int kup_dev_set_chan_spin_us(struct kup_dev *dev, unsigned int chan,
			     unsigned int usecs)
{
	if (chan >= dev->nchan)
		return -EINVAL;
	chan = array_index_nospec(chan, dev->nchan);
	WRITE_ONCE(dev->chans[chan].spin_ns, usecs == KUP_SPIN_US_DEV ?
		   KUP_SPIN_DEV : kup_spin_ns(usecs));
	return 0;
}
EXPORT_SYMBOL_NS_GPL(kup_dev_set_chan_spin_us, "KUP");

static void kup_chan_wake_all(struct kup_chan *ch)
{
	wake_up_all(&ch->kwq);
	wake_up_all(&ch->uwq);
}

/**
 * kup_dev_shutdown() - stop every channel of @dev
 * @dev: the device
 *
 * Every waiter, in the kernel or in user space, wakes and fails with
 * -ESHUTDOWN; so does every later call. Attached processes see
 * KUP_STATE_SHUTDOWN in their regions without a system call. The device
 * node stays until kup_dev_destroy().
 *
 * Context: process context, may sleep.
 */
void kup_dev_shutdown(struct kup_dev *dev)
{
	unsigned int i;

	mutex_lock(&dev->lock);
	WRITE_ONCE(dev->dead, true);
	for (i = 0; i < dev->nchan; i++) {
		struct kup_chan *ch = &dev->chans[i];
		struct kup_region *r;

		r = rcu_dereference_protected(ch->region,
					      lockdep_is_held(&dev->lock));
		if (r)
			kup_region_shutdown(r);
		kup_chan_wake_all(ch);
	}
	/*
	 * Only now may poll report the shutdown: a region's state change
	 * above already woke its file's pollers (from an irq_work, at any
	 * time), and one woken then must not see EPOLLHUP while its own
	 * channel, later in the loop, still looks attached. Pairs with
	 * smp_load_acquire() in kup_fop_poll().
	 */
	smp_store_release(&dev->hup, true);
	mutex_unlock(&dev->lock);
	wake_up_all(&dev->attach_wq);
	kup_dev_wake_files(dev);
}
EXPORT_SYMBOL_NS_GPL(kup_dev_shutdown, "KUP");

/**
 * kup_dev_destroy() - shut @dev down, remove its node and drop it
 * @dev: the device; the caller must not use it afterwards
 *
 * Stop every thread that may still call into @dev first (kup_dev_shutdown()
 * wakes them). Processes that still have the device open keep their
 * regions until they close it; kernel memory is freed after the last
 * close.
 *
 * Context: process context, may sleep.
 */
void kup_dev_destroy(struct kup_dev *dev)
{
	unsigned int i;

	if (IS_ERR_OR_NULL(dev))
		return;
	kup_dev_shutdown(dev);
	if (dev->registered) {
		/*
		 * While the name is still ours; debugfs waits for readers in
		 * our show functions, and fails later reads of open files.
		 */
		kup_debugfs_dev_remove(dev);
		/* The name stays taken until misc_deregister() returns. */
		mutex_lock(&kup_devs_lock);
		misc_deregister(&dev->misc);
		list_del(&dev->node);
		mutex_unlock(&kup_devs_lock);
	}
	for (i = 0; i < dev->nchan; i++) {
		struct kup_region *held = xchg(&dev->chans[i].held, NULL);

		if (held)
			kup_region_put_sync(held);
	}
	kup_dev_put(dev);
}
EXPORT_SYMBOL_NS_GPL(kup_dev_destroy, "KUP");

/**
 * kup_notify() - tell processes polling @dev that channels are available
 * @dev: the device
 *
 * Open files of @dev report EPOLLPRI until they read KUP_IOC_INFO.
 * Context: any.
 */
void kup_notify(struct kup_dev *dev)
{
	atomic64_inc(&dev->notify_count);
	kup_dev_kick(dev, KUP_KICK_FILES);
}
EXPORT_SYMBOL_NS_GPL(kup_notify, "KUP");

/* The region attached to ch, under dev->bind_lock. */
static struct kup_region *kup_chan_bind_locked(struct kup_chan *ch)
{
	return rcu_dereference_protected(ch->region,
					 lockdep_is_held(&ch->dev->bind_lock));
}

/*
 * The next attachment to report: pending, and on a channel the client no
 * longer works on (ch->bound is 0: the previous session ended). Binding
 * it makes it the one the client's data calls work on. Under bind_lock,
 * a set pending bit means that ch->region is the attachment it stands
 * for (attach and detach change both under it); kup_end_session() clears
 * a binding without it, but only a non-zero one.
 */
static int kup_take_pending(struct kup_dev *dev)
{
	struct kup_region *r;
	unsigned long flags;
	unsigned int i;
	int ret = -EAGAIN;

	for_each_set_bit(i, dev->pending, dev->nchan) {
		struct kup_chan *ch = &dev->chans[i];

		if (READ_ONCE(ch->bound))
			continue;
		raw_spin_lock_irqsave(&dev->bind_lock, flags);
		/* Under bind_lock: the bit stands for ch->region. */
		if (!READ_ONCE(ch->bound) && test_and_clear_bit(i, dev->pending)) {
			r = kup_chan_bind_locked(ch);
			WRITE_ONCE(ch->bound, r->gen);
			ret = i;
		}
		raw_spin_unlock_irqrestore(&dev->bind_lock, flags);
		if (ret >= 0)
			break;
	}
	return ret;
}

static bool kup_attach_ready(struct kup_dev *dev)
{
	unsigned int i;

	if (READ_ONCE(dev->dead) || kup_should_stop())
		return true;
	for_each_set_bit(i, dev->pending, dev->nchan)
		if (!READ_ONCE(dev->chans[i].bound))
			return true;
	return false;
}

/**
 * kup_wait_channel() - wait until a process attaches a channel
 * @dev: the device
 * @flags: KUP_NONBLOCK to fail with -EAGAIN instead of waiting
 *
 * Each attachment is reported once, and starts a session: the data calls
 * on the channel work on this attachment only. When the process detaches,
 * they fail with -ENOTCONN; the session lasts until the client ends it
 * with kup_end_session() (kup_workers_start()'s loop does that), and only
 * then can the channel's next attachment be reported. So nothing a client
 * does for one attachment ever reaches the next, even when one thread
 * accepts and another serves.
 * Context: process context unless KUP_NONBLOCK; any but hard interrupts
 * with it.
 * Return: the channel index, or -ESHUTDOWN, -EAGAIN, -EINTR.
 */
int kup_wait_channel(struct kup_dev *dev, unsigned int flags)
{
	int ret;

	for (;;) {
		if (READ_ONCE(dev->dead))
			return -ESHUTDOWN;
		ret = kup_take_pending(dev);
		if (ret >= 0 || (flags & KUP_NONBLOCK))
			return ret;
		ret = wait_event_interruptible(dev->attach_wq,
					       kup_attach_ready(dev));
		if (ret || kup_should_stop())
			return -EINTR;
	}
}
EXPORT_SYMBOL_NS_GPL(kup_wait_channel, "KUP");

/* File operations */

static int kup_fop_open(struct inode *inode, struct file *file)
{
	struct kup_dev *dev = container_of(file->private_data, struct kup_dev,
					   misc);
	struct kup_file *kf;

	/* misc_open() holds misc_mtx: the client's reference is still ours. */
	if (READ_ONCE(dev->dead))
		return -ENODEV;
	kf = kzalloc(sizeof(*kf), GFP_KERNEL_ACCOUNT);
	if (!kf)
		return -ENOMEM;
	kref_get(&dev->ref);
	kf->dev = dev;
	init_waitqueue_head(&kf->poll_wq);
	spin_lock_irq(&dev->files_lock);
	list_add(&kf->node, &dev->files);
	spin_unlock_irq(&dev->files_lock);
	file->private_data = kf;
	return nonseekable_open(inode, file);
}

/* The region attached to ch, under dev->lock. */
static struct kup_region *kup_chan_locked(struct kup_chan *ch)
{
	return rcu_dereference_protected(ch->region,
					 lockdep_is_held(&ch->dev->lock));
}

/* Called with dev->lock held; the caller puts the returned region. */
static struct kup_region *kup_chan_detach(struct kup_chan *ch)
{
	struct kup_dev *dev = ch->dev;
	struct kup_region *r = kup_chan_locked(ch);

	trace_kup_detach(ch, r, READ_ONCE(r->error));
	raw_spin_lock_irq(&dev->bind_lock);
	RCU_INIT_POINTER(ch->region, NULL);
	clear_bit(ch->index, dev->pending);
	raw_spin_unlock_irq(&dev->bind_lock);
	WRITE_ONCE(r->dead, true);
	if (!READ_ONCE(dev->dead))
		kup_region_set_state(r, KUP_STATE_DETACHED, 0);
	kup_chan_wake_all(ch);
	wake_up_all(r->pollq);
	return r;
}

/*
 * Detach outside dev->lock: wait for kernel calls to leave, take the
 * channel's cached hold reference over unless a hold is active, then free.
 */
static void kup_chan_finish_detach(struct kup_chan *ch, struct kup_region *r)
{
	kup_region_kill(r);
	if (kup_chan_steal_held(ch, r)) {
		/* Not the last: the channel's own reference is still there. */
		kup_region_put(r);
		/* The hold's end may still read r: free after a grace period. */
		kup_region_put_sync(r);
		return;
	}
	kup_region_put_killed(r);
}

static int kup_fop_release(struct inode *inode, struct file *file)
{
	struct kup_file *kf = file->private_data;
	struct kup_dev *dev = kf->dev;
	unsigned int i;

	for (i = 0; i < dev->nchan; i++) {
		struct kup_chan *ch = &dev->chans[i];
		struct kup_region *r;

		mutex_lock(&dev->lock);
		r = kup_chan_locked(ch);
		r = r && r->owner == kf ? kup_chan_detach(ch) : NULL;
		mutex_unlock(&dev->lock);
		/* Waits until no wake-up of kf->poll_wq can come from r. */
		if (r)
			kup_chan_finish_detach(ch, r);
	}
	spin_lock_irq(&dev->files_lock);
	list_del(&kf->node);
	spin_unlock_irq(&dev->files_lock);
	kup_dev_put(dev);
	kfree(kf);
	return 0;
}

static long kup_ioctl_info(struct kup_file *kf, void __user *argp)
{
	struct kup_dev *dev = kf->dev;
	struct kup_info info = {
		.abi_version = KUP_ABI_VERSION,
		.nchan = dev->nchan,
		.nslots = KUP_MAX_SLOTS,
		.max_buf_size = dev->max_buf,
		.min_buf_size = dev->min_buf,
		.region_size = kup_region_size(1, dev->max_buf, PAGE_SIZE),
		.page_size = PAGE_SIZE,
		.notify_count = atomic64_read(&dev->notify_count),
		.features = KUP_FEATURES,
	};

	if (copy_to_user(argp, &info, sizeof(info)))
		return -EFAULT;
	WRITE_ONCE(kf->notify_seen, info.notify_count);
	return 0;
}

static long kup_ioctl_attach(struct kup_file *kf, void __user *argp)
{
	struct kup_dev *dev = kf->dev;
	struct kup_attach arg;
	struct kup_region *r;
	struct kup_chan *ch = NULL;
	unsigned int i;
	long ret;
	u64 gen;

	if (copy_from_user(&arg, argp, sizeof(arg)))
		return -EFAULT;
	if (arg.flags || arg.reserved || arg.nslots > KUP_MAX_SLOTS)
		return -EINVAL;
	if (arg.chan != KUP_CHAN_ANY && arg.chan >= dev->nchan)
		return -EINVAL;
	if (READ_ONCE(dev->dead))
		return -ESHUTDOWN;

	r = kup_region_pin(arg.addr, arg.len, max(arg.nslots, 1U),
			   arg.buf_size, dev->min_buf, dev->max_buf);
	if (IS_ERR(r))
		return PTR_ERR(r);

	mutex_lock(&dev->lock);
	ret = -ESHUTDOWN;
	if (dev->dead)
		goto err_unlock;
	if (arg.chan == KUP_CHAN_ANY) {
		for (i = 0; i < dev->nchan; i++) {
			if (!rcu_access_pointer(dev->chans[i].region)) {
				ch = &dev->chans[i];
				break;
			}
		}
	} else {
		ch = kup_dev_chan(dev, arg.chan);
		if (rcu_access_pointer(ch->region))
			ch = NULL;
	}
	ret = -EBUSY;
	if (!ch)
		goto err_unlock;

	arg.chan = ch->index;
	arg.buf_size = r->buf_size;
	/*
	 * A channel is ours: only now write the process's memory, so that
	 * an attach that fails before this leaves it as it was.
	 */
	kup_region_format(r, ch->index);
	r->owner = kf;
	r->ch = ch;
	r->uwq = &ch->uwq;
	r->pollq = &kf->poll_wq;
	gen = ++ch->gen_next;
	r->gen = gen;
	raw_spin_lock_irq(&dev->bind_lock);
	rcu_assign_pointer(ch->region, r);
	set_bit(ch->index, dev->pending);
	raw_spin_unlock_irq(&dev->bind_lock);
	/* Under dev->lock: no detach can free r meanwhile. */
	trace_kup_attach(ch, r);
	mutex_unlock(&dev->lock);
	wake_up_all(&dev->attach_wq);
	/* A pipelined attach is readable at once: the process holds turns. */
	wake_up_all(&kf->poll_wq);

	/*
	 * Copy out with no lock held: the argument may sit on a page that
	 * faults for as long as its owner likes (userfaultfd, FUSE). If it
	 * cannot be written, undo the attach, unless another thread of the
	 * process detached it meanwhile.
	 */
	if (!copy_to_user(argp, &arg, sizeof(arg)))
		return 0;
	mutex_lock(&dev->lock);
	r = kup_chan_locked(ch);
	r = r && r->gen == gen ? kup_chan_detach(ch) : NULL;
	mutex_unlock(&dev->lock);
	if (r)
		kup_chan_finish_detach(ch, r);
	return -EFAULT;

err_unlock:
	mutex_unlock(&dev->lock);
	kup_region_put_sync(r);
	return ret;
}

/* Read a channel request; the channel it names, or NULL with *err. */
static struct kup_chan *kup_req_chan(struct kup_file *kf, void __user *argp,
				     long *err)
{
	struct kup_chan_req req;
	struct kup_chan *ch;

	*err = -EFAULT;
	if (copy_from_user(&req, argp, sizeof(req)))
		return NULL;
	*err = -EINVAL;
	if (req.flags || req.reserved)
		return NULL;
	ch = kup_dev_chan(kf->dev, req.chan);
	return ch;
}

/*
 * Whether the calling process may use region r through file kf: 0, or
 * -ENOTCONN (attached through another file, or not at all), -EPERM
 * (attached by another process sharing the file, a fork child or parent,
 * that is still alive; once it is gone, whoever keeps the file may
 * detach: detach is true).
 */
static long kup_may_use(struct kup_file *kf, struct kup_region *r,
			bool detach)
{
	if (!r || r->owner != kf)
		return -ENOTCONN;
	if (r->mm != current->mm &&
	    !(detach && !atomic_read(&r->mm->mm_users)))
		return -EPERM;
	return 0;
}

/*
 * The region of channel ch for an ioctl of kf, counted in r->inflight
 * (kup_op_end() when done), or NULL with *err.
 */
static struct kup_region *kup_ioctl_region(struct kup_file *kf,
					   struct kup_chan *ch, long *err)
{
	struct kup_region *r = kup_op_begin(ch);

	*err = kup_may_use(kf, r, false);
	if (*err && r) {
		kup_op_end(r);
		r = NULL;
	}
	return r;
}

static long kup_ioctl_detach(struct kup_file *kf, void __user *argp)
{
	struct kup_dev *dev = kf->dev;
	struct kup_region *r = NULL;
	struct kup_chan *ch;
	long ret;

	ch = kup_req_chan(kf, argp, &ret);
	if (!ch)
		return ret;
	mutex_lock(&dev->lock);
	ret = kup_may_use(kf, kup_chan_locked(ch), true);
	if (!ret)
		r = kup_chan_detach(ch);
	mutex_unlock(&dev->lock);
	if (r)
		kup_chan_finish_detach(ch, r);
	return ret;
}

/* KUP_IOC_WAKE: the process passed the turn and saw kstate.kwait. */
static int kup_chan_wake(struct kup_chan *ch, struct kup_region *r)
{
	/* Concurrent WAKEs from one process may lose a count: only stats. */
	WRITE_ONCE(r->ks->kwait_wakeups, data_race(++r->kwait_wakeups));
	trace_kup_wakeup(ch, KUP_TRACE_KERNEL);
	wake_up(&ch->kwq);
	return 0;
}

/* poll(): what channel ch shows to file kf. */
static __poll_t kup_chan_poll(struct kup_chan *ch, struct kup_file *kf)
{
	struct kup_region *r;
	__poll_t mask = 0;
	u32 err;

	rcu_read_lock();
	r = rcu_dereference(ch->region);
	if (r && r->owner == kf) {
		if (kup_user_turn(r, READ_ONCE(r->us->uwait)))
			mask |= EPOLLIN | EPOLLRDNORM;
		/*
		 * A shutdown is not an error of this channel: kup_fop_poll()
		 * reports it as EPOLLHUP once every region says so.
		 */
		err = READ_ONCE(r->error);
		if (err && err != ESHUTDOWN)
			mask |= EPOLLERR;
	}
	rcu_read_unlock();
	return mask;
}

static bool kup_user_ready(struct kup_dev *dev, struct kup_region *r)
{
	return READ_ONCE(dev->dead) || READ_ONCE(r->dead) ||
	       READ_ONCE(r->error) ||
	       kup_user_turn(r, READ_ONCE(r->us->uwait));
}

/*
 * KUP_IOC_WAIT: sleep until the process holds the turn (or the channel
 * stops). The library set ustate.uwait and re-checked the turn first, so
 * kup_kwake() wakes us. r is counted in r->inflight (kup_op_begin()).
 */
static int kup_chan_wait_user(struct kup_chan *ch, struct kup_region *r)
{
	struct kup_dev *dev = ch->dev;
	int ret;

	if (!kup_user_ready(dev, r))
		trace_kup_sleep(ch, KUP_TRACE_USER);
	ret = wait_event_interruptible(ch->uwq, kup_user_ready(dev, r));
	if (ret)
		return -EINTR;
	if (READ_ONCE(dev->dead))
		return -ESHUTDOWN;
	if (READ_ONCE(r->dead))
		return -ENOTCONN;
	if (READ_ONCE(r->error))
		return -READ_ONCE(r->error);
	return 0;
}

/* KUP_IOC_WAKE, KUP_IOC_WAIT */
static long kup_ioctl_chan(struct kup_file *kf, void __user *argp, bool wait)
{
	struct kup_region *r;
	struct kup_chan *ch;
	long ret;

	ch = kup_req_chan(kf, argp, &ret);
	if (!ch)
		return ret;
	r = kup_ioctl_region(kf, ch, &ret);
	if (!r)
		return ret;
	ret = wait ? kup_chan_wait_user(ch, r) : kup_chan_wake(ch, r);
	kup_op_end(r);
	return ret;
}

static long kup_ioctl_eventfd(struct kup_file *kf, void __user *argp)
{
	struct kup_eventfd arg;
	struct kup_region *r;
	struct kup_chan *ch;
	long ret;

	if (copy_from_user(&arg, argp, sizeof(arg)))
		return -EFAULT;
	if (arg.reserved)
		return -EINVAL;
	ch = kup_dev_chan(kf->dev, arg.chan);
	if (!ch)
		return -EINVAL;
	r = kup_ioctl_region(kf, ch, &ret);
	if (!r)
		return ret;
	ret = kup_region_set_eventfd(r, arg.fd);
	kup_op_end(r);
	return ret;
}

static long kup_fop_ioctl(struct file *file, unsigned int cmd,
			  unsigned long arg)
{
	struct kup_file *kf = file->private_data;
	void __user *argp = (void __user *)arg;

	switch (cmd) {
	case KUP_IOC_INFO:
		return kup_ioctl_info(kf, argp);
	case KUP_IOC_ATTACH:
		return kup_ioctl_attach(kf, argp);
	case KUP_IOC_DETACH:
		return kup_ioctl_detach(kf, argp);
	case KUP_IOC_WAKE:
		return kup_ioctl_chan(kf, argp, false);
	case KUP_IOC_WAIT:
		return kup_ioctl_chan(kf, argp, true);
	case KUP_IOC_EVENTFD:
		return kup_ioctl_eventfd(kf, argp);
	default:
		return -ENOTTY;
	}
}

/*
 * Readable when a channel this file attached holds a user turn; an error
 * when one broke. One wait queue per file, whatever its channels: a
 * channel attached after epoll registered the file still wakes it, and
 * aio and io_uring (at most one or two queues per file) work with any
 * number of channels. Only a process that set ustate.uwait is woken by
 * the kernel's pass (see kup_kwake()); lib/kup.h kup_chan_arm() does that
 * for event loops.
 */
static __poll_t kup_fop_poll(struct file *file, poll_table *wait)
{
	struct kup_file *kf = file->private_data;
	struct kup_dev *dev = kf->dev;
	__poll_t mask = 0;
	unsigned int i;
	bool hup;

	poll_wait(file, &kf->poll_wq, wait);
	/* Pairs with smp_store_release() in kup_dev_shutdown(). */
	hup = smp_load_acquire(&dev->hup);
	for (i = 0; i < dev->nchan; i++)
		mask |= kup_chan_poll(&dev->chans[i], kf);
	if (atomic64_read(&dev->notify_count) != READ_ONCE(kf->notify_seen))
		mask |= EPOLLPRI;
	if (hup)
		mask |= EPOLLHUP;
	return mask;
}

/* /proc/<pid>/fdinfo/<fd>: the channels this file attached (debugfs.c). */
static void kup_fop_show_fdinfo(struct seq_file *m, struct file *file)
{
	kup_show_file(m, file->private_data);
}

static const struct file_operations kup_fops = {
	.owner = THIS_MODULE,
	.open = kup_fop_open,
	.release = kup_fop_release,
	.unlocked_ioctl = kup_fop_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.poll = kup_fop_poll,
	.show_fdinfo = kup_fop_show_fdinfo,
};
