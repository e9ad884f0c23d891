/* projects.c: the project key map: Datadog project keys and their UUIDs, as the listing gives them. */
#include "projects.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "err.h"
#include "event.h"
#include "keys.h" /* cg_cfg_is_uuid */

void cg_projects_cleanup(struct cg_projects *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->keys[i]);
		free(p->ids[i]);
	}
	free(p->keys);
	free(p->ids);
	p->keys = p->ids = NULL;
	p->n = 0;
	p->loaded = 0;
}

int cg_projects_parse(struct cg_projects *p, const char *body, size_t len)
{
	cJSON *doc = cJSON_ParseWithLength(body, len);
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(doc, "data");
	struct cg_projects np = {0};
	int rc = CG_EINVAL;
	if (!cJSON_IsArray(data))
		goto out;
	size_t n = (size_t)cJSON_GetArraySize(data);
	rc = CG_ENOMEM;
	np.keys = calloc(n ? n : 1, sizeof(char *));
	np.ids = calloc(n ? n : 1, sizeof(char *));
	if (!np.keys || !np.ids)
		goto out;
	const cJSON *it;
	cJSON_ArrayForEach(it, data)
	{
		const char *id = cg_json_str(it, "id"), *key = cg_json_str(it, "attributes.key");
		if (!id || !key)
			continue;
		np.keys[np.n] = strdup(key);
		np.ids[np.n] = strdup(id);
		if (!np.keys[np.n] || !np.ids[np.n]) {
			free(np.keys[np.n]);
			free(np.ids[np.n]);
			goto out;
		}
		np.n++;
	}
	np.loaded = 1;
	cg_projects_cleanup(p);
	*p = np;
	memset(&np, 0, sizeof(np));
	rc = 0;
out:
	cg_projects_cleanup(&np);
	cJSON_Delete(doc);
	return rc;
}

const char *cg_projects_id(const struct cg_projects *p, const char *key)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->keys[i], key) == 0)
			return p->ids[i];
	return NULL;
}

int cg_project_is_key(const char *project)
{
	return project && !cg_cfg_is_uuid(project); /* any 36 characters are not yet an id */
}
