/* journal.h: the intake journal: accepted records in segment files, a CRC per record, one fdatasync per batch. */
#ifndef CG_JOURNAL_H
#define CG_JOURNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <uv.h>

/*
 * On disk (every integer little-endian):
 *
 *   dir/seg-<16 lowercase hex digits>.jnl   one segment; the digits are the seq of its first record
 *                                           (for an empty segment: the seq its first record will get).
 *
 *   segment header, 16 bytes:  "CGJRNL" 0x00 0x01 (magic, then u8 version 1)   8 bytes
 *                              u64 first_seq (equal to the name's)              8 bytes
 *   then records, back to back, each:
 *                              u32 len      payload bytes, 1 .. CG_JOURNAL_RECORD_MAX
 *                              u32 crc      CRC-32C (Castagnoli) over len's 4 bytes, seq's 8, the payload
 *                              u64 seq      the segment's first_seq for its first record, previous + 1 after it
 *                              payload      len bytes
 *
 * A record is bad when its 16-byte head or its payload is cut short by the end of the file, its len
 * is 0 or over CG_JOURNAL_RECORD_MAX, its seq is not the expected one, or its CRC does not match.
 * Segments are made as seg-....jnl.tmp (header written and synced) and renamed into place, so a
 * segment's header is never torn; a stray .tmp is removed at open. Seqs grow across segments (a gap
 * between two segments is allowed: min_next can move next_seq forward).
 */
#define CG_JOURNAL_HEADER_BYTES    16
#define CG_JOURNAL_RECORD_HEAD     16
#define CG_JOURNAL_RECORD_MAX      (16u * 1024 * 1024)
#define CG_JOURNAL_SEGMENT_DEFAULT (64ull * 1024 * 1024)

struct cg_journal;

/* Opens (creating) directory dir, scans its segments (files "seg-<16 hex digits of first seq>.jnl"), checks every
 * record's CRC. A torn or corrupt tail of the LAST segment is truncated away (ftruncate + fsync; a warning logged with
 * the bytes dropped), never half-applied. A bad record in an earlier (non-last) segment is an error (CG_EIO, err names
 * the file and byte offset) - acknowledged records after it would be lost. A segment whose header is short or wrong is
 * an error too (CG_EIO, naming the file): headers are never torn (see above). next_seq = max(last valid seq in the
 * files, min_next - 1) + 1.  segment_bytes: roll to a new segment once the active one reaches this size (0: default 64
 * MiB). Returns 0 or a negative enum cg_err (err.h) with err filled. */
int cg_journal_open(const char *dir, uint64_t segment_bytes, uint64_t min_next, struct cg_journal **out, char *err,
                    size_t errlen);

/* Calls fn(seq, rec, len, ud) for every valid record with seq > after, in seq order (reading the files). fn returning
 * nonzero stops and that value is returned. rec is valid during the call only. Sees the records appended before the
 * call began; may run alongside cg_journal_append and cg_journal_retire (a segment retired meanwhile is skipped: its
 * records were <= the retire's upto). A record that no longer checks out (the file changed under us) stops it with
 * CG_EIO. */
int cg_journal_replay(struct cg_journal *j, uint64_t after,
                      int (*fn)(uint64_t seq, const void *rec, size_t len, void *ud), void *ud);

/* Blocking (call from one thread at a time): appends n records (recs[i].iov_base/iov_len, len 1 ..
 * CG_JOURNAL_RECORD_MAX, else CG_EINVAL and nothing written) with consecutive seqs, the first returned in *first_seq
 * (written only on success), with one write (writev; split only past IOV_MAX) and ONE fdatasync for the whole batch
 * (plus an fsync of the directory when a segment was created). On failure (ENOSPC -> CG_EFULL, else CG_EIO) the segment
 * is truncated back to where the batch began, so nothing of a failed batch remains, and the seqs are not consumed. When
 * even that truncation fails the journal refuses every later append (CG_EIO): reopen it. n == 0 is a no-op (0,
 * *first_seq untouched). */
int cg_journal_append(struct cg_journal *j, const struct iovec *recs, size_t n, uint64_t *first_seq);

/* Deletes every segment whose records all have seq <= upto, never the active (last) one; fsyncs the directory. Returns
 * 0 or error. Thread-safe against cg_journal_append (use a mutex). */
int cg_journal_retire(struct cg_journal *j, uint64_t upto);

/* Bytes in all segment files (headers included); thread-safe (atomic). */
uint64_t cg_journal_bytes(const struct cg_journal *j);

/* Last seq assigned (0 when none yet); thread-safe. */
uint64_t cg_journal_last_seq(const struct cg_journal *j);

/* Segment files in the journal (the active one included); thread-safe. */
size_t cg_journal_segments(const struct cg_journal *j);

/* Accepts NULL. Does not sync: every successful append already did. */
void cg_journal_close(struct cg_journal *j);

/* CRC-32C (Castagnoli, reflected 0x82F63B78) of p[0..n) continuing from crc (start with 0), as the records use. */
uint32_t cg_journal_crc32c(uint32_t crc, const void *p, size_t n);

/* The writer thread: records queued from the libuv loop, appended in batches by one thread (everything queued when it
 * wakes, up to 1024 records or 4 MiB per batch), one fdatasync per batch, completions delivered on the loop (uv_async)
 * in submission order with rc and the record's seq (seq is 0 when rc != 0). A failed batch fails every record in it
 * with the append's error (nothing of it was kept). */
#define CG_JOURNALQ_BATCH_RECORDS 1024
#define CG_JOURNALQ_BATCH_BYTES   (4u * 1024 * 1024)
struct cg_journalq;
typedef void (*cg_journalq_done_fn)(int rc, uint64_t seq, void *ud);

/* 0, CG_EINVAL, CG_ENOMEM or CG_EIO. The journal must outlive the queue. */
int cg_journalq_create(uv_loop_t *loop, struct cg_journal *j, struct cg_journalq **out);

/* Takes ownership of rec (malloc'd, freed by the queue after the write). 0, CG_ENOMEM, CG_ECLOSED (after destroy
 * began), or CG_EINVAL (len 0 or over CG_JOURNAL_RECORD_MAX). On an error return the queue did NOT take rec: the caller
 * still owns it and frees it. done runs on the loop (done may be NULL). Call from the loop thread. */
int cg_journalq_submit(struct cg_journalq *q, void *rec, size_t len, cg_journalq_done_fn done, void *ud);

/* Counts since create: batches (fdatasyncs), records, bytes (payload) of the appends that succeeded; readable from any
 * thread. */
struct cg_journalq_counts {
	uint64_t batches, records, bytes;
};
void cg_journalq_counts(const struct cg_journalq *q, struct cg_journalq_counts *out);

/* Finishes queued records, joins the thread, closes the async handle, then on_closed(ud) on the loop. The journal
 * itself is not closed. Returns at once: the queued records' completions are delivered by the loop afterwards (run it
 * until on_closed), then q is gone. Submitting after destroy returns CG_ECLOSED until on_closed. Accepts NULL; a second
 * call is ignored. */
void cg_journalq_destroy(struct cg_journalq *q, void (*on_closed)(void *ud), void *ud);

#endif
