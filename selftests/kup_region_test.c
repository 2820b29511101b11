// SPDX-License-Identifier: GPL-2.0
/*
 * kup foundation tests: attaching user memory, what the kernel pins and
 * charges for it, the header it writes, every refused input with its
 * errno, and what happens when the process goes away or unmaps the
 * memory while the kernel still has it. Needs kup.ko and kup_echo.ko.
 */
#include "kup_test.h"

#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "kselftest_harness.h"

FIXTURE(region) {
	int fd;
	struct kup_info info;
	size_t page;
	long pins0;
};

FIXTURE_SETUP(region)
{
	self->fd = open(ECHO_PATH, O_RDWR | O_CLOEXEC);
	if (self->fd < 0 && errno == ENOENT)
		SKIP(return, "%s: %s (load kup.ko and kup_echo.ko)", ECHO_PATH,
		     strerror(errno));
	ASSERT_LE(0, self->fd) TH_LOG("%s: %s", ECHO_PATH, strerror(errno));
	ASSERT_EQ(0, ioctl(self->fd, KUP_IOC_INFO, &self->info));
	self->page = sysconf(_SC_PAGESIZE);
	self->pins0 = pins_held();
}

FIXTURE_TEARDOWN(region)
{
	if (self->fd >= 0)
		close(self->fd);
}

static int attach(int fd, void *addr, size_t len, __u32 chan, __u32 *out)
{
	struct kup_attach a;

	memset(&a, 0, sizeof(a));
	a.addr = (uintptr_t)addr;
	a.len = len;
	a.chan = chan;
	if (ioctl(fd, KUP_IOC_ATTACH, &a) < 0)
		return -errno;
	if (out)
		*out = a.chan;
	return 0;
}

static int detach(int fd, __u32 chan)
{
	struct kup_chan_req r;

	memset(&r, 0, sizeof(r));
	r.chan = chan;
	return ioctl(fd, KUP_IOC_DETACH, &r) < 0 ? -errno : 0;
}

/* The offset of the first byte of p[0, len) that is not c, or -1. */
static long check_byte(const void *p, size_t len, unsigned char c)
{
	const unsigned char *b = (const unsigned char *)p;
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i] != c)
			return (long)i;
	return -1;
}

static void *alloc_region(size_t len)
{
	void *p = NULL;

	if (posix_memalign(&p, sysconf(_SC_PAGESIZE), len))
		return NULL;
	memset(p, 0, len);
	return p;
}

TEST_F(region, info)
{
	EXPECT_EQ(KUP_ABI_VERSION, self->info.abi_version);
	EXPECT_GE(self->info.nchan, 2);
	EXPECT_EQ(KUP_MAX_SLOTS, self->info.nslots);
	EXPECT_EQ(self->page, self->info.page_size);
	EXPECT_EQ(0, self->info.max_buf_size % self->page);
	EXPECT_LE(self->info.min_buf_size, self->info.max_buf_size);
	EXPECT_EQ(self->page + 2ULL * self->info.max_buf_size,
		  self->info.region_size);
	EXPECT_EQ(0, self->info.reserved0);
	EXPECT_EQ(KUP_FEATURES, self->info.features);
	EXPECT_EQ(0, self->info.reserved);
}

/* One page: the control block and two small buffers share it. */
TEST_F(region, attach_one_page)
{
	const struct kup_region_hdr *h;
	const struct kup_kstate *ks;
	const struct kup_slot *slot;
	void *mem = alloc_region(self->page);
	__u32 chan = 99;

	ASSERT_NE(NULL, mem);
	ASSERT_EQ(0, attach(self->fd, mem, self->page, KUP_CHAN_ANY, &chan));
	ASSERT_LT(chan, self->info.nchan);
	EXPECT_EQ(self->pins0 + 1, pins_held());

	h = (const struct kup_region_hdr *)mem;
	EXPECT_EQ(KUP_REGION_MAGIC, h->magic);
	EXPECT_EQ(KUP_ABI_VERSION, h->abi_version);
	EXPECT_EQ(sizeof(*h), h->hdr_size);
	EXPECT_EQ(chan, h->chan);
	EXPECT_EQ(1, h->nslots);
	EXPECT_EQ(KUP_LINE_SIZE, h->line_size);
	EXPECT_LE(h->region_size, self->page);
	EXPECT_GE(h->buf_size, KUP_LINE_SIZE);
	EXPECT_EQ(0, h->buf_size % KUP_LINE_SIZE);
	EXPECT_LE(h->to_user_off + h->buf_size, h->region_size);
	EXPECT_GE(h->to_user_off, h->to_kernel_off + h->buf_size);
	/* Parts written by different sides never share a line. */
	EXPECT_EQ(0, h->kstate_off % KUP_LINE_SIZE);
	EXPECT_EQ(0, h->ustate_off % KUP_LINE_SIZE);
	EXPECT_EQ(0, h->slot_off % KUP_LINE_SIZE);
	EXPECT_NE(h->kstate_off / KUP_LINE_SIZE, h->ustate_off / KUP_LINE_SIZE);
	EXPECT_NE(h->slot_off / KUP_LINE_SIZE, h->ustate_off / KUP_LINE_SIZE);

	ks = (const struct kup_kstate *)((char *)mem + h->kstate_off);
	slot = (const struct kup_slot *)((char *)mem + h->slot_off);
	EXPECT_EQ(KUP_STATE_ATTACHED, ks->state);
	/* Turn 0 (kernel) or 1 if the echo thread already greeted. */
	EXPECT_LE(__atomic_load_n(&slot->turn, __ATOMIC_ACQUIRE), 1);

	ASSERT_EQ(0, detach(self->fd, chan));
	EXPECT_EQ(self->pins0, pins_wait(self->pins0, 5000));
	EXPECT_EQ(KUP_STATE_DETACHED, ks->state);
	free(mem);
}

