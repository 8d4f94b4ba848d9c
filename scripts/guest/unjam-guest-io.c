/*
 * unjam-guest-io PLAN: the guest side of scripts/guest.sh. Runs inside the initramfs of a
 * Linux guest whose disks are unjam's vhost-user-scsi device.
 *
 * Reads the plan `unjam vhost-user --guest-plan` wrote:
 *   deadline_ms N
 *   device H:C:T:L TIMEOUT_S EH_TIMEOUT_S
 *   io STREAM H:C:T:L r|w LBA BYTES
 * finds each disk by its SCSI address in sysfs, sets its timeouts, then runs every stream in
 * its own process, one O_DIRECT I/O at a time, marking each start and end in /dev/kmsg (so the
 * markers sit on the kernel log's clock). At the end, or when the deadline passes, it prints
 * one line per I/O:
 *   UNJAM-IO {"index":I,"device":"H:C:T:L","op":"read","lba":L,"bytes":B,"errno":E,"seconds":S,
 *             "completed":true,"guest_dispatches":N}
 * (N: the disk's iorequest_cnt grew by N during the I/O: the mid-layer's sends of it, exact
 * when the disk runs one stream).
 * An I/O still in flight at the deadline is printed with "completed":false and errno null.
 * Then one line per disk with the mid-layer's counters (sends, errors, timeouts so far):
 *   UNJAM-DEVICE {"device":"H:C:T:L","iorequest_cnt":N,"ioerr_cnt":N,"iotmo_cnt":N}
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_IOS 8192
#define MAX_DEVICES 64
#define MAX_STREAMS 64
#define MAX_IO_BYTES (8 << 20)

struct io {
	int stream;
	char device[32];
	char op;
	unsigned long long lba;
	unsigned bytes;
};

struct device {
	char address[32];
	unsigned timeout_s, eh_timeout_s;
	char block[32];
};

static struct io ios[MAX_IOS];
static int io_count;
static struct device devices[MAX_DEVICES];
static int device_count;
static long long deadline_ms = 10000;

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void kmsg(const char *text)
{
	int fd = open("/dev/kmsg", O_WRONLY);
	if (fd >= 0) {
		if (write(fd, text, strlen(text)) < 0) {
			/* the marker is a convenience only */
		}
		close(fd);
	}
}

static int write_file(const char *path, unsigned value)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f, "%u\n", value);
	return fclose(f);
}

/* The block device name (sda, ...) of SCSI address `address`, waiting up to 60 s. */
static int find_block(struct device *d)
{
	char path[128];
	snprintf(path, sizeof path, "/sys/bus/scsi/devices/%s/block", d->address);
	for (int tries = 0; tries < 600; tries++) {
		DIR *dir = opendir(path);
		if (dir) {
			struct dirent *e;
			while ((e = readdir(dir))) {
				if (e->d_name[0] != '.') {
					snprintf(d->block, sizeof d->block, "%s", e->d_name);
					closedir(dir);
					return 0;
				}
			}
			closedir(dir);
		}
		usleep(100000);
	}
	return -1;
}

static struct device *device_of(const char *address)
{
	for (int i = 0; i < device_count; i++)
		if (strcmp(devices[i].address, address) == 0)
			return &devices[i];
	return NULL;
}

static int read_plan(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[256];
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f)) {
		struct io io;
		struct device d;
		memset(&d, 0, sizeof d);
		if (sscanf(line, "deadline_ms %lld", &deadline_ms) == 1)
			continue;
		if (sscanf(line, "device %31s %u %u", d.address, &d.timeout_s, &d.eh_timeout_s) == 3) {
			if (device_count < MAX_DEVICES)
				devices[device_count++] = d;
			continue;
		}
		if (sscanf(line, "io %d %31s %c %llu %u", &io.stream, io.device, &io.op, &io.lba,
			   &io.bytes) == 5) {
			if (io_count < MAX_IOS && io.stream >= 0 && io.stream < MAX_STREAMS &&
			    io.bytes > 0 && io.bytes <= MAX_IO_BYTES)
				ios[io_count++] = io;
			continue;
		}
	}
	fclose(f);
	return 0;
}

/*
 * Faults the buffer's pages in last-to-first, each followed by a page of another buffer, so
 * that no page is physically adjacent to the one before it: the block layer then counts one
 * physical segment per page (`phys_seg` in its error line), as for the user buffer of seed 000,
 * whatever order the allocator hands pages out in.
 */
