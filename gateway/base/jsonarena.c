/* jsonarena.c: per-thread bump allocation for the short-lived cJSON trees of one intake job. */
#include "jsonarena.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#if defined(__SANITIZE_ADDRESS__)
#define CG_ARENA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CG_ARENA_ASAN 1
#endif
#endif
#ifdef CG_ARENA_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define CHUNK_BYTES (256 * 1024) /* a typical webhook's trees fit in one */
#define BIG_BYTES (32 * 1024)    /* larger blocks (long strings) go to malloc */

struct chunk {
	struct chunk *next;
	size_t used;
	_Alignas(16) unsigned char data[CHUNK_BYTES];
};

struct arena {
	struct chunk *head; /* the newest chunk first; one is kept between jobs */
	int active;
	int paused;
};

static _Thread_local struct arena tl;
static pthread_key_t exit_key; /* frees a thread's kept chunk when the thread ends */
static pthread_once_t once = PTHREAD_ONCE_INIT;

static int in_arena(const void *p)
{
	for (const struct chunk *c = tl.head; c; c = c->next)
		if ((const unsigned char *)p >= c->data && (const unsigned char *)p < c->data + CHUNK_BYTES)
			return 1;
	return 0;
}

static void *arena_malloc(size_t n)
{
	if (!tl.active || tl.paused || n > BIG_BYTES)
		return malloc(n);
	n = (n + 15) & ~(size_t)15;
	struct chunk *c = tl.head;
	if (!c || c->used + n > CHUNK_BYTES) {
		c = malloc(sizeof(*c));
		if (!c)
			return NULL;
		c->used = 0;
		c->next = tl.head;
		POISON(c->data, CHUNK_BYTES);
		if (!tl.head)
			pthread_setspecific(exit_key, &tl);
		tl.head = c;
	}
	void *p = c->data + c->used;
	c->used += n;
	UNPOISON(p, n);
	return p;
}

static void arena_free(void *p)
{
	if (!p)
		return;
	if (tl.head && in_arena(p))
		return; /* dropped with the arena */
	free(p);
}

static void free_chunks(struct chunk *c)
{
	while (c) {
		struct chunk *next = c->next;
		UNPOISON(c->data, CHUNK_BYTES);
		free(c);
		c = next;
	}
}

static void thread_exit(void *v)
{
	struct arena *a = v;
	free_chunks(a->head);
	a->head = NULL;
}

static void init_once(void)
{
	pthread_key_create(&exit_key, thread_exit);
	cJSON_Hooks h = {.malloc_fn = arena_malloc, .free_fn = arena_free};
	cJSON_InitHooks(&h);
}

void cg_jsonarena_install(void)
{
	pthread_once(&once, init_once);
}

void cg_jsonarena_begin(void)
{
	tl.active = 1;
	tl.paused = 0;
}

void cg_jsonarena_end(void)
{
	tl.active = 0;
	tl.paused = 0;
	if (!tl.head)
		return;
	/* Keep one chunk for the next job; give back the rest. */
	free_chunks(tl.head->next);
	tl.head->next = NULL;
	tl.head->used = 0;
	POISON(tl.head->data, CHUNK_BYTES);
}

void cg_jsonarena_pause(void)
{
	tl.paused = 1;
}

void cg_jsonarena_resume(void)
{
	tl.paused = 0;
}
