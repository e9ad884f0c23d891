/* mail.c: parses RFC 5322/MIME messages with GMime 3 into the JSON payload the email mapper reads. */
#include "mail.h"
#include "sbuf.h"

#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>

#include "err.h"
#include "json.h"
#include "text.h"

void cg_mail_limits_default(struct cg_mail_limits *lim)
{
	lim->max_text = 64 * 1024;
	lim->max_header = 2048;
	lim->max_headers = 100;
	lim->max_attachments = 50;
	lim->max_refs = 20;
	lim->max_depth = 16;
	lim->max_parts = 1000;
}

static pthread_once_t gmime_once = PTHREAD_ONCE_INIT;

static void gmime_init_once(void)
{
	g_mime_init();
}

void cg_mail_global_init(void)
{
	pthread_once(&gmime_once, gmime_init_once);
}

/* ---- parsing ---- */

struct walk {
	const struct cg_mail_limits *lim;
	struct cg_sbuf text;
	int truncated;
	cJSON *attachments;
	cJSON *links; /* the http(s) links of HTML text parts (cg_mail_html_to_text) */
	size_t nattach;
	int is_report; /* saw multipart/report; report-type=delivery-status or a delivery-status part */
	int html;      /* some of text came from an HTML part */
	int oom;
};

static int add_str(cJSON *o, const char *k, const char *v)
{
	if (!v)
		return 0;
	char *clean = cg_utf8_sanitize(v);
	if (!clean)
		return CG_ENOMEM;
	cJSON *s = cJSON_AddStringToObject(o, k, clean);
	free(clean);
	return s ? 0 : CG_ENOMEM;
}

/* Copies data into a NUL-free, LF-only, valid UTF-8 C string of at most max bytes. */
static char *clean_text(const unsigned char *data, size_t len, size_t max, int *truncated)
{
	char *tmp = malloc(len + 1);
	if (!tmp)
		return NULL;
	size_t j = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = data[i];
		if (c == '\r')
			continue;
		tmp[j++] = c == '\0' ? ' ' : (char)c;
	}
	tmp[j] = '\0';
	if (j > max) {
		cg_utf8_truncate(tmp, max);
		*truncated = 1;
	}
	char *out = cg_utf8_sanitize(tmp);
	free(tmp);
	return out;
}

static int is_utf8_name(const char *cs)
{
	return !cs || strcasecmp(cs, "utf-8") == 0 || strcasecmp(cs, "utf8") == 0 || strcasecmp(cs, "us-ascii") == 0 ||
	       strcasecmp(cs, "ascii") == 0;
}

/* Decoded (transfer encoding, and charset when to_utf8) content of a part. NULL on ENOMEM. */
static GByteArray *part_content(GMimePart *part, int to_utf8, GMimeStream **keep)
{
	GMimeDataWrapper *w = g_mime_part_get_content(part);
	GMimeStream *mem = g_mime_stream_mem_new();
	if (!mem)
		return NULL;
	if (w) {
		GMimeStream *f = g_mime_stream_filter_new(mem);
		if (to_utf8) {
			const char *cs = g_mime_object_get_content_type_parameter(GMIME_OBJECT(part), "charset");
			if (!is_utf8_name(cs)) {
				GMimeFilter *cf = g_mime_filter_charset_new(cs, "UTF-8");
				/* Unknown charsets keep their bytes; invalid UTF-8 becomes U+FFFD later. */
				if (cf) {
					g_mime_stream_filter_add(GMIME_STREAM_FILTER(f), cf);
					g_object_unref(cf);
				}
			}
		}
		g_mime_data_wrapper_write_to_stream(w, f);
		g_mime_stream_flush(f);
		g_object_unref(f);
	}
	*keep = mem;
	return g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
}

static int64_t part_size(GMimePart *part)
{
	GMimeDataWrapper *w = g_mime_part_get_content(part);
	if (!w)
		return 0;
	GMimeStream *null = g_mime_stream_null_new();
	if (!null)
		return 0;
	g_mime_data_wrapper_write_to_stream(w, null);
	int64_t n = (int64_t)GMIME_STREAM_NULL(null)->written;
	g_object_unref(null);
	return n;
}

