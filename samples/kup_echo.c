// SPDX-License-Identifier: GPL-2.0
/*
 * kup_echo: a kup client whose kernel threads answer every message.
 *
 * /dev/kup_echo has nchan channels, served by kup's service loop
 * (kup_workers_start()): a kthread per channel, which runs echo_session()
 * for each attachment. On a ping-pong channel the worker holds the first
 * turn:
 * it sends a greeting, "kup_echo <chan>"; on a pipelined channel the
 * process holds the first turns. Then it echoes every message back
 * unchanged, with kup_serve(), copying it from the to_kernel buffer into
 * the to_user buffer. The kthreads are not the process's syscall context:
 * they reach the process's memory only through the kernel mapping kup
 * made of it.
 *
 * Commands for tests (a message that starts with them), obeyed only when
 * the module is loaded with test_commands=1 (otherwise they are echoed as
 * any message):
 *   "KUPECHO:HOLD"     keep the turn until the session ends, re-reading the
 *                      turn word every 20 ms: the process can then test
 *                      -EAGAIN, blocking, signals, shutdown, garbage;
 *   "KUPECHO:PARK"     hold the message until a test writes to
 *                      /sys/kernel/debug/kup_echo/resume (at most 60 s;
 *                      counted in "parked" first); then try a non-blocking
 *                      kup_recv() on the channel ("park_recv": its result,
 *                      or 1 if it took a message), check that the held
 *                      message still reads as before ("park_intact") and
 *                      echo it ("park_send": the result);
 *   "KUPECHO:HARDIRQ"  park as PARK; after the resume, echo from a hard-irq
 *                      hrtimer with KUP_NONBLOCK ("irq_send": the result);
 *   "KUPECHO:SOFTIRQ"  the same from a timer, in softirq ("soft_send");
 *   "KUPECHO:SCRIBBLE" park as PARK; after the resume, write 0xa5 over the
 *                      rest of the held message (a client may write what
 *                      it holds, late), count it in "scribbled", echo it;
 *   "KUPECHO:ENDSELF"  end the session itself (kup_end_session(), which
 *                      the service loop's session functions must not
 *                      do), then wait (at most 60 s) until the loop
 *                      accepted another attachment, and return: the
 *                      loop must not end that next session;
 *   "KUPECHO:DELAY"    echo after 50 ms, so that the process is asleep
 *                      (in a kup wait, poll, epoll or io_uring) first;
 *   "KUPECHO:NBPROBE"  echo, then from a timer (softirq context) try
 *                      kup_recv(), kup_send() and kup_serve() with
 *                      KUP_NONBLOCK while the process holds the turn; the
 *                      results show in the stats as nb_recv, nb_send and
 *                      nb_serve;
 *   "KUPECHO:CALLS"    echo, and answer the rest of the session with
 *                      kup_recv_batch() and kup_send_batch() instead of
 *                      kup_serve();
 *   "KUPECHO:STOP"     echo; kup_serve() returns after it (its handler
 *                      says KUP_SERVE_STOP) and is called again;
 *   "KUPECHO:OVERSIZE" kup_serve()'s handler answers with more than the
 *                      buffer holds: the session ends with -EMSGSIZE
 *                      (counted in other_errors), the message unanswered.
 * Counters for tests: /sys/kernel/debug/kup_echo/stats (not an ABI).
 */

#include <linux/atomic.h>
#include <linux/debugfs.h>
#include <linux/hrtimer.h>
#include <linux/delay.h>
#include <linux/kthread.h>
#include <linux/kup.h>
#include <linux/module.h>
#include <linux/percpu.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/wait.h>

#define ECHO_CMD		"KUPECHO:"	/* what every command starts with */
#define ECHO_CMD_HOLD		"KUPECHO:HOLD"
#define ECHO_CMD_NBPROBE	"KUPECHO:NBPROBE"
#define ECHO_CMD_DELAY		"KUPECHO:DELAY"
#define ECHO_CMD_CALLS		"KUPECHO:CALLS"
#define ECHO_CMD_STOP		"KUPECHO:STOP"
#define ECHO_CMD_OVERSIZE	"KUPECHO:OVERSIZE"
#define ECHO_CMD_PARK		"KUPECHO:PARK"
#define ECHO_CMD_HARDIRQ	"KUPECHO:HARDIRQ"
#define ECHO_CMD_SOFTIRQ	"KUPECHO:SOFTIRQ"
#define ECHO_CMD_SCRIBBLE	"KUPECHO:SCRIBBLE"
#define ECHO_CMD_ENDSELF	"KUPECHO:ENDSELF"

