/* keys.h: how a part declares its configuration keys: one table row per key (type, key, default, bounds, offsetof, description); config/ walks them. */
#ifndef CG_KEYS_H
#define CG_KEYS_H

#include <stddef.h>
#include <stdint.h>

/*
 * A part lists its keys in a `struct cg_keys` next to its code (gateway/<part>/<part>_keys.c);
 * the loader (walk.c) matches a mapping's keys against them (unknown keys with a "did you
 * mean" hint, duplicates), parses each given value by its type with the row's bounds, reports
 * every problem as file:line:col, sets the defaults first and frees what it stored (secrets
 * wiped). One mapping may take its keys from several parts' tables (`queue:`, a source).
 *
 * To add a key: its field in the struct it belongs to (config.h), one row in the table of the
 * part that reads it (the parts below config, net and base, keep theirs in config/config.c),
 * and the key in README's Configuration table: tests/config/test_config_keys.c fails naming
 * every key the README does not document, and every README row no table has.
 */

struct cg_cfg;      /* the loader: the document, its errors and warnings (config/) */
struct yaml_node_s; /* a place in the document: what messages point at */
struct cg_keymap;   /* the keys one mapping was given */
struct cg_config;

enum cg_key_type {
	CG_KEY_STR,       /* char *: any text */
	CG_KEY_NAME,      /* char *: non-empty, without control characters */
	CG_KEY_PATH,      /* char *: a name, relative to the config file's folder */
	CG_KEY_TMPL,      /* char *: a Mustache template, compiled at load to check it */
	CG_KEY_SECRET,    /* char *: the value, or what the file named by KEY_file holds; wiped when freed */
	CG_KEY_BOOL,      /* int: true/false, yes/no, on/off */
	CG_KEY_UINT,      /* unsigned, size_t or uint64_t (.size): a whole number from .min to .max */
	CG_KEY_DURATION,  /* milliseconds, unsigned or uint64_t: "500ms", "1h30m", from .min to .max ms */
	CG_KEY_SIZE,      /* bytes, size_t or uint64_t: "512KiB", "10MB", from .min to .max */
	CG_KEY_ENUM,      /* int (an enum): the index of the value in .names */
	CG_KEY_ENUM_NAME, /* char *: the value, one of .names */
	CG_KEY_LIST,      /* char ** and a size_t count at .count: a string or a list of strings */
	CG_KEY_CIDRS,     /* struct cg_cidr * and a size_t count at .count: addresses or CIDR ranges */
	CG_KEY_ADDR,      /* char * host and an int port at .count: "IP:port"; .what gives examples */
	CG_KEY_TABLE,     /* a mapping with .sub's keys; their fields live .off into this struct */
	CG_KEY_TABLES,    /* a list of such mappings: an array at .off of .size-byte items, count at .count */
	CG_KEY_CUSTOM,    /* .parse reads the value, .release frees what it stored */
	CG_KEY_OPAQUE,    /* accepted and left alone: another reader has it (`provision:`) */
};

enum {
	CG_KEY_F_ALWAYS = 1 << 0, /* .parse runs (and a TABLE's checks) even when the key is absent */
	CG_KEY_F_STOP = 1 << 1,   /* when this key fails, the mapping's later keys and checks are skipped */
	CG_KEY_F_GATE = 1 << 2,   /* when this required key is absent, the same */
	CG_KEY_F_SET = 1 << 3,    /* the int at .set becomes 1 when the key was given */
	CG_KEY_F_LOWER = 1 << 4,  /* STR, LIST: lowercased */
};

/* What a hook is handed: the value, where it stands and the struct its mapping fills. */
struct cg_keyarg {
	struct cg_cfg *c;
	const struct cg_key *key;     /* the row (NULL for a table's check) */
	struct yaml_node_s *node;     /* the value; NULL when absent. A table's check: the mapping */
	struct yaml_node_s *file;     /* SECRET: the KEY_file value, or NULL */
	struct yaml_node_s *at;       /* the mapping that holds the key (an absent key is reported there) */
	const char *label;            /* the key as messages name it: "datadog.timeout", "source 'demo': title" */
	const char *owner;            /* the mapping as messages name it: "datadog", "source 'demo'" */
	void *base;                   /* the struct the mapping fills */
	void *parent;                 /* the struct of the mapping that holds this one; NULL at the top */
	const struct cg_keymap *map;  /* the keys the mapping was given */
};

/* 0 or -1 (reported). */
typedef int cg_key_parse_fn(const struct cg_keyarg *a);
/* Frees what a CUSTOM row stored in base. */
typedef void cg_key_free_fn(void *base, const struct cg_key *k);
/* A table's rules across its keys, run once the whole mapping is read. */
typedef void cg_keys_check_fn(const struct cg_keyarg *a);

struct cg_keys;

struct cg_key {
	const char *key;
	enum cg_key_type type;
	size_t off;                        /* offsetof the field in the mapping's struct */
	size_t size;                       /* sizeof the field (numbers); of one item (TABLES) */
	size_t count;                      /* offsetof the second field: a count (LIST, CIDRS, TABLES), a port (ADDR) */
	const char *def;                   /* the default as the file would write it ("15s", "1MiB", "true"); NULL: zero */
	uint64_t min, max;                 /* UINT, DURATION (ms), SIZE (bytes); TABLES: at most max items (0: any) */
	const char *const *names;          /* ENUM, ENUM_NAME: the values, NULL-terminated */
	const struct cg_keys *const *sub;  /* TABLE, TABLES; CUSTOM: the tables it reads. NULL-terminated */
	cg_key_parse_fn *parse;            /* instead of the type's parse (it may call cg_key_parse_typed) */
	cg_key_parse_fn *check;            /* after the type's parse succeeded: further rules */
	cg_key_free_fn *release;           /* CUSTOM: frees what .parse stored */
	const char *what;                  /* ADDR: examples; TABLES: the item's shape, "{rcpt, source}" */
	const char *required;              /* absent (or an empty secret): "<owner>: <required>" */
	unsigned flags;                    /* CG_KEY_F_* */
	size_t set;                        /* CG_KEY_F_SET: offsetof the int flag */
	const char *doc;                   /* what the key does, in one line */
};

