/* journal_open.c: opening the intake journal: the segment list, each segment scanned, a torn tail cut, damage refused; close and the counts. */
#include "journal_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "fsdir.h"

#define CG_LOG_COMPONENT "journal"
#include "log.h"


static int seg_cmp(const void *a, const void *b)
{
	const struct seg *x = a, *y = b;
	return x->first < y->first ? -1 : x->first > y->first;
}

/* Lists dir's segments into j->segs (sorted) and removes stray .tmp segments. */
static int list_segments(struct cg_journal *j, char *err, size_t errlen)
{
	DIR *d = opendir(j->dir);
	if (!d) {
		snprintf(err, errlen, "journal %s: %s", j->dir, strerror(errno));
		return CG_EIO;
	}
	struct dirent *de;
	int rc = 0;
	while ((de = readdir(d)) != NULL) {
		uint64_t first;
		size_t nl = strlen(de->d_name);
		if (nl == SEG_NAME_LEN + 4 && strcmp(de->d_name + SEG_NAME_LEN, ".tmp") == 0) {
			char name[SEG_NAME_LEN + 1];
			memcpy(name, de->d_name, SEG_NAME_LEN);
			name[SEG_NAME_LEN] = '\0';
			if (jnl_parse_seg_name(name, &first) == 0) {
				char path[PATH_MAX];
				jnl_seg_path(j, first, ".tmp", path, sizeof(path));
				if (unlink(path) == 0)
					CG_LOG_WARN("removed %s (a segment whose creation did not finish)", path);
			}
			continue;
		}
		if (jnl_parse_seg_name(de->d_name, &first) != 0)
			continue;
		if (first == 0) {
			snprintf(err, errlen, "journal %s/%s: first seq 0 (seqs start at 1)", j->dir, de->d_name);
			rc = CG_EIO;
			break;
		}
		rc = jnl_segs_push(j, first);
		if (rc) {
			snprintf(err, errlen, "journal %s: out of memory", j->dir);
			break;
		}
	}
	closedir(d);
	if (rc == 0 && j->nsegs > 1)
		qsort(j->segs, j->nsegs, sizeof(*j->segs), seg_cmp);
	return rc;
}

/*
 * After a bad record at pos (its seq would have been want) in the last segment: 1 when a valid
 * record with a later seq follows it somewhere in the file. A write the crash interrupted (the
 * last batch, never acknowledged) leaves nothing valid behind it; a damaged record in the middle
 * (bit rot, a misdirected write) does, and cutting there would drop acknowledged records.
 */
static int valid_record_after(int fd, uint64_t pos, uint64_t end, uint64_t want)
{
	if (end <= pos + CG_JOURNAL_RECORD_HEAD)
		return 0;
	size_t n = (size_t)(end - pos);
	unsigned char *b = malloc(n);
	if (!b)
		return 0;
	size_t got = 0;
	while (got < n) {
		ssize_t r = pread(fd, b + got, n - got, (off_t)(pos + got));
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	int found = 0;
	for (size_t off = 1; !found && off + CG_JOURNAL_RECORD_HEAD <= got; off++) {
		const unsigned char *h = b + off;
		uint32_t len = jnl_get32(h);
		uint64_t seq = jnl_get64(h + 8);
		if (len == 0 || len > CG_JOURNAL_RECORD_MAX || len > got - off - CG_JOURNAL_RECORD_HEAD ||
		    seq <= want || seq - want > (uint64_t)got)
			continue;
		found = jnl_record_crc(h, h + CG_JOURNAL_RECORD_HEAD, len) == jnl_get32(h + 4);
	}
	free(b);
	return found;
}

/* Scans segment i: fills its last and size; truncates a bad tail when it is the last segment. */
static int scan_segment(struct cg_journal *j, size_t i, unsigned char **buf, size_t *bufcap, char *err, size_t errlen)
{
	struct seg *s = &j->segs[i];
	int is_last = i + 1 == j->nsegs;
	char path[PATH_MAX];
	const char *why = NULL;
	int rc = 0;

	jnl_seg_path(j, s->first, "", path, sizeof(path));
	int fd = open(path, (is_last ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "journal %s: %s", path, strerror(errno));
		return jnl_io_err(errno);
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "journal %s: %s", path, strerror(errno));
		close(fd);
		return CG_EIO;
	}
	if (jnl_check_header(fd, s->first, &why) != 0) {
		snprintf(err, errlen, "journal %s: byte 0: %s", path, why);
		close(fd);
		return CG_EIO;
	}
	struct reader r = {.fd = fd, .end = (uint64_t)st.st_size, .off = 0, .buf = *buf, .cap = *bufcap, .len = 0};
	uint64_t pos = CG_JOURNAL_HEADER_BYTES, want = s->first;
	for (;;) {
		const unsigned char *p;
		uint32_t n;
		enum rec_status k = jnl_rd_record(&r, pos, want, 1, &p, &n, &why);
		if (k == REC_OK) {
			pos += CG_JOURNAL_RECORD_HEAD + (uint64_t)n;
			want++;
			continue;
		}
		if (k == REC_END)
			break;
		if (k == REC_IOERR) {
			snprintf(err, errlen, "journal %s: byte %" PRIu64 ": %s", path, pos, strerror(errno));
			rc = jnl_io_err(errno);
			goto out;
		}
		if (!is_last) {
			snprintf(err, errlen,
			         "journal %s: byte %" PRIu64
			         ": bad record (%s) in a segment that is not the last: later records would be lost",
			         path, pos, why);
			rc = CG_EIO;
			goto out;
		}
		if (valid_record_after(fd, pos, (uint64_t)st.st_size, want)) {
			snprintf(err, errlen,
			         "journal %s: byte %" PRIu64
			         ": bad record (%s) followed by valid ones: damaged in the middle, not torn at the end "
			         "(later records would be lost)",
			         path, pos, why);
			rc = CG_EIO;
			goto out;
		}
		uint64_t dropped = (uint64_t)st.st_size - pos;
		if (ftruncate(fd, (off_t)pos) != 0 || fsync(fd) != 0) {
			snprintf(err, errlen, "journal %s: truncating the bad tail at byte %" PRIu64 ": %s", path, pos,
			         strerror(errno));
			rc = jnl_io_err(errno);
			goto out;
		}
		CG_LOG_WARN("%s: bad record at byte %" PRIu64 " (%s): dropped %" PRIu64
		            " bytes, the torn or corrupt tail (after seq %" PRIu64 ")",
		            path, pos, why, dropped, want - 1);
		break;
	}
	s->last = want - 1;
	s->size = pos;
out:
	*buf = r.buf;
	*bufcap = r.cap;
	close(fd);
	return rc;
}