/* Messages taken at once from a pipelined channel. */
#define ECHO_BATCH		16

static unsigned int nchan = 4;
module_param(nchan, uint, 0444);
MODULE_PARM_DESC(nchan, "Channels of /dev/kup_echo");

static unsigned int pages = 1024;
module_param(pages, uint, 0444);
MODULE_PARM_DESC(pages, "Largest buffer per direction, in pages");

static bool test_commands;
module_param(test_commands, bool, 0444);
MODULE_PARM_DESC(test_commands, "Obey the KUPECHO: commands of the selftests (off: echo every message)");

static bool test_stall_end;
module_param(test_stall_end, bool, 0644);
MODULE_PARM_DESC(test_stall_end, "Selftests: park at each session's end (with test_commands)");

static unsigned int spin_us = 500;
module_param(spin_us, uint, 0644);
MODULE_PARM_DESC(spin_us, "How long the kernel threads spin before they sleep, in microseconds (read at each attach)");

/* Per channel: what the commands of a session need. */
struct echo_worker {
	unsigned int chan;
	struct timer_list probe;
	struct completion probed;
	/* HARDIRQ, SOFTIRQ: the message a timer answers */
	struct hrtimer irq_timer;
	struct timer_list soft_timer;
	struct kup_msg irq_msg;
	/* the command echo_handle() left to echo_serve() */
	struct kup_msg cmd;
};

static struct kup_dev *echo_dev;
static struct kup_workers *echo_ws;
static struct echo_worker *echo_workers;
static struct dentry *echo_debugfs;

/* Per CPU: counting a message takes no atomic operation. */
static DEFINE_PER_CPU(u64, echo_messages);
static DEFINE_PER_CPU(u64, echo_bytes);
static atomic64_t echo_sessions;
static atomic64_t echo_errors[3];	/* ENOTCONN, protocol, other */
static atomic64_t echo_shutdowns;	/* sessions ended by -ESHUTDOWN */
static atomic_t echo_last_error;	/* how the last session ended */
static atomic64_t echo_nbprobes;
static atomic64_t echo_delays;
static atomic64_t echo_batched;		/* messages taken in batches of 2+ */
static atomic_t echo_nb_recv;
static atomic_t echo_nb_send;
static atomic_t echo_nb_serve;
/* PARK, HARDIRQ, SOFTIRQ: a hand-off with the test, and what followed */
static atomic64_t echo_parked;
static atomic_t echo_resumes;
static DECLARE_WAIT_QUEUE_HEAD(echo_resume_wq);
static atomic_t echo_park_recv;
static atomic_t echo_park_intact;
static atomic_t echo_park_send;
static atomic_t echo_irq_send;
static atomic_t echo_soft_send;
static atomic64_t echo_scribbled;

static void echo_count_error(int err)
{
	atomic_set(&echo_last_error, err);
	if (err == -ESHUTDOWN)
		atomic64_inc(&echo_shutdowns);
	if (err == -ENOTCONN)
		atomic64_inc(&echo_errors[0]);
	else if (err == -EPROTO || err == -EBADMSG)
		atomic64_inc(&echo_errors[1]);
	else if (err != -ESHUTDOWN && err != -EINTR)
		atomic64_inc(&echo_errors[2]);
}

/* kup_serve() handler of the softirq probe: echo, never hold. */
static int echo_plain(void *arg, const struct kup_msg *msg,
		      struct kup_msg *reply)
{
	return KUP_SERVE_NEXT;
}

/* Timer callback, softirq context: only KUP_NONBLOCK calls are allowed. */
static void echo_probe_fn(struct timer_list *t)
{
	struct echo_worker *w = timer_container_of(w, t, probe);
	const void *data;
	ssize_t len;

	len = kup_recv(echo_dev, w->chan, &data, KUP_NONBLOCK);
	if (len >= 0)
		kup_release(echo_dev, w->chan);
	atomic_set(&echo_nb_recv, len < 0 ? len : 0);
	atomic_set(&echo_nb_send, kup_send(echo_dev, w->chan, "x", 1,
					   KUP_NONBLOCK));
	atomic_set(&echo_nb_serve, kup_serve(echo_dev, w->chan, echo_plain,
					     NULL, KUP_NONBLOCK));
	atomic64_inc(&echo_nbprobes);
	complete(&w->probed);
}

