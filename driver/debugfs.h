/* SPDX-License-Identifier: GPL-2.0 */
/*
 * debugfs.c: what a kup device and its files show of themselves: the
 * fdinfo of a kup file, and /sys/kernel/debug/kup/<name>/.
 */
#ifndef _KUP_DEBUGFS_H
#define _KUP_DEBUGFS_H

struct kup_dev;
struct kup_file;
struct seq_file;

void kup_show_file(struct seq_file *m, struct kup_file *kf);
void kup_debugfs_dev_add(struct kup_dev *dev);
void kup_debugfs_dev_remove(struct kup_dev *dev);
void kup_debugfs_init(void);
void kup_debugfs_exit(void);

#endif /* _KUP_DEBUGFS_H */
