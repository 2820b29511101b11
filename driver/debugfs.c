// SPDX-License-Identifier: GPL-2.0
/*
 * Introspection: the fdinfo of a kup file (the channels it attached) and
 * /sys/kernel/debug/kup/<name>/channels (every attached channel of the
 * device, with the pid of the process that attached it). Both print the
 * same lines (documented in kup(4)); neither is an ABI.
 *
 * Locking: a region is reached as the data path reaches it, inside an
 * RCU read-side section (a detach frees it only after a grace period;
 * see device.c). Its kernel fields are read once each (the channel's
 * context writes them without a lock): a line is a snapshot of each
 * field, not of the channel as a whole. The region's shared memory is
 * the process's: only the parity of the turn words is read from it,
 * once each, and only counted.
 */

#include <linux/compiler.h>
#include <linux/debugfs.h>
#include <linux/pid.h>
#include <linux/pid_namespace.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/seq_file.h>

#include "debugfs.h"
#include "device.h"
#include "region.h"

struct kup_show_totals {
	unsigned int chans;
	unsigned long pages;
	u64 user_wakeups;
	u64 kernel_wakeups;
};

static const char *kup_show_state(struct kup_dev *dev, struct kup_region *r,
				  u32 err)
{
	if (err == ESHUTDOWN || READ_ONCE(dev->dead))
		return "shutdown";
	if (err)
		return "broken";
	if (READ_ONCE(r->dead))
		return "detached";
	return "attached";
}

/* One attached channel, one line. */
static void kup_show_chan(struct seq_file *m, struct kup_chan *ch,
			  struct kup_region *r, struct kup_show_totals *t)
	__must_hold(RCU)
{
	/* Statistics the channel's context counts without a lock. */
	u64 uwake = data_race(r->uwait_wakeups), kwake = data_race(r->kwait_wakeups);
	u32 err = READ_ONCE(r->error), uturns = 0, i;

	/* Odd turns are the process's (turn.h); nslots is our own. */
	for (i = 0; i < r->nslots; i++)
		uturns += READ_ONCE(kup_slot(r, i)->turn) & 1;
	seq_printf(m, "kup-chan:\tchan=%u gen=%llu pid=%d slots=%u buf_size=%u pages=%lu state=%s error=%u kernel_turns=%u user_turns=%u user_wakeups=%llu kernel_wakeups=%llu\n",
		   ch->index, r->gen,
		   pid_nr_ns(r->pid, task_active_pid_ns(current)), r->nslots,
		   r->buf_size, r->npages, kup_show_state(ch->dev, r, err),
		   err, r->nslots - uturns, uturns, uwake, kwake);
	t->chans++;
	t->pages += r->npages;
	t->user_wakeups += uwake;
	t->kernel_wakeups += kwake;
}

/* The channels of dev attached through kf, or with kf NULL all of them. */
static void kup_show_chans(struct seq_file *m, struct kup_dev *dev,
			   struct kup_file *kf)
{
	struct kup_show_totals t = { 0 };
	struct kup_region *r;
	unsigned int i;

	seq_printf(m, "kup-dev:\t%s\n", dev->name);
	rcu_read_lock();
	for (i = 0; i < dev->nchan; i++) {
		r = rcu_dereference(dev->chans[i].region);
		if (r && (!kf || r->owner == kf))
			kup_show_chan(m, &dev->chans[i], r, &t);
	}
	rcu_read_unlock();
	seq_printf(m, "kup-channels:\t%u\n", t.chans);
	seq_printf(m, "kup-pinned-pages:\t%lu\n", t.pages);
	seq_printf(m, "kup-user-wakeups:\t%llu\n", t.user_wakeups);
	seq_printf(m, "kup-kernel-wakeups:\t%llu\n", t.kernel_wakeups);
}

/* show_fdinfo of a kup file: the channels it attached, and their totals. */
void kup_show_file(struct seq_file *m, struct kup_file *kf)
{
	kup_show_chans(m, kf->dev, kf);
}

static struct dentry *kup_debugfs_root;

/*
 * kup/<name>/channels. debugfs proxies the file's operations: a read
 * after kup_debugfs_dev_remove() fails with -EIO without calling us, and
 * the removal waits for the reads under way. So the device is alive here.
 */
static int kup_channels_show(struct seq_file *m, void *unused)
{
	struct kup_dev *dev = m->private;

	seq_printf(m, "kup-nchan:\t%u\n", dev->nchan);
	kup_show_chans(m, dev, NULL);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(kup_channels);

/* debugfs failures are not the device's: ignored, as everywhere. */
void kup_debugfs_dev_add(struct kup_dev *dev)
{
	dev->debugfs = debugfs_create_dir(dev->name, kup_debugfs_root);
	debugfs_create_file("channels", 0400, dev->debugfs, dev,
			    &kup_channels_fops);
}

void kup_debugfs_dev_remove(struct kup_dev *dev)
{
	debugfs_remove(dev->debugfs);
	dev->debugfs = NULL;
}

void kup_debugfs_init(void)
{
	kup_debugfs_root = debugfs_create_dir("kup", NULL);
}

void kup_debugfs_exit(void)
{
	debugfs_remove(kup_debugfs_root);
}