/* Hard-irq hrtimer: answer the parked message, never sleeping. */
static enum hrtimer_restart echo_irq_fn(struct hrtimer *t)
{
	struct echo_worker *w = container_of(t, struct echo_worker, irq_timer);

	atomic_set(&echo_irq_send, kup_send(echo_dev, w->chan, w->irq_msg.data,
					    w->irq_msg.len, KUP_NONBLOCK));
	complete(&w->probed);
	return HRTIMER_NORESTART;
}

/* Timer callback, softirq context: the same. */
static void echo_soft_fn(struct timer_list *t)
{
	struct echo_worker *w = timer_container_of(w, t, soft_timer);

	atomic_set(&echo_soft_send, kup_send(echo_dev, w->chan,
					     w->irq_msg.data, w->irq_msg.len,
					     KUP_NONBLOCK));
	complete(&w->probed);
}

/* Keep the turn until this session ends. */
static int echo_hold(struct echo_worker *w)
{
	const void *data;
	ssize_t ret;

	kup_release(echo_dev, w->chan);
	while (!kthread_should_stop()) {
		/*
		 * Reads the turn word (garbage breaks the channel) and fails
		 * once the process detached; -EDEADLK: we still hold it.
		 */
		ret = kup_recv(echo_dev, w->chan, &data, KUP_NONBLOCK);
		if (ret != -EDEADLK)
			return ret < 0 ? ret : -EPROTO;
		schedule_timeout_interruptible(HZ / 50);
	}
	return -EINTR;
}

/*
 * Wait until a test writes to the "resume" file: at most 60 s, which a
 * test's own bounded waits stay well within even on a debug kernel under
 * emulation.
 */
static int echo_park(void)
{
	int seen = atomic_read(&echo_resumes);

	/* A resume written once the test sees us parked is not missed. */
	smp_mb__before_atomic();
	atomic64_inc(&echo_parked);
	if (!wait_event_timeout(echo_resume_wq,
				atomic_read(&echo_resumes) != seen ||
				kthread_should_stop(), 60 * HZ))
		return -ETIMEDOUT;
	return kthread_should_stop() ? -EINTR : 0;
}

/* FNV-1a over the message: did it change? */
static u32 echo_sum(const struct kup_msg *m)
{
	const u8 *p = m->data;
	u32 h = 2166136261U;
	size_t i;

	for (i = 0; i < m->len; i++)
		h = (h ^ p[i]) * 16777619U;
	return h;
}

/*
 * PARK: while we held the message, the process may have detached and
 * another attached the channel. Nothing of the new attachment may reach
 * us, and the held message must stay readable.
 */
static int echo_park_probe(struct echo_worker *w, const struct kup_msg *m)
{
	u32 sum = echo_sum(m);
	const void *data;
	ssize_t len;
	int ret;

	ret = echo_park();
	if (ret)
		return ret;
	len = kup_recv(echo_dev, w->chan, &data, KUP_NONBLOCK);
	atomic_set(&echo_park_recv, len < 0 ? len : 1);
	atomic_set(&echo_park_intact, echo_sum(m) == sum);
	ret = kup_send(echo_dev, w->chan, m->data, m->len, 0);
	atomic_set(&echo_park_send, ret);
	return ret;
}

/* SCRIBBLE: park, then write over the held message, then echo it. */
static int echo_scribble(struct echo_worker *w, const struct kup_msg *m)
{
	size_t n = strlen(ECHO_CMD_SCRIBBLE);
	int ret = echo_park();

	if (ret)
		return ret;
	/* The message is ours until we answer it, detached or not. */
	memset((void *)m->data + n, 0xa5, m->len - n);
	atomic64_inc(&echo_scribbled);
	return kup_send(echo_dev, w->chan, m->data, m->len, 0);
}

