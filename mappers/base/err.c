/* err.c: text for enum cg_err. */
#include "err.h"

const char *cg_strerror(int err)
{
	switch (err) {
	case CG_OK: return "ok";
	case CG_ENOMEM: return "out of memory";
	case CG_EINVAL: return "invalid input";
	case CG_EAUTH: return "authentication failed";
	case CG_E2BIG: return "too large";
	case CG_EIO: return "I/O error";
	case CG_EAGAIN: return "temporarily unavailable";
	case CG_ENOENT: return "not found";
	case CG_EFULL: return "store full";
	case CG_ETIMEDOUT: return "timed out";
	case CG_ECLOSED: return "closed";
	case CG_EEXIST: return "already exists";
	case CG_ESTALE: return "lease lost to another replica";
	}
	return "unknown error";
}