static void add_attachment(struct walk *w, const char *name, int64_t size, const char *ctype)
{
	if (w->nattach >= w->lim->max_attachments) {
		w->nattach++;
		return;
	}
	cJSON *a = cJSON_CreateObject();
	if (!a || !cJSON_AddItemToArray(w->attachments, a)) {
		cJSON_Delete(a);
		w->oom = 1;
		return;
	}
	w->nattach++;
	if (add_str(a, "name", name && *name ? name : "(unnamed)") || !cJSON_AddNumberToObject(a, "size", (double)size) ||
	    add_str(a, "content_type", ctype ? ctype : "application/octet-stream"))
		w->oom = 1;
}

static void append_text(struct walk *w, const char *t)
{
	if (!t || !*t)
		return;
	if (w->text.len >= w->lim->max_text) {
		w->truncated = 1;
		return;
	}
	if (w->text.len)
		cg_sbuf_add(&w->text, "\n\n");
	cg_sbuf_add(&w->text, t);
	if (w->text.oom) {
		w->oom = 1;
		return;
	}
	if (w->text.len > w->lim->max_text) {
		/* Separators and multi-byte entities can go a little past the room: cut exactly. */
		cg_utf8_truncate(w->text.p, w->lim->max_text);
		w->text.len = strlen(w->text.p);
		w->truncated = 1;
	}
}

static void text_part(struct walk *w, GMimePart *part, int html)
{
	GMimeStream *keep = NULL;
	GByteArray *arr = part_content(part, 1, &keep);
	if (!arr) {
		w->oom = 1;
		return;
	}
	size_t room = w->lim->max_text > w->text.len ? w->lim->max_text - w->text.len : 0;
	char *t = NULL;
	if (html) {
		/* Convert more than the room: markup shrinks. */
		size_t in = arr->len;
		if (in > room * 8 + 4096)
			in = room * 8 + 4096;
		t = cg_mail_html_to_text((const char *)arr->data, in, room, w->links);
	} else {
		t = clean_text(arr->data, arr->len, room, &w->truncated);
	}
	g_object_unref(keep);
	if (!t) {
		w->oom = 1;
		return;
	}
	if (html && *t)
		w->html = 1;
	append_text(w, t);
	free(t);
}

