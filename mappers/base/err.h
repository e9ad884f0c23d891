/* err.h: casegate's error codes, shared by mappers/ and gateway/. */
#ifndef CG_ERR_H
#define CG_ERR_H

/* 0 is success; every failure is a negative enum cg_err. */
enum cg_err {
	CG_OK = 0,
	CG_ENOMEM = -1,    /* allocation failed */
	CG_EINVAL = -2,    /* bad input (payload, config, argument) */
	CG_EAUTH = -3,     /* authentication failed */
	CG_E2BIG = -4,     /* input over a size limit */
	CG_EIO = -5,       /* I/O or storage failure */
	CG_EAGAIN = -6,    /* temporary: try again later */
	CG_ENOENT = -7,    /* not found */
	CG_EFULL = -8,     /* store full / disk full */
	CG_ETIMEDOUT = -9, /* deadline passed */
	CG_ECLOSED = -10,  /* object shut down */
	CG_EEXIST = -11,   /* already exists */
	CG_ESTALE = -12,   /* lease lost: another process owns this work now */
};

/* Human-readable text for an enum cg_err value; never NULL. */
const char *cg_strerror(int err);

#endif