int cg_journal_open(const char *dir, uint64_t segment_bytes, uint64_t min_next, struct cg_journal **out, char *err,
                    size_t errlen)
{
	struct cg_journal *j = NULL;
	unsigned char *buf = NULL;
	size_t bufcap = 0;
	int rc;
	char lerr[1];

	if (!err) {
		err = lerr;
		errlen = sizeof(lerr);
	}
	if (errlen)
		err[0] = '\0';
	if (!dir || !*dir || !out) {
		snprintf(err, errlen, "journal: no directory");
		return CG_EINVAL;
	}
	if (cg_mkdir_p(dir) != 0) {
		snprintf(err, errlen, "journal %s: %s", dir, strerror(errno));
		return CG_EIO;
	}
	j = calloc(1, sizeof(*j));
	if (!j || !(j->dir = strdup(dir))) {
		free(j);
		snprintf(err, errlen, "journal %s: out of memory", dir);
		return CG_ENOMEM;
	}
	j->fd = -1;
	j->segment_bytes = segment_bytes ? segment_bytes : CG_JOURNAL_SEGMENT_DEFAULT;
	atomic_init(&j->bytes, 0);
	atomic_init(&j->last_seq, 0);
	atomic_init(&j->nsegs_pub, 0);
	if (uv_mutex_init(&j->mu) != 0) {
		free(j->dir);
		free(j);
		snprintf(err, errlen, "journal %s: mutex", dir);
		return CG_ENOMEM;
	}

	rc = list_segments(j, err, errlen);
	if (rc)
		goto fail;
	uint64_t last = 0, bytes = 0;
	for (size_t i = 0; i < j->nsegs; i++) {
		rc = scan_segment(j, i, &buf, &bufcap, err, errlen);
		if (rc)
			goto fail;
		if (i > 0 && j->segs[i].first <= j->segs[i - 1].last) {
			char path[PATH_MAX];
			jnl_seg_path(j, j->segs[i].first, "", path, sizeof(path));
			snprintf(err, errlen,
			         "journal %s: byte 0: its first seq %" PRIu64
			         " is not past the previous segment's last %" PRIu64,
			         path, j->segs[i].first, j->segs[i - 1].last);
			rc = CG_EIO;
			goto fail;
		}
		bytes += j->segs[i].size;
		if (j->segs[i].last >= j->segs[i].first)
			last = j->segs[i].last;
	}
	free(buf);
	buf = NULL;
	atomic_store(&j->bytes, bytes);

	/* next = max(last valid seq, the active segment's first - 1, min_next - 1) + 1 */
	uint64_t next = last + 1;
	if (j->nsegs && j->segs[j->nsegs - 1].first > next)
		next = j->segs[j->nsegs - 1].first;
	if (min_next > next)
		next = min_next;
	atomic_store(&j->last_seq, next - 1);

	struct seg *a = j->nsegs ? &j->segs[j->nsegs - 1] : NULL;
	if (a && a->last + 1 == next) {
		char path[PATH_MAX];
		jnl_seg_path(j, a->first, "", path, sizeof(path));
		j->fd = open(path, O_RDWR | O_CLOEXEC);
		if (j->fd < 0) {
			rc = jnl_io_err(errno);
			snprintf(err, errlen, "journal %s: %s", path, strerror(errno));
			goto fail;
		}
	} else {
		if (a && a->last < a->first) {
			/* An empty active segment named for a seq below next: replaced, not left as a hole. */
			char path[PATH_MAX];
			jnl_seg_path(j, a->first, "", path, sizeof(path));
			if (unlink(path) != 0) {
				rc = jnl_io_err(errno);
				snprintf(err, errlen, "journal %s: %s", path, strerror(errno));
				goto fail;
			}
			j->nsegs--;
			atomic_store(&j->nsegs_pub, j->nsegs);
			atomic_fetch_sub(&j->bytes, CG_JOURNAL_HEADER_BYTES);
		}
		rc = jnl_roll(j, next, err, errlen);
		if (rc)
			goto fail;
	}
	*out = j;
	return 0;
fail:
	free(buf);
	cg_journal_close(j);
	return rc;
}

void cg_journal_close(struct cg_journal *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	uv_mutex_destroy(&j->mu);
	free(j->segs);
	free(j->dir);
	free(j);
}

uint64_t cg_journal_bytes(const struct cg_journal *j)
{
	return j ? atomic_load(&((struct cg_journal *)j)->bytes) : 0;
}

uint64_t cg_journal_last_seq(const struct cg_journal *j)
{
	return j ? atomic_load(&((struct cg_journal *)j)->last_seq) : 0;
}

size_t cg_journal_segments(const struct cg_journal *j)
{
	return j ? atomic_load(&((struct cg_journal *)j)->nsegs_pub) : 0;
}

