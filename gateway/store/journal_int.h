/* journal_int.h: the intake journal's insides, shared by its files (journal.c: records, reading, append, replay, retire; journal_open.c: scan, repair and the segment list). */
#ifndef CG_JOURNAL_INT_H
#define CG_JOURNAL_INT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "journal.h"

/* A segment file begins with this, then the u64 seq of its first record. */
extern const unsigned char jnl_magic[8];

/* "seg-" + 16 hex digits + ".jnl" */
#define SEG_NAME_LEN 24
#define READ_CHUNK   (1u << 20)

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

struct seg {
	uint64_t first; /* from the name (and header) */
	uint64_t last;  /* last record's seq; first - 1 when empty */
	uint64_t size;  /* valid bytes (header included) */
};

struct cg_journal {
	char *dir;
	uint64_t segment_bytes;
	uv_mutex_t mu;    /* segs, nsegs, fd, broken; held by append for the whole batch */
	struct seg *segs; /* sorted by first; the last is the active one */
	size_t nsegs, cap;
	int fd;     /* the active segment, read-write */
	int broken; /* a failed batch could not be truncated away: appends refused */
	atomic_uint_fast64_t bytes;
	atomic_uint_fast64_t last_seq;
	atomic_size_t nsegs_pub;
};


/* A window over a file: bytes [off, off + len) are in buf. */
struct reader {
	int fd;
	uint64_t end; /* read no further than this */
	uint64_t off;
	unsigned char *buf;
	size_t cap, len;
};


enum rec_status { REC_OK, REC_END, REC_BAD, REC_IOERR };

/* journal.c */
void jnl_put32(unsigned char *p, uint32_t v);
void jnl_put64(unsigned char *p, uint64_t v);
uint32_t jnl_get32(const unsigned char *p);
uint64_t jnl_get64(const unsigned char *p);
/* The record's CRC: over len (4 bytes), seq (8) and the payload. */
uint32_t jnl_record_crc(const unsigned char *head, const void *payload, size_t len);
void jnl_record_head(unsigned char head[CG_JOURNAL_RECORD_HEAD], uint64_t seq, const void *payload, size_t len);
void jnl_seg_path(const struct cg_journal *j, uint64_t first, const char *suffix, char *buf, size_t buflen);
/* Parses "seg-<16 lowercase hex>.jnl" exactly: 0, or -1. */
int jnl_parse_seg_name(const char *name, uint64_t *first);
/* errno as an enum cg_err (ENOSPC, EDQUOT: CG_EFULL). */
int jnl_io_err(int e);
int jnl_fsync_dir(const char *dir);
ssize_t jnl_pread_full(int fd, void *buf, size_t n, uint64_t off);
/* Makes [pos, pos + n) readable at *p. Returns the bytes of it available (< n at the end), or -1 (errno). */
ssize_t jnl_rd_get(struct reader *r, uint64_t pos, size_t n, const unsigned char **p);
/* The record at pos, expecting seq want (REC_BAD: why says what is wrong; REC_OK: *payload points
 * into the reader until the next call). */
enum rec_status jnl_rd_record(struct reader *r, uint64_t pos, uint64_t want, int check_crc,
			      const unsigned char **payload, uint32_t *len, const char **why);
int jnl_check_header(int fd, uint64_t first, const char **why);
/* Appends segment first to the list (grown as needed). */
int jnl_segs_push(struct cg_journal *j, uint64_t first);
/* A new segment starting at first (written as .tmp with its header, synced, renamed). */
int jnl_create_segment(struct cg_journal *j, uint64_t first, char *err, size_t errlen);
/* Closes the active segment and makes a new one the active one. */
int jnl_roll(struct cg_journal *j, uint64_t first, char *err, size_t errlen);

#endif
