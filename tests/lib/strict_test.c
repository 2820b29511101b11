// SPDX-License-Identifier: GPL-2.0
/*
 * lib/kup.h in a strict ISO C11 program (no feature-test macro) that
 * includes system headers first: the fallbacks for O_CLOEXEC and
 * MAP_ANONYMOUS at work against the fake kernel. TAP output; exit 0 or 1.
 */
#include <stdio.h>
#include <string.h>

#include "fake_kernel.h"

#define KUPLIB_OPEN	fk_open
#define KUPLIB_CLOSE	fk_close
#define KUPLIB_IOCTL	fk_ioctl
#define KUPLIB_MMAP	fk_mmap
#include <kup.h>

static int failed;

#define EXPECT(cond)							\
	do {								\
		if (!(cond)) {						\
			printf("# %s:%d: %s\n", __FILE__, __LINE__,	\
			       #cond);					\
			failed = 1;					\
		}							\
	} while (0)

int main(void)
{
	struct fk_config cfg;
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;
	const void *d = NULL;
	struct fk_dev *fk;
	int i;

	printf("TAP version 13\n1..1\n");
	memset(&cfg, 0, sizeof(cfg));
	cfg.name = "strict0";
	cfg.nchan = 2;
	cfg.max_buf = 4 * 4096;
	cfg.min_buf = KUP_LINE_SIZE;
	fk = fk_dev_create(&cfg);
	EXPECT(fk != NULL);
	EXPECT(kup_open("strict0", &dev) == 0);
	if (dev) {
		EXPECT(fcntl(kup_fd(dev), F_GETFD) & FD_CLOEXEC);
		for (i = 0; i < 3; i++) {
			EXPECT(kup_chan_attach(dev, 0, 1000, 0, &ch) == 0);
			if (!ch)
				break;
			EXPECT(kup_chan_buf_size(ch) == 1024);
			/* No kernel thread: the kernel keeps the turn. */
			EXPECT(kup_recv(ch, &d, KUP_NONBLOCK) == -EAGAIN);
			EXPECT(kup_chan_close(ch) == 0);
		}
		kup_close(dev);
	}
	fk_dev_destroy(fk);
	EXPECT(fk_failures() == 0);
	printf("%sok 1 strict_c11_fallbacks\n", failed ? "not " : "");
	printf("%d passed, %d failed, 0 skipped\n", !failed, failed);
	return failed;
}