/* Several MiB: every page of the layout is pinned and charged. */
TEST_F(region, attach_several_mib)
{
	size_t len = self->info.region_size;
	long npages = len / self->page;
	long lck0 = vm_pinned_kb();
	const struct kup_region_hdr *h;
	void *mem;
	__u32 chan = 0;

	ASSERT_GE(len, 2 << 20) TH_LOG("kup_echo buffers too small: %zu", len);
	mem = alloc_region(len);
	ASSERT_NE(NULL, mem);
	ASSERT_EQ(0, attach(self->fd, mem, len, KUP_CHAN_ANY, &chan));
	h = (const struct kup_region_hdr *)mem;
	EXPECT_EQ(len, h->region_size);
	EXPECT_EQ(self->info.max_buf_size, h->buf_size);
	EXPECT_EQ(0, h->to_kernel_off % self->page);
	EXPECT_EQ(self->pins0 + npages, pins_held());
	EXPECT_EQ(lck0 + npages * (long)(self->page / 1024), vm_pinned_kb());

	ASSERT_EQ(0, detach(self->fd, chan));
	EXPECT_EQ(self->pins0, pins_wait(self->pins0, 5000));
	EXPECT_EQ(lck0, vm_pinned_kb());
	free(mem);
}

/* An odd length: the kernel uses whole buffers inside it, never beyond. */
TEST_F(region, attach_odd_size)
{
	size_t lens[] = { 3 * self->page + 123, self->page + 100,
			  5 * self->page - 1 };
	unsigned int i;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t len = lens[i];
		unsigned char *mem = (unsigned char *)alloc_region(len + 64);
		const struct kup_region_hdr *h;
		__u32 chan = 0;

		ASSERT_NE(NULL, mem);
		memset(mem + len, 0xa5, 64);	/* canary past the end */
		ASSERT_EQ(0, attach(self->fd, mem, len, KUP_CHAN_ANY, &chan));
		h = (const struct kup_region_hdr *)mem;
		EXPECT_LE(h->region_size, len);
		EXPECT_LE(h->to_user_off + h->buf_size, len);
		EXPECT_EQ(self->pins0 + region_pages(mem), pins_held());
		ASSERT_EQ(0, detach(self->fd, chan));
		EXPECT_EQ(self->pins0, pins_wait(self->pins0, 5000));
		for (size_t j = 0; j < 64; j++)
			ASSERT_EQ(0xa5, mem[len + j]);
		free(mem);
	}
}

/*
 * The proof: a kernel thread of kup_echo, not this process's syscall
 * context, reads what we write and writes what we read.
 */
TEST_F(region, kthread_sees_user_writes)
{
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;
	const void *reply;
	char hello[32];
	unsigned long n;
	ssize_t len;

	ASSERT_EQ(0, kup_open(ECHO_NAME, &dev));
	ASSERT_EQ(0, kup_chan_attach(dev, KUP_CHAN_ANY, 3000, 0, &ch));
	/* At least what we asked for; the region is whole pages. */
	EXPECT_LE(3000, kup_chan_buf_size(ch));

	/* The kernel holds the first turn and greets. */
	len = kup_recv(ch, &reply, 0);
	snprintf(hello, sizeof(hello), "kup_echo %u", kup_chan_index(ch));
	ASSERT_EQ((ssize_t)strlen(hello), len);
	EXPECT_EQ(0, memcmp(hello, reply, len));

	for (n = 0; n < 200; n++) {
		size_t size = 1 + (n * 37) % kup_chan_buf_size(ch);

		fill(ch->to_kernel, size, n);
		ASSERT_EQ(0, kup_send_commit(ch, size));
		len = kup_recv(ch, &reply, 0);
		ASSERT_EQ((ssize_t)size, len);
		/*
		 * The reply is in the other buffer, or for a small message in
		 * the slot's line: the kthread wrote it either way.
		 */
		if (size > KUP_INLINE_MAX) {
			ASSERT_EQ((const void *)ch->to_user, reply);
		} else {
			ASSERT_EQ((const void *)ch->slots->data, reply);
		}
		ASSERT_EQ(-1, check(reply, size, n));
	}
	EXPECT_EQ(0, kup_chan_close(ch));
	kup_close(dev);
	EXPECT_EQ(self->pins0, pins_wait(self->pins0, 5000));
}

/*
 * A buffer size named at attach: rounded up to a line, laid out as
 * kup_region_size() says, written back; one line less does not fit.
 */
TEST_F(region, named_buffer_size)
{
	static const struct { __u32 nslots, want, got; } cases[] = {
		{ 1, 5000, 5120 }, { 1, 4097, 4224 }, { 64, 3000, 3072 },
		{ 2, 1, 128 }, { 1, 4096, 4096 },
	};
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = kup_region_size(cases[i].nslots, cases[i].got,
					     self->page);
		const struct kup_region_hdr *h;
		struct kup_attach a;
		struct kup_chan_req r;
		void *mem;

		len = (len + self->page - 1) / self->page * self->page;
		mem = alloc_region(len);
		ASSERT_NE(NULL, mem);
		memset(&a, 0, sizeof(a));
		a.addr = (uintptr_t)mem;
		a.len = len;
		a.chan = KUP_CHAN_ANY;
		a.nslots = cases[i].nslots;
		a.buf_size = cases[i].want;
		ASSERT_EQ(0, ioctl(self->fd, KUP_IOC_ATTACH, &a))
			TH_LOG("case %u: %s", i, strerror(errno));
		h = (const struct kup_region_hdr *)mem;
		EXPECT_EQ(cases[i].got, a.buf_size) TH_LOG("case %u", i);
		EXPECT_EQ(cases[i].got, h->buf_size) TH_LOG("case %u", i);
		EXPECT_EQ(kup_region_size(cases[i].nslots, cases[i].got,
					  self->page), h->region_size);
		memset(&r, 0, sizeof(r));
		r.chan = a.chan;
		ASSERT_EQ(0, ioctl(self->fd, KUP_IOC_DETACH, &r));
		free(mem);
		/* One line short of what the layout needs. */
		len = kup_region_size(cases[i].nslots, cases[i].got,
				      self->page) - KUP_LINE_SIZE;
		mem = alloc_region(len + self->page);
		ASSERT_NE(NULL, mem);
		a.addr = (uintptr_t)mem;
		a.len = len & ~(__u64)(self->page - 1);
		a.chan = KUP_CHAN_ANY;
		a.buf_size = cases[i].want;
		EXPECT_EQ(-1, ioctl(self->fd, KUP_IOC_ATTACH, &a))
			TH_LOG("case %u", i);
		EXPECT_EQ(EINVAL, errno);
		free(mem);
	}
}

