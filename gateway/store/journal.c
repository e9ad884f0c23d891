/* journal.c: the intake journal's records and segment files: framing, reading, batched appends, replay, retire (opening: journal_open.c). */
#include "journal_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "fsdir.h"

#define CG_LOG_COMPONENT "journal"
#include "log.h"

const unsigned char jnl_magic[8] = {'C', 'G', 'J', 'R', 'N', 'L', 0x00, 0x01};

/* ---- CRC-32C ---- */

static uint32_t crc_table[256];
static uv_once_t crc_once = UV_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		crc_table[i] = c;
	}
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* The same CRC with the CPU's crc32 instruction (SSE4.2): the table costs a few percent of a
 * webhook's CPU at 2 KB per record, this about a tenth of that. */
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const unsigned char *b, size_t n)
{
	uint64_t c = crc;
	for (; n >= 8; n -= 8, b += 8) {
		uint64_t v;
		memcpy(&v, b, 8);
		c = __builtin_ia32_crc32di(c, v);
	}
	uint32_t c32 = (uint32_t)c;
	while (n--)
		c32 = __builtin_ia32_crc32qi(c32, *b++);
	return c32;
}
#define CRC32C_HW 1
#endif

uint32_t cg_journal_crc32c(uint32_t crc, const void *p, size_t n)
{
	const unsigned char *b = p;
	crc = ~crc;
#ifdef CRC32C_HW
	static atomic_int hw = -1;
	int use = atomic_load_explicit(&hw, memory_order_relaxed);
	if (use < 0) {
		use = __builtin_cpu_supports("sse4.2") ? 1 : 0; /* the same answer in every thread */
		atomic_store_explicit(&hw, use, memory_order_relaxed);
	}
	if (use)
		return ~crc32c_hw(crc, b, n);
#endif
	uv_once(&crc_once, crc_init);
	while (n--)
		crc = crc_table[(crc ^ *b++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* ---- little-endian ---- */

void jnl_put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

void jnl_put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

uint32_t jnl_get32(const unsigned char *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

uint64_t jnl_get64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* The record's CRC: over len (4 bytes), seq (8) and the payload. */
uint32_t jnl_record_crc(const unsigned char *head, const void *payload, size_t len)
{
	unsigned char pre[12];
	memcpy(pre, head, 4);
	memcpy(pre + 4, head + 8, 8);
	return cg_journal_crc32c(cg_journal_crc32c(0, pre, sizeof(pre)), payload, len);
}

void jnl_record_head(unsigned char head[CG_JOURNAL_RECORD_HEAD], uint64_t seq, const void *payload, size_t len)
{
	jnl_put32(head, (uint32_t)len);
	jnl_put64(head + 8, seq);
	jnl_put32(head + 4, jnl_record_crc(head, payload, len));
}

/* ---- paths and files ---- */

void jnl_seg_path(const struct cg_journal *j, uint64_t first, const char *suffix, char *buf, size_t buflen)
{
	snprintf(buf, buflen, "%s/seg-%016" PRIx64 ".jnl%s", j->dir, first, suffix);
}

/* Parses "seg-<16 lowercase hex>.jnl" exactly. */
int jnl_parse_seg_name(const char *name, uint64_t *first)
{
	if (strlen(name) != SEG_NAME_LEN || memcmp(name, "seg-", 4) != 0 || memcmp(name + 20, ".jnl", 4) != 0)
		return -1;
	uint64_t v = 0;
	for (int i = 4; i < 20; i++) {
		char c = name[i];
		unsigned d;
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else
			return -1;
		v = (v << 4) | d;
	}
	*first = v;
	return 0;
}

int jnl_io_err(int e)
{
	if (e == ENOSPC || e == EDQUOT)
		return CG_EFULL;
	if (e == ENOMEM)
		return CG_ENOMEM;
	return CG_EIO;
}

int jnl_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

/* pread until n bytes or end of file; returns the bytes read or -1. */
ssize_t jnl_pread_full(int fd, void *buf, size_t n, uint64_t off)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

ssize_t jnl_rd_get(struct reader *r, uint64_t pos, size_t n, const unsigned char **p)
{
	if (pos >= r->off && pos - r->off <= r->len && r->len - (pos - r->off) >= n) {
		*p = r->buf + (pos - r->off);
		return (ssize_t)n;
	}
	size_t want = n > READ_CHUNK ? n : READ_CHUNK;
	if (pos >= r->end)
		want = 0;
	else if (r->end - pos < want)
		want = (size_t)(r->end - pos);
	if (want > r->cap) {
		unsigned char *nb = realloc(r->buf, want);
		if (!nb) {
			errno = ENOMEM;
			return -1;
		}
		r->buf = nb;
		r->cap = want;
	}
	ssize_t got = want ? jnl_pread_full(r->fd, r->buf, want, pos) : 0;
	if (got < 0) {
		r->len = 0;
		return -1;
	}
	r->off = pos;
	r->len = (size_t)got;
	*p = r->buf;
	return (size_t)got < n ? got : (ssize_t)n;
}


/*
 * Reads the record at pos, expecting seq want. REC_END: pos is the end. REC_BAD: why says what
 * is wrong. On REC_OK *payload points into the reader (valid until the next call), *len is its size.
 */
enum rec_status jnl_rd_record(struct reader *r, uint64_t pos, uint64_t want, int check_crc,
                                 const unsigned char **payload, uint32_t *len, const char **why)
{
	const unsigned char *h;
	unsigned char head[CG_JOURNAL_RECORD_HEAD];
	ssize_t got = jnl_rd_get(r, pos, CG_JOURNAL_RECORD_HEAD, &h);
	if (got < 0)
		return REC_IOERR;
	if (got == 0)
		return REC_END;
	if (got < CG_JOURNAL_RECORD_HEAD) {
		*why = "record head cut short";
		return REC_BAD;
	}
	memcpy(head, h, sizeof(head));
	uint32_t n = jnl_get32(head);
	if (n == 0 || n > CG_JOURNAL_RECORD_MAX) {
		*why = "bad record length";
		return REC_BAD;
	}
	if (jnl_get64(head + 8) != want) {
		*why = "unexpected seq";
		return REC_BAD;
	}
	const unsigned char *p;
	got = jnl_rd_get(r, pos + CG_JOURNAL_RECORD_HEAD, n, &p);
	if (got < 0)
		return REC_IOERR;
	if ((size_t)got < n) {
		*why = "record cut short";
		return REC_BAD;
	}
	if (check_crc && jnl_record_crc(head, p, n) != jnl_get32(head + 4)) {
		*why = "CRC mismatch";
		return REC_BAD;
	}
	*payload = p;
	*len = n;
	return REC_OK;
}

/* Checks a segment's header against the first seq its name gives. */
int jnl_check_header(int fd, uint64_t first, const char **why)
{
	unsigned char h[CG_JOURNAL_HEADER_BYTES];
	ssize_t got = jnl_pread_full(fd, h, sizeof(h), 0);
	if (got < 0) {
		*why = strerror(errno);
		return -1;
	}
	if (got < (ssize_t)sizeof(h)) {
		*why = "header cut short";
		return -1;
	}
	if (memcmp(h, jnl_magic, sizeof(jnl_magic)) != 0) {
		*why = "bad magic or version";
		return -1;
	}
	if (jnl_get64(h + 8) != first) {
		*why = "header's first seq differs from the file name's";
		return -1;
	}
	return 0;
}

/* ---- segments ---- */

/* Appends segment first to the list (grown as needed). */
int jnl_segs_push(struct cg_journal *j, uint64_t first)
{
	if (j->nsegs == j->cap) {
		size_t nc = j->cap ? j->cap * 2 : 8;
		struct seg *ns = realloc(j->segs, nc * sizeof(*ns));
		if (!ns)
			return CG_ENOMEM;
		j->segs = ns;
		j->cap = nc;
	}
	j->segs[j->nsegs].first = first;
	j->segs[j->nsegs].last = first - 1;
	j->segs[j->nsegs].size = CG_JOURNAL_HEADER_BYTES;
	j->nsegs++;
	atomic_store(&j->nsegs_pub, j->nsegs);
	return 0;
}

/*
 * Makes segment first: written as a .tmp (header, synced), renamed into place, the directory
 * synced. Returns the open fd (read-write) or a negative enum cg_err.
 */
int jnl_create_segment(struct cg_journal *j, uint64_t first, char *err, size_t errlen)
{
	char tmp[PATH_MAX], path[PATH_MAX];
	unsigned char h[CG_JOURNAL_HEADER_BYTES];
	int rc;

	jnl_seg_path(j, first, ".tmp", tmp, sizeof(tmp));
	jnl_seg_path(j, first, "", path, sizeof(path));
	memcpy(h, jnl_magic, sizeof(jnl_magic));
	jnl_put64(h + 8, first);
	int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = jnl_io_err(errno);
		snprintf(err, errlen, "journal %s: %s", tmp, strerror(errno));
		return rc;
	}
	ssize_t w;
	do
		w = pwrite(fd, h, sizeof(h), 0);
	while (w < 0 && errno == EINTR);
	if (w != (ssize_t)sizeof(h) || fsync(fd) != 0) {
		rc = w >= 0 && w != (ssize_t)sizeof(h) ? CG_EIO : jnl_io_err(errno);
		snprintf(err, errlen, "journal %s: writing the header: %s", tmp,
		         w >= 0 && w != (ssize_t)sizeof(h) ? "short write" : strerror(errno));
		goto fail;
	}
	if (rename(tmp, path) != 0) {
		rc = jnl_io_err(errno);
		snprintf(err, errlen, "journal %s: %s", path, strerror(errno));
		goto fail;
	}
	if (jnl_fsync_dir(j->dir) != 0) {
		/* The name may not survive a crash: drop the file, the batch fails, nothing is lost. */
		rc = jnl_io_err(errno);
		snprintf(err, errlen, "journal %s: fsync: %s", j->dir, strerror(errno));
		close(fd);
		unlink(path);
		return rc;
	}
	return fd;
fail:
	close(fd);
	unlink(tmp);
	return rc;
}

/* Appends segment first to the list and makes it the active one (the old fd closed). */
int jnl_roll(struct cg_journal *j, uint64_t first, char *err, size_t errlen)
{
	if (j->nsegs == j->cap) {
		/* Grow before creating: a file made and then forgotten would hold a seq gap. */
		int rc = jnl_segs_push(j, first);
		if (rc) {
			snprintf(err, errlen, "journal %s: out of memory", j->dir);
			return rc;
		}
		j->nsegs--;
		atomic_store(&j->nsegs_pub, j->nsegs);
	}
	int fd = jnl_create_segment(j, first, err, errlen);
	if (fd < 0)
		return fd;
	(void)jnl_segs_push(j, first); /* has room */
	if (j->fd >= 0)
		close(j->fd);
	j->fd = fd;
	atomic_fetch_add(&j->bytes, CG_JOURNAL_HEADER_BYTES);
	return 0;
}

/* ---- append ---- */

/* Writes iov[0..cnt) at off, following short writes; 0 or -1 (errno). */
static int pwritev_full(int fd, struct iovec *iov, int cnt, uint64_t off)
{
	while (cnt > 0) {
		int now = cnt > IOV_MAX ? IOV_MAX : cnt;
		ssize_t w = pwritev(fd, iov, now, (off_t)off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) {
			errno = EIO;
			return -1;
		}
		off += (uint64_t)w;
		size_t left = (size_t)w;
		while (cnt > 0 && left >= iov->iov_len) {
			left -= iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (char *)iov->iov_base + left;
			iov->iov_len -= left;
		}
	}
	return 0;
}

int cg_journal_append(struct cg_journal *j, const struct iovec *recs, size_t n, uint64_t *first_seq)
{
	if (!j || (n && !recs))
		return CG_EINVAL;
	if (n == 0)
		return 0;
	if (n > SIZE_MAX / (2 * (sizeof(struct iovec) + CG_JOURNAL_RECORD_HEAD)) || n > INT_MAX / 2)
		return CG_E2BIG;
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++) {
		if (recs[i].iov_len == 0 || recs[i].iov_len > CG_JOURNAL_RECORD_MAX || !recs[i].iov_base)
			return CG_EINVAL;
		total += CG_JOURNAL_RECORD_HEAD + recs[i].iov_len;
	}
	unsigned char *heads = malloc(n * CG_JOURNAL_RECORD_HEAD);
	struct iovec *iov = malloc(2 * n * sizeof(*iov));
	if (!heads || !iov) {
		free(heads);
		free(iov);
		return CG_ENOMEM;
	}

	int rc = 0;
	char err[PATH_MAX + 128];
	uv_mutex_lock(&j->mu);
	if (j->broken) {
		rc = CG_EIO;
		goto out;
	}
	uint64_t first = atomic_load(&j->last_seq) + 1;
	struct seg *a = &j->segs[j->nsegs - 1];
	if (a->size >= j->segment_bytes && a->last >= a->first) {
		rc = jnl_roll(j, first, err, sizeof(err));
		if (rc) {
			CG_LOG_ERR("%s", err);
			goto out;
		}
		a = &j->segs[j->nsegs - 1];
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char *h = heads + i * CG_JOURNAL_RECORD_HEAD;
		jnl_record_head(h, first + i, recs[i].iov_base, recs[i].iov_len);
		iov[2 * i].iov_base = h;
		iov[2 * i].iov_len = CG_JOURNAL_RECORD_HEAD;
		iov[2 * i + 1] = recs[i];
	}
	uint64_t start = a->size;
	if (pwritev_full(j->fd, iov, (int)(2 * n), start) != 0 || fdatasync(j->fd) != 0) {
		int e = errno;
		rc = jnl_io_err(e);
		if (rc == CG_ENOMEM)
			rc = CG_EIO;
		/* Nothing of the batch may stay: a later open would replay records reported as failed. */
		if (ftruncate(j->fd, (off_t)start) != 0 || fdatasync(j->fd) != 0) {
			j->broken = 1;
			CG_LOG_ERR("%s: append of %zu records failed (%s), and truncating back to byte %" PRIu64
			           " failed too (%s): refusing appends until reopened",
			           j->dir, n, strerror(e), start, strerror(errno));
		} else {
			CG_LOG_WARN("%s: append of %zu records failed: %s", j->dir, n, strerror(e));
		}
		goto out;
	}
	a->size = start + total;
	a->last = first + n - 1;
	atomic_fetch_add(&j->bytes, total);
	atomic_store(&j->last_seq, first + n - 1);
	if (first_seq)
		*first_seq = first;
out:
	uv_mutex_unlock(&j->mu);
	free(heads);
	free(iov);
	return rc;
}

/* ---- retire ---- */

int cg_journal_retire(struct cg_journal *j, uint64_t upto)
{
	if (!j)
		return CG_EINVAL;
	uint64_t *gone = NULL;
	size_t ngone = 0;
	uint64_t freed = 0;

	uv_mutex_lock(&j->mu);
	size_t k = 0;
	while (k + 1 < j->nsegs && j->segs[k].last <= upto)
		k++;
	if (k) {
		gone = malloc(k * sizeof(*gone));
		if (!gone) {
			uv_mutex_unlock(&j->mu);
			return CG_ENOMEM;
		}
		for (size_t i = 0; i < k; i++) {
			gone[i] = j->segs[i].first;
			freed += j->segs[i].size;
		}
		memmove(j->segs, j->segs + k, (j->nsegs - k) * sizeof(*j->segs));
		j->nsegs -= k;
		ngone = k;
		atomic_store(&j->nsegs_pub, j->nsegs);
		atomic_fetch_sub(&j->bytes, freed);
	}
	uv_mutex_unlock(&j->mu);

	/* Unlinked outside the lock: appends go on meanwhile. One left behind is found again at open. */
	int rc = 0;
	for (size_t i = 0; i < ngone; i++) {
		char path[PATH_MAX];
		jnl_seg_path(j, gone[i], "", path, sizeof(path));
		if (unlink(path) != 0 && errno != ENOENT) {
			CG_LOG_WARN("%s: %s", path, strerror(errno));
			rc = CG_EIO;
		}
	}
	free(gone);
	if (ngone && jnl_fsync_dir(j->dir) != 0) {
		CG_LOG_WARN("%s: fsync: %s", j->dir, strerror(errno));
		rc = CG_EIO;
	}
	return rc;
}

/* ---- replay ---- */

int cg_journal_replay(struct cg_journal *j, uint64_t after,
                      int (*fn)(uint64_t seq, const void *rec, size_t len, void *ud), void *ud)
{
	if (!j || !fn)
		return CG_EINVAL;
	uv_mutex_lock(&j->mu);
	size_t n = j->nsegs;
	struct seg *snap = malloc((n ? n : 1) * sizeof(*snap));
	if (snap)
		memcpy(snap, j->segs, n * sizeof(*snap));
	uv_mutex_unlock(&j->mu);
	if (!snap)
		return CG_ENOMEM;

	struct reader r = {0};
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct seg *s = &snap[i];
		if (s->last <= after || s->last < s->first)
			continue;
		char path[PATH_MAX];
		jnl_seg_path(j, s->first, "", path, sizeof(path));
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENOENT)
				continue; /* retired meanwhile */
			CG_LOG_ERR("%s: %s", path, strerror(errno));
			rc = CG_EIO;
			break;
		}
		r.fd = fd;
		r.end = s->size;
		r.off = 0;
		r.len = 0;
		uint64_t pos = CG_JOURNAL_HEADER_BYTES;
		for (uint64_t seq = s->first; seq <= s->last; seq++) {
			const unsigned char *p;
			uint32_t len;
			const char *why = "";
			enum rec_status k = jnl_rd_record(&r, pos, seq, seq > after, &p, &len, &why);
			if (k != REC_OK) {
				CG_LOG_ERR("%s: byte %" PRIu64 ": record %" PRIu64 " unreadable on replay (%s)", path,
				           pos, seq,
				           k == REC_IOERR ? strerror(errno)
				           : k == REC_END ? "end of file"
				                          : why);
				rc = CG_EIO;
				break;
			}
			pos += CG_JOURNAL_RECORD_HEAD + (uint64_t)len;
			if (seq <= after)
				continue;
			rc = fn(seq, p, len, ud);
			if (rc)
				break;
		}
		close(fd);
	}
	free(r.buf);
	free(snap);
	return rc;
}
