// SPDX-License-Identifier: GPL-2.0
/*
 * The FreeBSD KUP kernel API (kupdev/kupdev.h) over the native one, so
 * that KUP client modules build unchanged. Sizes are in pages, channel
 * ids are int, failures are NULL or a negative errno, and every call but
 * kupdev_notify() may block, as in KUP.
 */

#include <linux/err.h>
#include <linux/kup.h>
#include <linux/module.h>
#include <linux/nospec.h>
#include <linux/overflow.h>
#include <linux/slab.h>

#include "chan.h"
#include "device.h"

/*
 * flat[]: per channel, the kernel's own copy of the message kupdev_receive()
 * returned, a buffer's size plus a NUL (see __kup_recv_flat()).
 */
struct kupdev_softc {
	struct kup_dev *dev;
	size_t nchan;
	void *flat[];
};

static void kupdev_free(struct kupdev_softc *sc)
{
	size_t i;

	for (i = 0; i < sc->nchan; i++)
		kvfree(sc->flat[i]);
	kfree(sc);
}

struct kupdev_softc *kupdev_create(const char *name, size_t size,
				   size_t chan_cnt)
{
	struct kupdev_softc *sc;
	size_t i;

	if (size > KUP_MAX_BUF_PAGES || chan_cnt > KUP_MAX_CHANNELS)
		return NULL;
	sc = kzalloc(struct_size(sc, flat, chan_cnt), GFP_KERNEL);
	if (!sc)
		return NULL;
	sc->nchan = chan_cnt;
	for (i = 0; size && i < chan_cnt; i++) {
		sc->flat[i] = kvmalloc(size * PAGE_SIZE + 1, GFP_KERNEL);
		if (!sc->flat[i]) {
			kupdev_free(sc);
			return NULL;
		}
	}
	sc->dev = __kup_dev_create(name, chan_cnt, size, true);
	if (IS_ERR(sc->dev)) {
		pr_warn("%s(%s): %ld\n", __func__, name, PTR_ERR(sc->dev));
		kupdev_free(sc);
		return NULL;
	}
	return sc;
}
EXPORT_SYMBOL_NS_GPL(kupdev_create, "KUP");

int kupdev_wait_channel(struct kupdev_softc *sc)
{
	return kup_wait_channel(sc->dev, 0);
}
EXPORT_SYMBOL_NS_GPL(kupdev_wait_channel, "KUP");

/*
 * Shuts the device down and frees it. As with kup_dev_destroy(), no
 * thread may be inside a call on @sc or call it afterwards: stop the
 * client's kernel threads first, with kthread_stop(), as kup_rot13 does
 * (a kup wait returns when its kthread is told to stop), then unload.
 */
int kupdev_unload(struct kupdev_softc *sc)
{
	if (!sc)
		return -EINVAL;
	kup_dev_destroy(sc->dev);
	kupdev_free(sc);
	return 0;
}
EXPORT_SYMBOL_NS_GPL(kupdev_unload, "KUP");

void kupdev_notify(struct kupdev_softc *sc)
{
	kup_notify(sc->dev);
}
EXPORT_SYMBOL_NS_GPL(kupdev_notify, "KUP");

/*
 * The FreeBSD KUP API has no call that ends a session: a call that fails
 * because the process detached (or broke the channel) ends it, so that
 * kupdev_wait_channel() reports the channel's next attachment; calls after
 * that belong to it (see kup_wait_channel()).
 */
int kupdev_send(struct kupdev_softc *sc, void *data, size_t len, int chan_id)
{
	u64 s = __kup_session(sc->dev, chan_id);
	int ret = kup_send(sc->dev, chan_id, data, len, 0);

	__kup_session_failed(sc->dev, chan_id, s, ret);
	return ret;
}
EXPORT_SYMBOL_NS_GPL(kupdev_send, "KUP");

/*
 * KUP returns no length: the message comes in the kernel's own copy of
 * the channel's buffer, always followed by a NUL (see __kup_recv_flat()).
 */
void *kupdev_receive(struct kupdev_softc *sc, int chan_id)
{
	u64 s = __kup_session(sc->dev, chan_id);
	void *data, *flat = NULL;
	int ret;

	if (chan_id >= 0 && chan_id < sc->nchan)
		flat = sc->flat[array_index_nospec(chan_id, sc->nchan)];
	data = __kup_recv_flat(sc->dev, chan_id, flat, &ret);
	__kup_session_failed(sc->dev, chan_id, s, ret);
	return data;
}
EXPORT_SYMBOL_NS_GPL(kupdev_receive, "KUP");

void kupdev_unlock_channel(struct kupdev_softc *sc, int chan_id)
{
	kup_release(sc->dev, chan_id);
}
EXPORT_SYMBOL_NS_GPL(kupdev_unlock_channel, "KUP");

void kupdev_pass(struct kupdev_softc *sc, int chan_id)
{
	u64 s = __kup_session(sc->dev, chan_id);

	__kup_session_failed(sc->dev, chan_id, s,
			     kup_pass(sc->dev, chan_id, 0));
}
EXPORT_SYMBOL_NS_GPL(kupdev_pass, "KUP");
