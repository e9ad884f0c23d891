/* provision_common.c: what provision and maintenance share: their options, request envelopes, time strings. */
#include "provision.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

int cg_prov_args(struct cg_cli *c)
{
	struct cg_cli_args *a = &c->a;
	int argc = c->argc;
	char **argv = c->argv;
	memset(a, 0, sizeof(*a));
	for (int i = 2; i < argc; i++) {
		const char *s = argv[i];
		int more = i + 1 < argc;
		if ((strcmp(s, "-c") == 0 || strcmp(s, "--config") == 0) && more)
			a->config = argv[++i];
		else if (strcmp(s, "--env-file") == 0 && more)
			a->env_file = argv[++i];
		else if (strcmp(s, "--datadog-url") == 0 && more)
			a->dd_url = argv[++i];
		else if (strcmp(s, "--project") == 0 && more)
			a->project = argv[++i];
		else if (strcmp(s, "--duration") == 0 && more)
			a->duration = argv[++i];
		else if (strcmp(s, "--plan") == 0)
			a->plan = 1;
		else if (strcmp(s, "--apply") == 0)
			a->apply = 1;
		else if (s[0] != '-' && !a->verb)
			a->verb = s;
		else {
			fprintf(c->err, "casegate %s: unexpected argument %s\n", argv[1], s);
			return -1;
		}
	}
	if (!a->config) {
		fprintf(c->err, "casegate %s: -c FILE is required\n", argv[1]);
		return -1;
	}
	return 0;
}

cJSON *cg_prov_env(const char *type, cJSON *attrs)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *d = cJSON_AddObjectToObject(root, "data");
	if (attrs)
		cJSON_AddItemToObject(d, "attributes", attrs);
	cJSON_AddStringToObject(d, "type", type);
	return root;
}

void cg_prov_norm_time(const char *s, char *out, size_t len)
{
	snprintf(out, len, "%s", s ? s : "");
	char *dot = strchr(out, '.');
	if (dot) {
		char *e = dot + 1;
		while (*e == '0')
			e++;
		if (!isdigit((unsigned char)*e))
			memmove(dot, e, strlen(e) + 1);
	}
}
