/* jsonarena.h: per-thread bump allocation for the short-lived cJSON trees of one intake job. */
#ifndef CG_JSONARENA_H
#define CG_JSONARENA_H

/*
 * Parsing, mapping and drafting a webhook builds and drops several cJSON trees (the payload,
 * the template context, the draft); node by node through malloc/free that is half of the
 * work. Between cg_jsonarena_begin() and cg_jsonarena_end() the calling thread's cJSON
 * allocations come from a bump arena instead, cJSON_Delete of them costs nothing, and end()
 * drops them all at once. Everything else (other threads, and this thread outside the pair)
 * uses malloc as before.
 *
 * The rule: nothing cJSON allocated inside the pair may outlive it or be released with free()
 * (cJSON_free is right); pause()/resume() bracket objects that must outlive the job. Under
 * AddressSanitizer the arena's unused and dropped bytes are poisoned, so a breach is reported.
 */

/* Installs the cJSON hooks; call once, before any other thread uses cJSON. Idempotent. */
void cg_jsonarena_install(void);
void cg_jsonarena_begin(void);
void cg_jsonarena_end(void);
void cg_jsonarena_pause(void);
void cg_jsonarena_resume(void);

#endif