static char *content_type_text(GMimeObject *obj)
{
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	if (!ct)
		return NULL;
	const char *t = g_mime_content_type_get_media_type(ct);
	const char *s = g_mime_content_type_get_media_subtype(ct);
	size_t n = (t ? strlen(t) : 0) + (s ? strlen(s) : 0) + 2;
	char *out = malloc(n);
	if (out) {
		snprintf(out, n, "%s/%s", t ? t : "application", s ? s : "octet-stream");
		for (char *p = out; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	}
	return out;
}

static int type_is(GMimeObject *obj, const char *t, const char *s)
{
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	return ct && g_mime_content_type_is_type(ct, t, s);
}

static int is_attachment(GMimeObject *obj)
{
	if (!GMIME_IS_PART(obj))
		return 0;
	GMimePart *p = GMIME_PART(obj);
	if (g_mime_part_is_attachment(p))
		return 1;
	const char *fn = g_mime_part_get_filename(p);
	/* Inline text with a name is still text (some mailers name every part). */
	if (fn && *fn && !type_is(obj, "text", "plain") && !type_is(obj, "text", "html"))
		return 1;
	return 0;
}

static void walk(struct walk *w, GMimeObject *obj, unsigned depth);

static void walk_alternative(struct walk *w, GMimeMultipart *mp, unsigned depth)
{
	int n = g_mime_multipart_get_count(mp);
	GMimeObject *plain = NULL, *html = NULL, *other = NULL;
	for (int i = 0; i < n; i++) {
		GMimeObject *c = g_mime_multipart_get_part(mp, i);
		if (!c || is_attachment(c))
			continue;
		if (GMIME_IS_PART(c) && type_is(c, "text", "plain") && !plain)
			plain = c;
		else if (GMIME_IS_PART(c) && type_is(c, "text", "html") && !html)
			html = c;
		else if (GMIME_IS_MULTIPART(c) && !other)
			other = c;
	}
	/* text/plain first, as promised; a nested multipart (related HTML) beats lone HTML only when
	 * there is no HTML part at this level. */
	GMimeObject *pick = plain ? plain : html ? html : other;
	if (pick)
		walk(w, pick, depth + 1);
	/* Attachments hidden inside alternatives are still listed. */
	for (int i = 0; i < n; i++) {
		GMimeObject *c = g_mime_multipart_get_part(mp, i);
		if (c && is_attachment(c))
			walk(w, c, depth + 1);
	}
}

static void walk(struct walk *w, GMimeObject *obj, unsigned depth)
{
	if (!obj || w->oom)
		return;
	if (depth > w->lim->max_depth) {
		w->truncated = 1;
		return;
	}
	if (GMIME_IS_MULTIPART(obj)) {
		GMimeMultipart *mp = GMIME_MULTIPART(obj);
		if (type_is(obj, "multipart", "report")) {
			const char *rt = g_mime_object_get_content_type_parameter(obj, "report-type");
			if (rt && strcasecmp(rt, "delivery-status") == 0)
				w->is_report = 1;
		}
		if (type_is(obj, "multipart", "alternative")) {
			walk_alternative(w, mp, depth);
			return;
		}
		int n = g_mime_multipart_get_count(mp);
		for (int i = 0; i < n && !w->oom; i++)
			walk(w, g_mime_multipart_get_part(mp, i), depth + 1);
		return;
	}
	if (GMIME_IS_MESSAGE_PART(obj)) {
		/* A forwarded or bounced message: listed, not read as our text. */
		GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
		const char *subj = inner ? g_mime_message_get_subject(inner) : NULL;
		char name[300];
		snprintf(name, sizeof(name), "%s%s", subj ? "message: " : "attached message", subj ? subj : "");
		add_attachment(w, name, -1, "message/rfc822");
		return;
	}
	if (!GMIME_IS_PART(obj))
		return;
	GMimePart *part = GMIME_PART(obj);
	if (type_is(obj, "message", "delivery-status") || type_is(obj, "message", "global-delivery-status"))
		w->is_report = 1;
	if (!is_attachment(obj) && type_is(obj, "text", "plain")) {
		text_part(w, part, 0);
		return;
	}
	if (!is_attachment(obj) && type_is(obj, "text", "html")) {
		text_part(w, part, 1);
		return;
	}
	char *ct = content_type_text(obj);
	add_attachment(w, g_mime_part_get_filename(part), part_size(part), ct);
	free(ct);
}

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

static int add_headers(cJSON *root, GMimeObject *obj, const struct cg_mail_limits *lim)
{
	cJSON *h = cJSON_AddObjectToObject(root, "headers");
	if (!h)
		return CG_ENOMEM;
	GMimeHeaderList *hl = g_mime_object_get_header_list(obj);
	int n = hl ? g_mime_header_list_get_count(hl) : 0;
	size_t kept = 0;
	for (int i = 0; i < n && kept < lim->max_headers; i++) {
		GMimeHeader *hd = g_mime_header_list_get_header_at(hl, i);
		const char *name = hd ? g_mime_header_get_name(hd) : NULL;
		const char *val = hd ? g_mime_header_get_value(hd) : NULL;
		if (!name || !*name || strlen(name) > 100)
			continue;
		char key[104];
		snprintf(key, sizeof(key), "%s", name);
		lower(key);
		if (cJSON_GetObjectItemCaseSensitive(h, key))
			continue; /* the first (topmost) occurrence wins */
		char *v = val ? strdup(val) : strdup("");
		if (!v)
			return CG_ENOMEM;
		/* Unfold and flatten control characters: one header is one line. */
		for (char *p = v; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = ' ';
		if (strlen(v) > lim->max_header)
			cg_utf8_truncate(v, lim->max_header);
		int rc = add_str(h, key, v);
		free(v);
		if (rc)
			return rc;
		kept++;
	}
	return 0;
}

/* Message ids (without <>) from an In-Reply-To or References value; keeps the last max. */
static int add_refs(cJSON *root, const char *key, const char *value, size_t max, int single)
{
	cJSON *arr = single ? NULL : cJSON_AddArrayToObject(root, key);
	if (!single && !arr)
		return CG_ENOMEM;
	if (!value)
		return 0;
	GMimeReferences *refs = g_mime_references_parse(NULL, value);
	if (!refs)
		return 0;
	int n = g_mime_references_length(refs);
	int rc = 0;
	if (single) {
		/* In-Reply-To: the last id is the parent (some mailers list ancestors first). */
		if (n > 0)
			rc = add_str(root, key, g_mime_references_get_message_id(refs, n - 1));
	} else {
		int start = n > (int)max ? n - (int)max : 0;
		for (int i = start; i < n && !rc; i++) {
			const char *id = g_mime_references_get_message_id(refs, i);
			char *clean = id ? cg_utf8_sanitize(id) : NULL;
			if (id && (!clean || !cJSON_AddItemToArray(arr, cJSON_CreateString(clean))))
				rc = CG_ENOMEM;
			free(clean);
		}
	}
	g_mime_references_free(refs);
	return rc;
}

static const char *first_mailbox(InternetAddressList *l, const char **name)
{
	int n = l ? internet_address_list_length(l) : 0;
	for (int i = 0; i < n; i++) {
		InternetAddress *a = internet_address_list_get_address(l, i);
		if (INTERNET_ADDRESS_IS_MAILBOX(a)) {
			if (name)
				*name = internet_address_get_name(a);
			return internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a));
		}
	}
	return NULL;
}

