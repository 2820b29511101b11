// SPDX-License-Identifier: GPL-2.0
/*
 * kup devices: one misc device per kernel client device, its channels,
 * and the file operations through which a process attaches regions.
 *
 * Lifetime: a device is referenced by its client (until kup_dev_destroy())
 * and by every open file; the last reference frees it. A channel holds one
 * reference to its attached region; kernel calls take their own while they
 * use it, so a detach or a dying process never pulls memory out from under
 * a kernel thread.
 */

#include <linux/bitmap.h>
#include <linux/ctype.h>
#include <linux/fs.h>
#include <linux/kup.h>
#include <linux/module.h>
#include <linux/nospec.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "compat.h"
#include "device.h"
#include "region.h"

static unsigned int kup_default_spins = 2000;
module_param_named(spins, kup_default_spins, uint, 0644);
MODULE_PARM_DESC(spins, "Default spin budget of kernel waiters before they sleep (polls of the turn word)");

static void kup_dev_free(struct kref *ref)
{
	struct kup_dev *dev = container_of(ref, struct kup_dev, ref);

	bitmap_free(dev->pending);
	kfree(dev);
}

static void kup_dev_put(struct kup_dev *dev)
{
	kref_put(&dev->ref, kup_dev_free);
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
	init_waitqueue_head(&dev->attach_wq);
	init_waitqueue_head(&dev->poll_wq);
	atomic64_set(&dev->notify_count, 0);
	strscpy(dev->name, name, sizeof(dev->name));
	dev->nchan = nchan;
	dev->max_buf = buf_pages * PAGE_SIZE;
	dev->min_buf = fixed ? dev->max_buf : KUP_LINE_SIZE;
	dev->spins = READ_ONCE(kup_default_spins);
	for (i = 0; i < nchan; i++) {
		struct kup_chan *ch = &dev->chans[i];

		ch->dev = dev;
		ch->index = i;
		init_waitqueue_head(&ch->kwq);
		init_waitqueue_head(&ch->uwq);
	}

	dev->misc = (struct miscdevice) {
		.minor = MISC_DYNAMIC_MINOR,
		.name = dev->name,
		.fops = &kup_fops,
		.mode = 0600,
	};
	ret = misc_register(&dev->misc);
	if (ret) {
		kup_dev_put(dev);
		return ERR_PTR(ret);
	}
	dev->registered = true;
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
EXPORT_SYMBOL_GPL(kup_dev_create);

unsigned int kup_dev_nchan(const struct kup_dev *dev)
{
	return dev->nchan;
}
EXPORT_SYMBOL_GPL(kup_dev_nchan);

/**
 * kup_dev_set_spin() - set how long kernel waiters spin before sleeping
 * @dev: the device
 * @spins: polls of the turn word; 0 sleeps at once
 */
void kup_dev_set_spin(struct kup_dev *dev, unsigned int spins)
{
	WRITE_ONCE(dev->spins, spins);
}
EXPORT_SYMBOL_GPL(kup_dev_set_spin);

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
			kup_region_set_state(r, KUP_STATE_SHUTDOWN,
					     ESHUTDOWN);
		kup_chan_wake_all(ch);
	}
	mutex_unlock(&dev->lock);
	wake_up_all(&dev->attach_wq);
	wake_up_all(&dev->poll_wq);
}
EXPORT_SYMBOL_GPL(kup_dev_shutdown);

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
	if (dev->registered)
		misc_deregister(&dev->misc);
	for (i = 0; i < dev->nchan; i++) {
		struct kup_region *held = xchg(&dev->chans[i].held, NULL);

		if (held)
			kup_region_put_sync(held);
	}
	kup_dev_put(dev);
}
EXPORT_SYMBOL_GPL(kup_dev_destroy);

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
	wake_up_all(&dev->poll_wq);
}
EXPORT_SYMBOL_GPL(kup_notify);

static bool kup_attach_ready(struct kup_dev *dev)
{
	return READ_ONCE(dev->dead) || kup_should_stop() ||
	       !bitmap_empty(dev->pending, dev->nchan);
}

/**
 * kup_wait_channel() - wait until a process attaches a channel
 * @dev: the device
 * @flags: KUP_NONBLOCK to fail with -EAGAIN instead of waiting
 *
 * Each attach is reported once.
 * Context: process context unless KUP_NONBLOCK.
 * Return: the channel index, or -ESHUTDOWN, -EAGAIN, -EINTR.
 */
int kup_wait_channel(struct kup_dev *dev, unsigned int flags)
{
	unsigned int i;
	int ret;

	for (;;) {
		if (READ_ONCE(dev->dead))
			return -ESHUTDOWN;
		for_each_set_bit(i, dev->pending, dev->nchan)
			if (test_and_clear_bit(i, dev->pending))
				return i;
		if (flags & KUP_NONBLOCK)
			return -EAGAIN;
		ret = wait_event_interruptible(dev->attach_wq,
					       kup_attach_ready(dev));
		if (ret || kup_should_stop())
			return -EINTR;
	}
}
EXPORT_SYMBOL_GPL(kup_wait_channel);

/* File operations */

static int kup_open(struct inode *inode, struct file *file)
{
	struct kup_dev *dev = container_of(file->private_data, struct kup_dev,
					   misc);
	struct kup_file *kf;

	/* misc_open() holds misc_mtx: the client's reference is still ours. */
	if (READ_ONCE(dev->dead))
		return -ENODEV;
	kf = kzalloc(sizeof(*kf), GFP_KERNEL);
	if (!kf)
		return -ENOMEM;
	kref_get(&dev->ref);
	kf->dev = dev;
	file->private_data = kf;
	return nonseekable_open(inode, file);
}