/* One part's keys of one mapping. */
struct cg_keys {
	const char *name;                  /* the part and mapping, for the reference check: "delivery: datadog" */
	const struct cg_key *keys;
	size_t n;
	cg_keys_check_fn *check;           /* NULL: none */
	const char *required;              /* every key is required: "<owner>: <required>", and the mapping is skipped */
};

#define CG_MS_SECOND 1000ULL
#define CG_MS_MINUTE (60 * CG_MS_SECOND)
#define CG_MS_HOUR (60 * CG_MS_MINUTE)
#define CG_MS_DAY (24 * CG_MS_HOUR)

#define CG_KEYS_N(rows) (sizeof(rows) / sizeof((rows)[0]))
/* A NULL-terminated list of tables, for .sub: CG_KEYS_SUB(&cg_store_keys). */
#define CG_KEYS_SUB(...) ((const struct cg_keys *const[]){__VA_ARGS__, NULL})
/* A field of the mapping's struct: .off and .size. */
#define CG_KEY_AT(type, field) .off = offsetof(type, field), .size = sizeof(((type *)0)->field)

/* ---- the tables (link-time registration: config/ names them, the parts define them) ---- */

extern const struct cg_keys cg_config_keys;           /* config/config.c: the document's top level */
extern const struct cg_keys cg_datadog_keys;          /* delivery/delivery_keys.c: datadog.* */
extern const struct cg_keys cg_queue_delivery_keys;   /* delivery/delivery_keys.c: queue.* of the engine */
extern const struct cg_keys cg_store_keys;            /* store/store_keys.c: store.* */
extern const struct cg_keys cg_queue_store_keys;      /* store/store_keys.c: queue.* of the store */
extern const struct cg_keys cg_queue_intake_keys;     /* intake/intake_keys.c: queue.* of admission */
extern const struct cg_keys cg_rate_limit_keys;       /* intake/intake_keys.c: rate_limit (also per source) */
extern const struct cg_keys cg_source_intake_keys;    /* intake/intake_keys.c: a source's intake and case keys */
extern const struct cg_keys cg_mail_keys;             /* intake/intake_keys.c: mail.* */
extern const struct cg_keys cg_source_lifecycle_keys; /* lifecycle/lifecycle_keys.c: a source's lifecycle keys */

/* ---- structured values config/ reads for the parts' rows (CUSTOM .parse / .release) ---- */

extern const struct cg_keys cg_auth_keys;       /* auth: bearer, bearer_file, basic */
extern const struct cg_keys cg_verify_keys;     /* verify: one scheme per item */
extern const struct cg_keys cg_priority_keys;   /* priority: from, map, default */
extern const struct cg_keys cg_ca_keys;         /* custom_attributes: per attribute */
extern const struct cg_keys cg_rules_keys;      /* rules: an e-mail source's rule set */
cg_key_parse_fn cg_cfg_auth, cg_cfg_verify, cg_cfg_priority, cg_cfg_custom_attributes, cg_cfg_attributes, cg_cfg_rules;
cg_key_free_fn cg_cfg_auth_free, cg_cfg_verify_free, cg_cfg_priority_free, cg_cfg_custom_attributes_free,
	cg_cfg_attributes_free, cg_cfg_rules_free;
/* A mapping as a cJSON object (plain true/false and numbers typed, the rest strings) that has every
 * key of `required` as a non-empty string and no keys but those and `optional` (both
 * NULL-terminated); NULL when it is not (reported). */
struct cJSON *cg_cfg_json_object(struct cg_cfg *c, struct yaml_node_s *n, const char *label,
				 const char *const *required, const char *const *optional);
/* Frees a CUSTOM row's cJSON * field. */
cg_key_free_fn cg_cfg_json_free;

/* ---- for hooks ---- */

/* Parses the value as the row's type says (what a hook does before its own rules). */
int cg_key_parse_typed(const struct cg_keyarg *a);
/* The row's field in the mapping's struct. */
void *cg_key_field(const struct cg_keyarg *a);
/* The value given for key in the mapping (NULL: absent or null); whether it was given and failed. */
struct yaml_node_s *cg_keymap_node(const struct cg_keymap *m, const char *key);
int cg_keymap_failed(const struct cg_keymap *m, const char *key);
/* The configuration being read (for rules that look elsewhere in it). */
struct cg_config *cg_cfg_config(struct cg_cfg *c);
/* Allocation failed: the load ends with CG_ENOMEM. */
void cg_cfg_nomem(struct cg_cfg *c);

/* "file:line:col: message" at n (a value, a mapping). */
__attribute__((format(printf, 3, 4))) void cg_cfg_err(struct cg_cfg *c, const struct yaml_node_s *n, const char *fmt,
						      ...);
/* s made printable and bounded for a message (control characters as '?', cut with "..."). */
const char *cg_cfg_disp(const char *s, char *buf, size_t len);
/* A user UUID ("xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"). */
int cg_cfg_is_uuid(const char *s);

#endif