/* HARDIRQ, SOFTIRQ: park, then a timer answers with KUP_NONBLOCK. */
static int echo_timer_send(struct echo_worker *w, const struct kup_msg *m,
			   bool hard)
{
	int ret = echo_park();

	if (ret)
		return ret;
	w->irq_msg = *m;
	reinit_completion(&w->probed);
	if (hard)
		hrtimer_start(&w->irq_timer, ns_to_ktime(NSEC_PER_MSEC),
			      HRTIMER_MODE_REL_HARD);
	else
		mod_timer(&w->soft_timer, jiffies + 1);
	wait_for_completion(&w->probed);
	ret = atomic_read(hard ? &echo_irq_send : &echo_soft_send);
	if (!ret)
		this_cpu_inc(echo_messages);
	return ret;
}

static bool echo_is_cmd(const void *data, ssize_t len, const char *cmd)
{
	size_t n = strlen(cmd);

	return READ_ONCE(test_commands) && len >= n && !memcmp(data, cmd, n);
}

/* Echo a run of plain messages in one call; returns 0 or why it ends. */
static int echo_run(struct echo_worker *w, const struct kup_msg *m, int n)
{
	int ret, i;

	/* Reply from the request buffers themselves: zero-copy receive. */
	ret = kup_send_batch(echo_dev, w->chan, m, n, 0);
	if (ret < 0)
		return ret;
	/* We held every turn: a short batch means the channel broke. */
	if (ret < n)
		return -EPROTO;
	this_cpu_add(echo_messages, n);
	for (i = 0; i < n; i++)
		this_cpu_add(echo_bytes, m[i].len);
	return 0;
}

/* KUPECHO:ENDSELF: see the command list at the top. */
static int echo_end_self(struct echo_worker *w)
{
	u64 accepted = kup_workers_accepted(echo_ws);
	int i;

	kup_end_session(echo_dev, w->chan);
	for (i = 0; i < 3000 && kup_workers_accepted(echo_ws) == accepted &&
	     !kthread_should_stop(); i++)
		msleep(20);
	return -ENOTCONN;
}

/*
 * Answer one command message; returns 0 or why the session ends. *calls
 * is set when the rest of the session goes through the batch calls.
 */
static int echo_cmd(struct echo_worker *w, const struct kup_msg *m,
		    bool *calls)
{
	bool probe = echo_is_cmd(m->data, m->len, ECHO_CMD_NBPROBE);
	int ret;

	if (echo_is_cmd(m->data, m->len, ECHO_CMD_HOLD))
		return echo_hold(w);
	if (echo_is_cmd(m->data, m->len, ECHO_CMD_PARK))
		return echo_park_probe(w, m);
	if (echo_is_cmd(m->data, m->len, ECHO_CMD_HARDIRQ))
		return echo_timer_send(w, m, true);
	if (echo_is_cmd(m->data, m->len, ECHO_CMD_SOFTIRQ))
		return echo_timer_send(w, m, false);
	if (echo_is_cmd(m->data, m->len, ECHO_CMD_SCRIBBLE))
		return echo_scribble(w, m);
	if (echo_is_cmd(m->data, m->len, ECHO_CMD_ENDSELF))
		return echo_end_self(w);
	if (echo_is_cmd(m->data, m->len, ECHO_CMD_CALLS))
		*calls = true;
	if (echo_is_cmd(m->data, m->len, ECHO_CMD_DELAY)) {
		/* Counted first: a test can act while we hold it. */
		atomic64_inc(&echo_delays);
		msleep(50);
	}
	ret = echo_run(w, m, 1);
	if (ret || !probe)
		return ret;
	reinit_completion(&w->probed);
	mod_timer(&w->probe, jiffies + 1);
	wait_for_completion(&w->probed);
	return 0;
}

/*
 * kup_serve() handler: echo a plain message where it is (the reply is the
 * message); leave a command, which may sleep, to echo_serve().
 */
static int echo_handle(void *arg, const struct kup_msg *msg,
		       struct kup_msg *reply)
{
	struct echo_worker *w = arg;
	int ret = KUP_SERVE_NEXT;

	if (echo_is_cmd(msg->data, msg->len, ECHO_CMD_STOP)) {
		ret = KUP_SERVE_STOP;
	} else if (echo_is_cmd(msg->data, msg->len, ECHO_CMD_OVERSIZE)) {
		reply->len = SIZE_MAX;
		return KUP_SERVE_NEXT;
	} else if (echo_is_cmd(msg->data, msg->len, ECHO_CMD)) {
		w->cmd = *msg;
		return KUP_SERVE_HOLD;
	}
	this_cpu_inc(echo_messages);
	this_cpu_add(echo_bytes, msg->len);
	return ret;
}