TEST_F(region, unknown_ioctl)
{
	EXPECT_EQ(-1, ioctl(self->fd, _IO(KUP_IOC_MAGIC, 0x7f)));
	EXPECT_EQ(ENOTTY, errno);
	EXPECT_EQ(-1, ioctl(self->fd, _IOWR('x', 1, struct kup_attach), 0));
	EXPECT_EQ(ENOTTY, errno);
	/* Right number, wrong size: a different command. */
	EXPECT_EQ(-1, ioctl(self->fd, _IOWR(KUP_IOC_MAGIC, 0x01, __u64), 0));
	EXPECT_EQ(ENOTTY, errno);
}

TEST_F(region, bad_pointer)
{
	EXPECT_EQ(-1, ioctl(self->fd, KUP_IOC_ATTACH, (void *)8));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-1, ioctl(self->fd, KUP_IOC_INFO, (void *)8));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-1, ioctl(self->fd, KUP_IOC_DETACH, (void *)8));
	EXPECT_EQ(EFAULT, errno);
}

TEST_F(region, bad_arguments)
{
	void *mem = alloc_region(4 * self->page);
	struct kup_attach a;
	struct kup_chan_req r;

	ASSERT_NE(NULL, mem);
	/* Reserved fields and flags must be zero. */
	memset(&a, 0, sizeof(a));
	a.addr = (uintptr_t)mem;
	a.len = 4 * self->page;
	a.chan = KUP_CHAN_ANY;
	a.flags = 1;
	EXPECT_EQ(-1, ioctl(self->fd, KUP_IOC_ATTACH, &a));
	EXPECT_EQ(EINVAL, errno);
	a.flags = 0;
	a.reserved = 1;
	EXPECT_EQ(-1, ioctl(self->fd, KUP_IOC_ATTACH, &a));
	EXPECT_EQ(EINVAL, errno);
	a.reserved = 0;
	/* A buffer size beyond the device's largest, or that does not fit. */
	a.buf_size = self->info.max_buf_size + 1;
	EXPECT_EQ(-1, ioctl(self->fd, KUP_IOC_ATTACH, &a));
	EXPECT_EQ(EINVAL, errno);
	a.buf_size = 0xffffffff;
	EXPECT_EQ(-1, ioctl(self->fd, KUP_IOC_ATTACH, &a));
	EXPECT_EQ(EINVAL, errno);
	a.buf_size = 2 * self->page;
	EXPECT_EQ(-1, ioctl(self->fd, KUP_IOC_ATTACH, &a));
	EXPECT_EQ(EINVAL, errno);
	/* Slots: at most KUP_MAX_SLOTS, and they must fit. */
	a.buf_size = 0;
	a.nslots = KUP_MAX_SLOTS + 1;
	EXPECT_EQ(-1, ioctl(self->fd, KUP_IOC_ATTACH, &a));
	EXPECT_EQ(EINVAL, errno);
	a.nslots = KUP_MAX_SLOTS;
	a.len = self->page;
	EXPECT_EQ(-1, ioctl(self->fd, KUP_IOC_ATTACH, &a));
	EXPECT_EQ(EINVAL, errno);
	a.nslots = 0;
	/* Alignment, length bounds, overflow, channel index. */
	EXPECT_EQ(-EINVAL, attach(self->fd, (char *)mem + 8, 2 * self->page,
				  KUP_CHAN_ANY, NULL));
	EXPECT_EQ(-EINVAL, attach(self->fd, mem, self->page - 1, KUP_CHAN_ANY,
				  NULL));
	EXPECT_EQ(-EINVAL, attach(self->fd, mem, 0, KUP_CHAN_ANY, NULL));
	EXPECT_EQ(-EINVAL, attach(self->fd, mem, (size_t)-self->page,
				  KUP_CHAN_ANY, NULL));
	EXPECT_EQ(-EINVAL, attach(self->fd, mem, 4 * self->page,
				  self->info.nchan, NULL));
	EXPECT_EQ(-EINVAL, attach(self->fd, mem, 4 * self->page,
				  KUP_CHAN_ANY - 1, NULL));
	/* Kernel addresses and holes: access_ok() and GUP refuse them. */
	EXPECT_EQ(-EFAULT, attach(self->fd, (void *)0xffff888000000000ULL,
				  4 * self->page, KUP_CHAN_ANY, NULL));
	EXPECT_EQ(-EFAULT, attach(self->fd, (void *)(uintptr_t)self->page,
				  4 * self->page, KUP_CHAN_ANY, NULL));
	/* Detach requests. */
	memset(&r, 0, sizeof(r));
	r.reserved = 1;
	EXPECT_EQ(-1, ioctl(self->fd, KUP_IOC_DETACH, &r));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-EINVAL, detach(self->fd, self->info.nchan));
	EXPECT_EQ(-ENOTCONN, detach(self->fd, 0));
	r.reserved = 0;
	r.flags = 1;
	EXPECT_EQ(-1, ioctl(self->fd, KUP_IOC_WAKE, &r));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(self->pins0, pins_held());
	free(mem);
}

