/* projects.h: the project key map: Datadog project keys and their UUIDs, as the listing gives them. */
#ifndef CG_PROJECTS_H
#define CG_PROJECTS_H

#include <stddef.h>
#include <stdint.h>

/* Projects by key, as GET /api/v2/cases/projects lists them. */
struct cg_projects {
	char **keys, **ids;
	size_t n;
	int loaded;        /* 1 after a successful listing */
	int64_t loaded_ms;
};

void cg_projects_cleanup(struct cg_projects *p);
/* Replaces p's content from a GET /cases/projects answer. 0, CG_EINVAL (not a listing) or CG_ENOMEM. */
int cg_projects_parse(struct cg_projects *p, const char *body, size_t len);
/* The UUID of key, or NULL. */
const char *cg_projects_id(const struct cg_projects *p, const char *key);
/* 1 when project (a source's project setting) is a key rather than a UUID. */
int cg_project_is_key(const char *project);

#endif
