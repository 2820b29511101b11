/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * kernproxy.h: the FreeBSD KUP user API (its libkup) over lib/kup.h, so
 * that KUP programs build unchanged; the kernel side's counterpart is
 * driver/kupdev.c (the kupdev_* names). #include <kup.h> alone is the
 * native library and defines none of these names.
 *
 *	void *h = kernproxy_open("kup_rot13");
 *	void *c = kernproxy_channel(h, 0, 1);	// channel 0, one page
 *	kernproxy_receive(c, 0);		// the kernel's first turn
 *	kernproxy_send(c, msg, len, 0);
 *	reply = kernproxy_receive(c, 0);
 *	kernproxy_close(h);
 *
 * Handles are struct kup_device / struct kup_channel pointers. Errors:
 * NULL or a negative errno; kernproxy_error() tells the last one.
 */
#ifndef KUP_KERNPROXY_H
#define KUP_KERNPROXY_H

#include <kup.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KP_NB		1
#define EKU_SHUTDOWN	0x4b5501	/* the kernel module is shutting down */
#define EKU_NOTREADY	0x4b5502	/* no device, no free channel, not our turn */

KUPLIB_INLINE void kupi_kernproxy_set_error(struct kup_device *dev, int err)
{
	int e = -err;

	if (e == ESHUTDOWN)
		e = EKU_SHUTDOWN;
	else if (e == ENOENT || e == ENODEV || e == EBUSY || e == EAGAIN ||
		 e == ENOTCONN)
		e = EKU_NOTREADY;
	kup_write_once(&dev->error, e);
}

KUPLIB_INLINE void *kernproxy_open(char const *name)
{
	struct kup_device *dev = NULL;
	int ret = kup_open(name, &dev);

	if (ret) {
		errno = -ret;
		return NULL;
	}
	return dev;
}

/* Attach channel chan_id if free, else the next free one; size in pages. */
KUPLIB_INLINE void *kernproxy_channel(void *handle, size_t chan_id,
				      size_t size)
{
	struct kup_device *dev = (struct kup_device *)handle;
	struct kup_channel *ch = NULL;
	size_t bytes;
	int ret;

	if (!dev)
		return NULL;
	bytes = size ? size * (size_t)dev->info.page_size : 0;
	if (size && bytes / size != (size_t)dev->info.page_size) {
		kupi_kernproxy_set_error(dev, -EINVAL);
		return NULL;
	}
	ret = -EBUSY;
	if (chan_id < dev->info.nchan)
		ret = kup_chan_attach(dev, (uint32_t)chan_id, bytes, 0, &ch);
	if (ret == -EBUSY)
		ret = kup_chan_attach(dev, KUP_CHAN_ANY, bytes, 0, &ch);
	if (ret) {
		kupi_kernproxy_set_error(dev, ret);
		return NULL;
	}
	return ch;
}

KUPLIB_INLINE void *kernproxy_receive(void *chan, int flags)
{
	struct kup_channel *ch = (struct kup_channel *)chan;
	const void *data = NULL;
	ssize_t len;

	len = kup_recv(ch, &data, (flags & KP_NB) ? KUP_NONBLOCK : 0);
	if (len < 0) {
		kupi_kernproxy_set_error(ch->dev, (int)len);
		return NULL;
	}
	return (void *)data;
}

KUPLIB_INLINE int kernproxy_send(void *chan, void *data, size_t len,
				 int flags)
{
	struct kup_channel *ch = (struct kup_channel *)chan;
	int ret;

	ret = kup_send(ch, data, len, (flags & KP_NB) ? KUP_NONBLOCK : 0);
	if (ret)
		kupi_kernproxy_set_error(ch->dev, ret);
	return ret;
}

/* Close the device and every channel opened on it. */
KUPLIB_INLINE void kernproxy_close(void *handle)
{
	kup_close((struct kup_device *)handle);
}

KUPLIB_INLINE int kernproxy_error(void *handle)
{
	struct kup_device *dev = (struct kup_device *)handle;

	return dev ? kup_read_once(&dev->error) : EINVAL;
}

#ifdef __cplusplus
}
#endif

#endif /* KUP_KERNPROXY_H */