TEST_F(region, unmapped_hole)
{
	size_t len = 8 * self->page;
	char *mem = (char *)mmap(NULL, len, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_NE(MAP_FAILED, mem);
	memset(mem, 1, len);
	/* A hole in the middle: the partial pin is undone. */
	ASSERT_EQ(0, munmap(mem + 4 * self->page, self->page));
	EXPECT_EQ(-EFAULT, attach(self->fd, mem, len, KUP_CHAN_ANY, NULL));
	EXPECT_EQ(self->pins0, pins_held());
	munmap(mem, len);
}

/* Attach len bytes at mem with nothing else to it: 0 or -errno. */
static int attach_detach(int fd, void *mem, size_t len)
{
	__u32 chan = 0;
	int ret = attach(fd, mem, len, KUP_CHAN_ANY, &chan);

	return ret ? ret : detach(fd, chan);
}

/* Attach len bytes registered with userfaultfd (missing mode). */
static int attach_uffd_registered(int fd, size_t len)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg;
	int uffd, ret = -ENOMEM;
	void *mem;

	mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return -ENOMEM;
	uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	memset(&reg, 0, sizeof(reg));
	reg.range.start = (uintptr_t)mem;
	reg.range.len = len;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	if (uffd >= 0 && !ioctl(uffd, UFFDIO_API, &api) &&
	    !ioctl(uffd, UFFDIO_REGISTER, &reg))
		ret = attach_detach(fd, mem, len);
	if (uffd >= 0)
		close(uffd);
	munmap(mem, len);
	return ret;
}

/*
 * The memory an attach accepts: anonymous private memory, shmem (memfd,
 * shared anonymous, a tmpfs file) and hugetlb. A file mapping of any other
 * filesystem (here ramfs; on disk filesystems the kernel would write page
 * cache behind the filesystem's back) is refused with EOPNOTSUPP, on every
 * kernel, even when only part of the range is such a mapping.
 */
TEST_F(region, memory_types)
{
	size_t len = 4 * self->page, huge = 2 << 20;
	char dir[] = "/tmp/kup-ramfs.XXXXXX", path[64];
	int mfd, rfd, tfd;
	char *mem;

	/* shmem: a memfd, shared anonymous memory, a tmpfs file. */
	mfd = memfd_create("kup", MFD_CLOEXEC);
	ASSERT_LE(0, mfd);
	ASSERT_EQ(0, ftruncate(mfd, len));
	mem = (char *)mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	ASSERT_NE(MAP_FAILED, mem);
	EXPECT_EQ(0, attach_detach(self->fd, mem, len));
	munmap(mem, len);
	close(mfd);
	mem = (char *)mmap(NULL, len, PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, mem);
	EXPECT_EQ(0, attach_detach(self->fd, mem, len));
	munmap(mem, len);

	/* hugetlb (the guest reserves huge pages). */
	mem = (char *)mmap(NULL, huge, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	ASSERT_NE(MAP_FAILED, mem) TH_LOG("MAP_HUGETLB: %s", strerror(errno));
	EXPECT_EQ(0, attach_detach(self->fd, mem, huge));
	munmap(mem, huge);

	/* A file on ramfs, shared and private: refused. */
	ASSERT_NE(NULL, mkdtemp(dir));
	ASSERT_EQ(0, mount("none", dir, "ramfs", 0, NULL));
	snprintf(path, sizeof(path), "%s/f", dir);
	rfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	ASSERT_LE(0, rfd);
	ASSERT_EQ(0, ftruncate(rfd, len));
	mem = (char *)mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, rfd, 0);
	ASSERT_NE(MAP_FAILED, mem);
	memset(mem, 1, len);
	EXPECT_EQ(-EOPNOTSUPP, attach_detach(self->fd, mem, len));
	munmap(mem, len);
	mem = (char *)mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, rfd,
			   0);
	ASSERT_NE(MAP_FAILED, mem);
	EXPECT_EQ(-EOPNOTSUPP, attach_detach(self->fd, mem, len));
	munmap(mem, len);

	/* Half anonymous, half the ramfs file: refused as a whole. */
	mem = (char *)mmap(NULL, 2 * len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, mem);
	ASSERT_NE(MAP_FAILED, mmap(mem + len, len, PROT_READ | PROT_WRITE,
				   MAP_SHARED | MAP_FIXED, rfd, 0));
	memset(mem, 1, 2 * len);
	EXPECT_EQ(-EOPNOTSUPP, attach_detach(self->fd, mem, 2 * len));
	EXPECT_EQ(0, attach_detach(self->fd, mem, len));
	munmap(mem, 2 * len);
	close(rfd);
	ASSERT_EQ(0, umount(dir));
	rmdir(dir);

	/* Memory registered with userfaultfd: refused. */
	EXPECT_EQ(-EOPNOTSUPP, attach_uffd_registered(self->fd, len));

	/* /dev/zero: a private map is anonymous, a shared one shmem. */
	rfd = open("/dev/zero", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, rfd);
	mem = (char *)mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE,
			   rfd, 0);
	ASSERT_NE(MAP_FAILED, mem);
	EXPECT_EQ(0, attach_detach(self->fd, mem, len));
	munmap(mem, len);
	mem = (char *)mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED,
			   rfd, 0);
	ASSERT_NE(MAP_FAILED, mem);
	EXPECT_EQ(0, attach_detach(self->fd, mem, len));
	munmap(mem, len);
	close(rfd);

	/* A tmpfs file is shmem: accepted. */
	snprintf(path, sizeof(path), "/tmp/kup-tmpfs.%d", getpid());
	tfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	ASSERT_LE(0, tfd);
	unlink(path);
	ASSERT_EQ(0, ftruncate(tfd, len));
	mem = (char *)mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, tfd, 0);
	ASSERT_NE(MAP_FAILED, mem);
	EXPECT_EQ(0, attach_detach(self->fd, mem, len));
	munmap(mem, len);
	close(tfd);
	EXPECT_EQ(self->pins0, pins_wait(self->pins0, 5000));
}