static void prefault_scattered(volatile char *buffer, unsigned bytes)
{
	unsigned pages = (bytes + 4095) / 4096;
	volatile char *spacer = malloc((size_t)pages * 4096 + 4096);
	for (unsigned page = pages; page-- > 0;) {
		buffer[(size_t)page * 4096] = 0;
		if (spacer)
			spacer[(size_t)page * 4096] = 1;
	}
	/* the spacer stays allocated (and its pages faulted) while the stream runs */
}

/* The mid-layer's dispatch counter of disk `address` (hex in sysfs); 0 if unreadable. */
static unsigned long long dispatched(const char *address)
{
	char path[128];
	unsigned long long value = 0;
	snprintf(path, sizeof path, "/sys/bus/scsi/devices/%s/iorequest_cnt", address);
	FILE *f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%llx", &value) != 1)
			value = 0;
		fclose(f);
	}
	return value;
}

/* Runs stream `stream`; records "S index" before and "D index errno seconds" after each I/O. */
static void run_stream(int stream)
{
	char path[64], text[160];
	snprintf(path, sizeof path, "/tmp/stream.%d", stream);
	FILE *record = fopen(path, "w");
	void *buffer;
	unsigned max_bytes = 4096;
	for (int i = 0; i < io_count; i++)
		if (ios[i].stream == stream && ios[i].bytes > max_bytes)
			max_bytes = ios[i].bytes;
	if (!record || posix_memalign(&buffer, 4096, max_bytes) != 0)
		_exit(1);
	setvbuf(record, NULL, _IONBF, 0);
	prefault_scattered(buffer, max_bytes);
	for (int i = 0; i < io_count; i++) {
		struct io *io = &ios[i];
		if (io->stream != stream)
			continue;
		struct device *d = device_of(io->device);
		char dev[64];
		snprintf(dev, sizeof dev, "/dev/%s", d && d->block[0] ? d->block : "missing");
		int fd = open(dev, O_RDWR | O_DIRECT);
		fprintf(record, "S %d %.6f\n", i, now_s());
		unsigned long long before = dispatched(io->device);
		snprintf(text, sizeof text, "unjam-guest: io %d %s %s lba %llu start\n", i, io->device,
			 io->op == 'w' ? "write" : "read", io->lba);
		kmsg(text);
		double start = now_s();
		ssize_t done;
		off_t offset = (off_t)io->lba * 512;
		/* LBAs count the disk's logical blocks: ask the kernel for its block size. */
		if (fd >= 0) {
			int block_size = 512;
			char sysfs[96];
			snprintf(sysfs, sizeof sysfs, "/sys/block/%s/queue/logical_block_size", d->block);
			FILE *bs = fopen(sysfs, "r");
			if (bs) {
				if (fscanf(bs, "%d", &block_size) != 1)
					block_size = 512;
				fclose(bs);
			}
			offset = (off_t)io->lba * block_size;
		}
		int error = 0;
		if (fd < 0) {
			error = errno;
		} else {
			if (io->op == 'w') {
				memset(buffer, (int)(io->lba & 0xff) | 1, io->bytes);
				done = pwrite(fd, buffer, io->bytes, offset);
			} else {
				done = pread(fd, buffer, io->bytes, offset);
			}
			if (done < 0)
				error = errno;
			else if ((unsigned)done != io->bytes)
				error = EIO;
			close(fd);
		}
		double seconds = now_s() - start;
		snprintf(text, sizeof text, "unjam-guest: io %d end errno %d after %.6f s\n", i, error,
			 seconds);
		kmsg(text);
		fprintf(record, "D %d %d %.6f %llu\n", i, error, seconds,
			dispatched(io->device) - before);
	}
	fclose(record);
	_exit(0);
}

