/* fuzz_journal.c: libFuzzer target: a journal made of the fuzz input opens and replays, never crashing. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "journal.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The first byte chooses the layout, the rest is the file:
 *   bit 0  the file is a valid header (first seq as named) followed by the input, not the input alone
 *          (so the fuzzer spends its time on records, not on finding the magic);
 *   bit 1  a valid segment seg-1 with records 1..3 comes before it, and the input is seg-4, the last.
 */
static char dir[] = "/tmp/fuzz_journal.XXXXXX";

static void remove_dir(void)
{
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_journal: could not remove %s\n", dir);
}

static void setup_once(void)
{
	static int done;
	if (done)
		return;
	done = 1;
	if (!mkdtemp(dir))
		abort();
	atexit(remove_dir);
	FILE *null = fopen("/dev/null", "w");
	if (null)
		cg_log_set_output(null); /* torn tails are the normal case here: their warnings are noise */
}

static void path_for(uint64_t first, char *buf, size_t len)
{
	snprintf(buf, len, "%s/seg-%016" PRIx64 ".jnl", dir, first);
}

static void clear_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	if (!d)
		abort();
	while ((de = readdir(d)) != NULL) {
		char p[512];
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		unlink(p);
	}
	closedir(d);
}

static void write_all(const char *path, const void *a, size_t alen, const void *b, size_t blen)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		abort();
	if ((alen && write(fd, a, alen) != (ssize_t)alen) || (blen && write(fd, b, blen) != (ssize_t)blen))
		abort();
	close(fd);
}

static void header(unsigned char h[CG_JOURNAL_HEADER_BYTES], uint64_t first)
{
	static const unsigned char magic[8] = {'C', 'G', 'J', 'R', 'N', 'L', 0x00, 0x01};
	memcpy(h, magic, 8);
	for (int i = 0; i < 8; i++)
		h[8 + i] = (unsigned char)(first >> (8 * i));
}

struct seen {
	uint64_t prev, n;
	int bad;
};

static int check(uint64_t seq, const void *rec, size_t len, void *ud)
{
	struct seen *s = ud;
	const volatile unsigned char *p = rec;
	if (seq <= s->prev || len == 0 || len > CG_JOURNAL_RECORD_MAX)
		s->bad = 1;
	(void)p[0];
	(void)p[len - 1]; /* the whole record is readable */
	s->prev = seq;
	s->n++;
	return 0;
}

static uint64_t files_bytes(void)
{
	uint64_t total = 0;
	char p[128];
	for (uint64_t f = 1; f <= 8; f++) {
		struct stat st;
		path_for(f, p, sizeof(p));
		if (stat(p, &st) == 0)
			total += (uint64_t)st.st_size;
	}
	return total;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	setup_once();
	clear_dir();
	unsigned mode = data[0];
	data++;
	size--;

	uint64_t first = 1;
	unsigned char h[CG_JOURNAL_HEADER_BYTES];
	char p[128];
	if (mode & 2) {
		/* seg-1: records 1..3, written by the journal itself */
		struct cg_journal *j = NULL;
		char err[512];
		if (cg_journal_open(dir, 0, 0, &j, err, sizeof(err)) != 0)
			abort();
		struct iovec iov[3] = {{"a", 1}, {"bb", 2}, {"ccc", 3}};
		uint64_t f0 = 0;
		if (cg_journal_append(j, iov, 3, &f0) != 0 || f0 != 1)
			abort();
		cg_journal_close(j);
		first = 4;
	}
	path_for(first, p, sizeof(p));
	header(h, first);
	if (mode & 1)
		write_all(p, h, sizeof(h), data, size);
	else
		write_all(p, data, size, NULL, 0);

	struct cg_journal *j = NULL;
	char err[512] = "";
	int rc = cg_journal_open(dir, 0, 0, &j, err, sizeof(err));
	if (rc != 0) {
		/* Refused: it says why, with the file's name. */
		if ((rc != CG_EIO && rc != CG_ENOMEM) || !strstr(err, "seg-") || j != NULL)
			abort();
		return 0;
	}
	struct seen s = {0};
	if (cg_journal_replay(j, 0, check, &s) != 0 || s.bad)
		abort();
	if ((mode & 2) && s.n < 3)
		abort(); /* the earlier segment's records are never dropped */
	uint64_t last = cg_journal_last_seq(j);
	if (s.n && s.prev != last)
		abort();
	if (cg_journal_bytes(j) != files_bytes())
		abort();
	/* It goes on: one more record gets last + 1 and is there after a reopen. */
	struct iovec one = {"z", 1};
	uint64_t got = 0;
	if (cg_journal_append(j, &one, 1, &got) != 0 || got != last + 1)
		abort();
	cg_journal_close(j);
	j = NULL;
	if (cg_journal_open(dir, 0, 0, &j, err, sizeof(err)) != 0)
		abort();
	struct seen s2 = {0};
	if (cg_journal_replay(j, 0, check, &s2) != 0 || s2.bad || s2.n != s.n + 1 || s2.prev != last + 1)
		abort();
	cg_journal_close(j);
	return 0;
}
