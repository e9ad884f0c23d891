/* test_jsonarena.c: per-thread cJSON arenas: trees built inside are dropped at end(), objects
 * made while paused survive it, big blocks and many chunks work, other threads are untouched.
 * (Leaks and breaches show up under the ASan build: the arena poisons what it dropped.) */
/* labels: unit */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "jsonarena.h"

static cJSON *tree(int n)
{
	cJSON *o = cJSON_CreateObject();
	for (int i = 0; i < n; i++) {
		char k[32];
		snprintf(k, sizeof(k), "key-%d", i);
		cJSON *inner = cJSON_AddObjectToObject(o, k);
		cJSON_AddStringToObject(inner, "v", "some value that is not tiny");
		cJSON_AddNumberToObject(inner, "n", i);
	}
	return o;
}

static void test_inside_and_paused(void **state)
{
	(void)state;
	cg_jsonarena_begin();
	cJSON *t = tree(50);
	char *text = cJSON_PrintUnformatted(t);
	assert_non_null(text);
	cJSON *back = cJSON_Parse(text);
	assert_non_null(back);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(back, "key-49"), "v")->valuestring,
			    "some value that is not tiny");
	/* What must outlive the job is made while paused (plain malloc). */
	cg_jsonarena_pause();
	cJSON *keep = cJSON_CreateObject();
	cJSON_AddStringToObject(keep, "status", "accepted");
	cg_jsonarena_resume();
	char *copy = strdup(text); /* copied out, as intake does with the payload */
	cJSON_free(text);
	cJSON_Delete(back);
	cJSON_Delete(t);
	cg_jsonarena_end();

	/* After end(): the kept object and the copy are intact and freed normally. */
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(keep, "status")->valuestring, "accepted");
	char *k = cJSON_PrintUnformatted(keep);
	assert_string_equal(k, "{\"status\":\"accepted\"}");
	cJSON_free(k);
	cJSON_Delete(keep);
	assert_true(strlen(copy) > 1000);
	free(copy);
}

static void test_big_and_many_chunks(void **state)
{
	(void)state;
	for (int round = 0; round < 3; round++) {
		cg_jsonarena_begin();
		/* A string past the big-block limit goes to malloc; freeing it must free it. */
		char *big = malloc(100 * 1024);
		memset(big, 'x', 100 * 1024 - 1);
		big[100 * 1024 - 1] = '\0';
		cJSON *s = cJSON_CreateString(big);
		free(big);
		assert_int_equal(strlen(s->valuestring), 100 * 1024 - 1);
		cJSON_Delete(s);
		/* ~1 MB of small nodes: several chunks, all dropped (and all but one freed) at end(). */
		cJSON *arr = cJSON_CreateArray();
		for (int i = 0; i < 20000; i++)
			cJSON_AddItemToArray(arr, cJSON_CreateString("a string of some thirty bytes"));
		assert_int_equal(cJSON_GetArraySize(arr), 20000);
		cJSON_Delete(arr);
		cg_jsonarena_end();
	}
}

static void *other_thread(void *arg)
{
	(void)arg;
	/* No arena on this thread: ordinary allocations, freed with cJSON_Delete. */
	cJSON *t = tree(20);
	char *text = cJSON_PrintUnformatted(t);
	cJSON_Delete(t);
	cJSON *p = cJSON_Parse(text);
	cJSON_free(text);
	int ok = cJSON_GetArraySize(p) == 20;
	cJSON_Delete(p);
	/* And one with an arena, ending the thread with its chunk still kept (freed at exit). */
	cg_jsonarena_begin();
	cJSON_Delete(tree(10));
	cg_jsonarena_end();
	return ok ? (void *)1 : NULL;
}

static void test_threads(void **state)
{
	(void)state;
	pthread_t th[4];
	cg_jsonarena_begin(); /* this thread's arena does not affect the others */
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, other_thread, NULL), 0);
	cJSON *mine = tree(30);
	for (int i = 0; i < 4; i++) {
		void *ok = NULL;
		pthread_join(th[i], &ok);
		assert_non_null(ok);
	}
	cJSON_Delete(mine);
	cg_jsonarena_end();
}

int main(void)
{
	cg_jsonarena_install();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inside_and_paused),
		cmocka_unit_test(test_big_and_many_chunks),
		cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
