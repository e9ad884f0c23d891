/* mdsafe.h: sender text made inert for Datadog case text: no live @-mention, link, image, HTML or hidden character. */
#ifndef CG_MDSAFE_H
#define CG_MDSAFE_H

#include <stddef.h>
#include <stdint.h>

#include "sbuf.h"
#include "text.h" /* cg_utf8_decode: callers got it here */

/*
 * Where a piece of sender text goes decides how it is neutralised. Every mode:
 *   - replaces ASCII '@' with U+FF20 FULLWIDTH COMMERCIAL AT (a human reads "@", no mention
 *     parser sees one: Datadog notifies on "@handle", "@slack-...", "@pagerduty-...", "@team-...");
 *   - drops control characters except tab and newline (CR LF and a lone CR become LF), DEL and C1;
 *   - drops bidi controls (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069) and zero-width
 *     or invisible characters (U+200B-U+200D, U+2060-U+2064, U+FEFF);
 *   - replaces invalid UTF-8 with U+FFFD, so the output is always valid UTF-8.
 * CG_MD_URL differs: see below.
 */
enum cg_md_mode {
	/* Markdown text (case description, comments): \ ` * _ [ ] # | ~ get a backslash, < > &
	 * become &lt; &gt; &amp; (entities mean the same in every Markdown dialect; a backslash
	 * before '<' does not in the original one). No link, image (both need '['), autolink, HTML,
	 * code span, heading, table, emphasis or strikethrough can start inside the value;
	 * parentheses and '!' stay as they are since without '[' they start nothing. */
	CG_MD_TEXT = 0,
	/* Content of an inline code span: one line (newline and tab become a space), nothing escaped
	 * (the fence, see cg_md_code, is what keeps it inside). */
	CG_MD_CODE,
	/* Content of a fenced code block: lines kept, nothing escaped (see cg_md_fence). */
	CG_MD_BLOCK,
	/* Plain text that Datadog may or may not render as Markdown (the case title, attribute and
	 * custom attribute values): readable as plain text and inert as Markdown: "](" becomes "] ("
	 * (no inline link or image), '<' before a letter, '/', '!' or '?' gets a space after it (no
	 * HTML tag or autolink), '&' before '#' or a name ending in ';' gets a space (no character
	 * reference spelling '@' or '<'). Nothing else changes: no backslashes to show. */
	CG_MD_PLAIN,
	/* Markdown casegate made itself, its sender parts neutralised when it was made (a mapper's
	 * description, a summary, a comment): the common rules only, as a second line of defence. */
	CG_MD_MINIMAL,
	/* A URL value: trimmed; whitespace, '@' '<' '>' '"' '`' '[' ']' '(' ')' and every byte >= 0x80
	 * percent-encoded (hidden characters become visible, no Markdown link can form, the URL keeps
	 * working); other control characters dropped. */
	CG_MD_URL,
};

/* 1 for a character that changes how text reads without being seen: C1 controls, bidi controls,
 * zero-width and invisible characters (the set listed above). */
int cg_md_hidden(uint32_t cp);

/* Appends the n bytes at s to b, neutralised for mode. */
void cg_md_putn(struct cg_sbuf *b, const char *s, size_t n, enum cg_md_mode mode);
/* The same for a NUL-terminated string; NULL appends nothing. */
void cg_md_put(struct cg_sbuf *b, const char *s, enum cg_md_mode mode);
/* 1 when neutralising the n bytes at s for mode would give them back unchanged (nothing to copy). */
int cg_md_unchanged(const char *s, size_t n, enum cg_md_mode mode);
/* A malloc'd neutralised copy of s (NULL is taken as ""); NULL on ENOMEM. */
char *cg_md_str(const char *s, enum cg_md_mode mode);

/*
 * Appends s as an inline code span: CG_MD_CODE content between fences one backtick longer than
 * the longest run of backticks inside, padded with a space when the content starts or ends with
 * a backtick (CommonMark strips that space). Nothing is appended for an empty s.
 */
void cg_md_code(struct cg_sbuf *b, const char *s);
/* Appends s as a fenced code block (CG_MD_BLOCK content, fence of at least 3 backticks and longer
 * than any run inside), ending with a newline. */
void cg_md_fence(struct cg_sbuf *b, const char *s);

/*
 * Appends casegate's link to a sender's URL: "[text](url)", text neutralised as CG_MD_TEXT, and in
 * the URL every character that could end the destination or be read as something else ( ) < >
 * space \ ` @, control characters and bytes >= 0x80 percent-encoded. The caller checks the scheme.
 */
void cg_md_link(struct cg_sbuf *b, const char *text, const char *url);

/*
 * Like cg_sbuf_addf, but every %s argument is appended neutralised as CG_MD_TEXT; the format
 * itself (casegate's own Markdown) is copied as is. A precision (%.200s, %.*s) cuts the argument
 * at a character boundary before it is neutralised. Understood: %% %s %c %d %i %u %x with h, l,
 * ll, z or j, and %f %g %e with an optional precision; no flags, no width (an assert says so).
 */
void cg_md_addf(struct cg_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
