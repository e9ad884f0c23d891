/* casetext.h: the Markdown casegate writes into a draft itself: the description when nobody gave one, an occurrence's summary. */
#ifndef CG_CASETEXT_H
#define CG_CASETEXT_H

#include "event.h"

/* The description (Markdown, malloc'd) when neither the spec nor the mapper gives one: status, severity,
 * times, labels, annotations, links; every sender part neutralised. NULL on ENOMEM. */
char *cg_casetext_description(const struct cg_event *ev);
/* The comment text about this occurrence (status line, best annotation, the mapper's comment_detail,
 * links, and notes as "_casegate: ..._" lines), at most CG_SUMMARY_MAX bytes; NULL on ENOMEM. */
char *cg_casetext_summary(const struct cg_event *ev, const char *notes);
/* The severity as comments quote it in a code span: one line, no backtick, at most CG_VALUE_MAX bytes. */
char *cg_casetext_severity(const char *sev);

#endif