/*
 * An attach whose argument sits on a page that faults forever (here a
 * write-protected userfaultfd page: the kernel's copy back blocks) holds
 * no lock meanwhile: another process attaches and closes, and the client
 * module unloads, while it waits.
 */
struct uffd_attach {
	int fd;
	struct kup_attach *arg;
	volatile int ret;
};

static void *uffd_attacher(void *p)
{
	struct uffd_attach *u = (struct uffd_attach *)p;

	u->ret = ioctl(u->fd, KUP_IOC_ATTACH, u->arg) < 0 ? -errno : 0;
	return NULL;
}

/*
 * Run fn in a child process and wait for it at most 10 s: its exit code,
 * or -ETIMEDOUT (the child is left behind, blocked).
 */
static int child_bounded(int (*fn)(void))
{
	int status, i;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0)
		_exit(fn());
	for (i = 0; i < 10000; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -EINTR;
		usleep(1000);
	}
	return -ETIMEDOUT;
}

static int attach_and_close(void)
{
	size_t len = 2 * sysconf(_SC_PAGESIZE);
	void *mem = alloc_region(len);
	int fd = open(ECHO_PATH, O_RDWR | O_CLOEXEC);

	if (!mem || fd < 0 || attach(fd, mem, len, KUP_CHAN_ANY, NULL))
		return 1;
	close(fd);
	return 0;
}

static int unload_echo(void)
{
	return system("rmmod kup_echo") ? 1 : 0;
}

TEST_F(region, copy_out_holds_no_lock)
{
	const char *ko = getenv("KUP_ECHO_KO");
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg;
	struct uffdio_writeprotect wp;
	struct uffd_attach u = { .fd = self->fd, .ret = 1 };
	size_t len = 4 * self->page;
	void *mem = alloc_region(len);
	struct pollfd pfd;
	struct uffd_msg msg;
	char *argpage, cmd[512];
	pthread_t t;
	int uffd;

	ASSERT_NE(NULL, ko);
	ASSERT_NE(NULL, mem);
	uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	ASSERT_LE(0, uffd) TH_LOG("userfaultfd: %s", strerror(errno));
	api.features = UFFD_FEATURE_PAGEFAULT_FLAG_WP;
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_API, &api));
	argpage = (char *)mmap(NULL, self->page, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, argpage);
	u.arg = (struct kup_attach *)argpage;
	memset(u.arg, 0, sizeof(*u.arg));
	u.arg->addr = (uintptr_t)mem;
	u.arg->len = len;
	u.arg->chan = KUP_CHAN_ANY;
	memset(&reg, 0, sizeof(reg));
	reg.range.start = (uintptr_t)argpage;
	reg.range.len = self->page;
	reg.mode = UFFDIO_REGISTER_MODE_WP;
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_REGISTER, &reg));
	memset(&wp, 0, sizeof(wp));
	wp.range = reg.range;
	wp.mode = UFFDIO_WRITEPROTECT_MODE_WP;
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_WRITEPROTECT, &wp));

	/* The attach reads its argument, pins, then faults writing it back. */
	ASSERT_EQ(0, pthread_create(&t, NULL, uffd_attacher, &u));
	pfd.fd = uffd;
	pfd.events = POLLIN;
	ASSERT_EQ(1, poll(&pfd, 1, 10000));
	ASSERT_EQ(sizeof(msg), read(uffd, &msg, sizeof(msg)));
	EXPECT_EQ(UFFD_EVENT_PAGEFAULT, msg.event);
	EXPECT_EQ((uintptr_t)argpage, msg.arg.pagefault.address &
		  ~(__u64)(self->page - 1));
	EXPECT_EQ(1, u.ret);

	/* Another process attaches and closes; the client module unloads. */
	EXPECT_EQ(0, child_bounded(attach_and_close));
	EXPECT_EQ(0, child_bounded(unload_echo));

	/* Let the copy finish: the attach completes, on a dead device. */
	wp.mode = 0;
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_WRITEPROTECT, &wp));
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(0, u.ret);
	close(self->fd);
	self->fd = -1;
	snprintf(cmd, sizeof(cmd), "lsmod | grep -q '^kup_echo ' || insmod %s test_commands=1", ko);
	EXPECT_EQ(0, system(cmd));
	EXPECT_TRUE(path_wait(ECHO_PATH, 5000));
	EXPECT_EQ(self->pins0, pins_wait(self->pins0, 5000));
	close(uffd);
	munmap(argpage, self->page);
	free(mem);
}

static int chan_req(int fd, unsigned long cmd, __u32 chan, __u32 flags,
		    __u64 reserved)
{
	struct kup_chan_req r;

	memset(&r, 0, sizeof(r));
	r.chan = chan;
	r.flags = flags;
	r.reserved = reserved;
	return ioctl(fd, cmd, &r) < 0 ? -errno : 0;
}

/* The state letter of thread tid of this process (R, S, D...), or 0. */
static char thread_state(pid_t tid)
{
	char path[64], buf[256], *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	p = p ? strrchr(buf, ')') : NULL;
	return p && p[1] == ' ' ? p[2] : 0;
}