int main(int argc, char **argv)
{
	pid_t children[MAX_STREAMS];
	int child_count = 0;
	double started[MAX_IOS];
	int finished[MAX_IOS], error_of[MAX_IOS];
	double seconds_of[MAX_IOS];
	unsigned long long dispatches_of[MAX_IOS];
	if (argc != 2 || read_plan(argv[1]) != 0) {
		fprintf(stderr, "usage: unjam-guest-io PLAN\n");
		return 2;
	}
	for (int i = 0; i < device_count; i++) {
		char path[128];
		struct device *d = &devices[i];
		if (find_block(d) != 0) {
			printf("UNJAM-ERROR no block device for %s\n", d->address);
			continue;
		}
		snprintf(path, sizeof path, "/sys/bus/scsi/devices/%s/timeout", d->address);
		write_file(path, d->timeout_s);
		snprintf(path, sizeof path, "/sys/bus/scsi/devices/%s/eh_timeout", d->address);
		write_file(path, d->eh_timeout_s);
	}
	kmsg("unjam-guest: workload starts\n");
	double begin = now_s();
	for (int stream = 0; stream < MAX_STREAMS; stream++) {
		int used = 0;
		for (int i = 0; i < io_count; i++)
			used |= ios[i].stream == stream;
		if (!used)
			continue;
		pid_t pid = fork();
		if (pid == 0)
			run_stream(stream);
		if (pid > 0)
			children[child_count++] = pid;
	}
	int running = child_count;
	while (running > 0 && (now_s() - begin) * 1000 < deadline_ms) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid > 0)
			running--;
		else
			usleep(10000);
	}
	double end = now_s();
	if (running > 0)
		kmsg("unjam-guest: deadline passed with I/O in flight\n");
	for (int i = 0; i < io_count; i++) {
		started[i] = -1;
		finished[i] = 0;
	}
	for (int stream = 0; stream < MAX_STREAMS; stream++) {
		char path[64], line[128];
		snprintf(path, sizeof path, "/tmp/stream.%d", stream);
		FILE *record = fopen(path, "r");
		if (!record)
			continue;
		while (fgets(line, sizeof line, record)) {
			int index, error;
			double seconds;
			unsigned long long dispatches = 0;
			if (sscanf(line, "D %d %d %lf %llu", &index, &error, &seconds, &dispatches) == 4 &&
			    index >= 0 &&
			    index < io_count) {
				finished[index] = 1;
				error_of[index] = error;
				dispatches_of[index] = dispatches;
				seconds_of[index] = seconds;
			} else if (sscanf(line, "S %d %lf", &index, &seconds) == 2 && index >= 0 &&
				   index < io_count) {
				started[index] = seconds;
			}
		}
		fclose(record);
	}
	for (int i = 0; i < io_count; i++) {
		struct io *io = &ios[i];
		const char *op = io->op == 'w' ? "write" : "read";
		if (finished[i])
			printf("UNJAM-IO {\"index\":%d,\"device\":\"%s\",\"op\":\"%s\",\"lba\":%llu,"
			       "\"bytes\":%u,\"errno\":%d,\"seconds\":%.6f,\"completed\":true,"
			       "\"guest_dispatches\":%llu}\n",
			       i, io->device, op, io->lba, io->bytes, error_of[i], seconds_of[i],
			       dispatches_of[i]);
		else
			printf("UNJAM-IO {\"index\":%d,\"device\":\"%s\",\"op\":\"%s\",\"lba\":%llu,"
			       "\"bytes\":%u,\"errno\":null,\"seconds\":%.6f,\"completed\":false,"
			       "\"started\":%s}\n",
			       i, io->device, op, io->lba, io->bytes,
			       started[i] >= 0 ? end - started[i] : 0.0, started[i] >= 0 ? "true" : "false");
	}
	/* The mid-layer's per-device counters (hex in sysfs): sends, errors, timeouts. */
	for (int i = 0; i < device_count; i++) {
		static const char *const names[] = {"iorequest_cnt", "ioerr_cnt", "iotmo_cnt"};
		unsigned long long value[3] = {0, 0, 0};
		for (int n = 0; n < 3; n++) {
			char path[128];
			snprintf(path, sizeof path, "/sys/bus/scsi/devices/%s/%s", devices[i].address,
				 names[n]);
			FILE *f = fopen(path, "r");
			if (f) {
				if (fscanf(f, "%llx", &value[n]) != 1)
					value[n] = 0;
				fclose(f);
			}
		}
		printf("UNJAM-DEVICE {\"device\":\"%s\",\"iorequest_cnt\":%llu,\"ioerr_cnt\":%llu,"
		       "\"iotmo_cnt\":%llu}\n",
		       devices[i].address, value[0], value[1], value[2]);
	}
	for (int i = 0; i < child_count; i++)
		kill(children[i], SIGKILL);
	fflush(stdout);
	return 0;
}