/* Serve with kup_serve() until a command comes; returns 0 or an error. */
static int echo_serve_fast(struct echo_worker *w, bool *calls)
{
	int ret;

	w->cmd.data = NULL;
	ret = kup_serve(echo_dev, w->chan, echo_handle, w, 0);
	if (ret < 0)
		return ret;
	/* KUPECHO:STOP: nothing held, serve again. */
	return w->cmd.data ? echo_cmd(w, &w->cmd, calls) : 0;
}

/*
 * Serve with the batch calls until a command comes: every message waiting
 * is taken at once, and a run of plain messages is answered in one call,
 * with one wake-up check. Returns 0 or why the session ends.
 */
static int echo_serve_calls(struct echo_worker *w, bool *calls)
{
	struct kup_msg msgs[ECHO_BATCH];
	int ret = 0, n, i, j;

	n = kup_recv_batch(echo_dev, w->chan, msgs, ECHO_BATCH, 0);
	if (n < 0)
		return n;
	if (n > 1)
		atomic64_add(n, &echo_batched);
	for (i = 0; i < n && !ret; i = j) {
		/* A run of plain messages is answered in one call. */
		for (j = i; j < n && !echo_is_cmd(msgs[j].data, msgs[j].len,
						  ECHO_CMD); j++)
			;
		if (j > i) {
			ret = echo_run(w, &msgs[i], j - i);
			continue;
		}
		ret = echo_cmd(w, &msgs[i], calls);
		j = i + 1;
	}
	return ret;
}

/* Serve one attachment of w->chan until it ends; returns why. */
static int echo_serve(struct echo_worker *w)
{
	bool calls = false;
	char hello[32];
	ssize_t len;
	int ret;

	atomic64_inc(&echo_sessions);
	kup_dev_set_spin_us(echo_dev, READ_ONCE(spin_us));
	/* Ping-pong channels get a greeting: the kernel holds turn one. */
	ret = kup_chan_slots(echo_dev, w->chan);
	if (ret < 0)
		return ret;
	if (ret == 1) {
		len = scnprintf(hello, sizeof(hello), "kup_echo %u", w->chan);
		ret = kup_send(echo_dev, w->chan, hello, len, 0);
	} else {
		ret = 0;
	}
	while (!ret)
		ret = calls ? echo_serve_calls(w, &calls) :
			      echo_serve_fast(w, &calls);
	return ret;
}

/*
 * The session function of kup's service loop: serve one attachment of
 * chan until it ends; returns why. The loop then ends the session and
 * tells pollers the channel is free.
 */
static int echo_session(struct kup_dev *dev, unsigned int chan, void *arg)
{
	struct echo_worker *w = (struct echo_worker *)arg + chan;
	int ret = echo_serve(w);

	/* Selftests: stop here, before the session ends, until resumed. */
	if (READ_ONCE(test_commands) && READ_ONCE(test_stall_end))
		echo_park();
	echo_count_error(ret);
	if (READ_ONCE(test_commands))
		pr_info("channel %u: session ended: %d\n", chan, ret);
	return ret;
}