struct late_detach {
	int fd;
	pid_t sleeper;
	int ret;
};

static void *detach_later(void *arg)
{
	struct late_detach *a = (struct late_detach *)arg;
	int i;

	/* Once the sleeper sleeps (in KUP_IOC_WAIT: it does nothing else). */
	for (i = 0; i < 10000 && thread_state(a->sleeper) != 'S'; i++)
		usleep(1000);
	a->ret = detach(a->fd, 0);
	return NULL;
}

/*
 * KUP_IOC_WAKE, KUP_IOC_WAIT and KUP_IOC_EVENTFD, raw: reserved fields
 * and flags must be zero, the channel must exist and be attached through
 * this file; WAIT returns 0 once the process holds the turn and
 * -ENOTCONN when the channel is detached under it.
 */
TEST_F(region, chan_ioctls)
{
	static const unsigned long cmds[] = { KUP_IOC_WAKE, KUP_IOC_WAIT,
					      KUP_IOC_DETACH };
	size_t len = 4 * self->page;
	void *mem = alloc_region(len);
	struct kup_region_hdr *h = (struct kup_region_hdr *)mem;
	int fd2 = open(ECHO_PATH, O_RDWR | O_CLOEXEC), efd, i;
	struct kup_eventfd e;
	struct kup_slot *slot;
	struct late_detach late;
	struct kup_ustate *us;
	pthread_t t;

	ASSERT_NE(NULL, mem);
	ASSERT_LE(0, fd2);
	efd = eventfd(0, EFD_CLOEXEC);
	ASSERT_LE(0, efd);
	for (i = 0; i < 3; i++) {
		/* Nothing attached yet. */
		EXPECT_EQ(-ENOTCONN, chan_req(self->fd, cmds[i], 0, 0, 0));
		EXPECT_EQ(-EINVAL, chan_req(self->fd, cmds[i], 0, 1, 0));
		EXPECT_EQ(-EINVAL, chan_req(self->fd, cmds[i], 0, 0, 1));
		EXPECT_EQ(-EINVAL, chan_req(self->fd, cmds[i],
					    self->info.nchan, 0, 0));
		EXPECT_EQ(-EINVAL, chan_req(self->fd, cmds[i], KUP_CHAN_ANY,
					    0, 0));
	}
	ASSERT_EQ(0, attach(self->fd, mem, len, 0, NULL));
	memset(&e, 0, sizeof(e));
	e.chan = 0;
	e.fd = efd;
	/* Another file cannot use what this one attached. */
	for (i = 0; i < 3; i++)
		EXPECT_EQ(-ENOTCONN, chan_req(fd2, cmds[i], 0, 0, 0));
	EXPECT_EQ(-1, ioctl(fd2, KUP_IOC_EVENTFD, &e));
	EXPECT_EQ(ENOTCONN, errno);
	e.reserved = 1;
	EXPECT_EQ(-1, ioctl(self->fd, KUP_IOC_EVENTFD, &e));
	EXPECT_EQ(EINVAL, errno);
	e.reserved = 0;
	EXPECT_EQ(0, ioctl(self->fd, KUP_IOC_EVENTFD, &e));
	e.fd = KUP_EVENTFD_NONE;
	EXPECT_EQ(0, ioctl(self->fd, KUP_IOC_EVENTFD, &e));

	/* The greeting passes turn 1: WAIT then returns at once. */
	slot = (struct kup_slot *)((char *)mem + h->slot_off);
	us = (struct kup_ustate *)((char *)mem + h->ustate_off);
	for (i = 0; i < 10000 && __atomic_load_n(&slot->turn,
						 __ATOMIC_ACQUIRE) != 1; i++)
		usleep(1000);
	ASSERT_EQ(1, slot->turn);
	EXPECT_EQ(0, chan_req(self->fd, KUP_IOC_WAIT, 0, 0, 0));
	EXPECT_EQ(0, chan_req(self->fd, KUP_IOC_WAKE, 0, 0, 0));

	/* Pass turn 2 (a message the echo parks on), sleep, get detached. */
	memcpy(slot->data, "KUPECHO:PARK", 12);
	slot->len = 12;
	slot->seq = 2;
	slot->flags = KUP_SLOT_INLINE;
	__atomic_store_n(&slot->turn, 2, __ATOMIC_SEQ_CST);
	EXPECT_EQ(0, chan_req(self->fd, KUP_IOC_WAKE, 0, 0, 0));
	late.fd = self->fd;
	late.sleeper = gettid();
	late.ret = 1;
	__atomic_store_n(&us->uwait, 1, __ATOMIC_SEQ_CST);
	ASSERT_EQ(0, pthread_create(&t, NULL, detach_later, &late));
	EXPECT_EQ(-ENOTCONN, chan_req(self->fd, KUP_IOC_WAIT, 0, 0, 0));
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(0, late.ret);
	for (i = 0; i < 3; i++)
		EXPECT_EQ(-ENOTCONN, chan_req(self->fd, cmds[i], 0, 0, 0));
	/* The parked echo worker finds its attachment gone. */
	EXPECT_EQ(0, echo_resume());
	close(efd);
	close(fd2);
	EXPECT_EQ(self->pins0, pins_wait(self->pins0, 5000));
	free(mem);
}

TEST_F(region, read_only_refused)
{
	size_t len = 4 * self->page;
	void *mem = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);

	ASSERT_NE(MAP_FAILED, mem);
	EXPECT_EQ(-EFAULT, attach(self->fd, mem, len, KUP_CHAN_ANY, NULL));
	EXPECT_EQ(self->pins0, pins_held());
	munmap(mem, len);
}