static int add_addrs(cJSON *arr, InternetAddressList *l, int depth)
{
	int n = l ? internet_address_list_length(l) : 0;
	for (int i = 0; i < n && i < 100; i++) {
		InternetAddress *a = internet_address_list_get_address(l, i);
		if (INTERNET_ADDRESS_IS_MAILBOX(a)) {
			const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a));
			char *clean = addr ? cg_utf8_sanitize(addr) : NULL;
			if (addr && (!clean || !cJSON_AddItemToArray(arr, cJSON_CreateString(clean)))) {
				free(clean);
				return CG_ENOMEM;
			}
			free(clean);
		} else if (INTERNET_ADDRESS_IS_GROUP(a) && depth < 2) {
			int rc = add_addrs(arr, internet_address_group_get_members(INTERNET_ADDRESS_GROUP(a)), depth + 1);
			if (rc)
				return rc;
		}
	}
	return 0;
}

static int starts_with_ci(const char *s, const char *prefix)
{
	return s && strncasecmp(s, prefix, strlen(prefix)) == 0;
}

static int contains_ci(const char *s, const char *needle)
{
	if (!s)
		return 0;
	size_t n = strlen(needle);
	for (; *s; s++)
		if (strncasecmp(s, needle, n) == 0)
			return 1;
	return 0;
}

static int detect_bounce(const cJSON *root, int is_report)
{
	const char *from = cg_json_str(root, "from");
	const char *rp = cg_json_str(root, "headers.return-path");
	const char *subj = cg_json_str(root, "subject");
	if (is_report)
		return 1;
	if (rp) {
		const char *p = rp;
		while (*p == ' ')
			p++;
		if (strncmp(p, "<>", 2) == 0)
			return 1;
	}
	if (from && (starts_with_ci(from, "mailer-daemon@") || strcasecmp(from, "mailer-daemon") == 0 ||
		     starts_with_ci(from, "postmaster@")))
		return 1;
	static const char *const subjects[] = {"Undelivered Mail Returned to Sender", "Delivery Status Notification",
					       "Mail delivery failed", "Returned mail:", "Undeliverable:",
					       "Delivery failure", NULL};
	for (size_t i = 0; subjects[i]; i++)
		if (starts_with_ci(subj, subjects[i]))
			return 1;
	return 0;
}

static int detect_auto_reply(const cJSON *root)
{
	const char *as = cg_json_str(root, "auto_submitted");
	if (as && strcmp(as, "auto-replied") == 0)
		return 1;
	if (cg_json_str(root, "headers.x-autoreply") || cg_json_str(root, "headers.x-autorespond") ||
	    cg_json_str(root, "headers.x-autoresponse"))
		return 1;
	const char *prec = cg_json_str(root, "headers.precedence");
	if (prec && contains_ci(prec, "auto_reply"))
		return 1;
	const char *subj = cg_json_str(root, "subject");
	static const char *const subjects[] = {"Out of Office",	      "Out of the Office", "Automatic reply:",
					       "Auto:",		      "Autoreply",	   "Auto-Reply",
					       "Auto Reply",	      "Abwesenheitsnotiz", "Automatische Antwort",
					       "Réponse automatique", "Respuesta automática", "Vacation:", NULL};
	for (size_t i = 0; subjects[i]; i++)
		if (starts_with_ci(subj, subjects[i]))
			return 1;
	return 0;
}

