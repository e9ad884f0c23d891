/* test_journal.c: the intake journal: round trips, rotation, retire, seqs, torn and corrupt tails, the writer queue. */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "err.h"
#include "harness.h"
#include "journal.h"

/* ---- records with known content ---- */

/* Record number i (1-based): its length and bytes follow from i alone. */
static size_t rec_len(uint64_t i)
{
	return 1 + (size_t)((i * 37) % 120);
}

static void rec_fill(uint64_t i, unsigned char *buf)
{
	size_t n = rec_len(i);
	for (size_t k = 0; k < n; k++)
		buf[k] = (unsigned char)(i * 131 + k * 7 + (i >> 8));
}

/* Appends records lo..hi (content numbers) as one batch; returns the first seq. */
static uint64_t append_range(struct cg_journal *j, uint64_t lo, uint64_t hi)
{
	size_t n = (size_t)(hi - lo + 1);
	struct iovec *iov = calloc(n, sizeof(*iov));
	assert_non_null(iov);
	for (size_t k = 0; k < n; k++) {
		iov[k].iov_len = rec_len(lo + k);
		iov[k].iov_base = malloc(iov[k].iov_len);
		assert_non_null(iov[k].iov_base);
		rec_fill(lo + k, iov[k].iov_base);
	}
	uint64_t first = 0;
	int rc = cg_journal_append(j, iov, n, &first);
	if (rc != 0)
		fail_msg("append %" PRIu64 "..%" PRIu64 ": got %s, want ok", lo, hi, cg_strerror(rc));
	for (size_t k = 0; k < n; k++)
		free(iov[k].iov_base);
	free(iov);
	return first;
}

/* What replay delivered: seqs in order, each record's content checked as number seq - base. */
struct seen {
	uint64_t base;
	uint64_t seqs[4096];
	size_t n;
	int bad;
	uint64_t stop_at; /* return 42 at this seq (0: never) */
};

static int collect(uint64_t seq, const void *rec, size_t len, void *ud)
{
	struct seen *s = ud;
	unsigned char want[256];
	uint64_t i = seq - s->base;
	if (len != rec_len(i)) {
		fprintf(stderr, "seq %" PRIu64 ": got len %zu, want %zu\n", seq, len, rec_len(i));
		s->bad++;
	} else {
		rec_fill(i, want);
		if (memcmp(rec, want, len) != 0) {
			fprintf(stderr, "seq %" PRIu64 ": content differs\n", seq);
			s->bad++;
		}
	}
	if (s->n < sizeof(s->seqs) / sizeof(s->seqs[0]))
		s->seqs[s->n] = seq;
	s->n++;
	return s->stop_at && seq == s->stop_at ? 42 : 0;
}

/* Replays after `after` and checks exactly seqs lo..hi came, in order, with their content. */
static void expect_replay(struct cg_journal *j, uint64_t after, uint64_t base, uint64_t lo, uint64_t hi)
{
	struct seen *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	s->base = base;
	int rc = cg_journal_replay(j, after, collect, s);
	if (rc != 0)
		fail_msg("replay after %" PRIu64 ": got %s, want ok", after, cg_strerror(rc));
	size_t want = hi >= lo ? (size_t)(hi - lo + 1) : 0;
	if (s->n != want)
		fail_msg("replay after %" PRIu64 ": got %zu records, want %zu (%" PRIu64 "..%" PRIu64 ")", after, s->n,
		         want, lo, hi);
	for (size_t k = 0; k < s->n; k++)
		if (s->seqs[k] != lo + k)
			fail_msg("replay after %" PRIu64 ": record %zu: got seq %" PRIu64 ", want %" PRIu64, after, k,
			         s->seqs[k], lo + k);
	assert_int_equal(s->bad, 0);
	free(s);
}

static struct cg_journal *jopen(const char *dir, uint64_t segment_bytes, uint64_t min_next)
{
	struct cg_journal *j = NULL;
	char err[512];
	int rc = cg_journal_open(dir, segment_bytes, min_next, &j, err, sizeof(err));
	if (rc != 0)
		fail_msg("open %s: got %s (%s), want ok", dir, cg_strerror(rc), err);
	return j;
}

static char *seg_name(const char *dir, uint64_t first)
{
	return cg_h_fmt("%s/seg-%016" PRIx64 ".jnl", dir, first);
}

static uint64_t file_size(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0)
		fail_msg("stat %s: %s", path, strerror(errno));
	return (uint64_t)st.st_size;
}

/* The segments in dir: their first seqs, sorted (names sort as the numbers do), and their total size. */
static size_t list_segs(const char *dir, uint64_t *firsts, size_t cap, uint64_t *bytes)
{
	size_t n = 0;
	uint64_t total = 0;
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		uint64_t f;
		char tail[8];
		if (sscanf(de->d_name, "seg-%16" SCNx64 ".%4s", &f, tail) != 2 || strcmp(tail, "jnl") != 0)
			continue;
		if (n < cap)
			firsts[n] = f;
		n++;
		char *p = cg_h_fmt("%s/%s", dir, de->d_name);
		total += file_size(p);
		free(p);
	}
	closedir(d);
	for (size_t a = 1; a < n && a < cap; a++)
		for (size_t b = a; b > 0 && firsts[b - 1] > firsts[b]; b--) {
			uint64_t t = firsts[b];
			firsts[b] = firsts[b - 1];
			firsts[b - 1] = t;
		}
	if (bytes)
		*bytes = total;
	return n;
}