TEST_F(region, second_attach_busy)
{
	void *a = alloc_region(2 * self->page);
	void *b = alloc_region(2 * self->page);
	int fd2 = open(ECHO_PATH, O_RDWR);
	__u32 chan = 0;

	ASSERT_NE(NULL, a);
	ASSERT_NE(NULL, b);
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, attach(self->fd, a, 2 * self->page, KUP_CHAN_ANY, &chan));
	/*
	 * The same channel, from this fd and from another one. A failed
	 * attach leaves the memory as it was: not a byte written.
	 */
	memset(b, 0x5a, 2 * self->page);
	EXPECT_EQ(-EBUSY, attach(self->fd, b, 2 * self->page, chan, NULL));
	EXPECT_EQ(-EBUSY, attach(fd2, b, 2 * self->page, chan, NULL));
	EXPECT_EQ(-1, check_byte(b, 2 * self->page, 0x5a));
	/* Another fd cannot detach or wake what it did not attach. */
	EXPECT_EQ(-ENOTCONN, detach(fd2, chan));
	close(fd2);
	ASSERT_EQ(0, detach(self->fd, chan));
	/* And after the detach, the channel can be attached again. */
	ASSERT_EQ(0, attach(self->fd, b, 2 * self->page, chan, NULL));
	EXPECT_EQ(KUP_REGION_MAGIC, ((struct kup_region_hdr *)b)->magic);
	ASSERT_EQ(0, detach(self->fd, chan));
	EXPECT_EQ(self->pins0, pins_wait(self->pins0, 5000));
	free(a);
	free(b);
}

TEST_F(region, all_channels_busy)
{
	unsigned int n = self->info.nchan, i;
	void **mem = (void **)calloc(n + 1, sizeof(*mem));

	ASSERT_NE(NULL, mem);
	for (i = 0; i <= n; i++) {
		mem[i] = alloc_region(self->page);
		ASSERT_NE(NULL, mem[i]);
	}
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, attach(self->fd, mem[i], self->page, i, NULL));
	EXPECT_EQ(-EBUSY, attach(self->fd, mem[n], self->page, KUP_CHAN_ANY,
				 NULL));
	EXPECT_EQ(self->pins0 + n, pins_held());
	/* Closing the fd detaches every channel. */
	close(self->fd);
	self->fd = -1;
	EXPECT_EQ(self->pins0, pins_wait(self->pins0, 5000));
	for (i = 0; i <= n; i++)
		free(mem[i]);
	free(mem);
}

/* Over RLIMIT_MEMLOCK without CAP_IPC_LOCK: -ENOMEM, nothing pinned. */
TEST_F(region, memlock_limit)
{
	pid_t pid = fork();
	int status;

	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct rlimit rl = { 16 * self->page, 16 * self->page };
		size_t big = 64 * self->page;
		void *mem = alloc_region(big);
		int status_fd = open("/proc/self/status", O_RDONLY);
		__u32 chan = 0;

		/* Becoming nobody drops every capability. */
		if (!mem || setrlimit(RLIMIT_MEMLOCK, &rl) ||
		    setgid(65534) || setuid(65534))
			_exit(10);
		if (attach(self->fd, mem, big, KUP_CHAN_ANY, NULL) != -ENOMEM)
			_exit(11);
		if (attach(self->fd, mem, 4 * self->page, KUP_CHAN_ANY, &chan))
			_exit(12);
		/* status_fd was opened while we could still read it. */
		if (vm_pinned_kb_fd(status_fd) !=
		    region_pages(mem) * (long)self->page / 1024)
			_exit(13);
		if (detach(self->fd, chan) || vm_pinned_kb_fd(status_fd) != 0)
			_exit(14);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	EXPECT_EQ(self->pins0, pins_wait(self->pins0, 5000));
}

