// SPDX-License-Identifier: GPL-2.0
/*
 * lib/kup.h from C++17 (built with -Wall -Wextra -Werror -pedantic): two
 * std::threads drive two kup_echo channels. Prints kselftest-style TAP.
 */
#include <kup.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

static bool drive(struct kup_device *dev, int rounds)
{
	struct kup_channel *ch = nullptr;
	const void *d = nullptr;

	if (kup_chan_attach(dev, KUP_CHAN_ANY, 4096, 0, &ch))
		return false;
	bool ok = kup_recv(ch, &d, 0) > 0;
	for (int i = 0; ok && i < rounds; i++) {
		std::string msg = "c++ message " + std::to_string(i);
		ok = kup_send(ch, msg.data(), msg.size(), 0) == 0 &&
		     kup_recv(ch, &d, 0) == static_cast<ssize_t>(msg.size()) &&
		     std::string(static_cast<const char *>(d), msg.size()) == msg;
	}
	return kup_chan_close(ch) == 0 && ok;
}

int main()
{
	struct kup_device *dev = nullptr;

	std::printf("TAP version 13\n1..1\n");
	int ret = kup_open("kup_echo", &dev);
	if (ret == -ENOENT) {
		std::printf("ok 1 # SKIP no /dev/kup_echo\n");
		std::printf("# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:1 error:0\n");
		return 4;
	}
	std::vector<std::thread> threads;
	bool ok[2] = { false, false };
	for (int i = 0; ret == 0 && i < 2; i++)
		threads.emplace_back([&, i] { ok[i] = drive(dev, 1000); });
	for (auto &t : threads)
		t.join();
	kup_close(dev);
	bool pass = ret == 0 && ok[0] && ok[1];
	std::printf("%s 1 cxx.two_threads_two_channels\n", pass ? "ok" : "not ok");
	std::printf("# Totals: pass:%d fail:%d xfail:0 xpass:0 skip:0 error:0\n",
		    pass ? 1 : 0, pass ? 0 : 1);
	return pass ? 0 : 1;
}