/* Called with dev->lock held; the caller puts the returned region. */
static struct kup_region *kup_chan_detach(struct kup_chan *ch)
{
	struct kup_dev *dev = ch->dev;
	struct kup_region *r;

	r = rcu_dereference_protected(ch->region, lockdep_is_held(&dev->lock));
	RCU_INIT_POINTER(ch->region, NULL);
	ch->owner = NULL;
	clear_bit(ch->index, dev->pending);
	WRITE_ONCE(r->dead, true);
	if (!READ_ONCE(dev->dead))
		kup_region_set_state(r, KUP_STATE_DETACHED, 0);
	kup_chan_wake_all(ch);
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

static int kup_release_file(struct inode *inode, struct file *file)
{
	struct kup_file *kf = file->private_data;
	struct kup_dev *dev = kf->dev;
	unsigned int i;

	for (i = 0; i < dev->nchan; i++) {
		struct kup_chan *ch = &dev->chans[i];
		struct kup_region *r = NULL;

		mutex_lock(&dev->lock);
		if (ch->owner == kf)
			r = kup_chan_detach(ch);
		mutex_unlock(&dev->lock);
		if (r)
			kup_chan_finish_detach(ch, r);
	}
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

	if (copy_from_user(&arg, argp, sizeof(arg)))
		return -EFAULT;
	if (arg.flags || arg.reserved ||
	    arg.nslots > KUP_MAX_SLOTS)
		return -EINVAL;
	if (arg.chan != KUP_CHAN_ANY && arg.chan >= dev->nchan)
		return -EINVAL;
	if (READ_ONCE(dev->dead))
		return -ESHUTDOWN;

	r = kup_region_pin(arg.addr, arg.len, max(arg.nslots, 1U),
			   arg.buf_size, dev->min_buf, dev->max_buf,
			   arg.chan == KUP_CHAN_ANY ? 0 : arg.chan);
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
	r->hdr->chan = ch->index;
	ret = -EFAULT;
	if (copy_to_user(argp, &arg, sizeof(arg)))
		goto err_unlock;

	ch->owner = kf;
	rcu_assign_pointer(ch->region, r);
	set_bit(ch->index, dev->pending);
	mutex_unlock(&dev->lock);
	wake_up_all(&dev->attach_wq);
	return 0;

err_unlock:
	mutex_unlock(&dev->lock);
	kup_region_put_sync(r);
	return ret;
}

/* The channel a request names, if this file attached it. */
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
	if (!ch)
		return NULL;
	*err = -ENOTCONN;
	if (READ_ONCE(ch->owner) != kf)
		return NULL;
	return ch;
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
	if (ch->owner == kf)
		r = kup_chan_detach(ch);
	mutex_unlock(&dev->lock);
	if (!r)
		return -ENOTCONN;
	kup_chan_finish_detach(ch, r);
	return 0;
}

static long kup_ioctl_eventfd(struct kup_file *kf, void __user *argp)
{
	struct kup_eventfd arg;
	struct kup_chan *ch;

	if (copy_from_user(&arg, argp, sizeof(arg)))
		return -EFAULT;
	if (arg.reserved)
		return -EINVAL;
	ch = kup_dev_chan(kf->dev, arg.chan);
	if (!ch)
		return -EINVAL;
	if (READ_ONCE(ch->owner) != kf)
		return -ENOTCONN;
	return kup_chan_set_eventfd(ch, arg.fd);
}

static long kup_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct kup_file *kf = file->private_data;
	void __user *argp = (void __user *)arg;
	struct kup_chan *ch;
	long ret;

	switch (cmd) {
	case KUP_IOC_INFO:
		return kup_ioctl_info(kf, argp);
	case KUP_IOC_ATTACH:
		return kup_ioctl_attach(kf, argp);
	case KUP_IOC_DETACH:
		return kup_ioctl_detach(kf, argp);
	case KUP_IOC_WAKE:
		ch = kup_req_chan(kf, argp, &ret);
		return ch ? kup_chan_wake(ch) : ret;
	case KUP_IOC_WAIT:
		ch = kup_req_chan(kf, argp, &ret);
		return ch ? kup_chan_wait_user(ch) : ret;
	case KUP_IOC_EVENTFD:
		return kup_ioctl_eventfd(kf, argp);
	default:
		return -ENOTTY;
	}
}

/*
 * Readable when a channel this file attached holds a user turn. Only a
 * process that set ustate.uwait is woken by the kernel's pass (see
 * kup_kpass()); lib/kup.h kup_chan_arm() does that for event loops.
 */
static __poll_t kup_poll(struct file *file, poll_table *wait)
{
	struct kup_file *kf = file->private_data;
	struct kup_dev *dev = kf->dev;
	__poll_t mask = 0;
	unsigned int i;

	poll_wait(file, &dev->poll_wq, wait);
	for (i = 0; i < dev->nchan; i++) {
		struct kup_chan *ch = &dev->chans[i];

		if (READ_ONCE(ch->owner) != kf)
			continue;
		poll_wait(file, &ch->uwq, wait);
		if (kup_chan_user_turn(ch))
			mask |= EPOLLIN | EPOLLRDNORM;
	}
	if (atomic64_read(&dev->notify_count) != READ_ONCE(kf->notify_seen))
		mask |= EPOLLPRI;
	if (READ_ONCE(dev->dead))
		mask |= EPOLLHUP;
	return mask;
}

static const struct file_operations kup_fops = {
	.owner = THIS_MODULE,
	.open = kup_open,
	.release = kup_release_file,
	.unlocked_ioctl = kup_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.poll = kup_poll,
};