/* A process killed while attached leaves no pin behind. */
TEST_F(region, killed_while_attached)
{
	int pipefd[2];
	pid_t pid;
	char c;
	int status;

	ASSERT_EQ(0, pipe(pipefd));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct kup_device *dev = NULL;
		struct kup_channel *ch = NULL;
		const void *d;

		if (kup_open(ECHO_NAME, &dev) ||
		    kup_chan_attach(dev, KUP_CHAN_ANY, 64 * 1024, 0, &ch) ||
		    kup_recv(ch, &d, 0) < 0 || kup_send(ch, "x", 1, 0))
			_exit(1);
		/* Die holding a message in flight, the kernel mid-reply. */
		if (write(pipefd[1], "r", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(pipefd[1]);
	ASSERT_EQ(1, read(pipefd[0], &c, 1));
	EXPECT_LT(self->pins0, pins_held());
	ASSERT_EQ(0, kill(pid, SIGKILL));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFSIGNALED(status));
	EXPECT_EQ(self->pins0, pins_wait(self->pins0, 5000));
	close(pipefd[0]);
}

/*
 * Memory unmapped while attached stays pinned and mapped for the kernel:
 * the kthread writes its reply into the old pages, and new memory at the
 * same address never sees it.
 */
TEST_F(region, munmap_while_attached)
{
	size_t len = 3 * self->page;
	long served0 = echo_stat("messages");
	struct kup_attach a;
	unsigned char *mem, *again;
	const struct kup_region_hdr *h;
	struct kup_slot *slot;
	size_t i;

	mem = (unsigned char *)mmap(NULL, len, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, mem);
	memset(mem, 0, len);
	memset(&a, 0, sizeof(a));
	a.addr = (uintptr_t)mem;
	a.len = len;
	a.chan = KUP_CHAN_ANY;
	ASSERT_EQ(0, ioctl(self->fd, KUP_IOC_ATTACH, &a));
	h = (const struct kup_region_hdr *)mem;
	slot = (struct kup_slot *)(mem + h->slot_off);

	/* Raw protocol: wait for the greeting (turn 1), then send turn 2. */
	for (i = 0; __atomic_load_n(&slot->turn, __ATOMIC_ACQUIRE) != 1 &&
	     i < 5000; i++)
		usleep(1000);
	ASSERT_EQ(1, slot->turn);
	memset(mem + h->to_kernel_off, 0x5a, 100);
	slot->len = 100;
	slot->seq = 2;
	__atomic_store_n(&slot->turn, 2, __ATOMIC_RELEASE);
	if (__atomic_load_n(&((struct kup_kstate *)(mem + h->kstate_off))->kwait,
			    __ATOMIC_SEQ_CST)) {
		struct kup_chan_req r;

		memset(&r, 0, sizeof(r));
		r.chan = a.chan;
		ioctl(self->fd, KUP_IOC_WAKE, &r);
	}
	ASSERT_EQ(0, munmap(mem, len));

	/* The kthread replies into pages this process no longer maps. */
	EXPECT_LE(served0 + 1, echo_stat_wait("messages", served0 + 1, 5000));
	again = (unsigned char *)mmap(mem, len, PROT_READ | PROT_WRITE,
				      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
				      -1, 0);
	ASSERT_EQ(mem, again);
	for (i = 0; i < len; i++)
		ASSERT_EQ(0, again[i]);
	EXPECT_LT(self->pins0, pins_held());
	ASSERT_EQ(0, detach(self->fd, a.chan));
	EXPECT_EQ(self->pins0, pins_wait(self->pins0, 5000));
	munmap(again, len);
}

/*
 * kup_notify(): kup_echo notifies when a session ends and its channel is
 * free again; every open file reports EPOLLPRI until it reads
 * KUP_IOC_INFO.
 */
TEST_F(region, notify_channels_available)
{
	struct pollfd pfd = { .fd = self->fd, .events = POLLPRI };
	struct kup_device *dev = NULL;
	struct kup_channel *ch = NULL;
	struct kup_info info;
	const void *d = NULL;

	ASSERT_EQ(0, poll(&pfd, 1, 0));		/* INFO in setup acked */
	ASSERT_EQ(0, kup_open(ECHO_NAME, &dev));
	ASSERT_EQ(0, kup_chan_attach(dev, KUP_CHAN_ANY, 4096, 0, &ch));
	ASSERT_LT(0, kup_recv(ch, &d, 0));
	kup_chan_close(ch);	/* the echo thread's session ends */
	kup_close(dev);
	ASSERT_EQ(1, poll(&pfd, 1, 5000));
	EXPECT_TRUE(pfd.revents & POLLPRI);
	ASSERT_EQ(0, ioctl(self->fd, KUP_IOC_INFO, &info));
	EXPECT_LT(self->info.notify_count, info.notify_count);
	pfd.revents = 0;
	EXPECT_EQ(0, poll(&pfd, 1, 0));
}

/* Closing the fd undoes everything, including the memlock charge. */
TEST_F(region, close_releases)
{
	long lck0 = vm_pinned_kb();
	void *mem = alloc_region(16 * self->page);

	ASSERT_NE(NULL, mem);
	ASSERT_EQ(0, attach(self->fd, mem, 16 * self->page, KUP_CHAN_ANY,
			    NULL));
	EXPECT_EQ(lck0 + region_pages(mem) * (long)self->page / 1024,
		  vm_pinned_kb());
	close(self->fd);
	self->fd = -1;
	EXPECT_EQ(lck0, vm_pinned_kb());
	EXPECT_EQ(self->pins0, pins_wait(self->pins0, 5000));
	free(mem);
}

/* Many attach/detach cycles from several threads: no leak, no splat. */
struct churn_arg {
	int fd;
	long attached;		/* successful attach + detach pairs */
	long busy;		/* attaches refused with -EBUSY */
	long other;		/* anything else: a failure */
};

static void *churn(void *arg)
{
	struct churn_arg *c = (struct churn_arg *)arg;
	size_t page = sysconf(_SC_PAGESIZE);
	void *mem = alloc_region(4 * page);
	int i, ret;

	if (!mem)
		c->other++;
	for (i = 0; i < 300 && mem; i++) {
		__u32 chan = 0;

		ret = attach(c->fd, mem, 4 * page, KUP_CHAN_ANY, &chan);
		if (ret) {
			*(ret == -EBUSY ? &c->busy : &c->other) += 1;
			continue;
		}
		if (detach(c->fd, chan))
			c->other++;
		else
			c->attached++;
	}
	free(mem);
	return NULL;
}

/*
 * Four threads attach and detach on one fd as fast as they can: only
 * -EBUSY races (every channel taken) are allowed, most attaches succeed,
 * and nothing stays pinned.
 */
TEST_F(region, attach_detach_churn)
{
	struct churn_arg c[4];
	pthread_t t[4];
	long attached = 0;
	int i;

	for (i = 0; i < 4; i++) {
		memset(&c[i], 0, sizeof(c[i]));
		c[i].fd = self->fd;
		ASSERT_EQ(0, pthread_create(&t[i], NULL, churn, &c[i]));
	}
	for (i = 0; i < 4; i++) {
		ASSERT_EQ(0, pthread_join(t[i], NULL));
		EXPECT_EQ(0, c[i].other) TH_LOG("thread %d", i);
		EXPECT_EQ(300, c[i].attached + c[i].busy);
		attached += c[i].attached;
	}
	/* 4 threads, at least 2 channels: most attaches get one. */
	EXPECT_LT(600, attached);
	EXPECT_EQ(self->pins0, pins_wait(self->pins0, 5000));
}

TEST_HARNESS_MAIN