static int echo_stats_show(struct seq_file *m, void *v)
{
	u64 messages = 0, bytes = 0;
	int cpu;

	for_each_possible_cpu(cpu) {
		messages += per_cpu(echo_messages, cpu);
		bytes += per_cpu(echo_bytes, cpu);
	}
	seq_printf(m, "messages %llu\n", messages);
	seq_printf(m, "bytes %llu\n", bytes);
	seq_printf(m, "sessions %lld\n", atomic64_read(&echo_sessions));
	seq_printf(m, "enotconn %lld\n", atomic64_read(&echo_errors[0]));
	seq_printf(m, "eproto %lld\n", atomic64_read(&echo_errors[1]));
	seq_printf(m, "other_errors %lld\n", atomic64_read(&echo_errors[2]));
	seq_printf(m, "shutdowns %lld\n", atomic64_read(&echo_shutdowns));
	seq_printf(m, "last_error %d\n", atomic_read(&echo_last_error));
	seq_printf(m, "nbprobes %lld\n", atomic64_read(&echo_nbprobes));
	seq_printf(m, "delays %lld\n", atomic64_read(&echo_delays));
	seq_printf(m, "batched %lld\n", atomic64_read(&echo_batched));
	seq_printf(m, "nb_recv %d\n", atomic_read(&echo_nb_recv));
	seq_printf(m, "nb_send %d\n", atomic_read(&echo_nb_send));
	seq_printf(m, "nb_serve %d\n", atomic_read(&echo_nb_serve));
	seq_printf(m, "parked %lld\n", atomic64_read(&echo_parked));
	seq_printf(m, "park_recv %d\n", atomic_read(&echo_park_recv));
	seq_printf(m, "park_intact %d\n", atomic_read(&echo_park_intact));
	seq_printf(m, "park_send %d\n", atomic_read(&echo_park_send));
	seq_printf(m, "irq_send %d\n", atomic_read(&echo_irq_send));
	seq_printf(m, "soft_send %d\n", atomic_read(&echo_soft_send));
	seq_printf(m, "scribbled %lld\n", atomic64_read(&echo_scribbled));
	seq_printf(m, "accepted %llu\n", kup_workers_accepted(echo_ws));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(echo_stats);

/* Any write resumes the parked worker (see ECHO_CMD_PARK). */
static ssize_t echo_resume_write(struct file *file, const char __user *buf,
				 size_t count, loff_t *ppos)
{
	atomic_inc(&echo_resumes);
	wake_up_all(&echo_resume_wq);
	return count;
}

static const struct file_operations echo_resume_fops = {
	.owner = THIS_MODULE,
	.write = echo_resume_write,
	.llseek = noop_llseek,
};

/* Once the threads are stopped: no timer of a command may still run. */
static void echo_stop_timers(void)
{
	unsigned int i;

	for (i = 0; i < nchan; i++) {
		timer_delete_sync(&echo_workers[i].probe);
		timer_delete_sync(&echo_workers[i].soft_timer);
		hrtimer_cancel(&echo_workers[i].irq_timer);
	}
}

static int __init echo_init(void)
{
	unsigned int i;
	int ret;

	if (!nchan || nchan > KUP_MAX_CHANNELS)
		return -EINVAL;
	echo_workers = kcalloc(nchan, sizeof(*echo_workers), GFP_KERNEL);
	if (!echo_workers)
		return -ENOMEM;
	echo_dev = kup_dev_create("kup_echo", nchan, pages);
	if (IS_ERR(echo_dev)) {
		ret = PTR_ERR(echo_dev);
		goto err_free;
	}
	kup_dev_set_spin_us(echo_dev, spin_us);

	for (i = 0; i < nchan; i++) {
		struct echo_worker *w = &echo_workers[i];

		w->chan = i;
		init_completion(&w->probed);
		timer_setup(&w->probe, echo_probe_fn, 0);
		timer_setup(&w->soft_timer, echo_soft_fn, 0);
		hrtimer_setup(&w->irq_timer, echo_irq_fn, CLOCK_MONOTONIC,
			      HRTIMER_MODE_REL_HARD);
	}
	echo_ws = kup_workers_start(echo_dev, echo_session, echo_workers,
				    "kup_echo");
	if (IS_ERR(echo_ws)) {
		ret = PTR_ERR(echo_ws);
		goto err_destroy;
	}
	echo_debugfs = debugfs_create_dir("kup_echo", NULL);
	debugfs_create_file("stats", 0444, echo_debugfs, NULL,
			    &echo_stats_fops);
	debugfs_create_file("resume", 0200, echo_debugfs, NULL,
			    &echo_resume_fops);
	return 0;

err_destroy:
	kup_dev_destroy(echo_dev);
err_free:
	kfree(echo_workers);
	return ret;
}

static void __exit echo_exit(void)
{
	debugfs_remove(echo_debugfs);
	/* Shut down, stop the threads (each session ended), then destroy. */
	kup_workers_stop(echo_ws);
	echo_stop_timers();
	kup_dev_destroy(echo_dev);
	kfree(echo_workers);
}

module_init(echo_init);
module_exit(echo_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("The kup maintainers");
MODULE_IMPORT_NS("KUP");
MODULE_DESCRIPTION("kup echo service: kernel threads answer every message");
MODULE_VERSION(KUP_VERSION);