/* Skips an mbox "From " line that local delivery agents put before the headers. */
static void skip_mbox_from(const char **raw, size_t *len)
{
	if (*len >= 5 && memcmp(*raw, "From ", 5) == 0) {
		const char *nl = memchr(*raw, '\n', *len);
		size_t skip = nl ? (size_t)(nl - *raw) + 1 : *len;
		*raw += skip;
		*len -= skip;
	}
}

/* 1 when the text starts with something shaped like a header field ("Name:"). */
static int looks_like_header(const char *raw, size_t len)
{
	size_t i = 0;
	while (i < len && i < 200 && raw[i] > 32 && raw[i] < 127 && raw[i] != ':')
		i++;
	return i > 0 && i < len && raw[i] == ':';
}

int cg_mail_parse(const char *raw, size_t len, const struct cg_mail_limits *lim_in, cJSON **out, char *err,
		  size_t errlen)
{
	struct cg_mail_limits lim;
	if (lim_in)
		lim = *lim_in;
	else
		cg_mail_limits_default(&lim);
	size_t total = len;
	skip_mbox_from(&raw, &len);
	if (!looks_like_header(raw, len)) {
		snprintf(err, errlen, "not an e-mail message: no header at the start");
		return CG_EINVAL;
	}
	cg_mail_global_init();
	if (lim.max_parts && cg_mail_count_parts(raw, len, lim.max_parts) > lim.max_parts) {
		snprintf(err, errlen, "message has more than %zu MIME parts (mail.max_parts)", lim.max_parts);
		return CG_E2BIG;
	}

	int rc = CG_ENOMEM;
	cJSON *root = NULL;
	GMimeStream *stream = NULL;
	GMimeParser *parser = NULL;
	GMimeMessage *msg = NULL;
	struct walk w = {.lim = &lim};

	/* GMime copies raw once into its own stream (the caller's cap bounds the size). */
	stream = g_mime_stream_mem_new_with_buffer(raw, len);
	if (!stream)
		goto out;
	parser = g_mime_parser_new_with_stream(stream);
	if (!parser)
		goto out;
	g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
	msg = g_mime_parser_construct_message(parser, NULL);
	if (!msg) {
		snprintf(err, errlen, "not an e-mail message: MIME parser found no message");
		rc = CG_EINVAL;
		goto out;
	}
	if (!(root = cJSON_CreateObject()))
		goto out;
	GMimeObject *mo = GMIME_OBJECT(msg);
	if ((rc = add_headers(root, mo, &lim)))
		goto out;
	rc = CG_ENOMEM;
	const char *mid = g_mime_message_get_message_id(msg);
	if (mid && strlen(mid) <= 995 && add_str(root, "message_id", mid))
		goto out;
	if (add_refs(root, "in_reply_to", g_mime_object_get_header(mo, "In-Reply-To"), lim.max_refs, 1) ||
	    add_refs(root, "references", g_mime_object_get_header(mo, "References"), lim.max_refs, 0))
		goto out;
	const char *subject = g_mime_message_get_subject(msg);
	char *subj = strdup(subject ? subject : "");
	if (!subj)
		goto out;
	for (char *p = subj; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	if (strlen(subj) > lim.max_header)
		cg_utf8_truncate(subj, lim.max_header);
	int src = add_str(root, "subject", subj);
	free(subj);
	if (src)
		goto out;
	const char *from_name = NULL;
	const char *from = first_mailbox(g_mime_message_get_from(msg), &from_name);
	if (!from)
		from = first_mailbox(g_mime_message_get_sender(msg), &from_name);
	char from_lc[400] = "";
	if (from) {
		snprintf(from_lc, sizeof(from_lc), "%s", from);
		lower(from_lc);
	}
	if ((from && add_str(root, "from", from_lc)) || (from_name && *from_name && add_str(root, "from_name", from_name)))
		goto out;
	cJSON *to = cJSON_AddArrayToObject(root, "to");
	if (!to || add_addrs(to, g_mime_message_get_to(msg), 0) || add_addrs(to, g_mime_message_get_cc(msg), 0))
		goto out;
	GDateTime *dt = g_mime_message_get_date(msg);
	if (dt) {
		GDateTime *utc = g_date_time_to_utc(dt);
		gchar *s = utc ? g_date_time_format(utc, "%Y-%m-%dT%H:%M:%SZ") : NULL;
		int drc = s ? add_str(root, "date", s) : 0;
		g_free(s);
		if (utc)
			g_date_time_unref(utc);
		if (drc)
			goto out;
	}
	const char *as = g_mime_object_get_header(mo, "Auto-Submitted");
	if (as) {
		char tok[64];
		size_t k = 0;
		while (*as == ' ' || *as == '\t')
			as++;
		while (as[k] && as[k] != ';' && as[k] != ' ' && k + 1 < sizeof(tok)) {
			tok[k] = (char)tolower((unsigned char)as[k]);
			k++;
		}
		tok[k] = '\0';
		if (add_str(root, "auto_submitted", tok))
			goto out;
	}
	char *ct = content_type_text(mo);
	if (!ct && !(ct = strdup("text/plain")))
		goto out;
	GMimeObject *body = g_mime_message_get_mime_part(msg);
	if (body) {
		free(ct);
		ct = content_type_text(body);
	}
	int crc = add_str(root, "content_type", ct ? ct : "text/plain");
	free(ct);
	if (crc)
		goto out;

	if (!(w.attachments = cJSON_AddArrayToObject(root, "attachments")) ||
	    !(w.links = cJSON_AddArrayToObject(root, "links")))
		goto out;
	walk(&w, body, 0);
	if (w.oom || w.text.oom)
		goto out;
	if (w.nattach > lim.max_attachments) {
		char note[64];
		snprintf(note, sizeof(note), "%zu more not listed", w.nattach - lim.max_attachments);
		add_attachment(&w, note, -1, "text/x-note");
	}
	if (add_str(root, "text", w.text.p ? w.text.p : ""))
		goto out;
	if (!cJSON_AddBoolToObject(root, "text_truncated", w.truncated) ||
	    !cJSON_AddBoolToObject(root, "text_html", w.html) ||
	    !cJSON_AddBoolToObject(root, "is_bounce", detect_bounce(root, w.is_report)) ||
	    !cJSON_AddBoolToObject(root, "is_auto_reply", detect_auto_reply(root)) ||
	    !cJSON_AddNumberToObject(root, "size", (double)total))
		goto out;
	*out = root;
	root = NULL;
	rc = 0;
out:
	if (rc == CG_ENOMEM)
		snprintf(err, errlen, "out of memory");
	free(w.text.p);
	cJSON_Delete(root);
	if (msg)
		g_object_unref(msg);
	if (parser)
		g_object_unref(parser);
	if (stream)
		g_object_unref(stream);
	return rc;
}

const char *cg_mail_noise(const cJSON *mail, int for_comment, char *why, size_t whylen)
{
	const cJSON *b = cJSON_GetObjectItemCaseSensitive(mail, "is_bounce");
	const char *env = cg_json_str(mail, "envelope_from");
	if (cJSON_IsTrue(b) || (env && *env == '\0')) {
		snprintf(why, whylen, "bounce or delivery status notification (from %s)",
			 cg_json_str(mail, "from") ? cg_json_str(mail, "from") : "<>");
		return "bounce";
	}
	const char *loop = cg_json_str(mail, "headers.x-loop");
	if (loop && contains_ci(loop, "casegate")) {
		snprintf(why, whylen, "X-Loop: %.100s", loop);
		return "loop";
	}
	const cJSON *ar = cJSON_GetObjectItemCaseSensitive(mail, "is_auto_reply");
	if (cJSON_IsTrue(ar)) {
		snprintf(why, whylen, "auto-reply or out-of-office notice (subject \"%.80s\")",
			 cg_json_str(mail, "subject") ? cg_json_str(mail, "subject") : "");
		return "auto_reply";
	}
	if (!for_comment)
		return NULL;
	const char *as = cg_json_str(mail, "auto_submitted");
	if (as && *as && strcmp(as, "no") != 0) {
		snprintf(why, whylen, "Auto-Submitted: %.40s mail does not become a comment", as);
		return "auto_generated";
	}
	const char *prec = cg_json_str(mail, "headers.precedence");
	if (prec && (contains_ci(prec, "bulk") || contains_ci(prec, "junk") || contains_ci(prec, "list"))) {
		snprintf(why, whylen, "Precedence: %.40s mail does not become a comment", prec);
		return "bulk";
	}
	return NULL;
}