static void copy_prefix(const unsigned char *data, size_t len, const char *path)
{
	assert_int_equal(cg_h_write_file(path, (const char *)data, len), 0);
}

/* A record as the journal frames it (journal.h), with whatever seq; returns its size. */
static size_t frame(unsigned char *out, uint64_t seq, const char *payload)
{
	size_t n = strlen(payload);
	unsigned char pre[12];
	for (int i = 0; i < 4; i++)
		out[i] = pre[i] = (unsigned char)(n >> (8 * i));
	for (int i = 0; i < 8; i++)
		out[8 + i] = pre[4 + i] = (unsigned char)(seq >> (8 * i));
	uint32_t crc = cg_journal_crc32c(cg_journal_crc32c(0, pre, sizeof(pre)), payload, n);
	for (int i = 0; i < 4; i++)
		out[4 + i] = (unsigned char)(crc >> (8 * i));
	memcpy(out + CG_JOURNAL_RECORD_HEAD, payload, n);
	return CG_JOURNAL_RECORD_HEAD + n;
}

/* ---- cases ---- */

static void t_crc32c(void **state)
{
	(void)state;
	/* The check value of CRC-32C (iSCSI, RFC 3720). */
	uint32_t got = cg_journal_crc32c(0, "123456789", 9);
	if (got != 0xE3069283u)
		fail_msg("crc32c(\"123456789\"): got %08x, want e3069283", got);
	/* Continuing from a previous value is the same as one pass. */
	assert_int_equal(cg_journal_crc32c(cg_journal_crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
}

static void t_round_trip(void **state)
{
	const char *dir = *state;
	struct cg_journal *j = jopen(dir, 0, 0);
	assert_int_equal(cg_journal_last_seq(j), 0);
	expect_replay(j, 0, 0, 1, 0);
	assert_int_equal(append_range(j, 1, 1), 1);
	assert_int_equal(append_range(j, 2, 6), 2);
	assert_int_equal(append_range(j, 7, 16), 7);
	assert_int_equal(cg_journal_last_seq(j), 16);
	expect_replay(j, 0, 0, 1, 16);
	assert_int_equal(cg_journal_segments(j), 1);

	uint64_t on_disk = 0;
	uint64_t firsts[4];
	assert_int_equal(list_segs(dir, firsts, 4, &on_disk), 1);
	assert_int_equal(firsts[0], 1);
	assert_int_equal(cg_journal_bytes(j), on_disk);
	uint64_t want = CG_JOURNAL_HEADER_BYTES;
	for (uint64_t i = 1; i <= 16; i++)
		want += CG_JOURNAL_RECORD_HEAD + rec_len(i);
	assert_int_equal(on_disk, want);

	/* fn's nonzero stops the replay and is returned. */
	struct seen s = {.stop_at = 5};
	assert_int_equal(cg_journal_replay(j, 0, collect, &s), 42);
	assert_int_equal(s.n, 5);
	cg_journal_close(j);

	/* Reopened: the same records. */
	j = jopen(dir, 0, 0);
	assert_int_equal(cg_journal_last_seq(j), 16);
	expect_replay(j, 0, 0, 1, 16);
	cg_journal_close(j);
}

static void t_replay_after(void **state)
{
	const char *dir = *state;
	struct cg_journal *j = jopen(dir, 0, 0);
	append_range(j, 1, 10);
	append_range(j, 11, 20);
	expect_replay(j, 0, 0, 1, 20);
	expect_replay(j, 7, 0, 8, 20);
	expect_replay(j, 10, 0, 11, 20);
	expect_replay(j, 19, 0, 20, 20);
	expect_replay(j, 20, 0, 21, 20);
	expect_replay(j, 1000, 0, 21, 20);
	cg_journal_close(j);
}

static void t_rotation(void **state)
{
	const char *dir = *state;
	struct cg_journal *j = jopen(dir, 300, 0);
	uint64_t i = 1;
	while (i <= 60) {
		uint64_t hi = i % 3 == 0 ? i + 4 : i; /* single records and batches of 5 */
		assert_int_equal(append_range(j, i, hi), i);
		i = hi + 1;
	}
	uint64_t last = i - 1;
	assert_int_equal(cg_journal_last_seq(j), last);
	uint64_t firsts[64], on_disk;
	size_t n = list_segs(dir, firsts, 64, &on_disk);
	if (n < 5)
		fail_msg("segments: got %zu, want several (segment_bytes 300)", n);
	assert_int_equal(cg_journal_segments(j), n);
	assert_int_equal(cg_journal_bytes(j), on_disk);
	assert_int_equal(firsts[0], 1);
	/* Each segment but the last reached the size before the next one began, and none began
	 * without a reason: a segment under the size is followed by none. */
	for (size_t k = 0; k + 1 < n; k++) {
		char *p = seg_name(dir, firsts[k]);
		if (file_size(p) < 300)
			fail_msg("%s: %" PRIu64 " bytes, under segment_bytes, yet a later segment exists", p,
			         file_size(p));
		free(p);
	}
	expect_replay(j, 0, 0, 1, last);
	/* after inside a later segment */
	expect_replay(j, firsts[2] + 1, 0, firsts[2] + 2, last);
	cg_journal_close(j);

	j = jopen(dir, 300, 0);
	expect_replay(j, 0, 0, 1, last);
	assert_int_equal(append_range(j, last + 1, last + 3), last + 1);
	expect_replay(j, 0, 0, 1, last + 3);
	cg_journal_close(j);
}

static void t_retire(void **state)
{
	const char *dir = *state;
	struct cg_journal *j = jopen(dir, 200, 0);
	for (uint64_t i = 1; i <= 40; i++)
		append_range(j, i, i);
	uint64_t firsts[64], on_disk;
	size_t n = list_segs(dir, firsts, 64, &on_disk);
	if (n < 4)
		fail_msg("segments: got %zu, want at least 4", n);

	/* upto one short of segment 2's last: segments 0 and 1 go, 2 stays. */
	uint64_t upto = firsts[3] - 2;
	assert_int_equal(cg_journal_retire(j, upto), 0);
	uint64_t after[64];
	size_t m = list_segs(dir, after, 64, &on_disk);
	assert_int_equal(m, n - 2);
	assert_int_equal(after[0], firsts[2]);
	assert_int_equal(cg_journal_bytes(j), on_disk);
	assert_int_equal(cg_journal_segments(j), m);
	expect_replay(j, 0, 0, firsts[2], 40);

	/* upto exactly segment 2's last: it goes too. */
	assert_int_equal(cg_journal_retire(j, firsts[3] - 1), 0);
	m = list_segs(dir, after, 64, &on_disk);
	assert_int_equal(m, n - 3);
	assert_int_equal(after[0], firsts[3]);
	expect_replay(j, 0, 0, firsts[3], 40);

	/* Everything: the active segment stays, with its records. */
	assert_int_equal(cg_journal_retire(j, UINT64_MAX), 0);
	m = list_segs(dir, after, 64, &on_disk);
	assert_int_equal(m, 1);
	assert_int_equal(after[0], firsts[n - 1]);
	assert_int_equal(cg_journal_bytes(j), on_disk);
	expect_replay(j, 0, 0, firsts[n - 1], 40);
	/* Nothing to do is fine. */
	assert_int_equal(cg_journal_retire(j, 0), 0);
	cg_journal_close(j);

	/* Reopened after retiring: seqs continue. */
	j = jopen(dir, 200, 0);
	assert_int_equal(cg_journal_last_seq(j), 40);
	assert_int_equal(append_range(j, 41, 41), 41);
	expect_replay(j, 0, 0, firsts[n - 1], 41);
	cg_journal_close(j);
}

static void t_reopen_continues(void **state)
{
	const char *dir = *state;
	struct cg_journal *j = jopen(dir, 0, 0);
	append_range(j, 1, 5);
	cg_journal_close(j);
	/* min_next at or below the files' next seq changes nothing */
	j = jopen(dir, 0, 3);
	assert_int_equal(cg_journal_last_seq(j), 5);
	assert_int_equal(append_range(j, 6, 8), 6);
	cg_journal_close(j);
	j = jopen(dir, 0, 9);
	assert_int_equal(cg_journal_last_seq(j), 8);
	assert_int_equal(append_range(j, 9, 9), 9);
	expect_replay(j, 0, 0, 1, 9);
	cg_journal_close(j);
}

static void t_min_next(void **state)
{
	const char *dir = *state;
	struct cg_journal *j = jopen(dir, 0, 1000);
	assert_int_equal(cg_journal_last_seq(j), 999);
	expect_replay(j, 0, 0, 1, 0);
	cg_journal_close(j);
	/* The empty journal remembers it (its segment is named for seq 1000). */
	j = jopen(dir, 0, 0);
	assert_int_equal(cg_journal_last_seq(j), 999);
	assert_int_equal(append_range(j, 1, 3), 1000); /* content numbers 1..3 at seqs 1000..1002 */
	expect_replay(j, 0, 999, 1000, 1002);
	cg_journal_close(j);

	/* min_next past the records: a jump, then the seqs go on from there. */
	j = jopen(dir, 0, 5000);
	assert_int_equal(cg_journal_last_seq(j), 4999);
	assert_int_equal(append_range(j, 4001, 4002), 5000);
	cg_journal_close(j);
	j = jopen(dir, 0, 0);
	assert_int_equal(cg_journal_last_seq(j), 5001);
	struct seen *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	s->base = 999;
	assert_int_equal(cg_journal_replay(j, 0, collect, s), 0);
	assert_int_equal(s->n, 5);
	assert_int_equal(s->bad, 0);
	uint64_t want[] = {1000, 1001, 1002, 5000, 5001};
	for (size_t k = 0; k < 5; k++)
		assert_int_equal(s->seqs[k], want[k]);
	free(s);
	cg_journal_close(j);
}

/* Records 1..K in dir/src (K in a batch of its own); returns its segment's bytes (*len of them)
 * and where record K begins (*startK). */
static unsigned char *journal_of(const char *dir, uint64_t K, size_t *len, uint64_t *startK)
{
	char *src = cg_h_fmt("%s/src", dir);
	struct cg_journal *j = jopen(src, 0, 0);
	append_range(j, 1, K - 1);
	*startK = cg_journal_bytes(j);
	append_range(j, K, K);
	uint64_t endK = cg_journal_bytes(j);
	cg_journal_close(j);
	assert_true(endK - *startK == CG_JOURNAL_RECORD_HEAD + rec_len(K));
	char *src_seg = seg_name(src, 1);
	unsigned char *data = (unsigned char *)cg_h_read_file(src_seg, len);
	assert_non_null(data);
	assert_int_equal(*len, endK);
	free(src_seg);
	free(src);
	return data;
}

/* A journal directory dir/<what>-<at> holding len bytes of data as its one segment (*seg). */
static char *damaged_copy(const char *dir, const char *what, uint64_t at, const unsigned char *data, size_t len,
			  char **seg)
{
	char *d = cg_h_fmt("%s/%s-%" PRIu64, dir, what, at);
	assert_int_equal(mkdir(d, 0700), 0);
	*seg = seg_name(d, 1);
	copy_prefix(data, len, *seg);
	return d;
}

/* Opened over a damaged record K: exactly records 1..K-1, the file cut to where K began. */
static void expect_repaired(struct cg_journal *j, const char *seg, uint64_t K, uint64_t startK, const char *what,
			    uint64_t at)
{
	if (cg_journal_last_seq(j) != K - 1)
		fail_msg("%s at %" PRIu64 ": last seq %" PRIu64 ", want %" PRIu64, what, at, cg_journal_last_seq(j), K - 1);
	expect_replay(j, 0, 0, 1, K - 1);
	if (file_size(seg) != startK)
		fail_msg("%s at %" PRIu64 ": file is %" PRIu64 " bytes, want %" PRIu64 " (the end of record K-1)", what, at,
			 file_size(seg), startK);
	assert_int_equal(cg_journal_bytes(j), startK);
}

/*
 * The torn write: K records, then the file cut at every length that ends inside record K (from
 * none of it to all but its last byte). Open must give exactly K-1 records, cut the file to where
 * record K began, and the journal must go on (record K's seq is reused: it was never acknowledged).
 */
static void t_torn_tail_every_offset(void **state)
{
	const char *dir = *state;
	const uint64_t K = 6;
	assert_true(rec_len(K) > 20);
	size_t len = 0;
	uint64_t startK = 0;
	unsigned char *data = journal_of(dir, K, &len, &startK);
	uint64_t endK = len;

	for (uint64_t cut = startK; cut < endK; cut++) {
		char *seg = NULL;
		char *d = damaged_copy(dir, "cut", cut, data, (size_t)cut, &seg);
		struct cg_journal *j = jopen(d, 0, 0);
		expect_repaired(j, seg, K, startK, "cut", cut);
		/* The journal goes on: K again, then K+1. */
		assert_int_equal(append_range(j, K, K), K);
		cg_journal_close(j);
		j = jopen(d, 0, 0);
		expect_replay(j, 0, 0, 1, K);
		assert_int_equal(append_range(j, K + 1, K + 1), K + 1);
		expect_replay(j, 0, 0, 1, K + 1);
		cg_journal_close(j);
		cg_h_rmrf(d);
		free(seg);
		free(d);
	}
	free(data);
}

/* Every byte of the last record flipped in turn (head and payload): that record is dropped. */
static void t_corrupt_last_record(void **state)
{
	const char *dir = *state;
	const uint64_t K = 5;
	size_t len = 0;
	uint64_t startK = 0;
	unsigned char *data = journal_of(dir, K, &len, &startK);
	uint64_t endK = len;
	struct cg_journal *j;

	for (uint64_t at = startK; at < endK; at++) {
		char *seg = NULL;
		data[at] ^= 0x20;
		char *d = damaged_copy(dir, "flip", at, data, len, &seg);
		data[at] ^= 0x20;
		j = jopen(d, 0, 0);
		expect_repaired(j, seg, K, startK, "byte flipped", at);
		assert_int_equal(append_range(j, K, K), K);
		cg_journal_close(j);
		cg_h_rmrf(d);
		free(seg);
		free(d);
	}

	/* Garbage after the last record (zeros: a length of 0) goes too. */
	unsigned char *more = calloc(1, len + 100);
	assert_non_null(more);
	memcpy(more, data, len);
	char *seg = NULL;
	char *d = damaged_copy(dir, "zeros", 0, more, len + 100, &seg);
	j = jopen(d, 0, 0);
	expect_replay(j, 0, 0, 1, K);
	assert_int_equal(file_size(seg), endK);
	cg_journal_close(j);
	free(more);
	free(seg);
	free(d);
	free(data);
}

/* A bad record in a segment that is not the last: open refuses, naming the file and the byte. */
static void t_corrupt_earlier_segment(void **state)
{
	const char *dir = *state;
	struct cg_journal *j = jopen(dir, 200, 0);
	for (uint64_t i = 1; i <= 20; i++)
		append_range(j, i, i);
	cg_journal_close(j);
	uint64_t firsts[64];
	size_t n = list_segs(dir, firsts, 64, NULL);
	assert_true(n >= 3);

	/* The second record of the first segment: its payload's first byte. */
	char *seg = seg_name(dir, firsts[0]);
	size_t len = 0;
	unsigned char *data = (unsigned char *)cg_h_read_file(seg, &len);
	assert_non_null(data);
	uint64_t rec2 = CG_JOURNAL_HEADER_BYTES + CG_JOURNAL_RECORD_HEAD + rec_len(1);
	data[rec2 + CG_JOURNAL_RECORD_HEAD] ^= 0x01;
	copy_prefix(data, len, seg);

	struct cg_journal *bad = NULL;
	char err[512] = "";
	int rc = cg_journal_open(dir, 200, 0, &bad, err, sizeof(err));
	assert_int_equal(rc, CG_EIO);
	assert_null(bad);
	cg_h_expect_has(err, "seg-0000000000000001.jnl", "open's error");
	char *at = cg_h_fmt("byte %" PRIu64, rec2);
	cg_h_expect_has(err, at, "open's error");
	free(at);
	/* Nothing was cut: the acknowledged records after it are still there for a person to rescue. */
	assert_int_equal(file_size(seg), len);
	free(data);
	free(seg);
}

/* Records whose CRC is right but whose seq is not the next one are bad records too. */
/* A damaged record with valid ones after it in the last segment is not a torn tail: refused
 * (cutting there would drop acknowledged records), the file left as it is. */
static void t_corrupt_middle_of_last(void **state)
{
	const char *dir = *state;
	char *d = cg_h_fmt("%s/middle", dir);
	struct cg_journal *j = jopen(d, 0, 0);
	append_range(j, 1, 5);
	cg_journal_close(j);
	char *seg = seg_name(d, 1);
	size_t len = 0;
	char *data = cg_h_read_file(seg, &len);
	assert_non_null(data);
	/* The second record's first payload byte. */
	size_t rec1 = CG_JOURNAL_RECORD_HEAD + rec_len(1);
	data[CG_JOURNAL_HEADER_BYTES + rec1 + CG_JOURNAL_RECORD_HEAD] ^= 0x5a;
	copy_prefix((unsigned char *)data, len, seg);
	j = NULL;
	char err[512] = "";
	int rc = cg_journal_open(d, 0, 0, &j, err, sizeof(err));
	if (rc != CG_EIO || !strstr(err, "followed by valid ones"))
		fail_msg("damage in the middle: got %s (%s), want CG_EIO naming it", cg_strerror(rc), err);
	assert_null(j);
	assert_int_equal(file_size(seg), len);
	free(data);
	free(seg);
	free(d);
}

static void t_bad_seq(void **state)
{
	const char *dir = *state;
	struct {
		const char *name;
		uint64_t seqs[3];
		uint64_t want_last;
	} cases[] = {
	    {"gap", {1, 2, 4}, 2},
	    {"repeat", {1, 2, 2}, 2},
	    {"backwards", {1, 3, 2}, 1},
	    {"first not the name's", {5, 1, 1}, 0},
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		/* The journal makes the file (its header), then we add the records. */
		char *d = cg_h_fmt("%s/case-%zu", dir, c);
		struct cg_journal *j = jopen(d, 0, 0);
		cg_journal_close(j);
		char *seg = seg_name(d, 1);
		unsigned char buf[256];
		size_t len = 0;
		unsigned char *hdr = (unsigned char *)cg_h_read_file(seg, &len);
		assert_non_null(hdr);
		assert_int_equal(len, CG_JOURNAL_HEADER_BYTES);
		memcpy(buf, hdr, len);
		free(hdr);
		size_t good_end = len;
		for (int k = 0; k < 3; k++) {
			len += frame(buf + len, cases[c].seqs[k], k == 0 ? "one" : k == 1 ? "two" : "three");
			if ((uint64_t)k < cases[c].want_last)
				good_end = len;
		}
		copy_prefix(buf, len, seg);
		j = jopen(d, 0, 0);
		if (cg_journal_last_seq(j) != cases[c].want_last)
			fail_msg("%s: last seq %" PRIu64 ", want %" PRIu64, cases[c].name, cg_journal_last_seq(j),
			         cases[c].want_last);
		if (file_size(seg) != good_end)
			fail_msg("%s: file is %" PRIu64 " bytes, want %zu", cases[c].name, file_size(seg), good_end);
		cg_journal_close(j);
		free(seg);
		free(d);
	}

	/* The same in a segment that is not the last: refused. */
	char *d = cg_h_fmt("%s/earlier", dir);
	struct cg_journal *j = jopen(d, 0, 0);
	append_range(j, 1, 1);
	cg_journal_close(j);
	j = jopen(d, 0, 10); /* min_next past it: seg-10 follows, seg-1 is no longer the last */
	cg_journal_close(j);
	char *seg = seg_name(d, 1);
	size_t len = 0;
	unsigned char *hdr = (unsigned char *)cg_h_read_file(seg, &len);
	assert_non_null(hdr);
	unsigned char buf[256];
	memcpy(buf, hdr, CG_JOURNAL_HEADER_BYTES);
	free(hdr);
	len = CG_JOURNAL_HEADER_BYTES;
	len += frame(buf + len, 1, "one");
	len += frame(buf + len, 3, "three");
	copy_prefix(buf, len, seg);
	struct cg_journal *bad = NULL;
	char err[512] = "";
	assert_int_equal(cg_journal_open(d, 0, 0, &bad, err, sizeof(err)), CG_EIO);
	cg_h_expect_has(err, "seg-0000000000000001.jnl", "open's error");
	free(seg);
	free(d);
}

/* Headers are never torn (segments are renamed into place): a bad one is an error; stray .tmp files go. */
static void t_bad_header_and_strays(void **state)
{
	const char *dir = *state;
	struct cg_journal *j = jopen(dir, 0, 0);
	append_range(j, 1, 3);
	cg_journal_close(j);
	char *tmp = cg_h_fmt("%s/seg-0000000000000009.jnl.tmp", dir);
	assert_int_equal(cg_h_write_file(tmp, "half", 4), 0);
	char *other = cg_h_fmt("%s/notes.txt", dir);
	assert_int_equal(cg_h_write_file(other, "x", 1), 0);
	j = jopen(dir, 0, 0);
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(access(other, F_OK), 0);
	expect_replay(j, 0, 0, 1, 3);
	cg_journal_close(j);

	/* A header naming another first seq than the file name. */
	char *seg = seg_name(dir, 1);
	size_t len = 0;
	unsigned char *data = (unsigned char *)cg_h_read_file(seg, &len);
	assert_non_null(data);
	data[8] = 2;
	copy_prefix(data, len, seg);
	struct cg_journal *bad = NULL;
	char err[512] = "";
	assert_int_equal(cg_journal_open(dir, 0, 0, &bad, err, sizeof(err)), CG_EIO);
	cg_h_expect_has(err, "seg-0000000000000001.jnl", "open's error");
	/* Short file. */
	copy_prefix(data, 5, seg);
	assert_int_equal(cg_journal_open(dir, 0, 0, &bad, err, sizeof(err)), CG_EIO);
	cg_h_expect_has(err, "header", "open's error");
	assert_null(bad);
	free(data);
	free(seg);
	free(other);
	free(tmp);
}

static void t_bad_args(void **state)
{
	const char *dir = *state;
	struct cg_journal *j = jopen(dir, 0, 0);
	uint64_t first = 77;
	unsigned char b[4] = {1, 2, 3, 4};
	struct iovec iov[2] = {{b, 4}, {b, 0}};
	assert_int_equal(cg_journal_append(j, iov, 2, &first), CG_EINVAL);
	iov[1].iov_len = CG_JOURNAL_RECORD_MAX + 1;
	assert_int_equal(cg_journal_append(j, iov, 2, &first), CG_EINVAL);
	assert_int_equal(cg_journal_append(j, iov, 0, &first), 0);
	assert_int_equal(first, 77);
	assert_int_equal(cg_journal_last_seq(j), 0);
	assert_int_equal(cg_journal_bytes(j), CG_JOURNAL_HEADER_BYTES);
	assert_int_equal(append_range(j, 1, 1), 1);
	cg_journal_close(j);
	cg_journal_close(NULL);
	struct cg_journal *x = NULL;
	char err[128];
	assert_int_equal(cg_journal_open(NULL, 0, 0, &x, err, sizeof(err)), CG_EINVAL);
	/* A file where the directory should be. */
	char *f = cg_h_fmt("%s/file", dir);
	assert_int_equal(cg_h_write_file(f, "x", 1), 0);
	assert_true(cg_journal_open(f, 0, 0, &x, err, sizeof(err)) < 0);
	assert_null(x);
	free(f);
}

/* Appending when the directory is gone and a segment must be made: an error, no crash, no seq used. */
static void t_append_dir_removed(void **state)
{
	const char *dir = *state;
	char *d = cg_h_fmt("%s/j", dir);
	struct cg_journal *j = jopen(d, 100, 0);
	append_range(j, 1, 10); /* past 100 bytes: the next append makes a segment */
	cg_h_rmrf(d);
	uint64_t first = 0;
	unsigned char b[3] = {1, 2, 3};
	struct iovec iov = {b, 3};
	int rc = cg_journal_append(j, &iov, 1, &first);
	if (rc >= 0)
		fail_msg("append into a removed directory: got %d, want an error", rc);
	assert_int_equal(first, 0);
	assert_int_equal(cg_journal_last_seq(j), 10);
	(void)cg_journal_retire(j, 5); /* must not crash either */
	cg_journal_close(j);
	free(d);
}

/*
 * A batch that fails halfway through its write (RLIMIT_FSIZE: the file may not grow past a size)
 * leaves nothing behind: the file is cut back to where the batch began, its seqs are reused.
 */
static void t_failed_append_truncates(void **state)
{
	const char *dir = *state;
	struct cg_journal *j = jopen(dir, 0, 0);
	append_range(j, 1, 3);
	char *seg = seg_name(dir, 1);
	uint64_t before = file_size(seg);
	assert_int_equal(cg_journal_bytes(j), before);

	struct rlimit old, lim;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	void (*oldsig)(int) = signal(SIGXFSZ, SIG_IGN);
	lim = old;
	lim.rlim_cur = (rlim_t)(before + 100); /* the batch below is more than 100 bytes */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	struct iovec iov[8];
	unsigned char b[8][60];
	for (int k = 0; k < 8; k++) {
		memset(b[k], 'a' + k, sizeof(b[k]));
		iov[k].iov_base = b[k];
		iov[k].iov_len = sizeof(b[k]);
	}
	uint64_t first = 0;
	int rc = cg_journal_append(j, iov, 8, &first);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, oldsig);
	assert_int_equal(rc, CG_EIO);
	assert_int_equal(first, 0);
	if (file_size(seg) != before)
		fail_msg("after the failed batch: file is %" PRIu64 " bytes, want %" PRIu64, file_size(seg), before);
	assert_int_equal(cg_journal_bytes(j), before);
	assert_int_equal(cg_journal_last_seq(j), 3);
	expect_replay(j, 0, 0, 1, 3);

	/* The seqs were not used: the next append gets 4, and all of it survives a reopen. */
	assert_int_equal(append_range(j, 4, 6), 4);
	cg_journal_close(j);
	j = jopen(dir, 0, 0);
	expect_replay(j, 0, 0, 1, 6);
	cg_journal_close(j);
	free(seg);
}

/* Retire from one thread while another appends (the daemon's shape). */
struct appender {
	struct cg_journal *j;
	uint64_t n;
	int failed;
	atomic_int finished;
};

static void append_thread(void *arg)
{
	struct appender *a = arg;
	for (uint64_t i = 1; i <= a->n; i++) {
		unsigned char buf[256];
		rec_fill(i, buf);
		struct iovec iov = {buf, rec_len(i)};
		uint64_t first = 0;
		if (cg_journal_append(a->j, &iov, 1, &first) != 0 || first != i)
			a->failed++;
	}
	atomic_store(&a->finished, 1);
}

static void t_retire_while_appending(void **state)
{
	const char *dir = *state;
	struct cg_journal *j = jopen(dir, 400, 0);
	struct appender a = {.j = j, .n = 300};
	uv_thread_t th;
	assert_int_equal(uv_thread_create(&th, append_thread, &a), 0);
	uint64_t retired = 0;
	/* Retires race the appends for as long as they go on (paced, not waited on). */
	while (!atomic_load(&a.finished)) {
		uint64_t last = cg_journal_last_seq(j);
		if (last > 20) {
			assert_int_equal(cg_journal_retire(j, last - 20), 0);
			retired = last - 20;
		}
		uv_sleep(1);
	}
	uv_thread_join(&th);
	assert_int_equal(a.failed, 0);
	/* On a fast disk the appends may all be done before a retire ran: one more after them. */
	assert_true(retired <= a.n - 20);
	assert_int_equal(cg_journal_retire(j, a.n - 20), 0);
	retired = a.n - 20;
	uint64_t on_disk;
	uint64_t firsts[256];
	size_t n = list_segs(dir, firsts, 256, &on_disk);
	assert_int_equal(cg_journal_bytes(j), on_disk);
	assert_int_equal(cg_journal_segments(j), n);
	assert_true(firsts[0] <= retired + 1);
	expect_replay(j, retired, 0, retired + 1, a.n);
	cg_journal_close(j);
	j = jopen(dir, 400, 0);
	expect_replay(j, retired, 0, retired + 1, a.n);
	cg_journal_close(j);
}

/* ---- the writer queue ---- */

#define QN 1000

struct qfx {
	uv_loop_t loop;
	struct cg_journal *j;
	struct cg_journalq *q;
	uint64_t seqs[QN];
	int rcs[QN];
	int done_order[QN];
	int ndone;
	int closed;
	int submitted;
};

struct qud {
	struct qfx *f;
	int idx;
};
static struct qud quds[QN];

static void q_done(int rc, uint64_t seq, void *ud)
{
	struct qud *u = ud;
	struct qfx *f = u->f;
	f->rcs[u->idx] = rc;
	f->seqs[u->idx] = seq;
	f->done_order[f->ndone++] = u->idx;
}

static void q_closed(void *ud)
{
	struct qfx *f = ud;
	f->closed++;
}

static void submit_all(uv_timer_t *t)
{
	struct qfx *f = t->data;
	for (int i = 0; i < QN; i++) {
		size_t n = rec_len((uint64_t)i + 1);
		unsigned char *r = malloc(n);
		assert_non_null(r);
		rec_fill((uint64_t)i + 1, r);
		quds[i].f = f;
		quds[i].idx = i;
		assert_int_equal(cg_journalq_submit(f->q, r, n, q_done, &quds[i]), 0);
		f->submitted++;
	}
	uv_close((uv_handle_t *)t, NULL);
}

static int q_all_done(struct qfx *f)
{
	return f->ndone == QN;
}

static void t_journalq(void **state)
{
	const char *dir = *state;
	struct qfx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	f->j = jopen(dir, 16 * 1024, 0);
	assert_int_equal(cg_journalq_create(&f->loop, f->j, &f->q), 0);
	uv_timer_t t;
	assert_int_equal(uv_timer_init(&f->loop, &t), 0);
	t.data = f;
	assert_int_equal(uv_timer_start(&t, submit_all, 0, 0), 0);
	while (!q_all_done(f))
		assert_true(uv_run(&f->loop, UV_RUN_ONCE) != 0 || q_all_done(f));
	for (int i = 0; i < QN; i++) {
		if (f->rcs[i] != 0)
			fail_msg("record %d: rc %s", i, cg_strerror(f->rcs[i]));
		if (f->done_order[i] != i)
			fail_msg("completion %d: got record %d, want submission order", i, f->done_order[i]);
		if (f->seqs[i] != (uint64_t)i + 1)
			fail_msg("record %d: got seq %" PRIu64 ", want %d", i, f->seqs[i], i + 1);
	}
	struct cg_journalq_counts c;
	cg_journalq_counts(f->q, &c);
	assert_int_equal(c.records, QN);
	if (c.batches >= QN || c.batches == 0)
		fail_msg("batches: got %" PRIu64 " for %d records, want fewer (one fdatasync per batch)", c.batches,
		         QN);
	uint64_t bytes = 0;
	for (int i = 0; i < QN; i++)
		bytes += rec_len((uint64_t)i + 1);
	assert_int_equal(c.bytes, bytes);

	cg_journalq_destroy(f->q, q_closed, f);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(f->closed, 1);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	expect_replay(f->j, 0, 0, 1, QN);
	cg_journal_close(f->j);
	free(f);
}

/* Destroy with records still queued: they are all written and completed, then on_closed; then ECLOSED. */
static void t_journalq_destroy_pending(void **state)
{
	const char *dir = *state;
	struct qfx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	f->j = jopen(dir, 0, 0);
	assert_int_equal(cg_journalq_create(&f->loop, f->j, &f->q), 0);
	for (int i = 0; i < 50; i++) {
		size_t n = rec_len((uint64_t)i + 1);
		unsigned char *r = malloc(n);
		assert_non_null(r);
		rec_fill((uint64_t)i + 1, r);
		quds[i].f = f;
		quds[i].idx = i;
		assert_int_equal(cg_journalq_submit(f->q, r, n, q_done, &quds[i]), 0);
	}
	unsigned char *bad = malloc(1);
	assert_non_null(bad);
	assert_int_equal(cg_journalq_submit(f->q, bad, 0, q_done, NULL), CG_EINVAL);
	cg_journalq_destroy(f->q, q_closed, f);
	cg_journalq_destroy(f->q, q_closed, f); /* ignored */
	assert_int_equal(cg_journalq_submit(f->q, bad, 1, q_done, NULL), CG_ECLOSED);
	free(bad); /* refused: still ours */
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(f->closed, 1);
	assert_int_equal(f->ndone, 50);
	for (int i = 0; i < 50; i++) {
		assert_int_equal(f->rcs[i], 0);
		assert_int_equal(f->seqs[i], (uint64_t)i + 1);
	}
	assert_int_equal(uv_loop_close(&f->loop), 0);
	expect_replay(f->j, 0, 0, 1, 50);
	cg_journal_close(f->j);
	cg_journalq_destroy(NULL, NULL, NULL);
	free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(t_crc32c),
	    cmocka_unit_test_setup_teardown(t_round_trip, cg_h_dir_setup, cg_h_dir_teardown),
	    cmocka_unit_test_setup_teardown(t_replay_after, cg_h_dir_setup, cg_h_dir_teardown),
	    cmocka_unit_test_setup_teardown(t_rotation, cg_h_dir_setup, cg_h_dir_teardown),
	    cmocka_unit_test_setup_teardown(t_retire, cg_h_dir_setup, cg_h_dir_teardown),
	    cmocka_unit_test_setup_teardown(t_reopen_continues, cg_h_dir_setup, cg_h_dir_teardown),
	    cmocka_unit_test_setup_teardown(t_min_next, cg_h_dir_setup, cg_h_dir_teardown),
	    cmocka_unit_test_setup_teardown(t_torn_tail_every_offset, cg_h_dir_setup, cg_h_dir_teardown),
	    cmocka_unit_test_setup_teardown(t_corrupt_last_record, cg_h_dir_setup, cg_h_dir_teardown),
	    cmocka_unit_test_setup_teardown(t_corrupt_earlier_segment, cg_h_dir_setup, cg_h_dir_teardown),
	    cmocka_unit_test_setup_teardown(t_bad_seq, cg_h_dir_setup, cg_h_dir_teardown),
	    cmocka_unit_test_setup_teardown(t_corrupt_middle_of_last, cg_h_dir_setup, cg_h_dir_teardown),
	    cmocka_unit_test_setup_teardown(t_bad_header_and_strays, cg_h_dir_setup, cg_h_dir_teardown),
	    cmocka_unit_test_setup_teardown(t_bad_args, cg_h_dir_setup, cg_h_dir_teardown),
	    cmocka_unit_test_setup_teardown(t_append_dir_removed, cg_h_dir_setup, cg_h_dir_teardown),
	    cmocka_unit_test_setup_teardown(t_failed_append_truncates, cg_h_dir_setup, cg_h_dir_teardown),
	    cmocka_unit_test_setup_teardown(t_retire_while_appending, cg_h_dir_setup, cg_h_dir_teardown),
	    cmocka_unit_test_setup_teardown(t_journalq, cg_h_dir_setup, cg_h_dir_teardown),
	    cmocka_unit_test_setup_teardown(t_journalq_destroy_pending, cg_h_dir_setup, cg_h_dir_teardown),
	};
	return cg_h_run_group(tests, NULL, NULL);
}
