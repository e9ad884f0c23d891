/* text.h: text helpers shared by mappers and the gateway: UTF-8 decoding, repair and cutting, whitespace, http(s) URLs, SHA-256 hex, strdup0. */
#ifndef CG_TEXT_H
#define CG_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* Length (1..4) of the valid UTF-8 sequence at s (n bytes available) with its code point in *cp, or 0. */
size_t cg_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

/* strdup that accepts NULL. */
char *cg_strdup0(const char *s);

/* Truncates s in place to at most max bytes without splitting a UTF-8 sequence, adding "…" when cut. */
void cg_utf8_truncate(char *s, size_t max);

/* Lower-case SHA-256 hex of data into out (65 bytes); out is "" in the (allocation) failure case. */
void cg_sha256_hex(const void *data, size_t len, char out[65]);
/* The same, returning 0 or CG_ENOMEM. */
int cg_sha256_hex_r(const void *data, size_t len, char out[65]);

/* A malloc'd copy of s with every invalid UTF-8 sequence replaced by U+FFFD; NULL on ENOMEM. */
char *cg_utf8_sanitize(const char *s);

/* Collapses every run of whitespace into one space and trims both ends, in place. */
void cg_text_collapse_ws(char *s);
/* Trims whitespace (space, \t \n \r \v \f) at both ends, in place. */
void cg_text_trim(char *s);
/* 1 when s is an http:// or https:// URL with a host and no space or control character: what casegate sends as one. */
int cg_text_is_http_url(const char *s);

/*
 * 1 when an extended regular expression (before regcomp) stays cheap to compile: no quantifier
 * right after another ("a++", "a*{2}": glibc builds such stacks by copying the tree again for
 * each, which a config or rule file could use to exhaust memory), and no {m,n} bound above 255.
 * Bracket expressions and escaped characters are skipped.
 */
int cg_text_regex_cheap(const char *pat);

#endif
