/* err.h - the one error type of Canongate.
 *
 * Every fallible function returns a cg_err * : NULL on success, or an error the caller
 * owns and must release with cg_err_free(). An error carries a code a program can test
 * and a message a person can act on ("field 'email': default null does not match type
 * string"). Codes below 1000 are generic; the registry uses the Confluent Schema
 * Registry error codes themselves (40401, 42201, ...) so that the HTTP layer passes them
 * through unchanged. */
#ifndef CG_ERR_H
#define CG_ERR_H

#include <stdarg.h>

typedef struct cg_err cg_err;

enum cg_code {
    /* generic */
    CG_EINVAL = 1,  /* bad argument or malformed input */
    CG_ENOMEM = 2,  /* allocation failed */
    CG_EIO = 3,     /* file or socket error */
    CG_EPARSE = 4,  /* malformed JSON or other syntax */
    CG_ESTATE = 5,  /* operation not allowed in the current state */
    CG_EKAFKA = 6,  /* librdkafka reported an error */
    CG_EDECODE = 7, /* Avro bytes that do not decode */

    /* Confluent Schema Registry codes, used verbatim on the wire */
    CG_EHTTP_NOT_FOUND = 404,         /* HTTP 404 with no finer code */
    CG_EHTTP_METHOD = 405,            /* method not allowed */
    CG_EHTTP_NOT_ACCEPTABLE = 406,    /* Accept header not satisfiable */
    CG_EINCOMPATIBLE = 409,           /* schema incompatible with earlier versions */
    CG_EHTTP_TOO_LARGE = 413,         /* request body over the limit */
    CG_EHTTP_UNSUPPORTED_MEDIA = 415, /* Content-Type not supported */
    CG_EHTTP_UNPROCESSABLE = 422,     /* bad request body (not JSON, wrong fields) */
    CG_ESUBJECT_NOT_FOUND = 40401,
    CG_EVERSION_NOT_FOUND = 40402,
    CG_ESCHEMA_NOT_FOUND = 40403,
    CG_ESUBJECT_SOFT_DELETED = 40404,
    CG_ESUBJECT_NOT_SOFT_DELETED = 40405,
    CG_EVERSION_SOFT_DELETED = 40406,
    CG_EVERSION_NOT_SOFT_DELETED = 40407,
    CG_ESUBJECT_COMPAT_NOT_CONFIGURED = 40408,
    CG_ESUBJECT_MODE_NOT_CONFIGURED = 40409,
    CG_EINVALID_SCHEMA = 42201,
    CG_EINVALID_VERSION = 42202,
    CG_EINVALID_COMPAT = 42203,
    CG_EINVALID_MODE = 42204,
    CG_EOPERATION_NOT_PERMITTED = 42205,
    CG_EREFERENCE_EXISTS = 42206,
    CG_EID_MISMATCH = 42207,
    CG_EINVALID_SUBJECT = 42208,
    CG_ESTORE = 50001, /* error in the backend data store */
    CG_ETIMEOUT = 50002,
    CG_EFORWARD = 50003,
};

/* Creates an error with a printf-style message. Never returns NULL: when memory is short
 * it returns a static "out of memory" error that cg_err_free() knows not to free. */
cg_err *cg_err_new(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
cg_err *cg_err_newv(int code, const char *fmt, va_list ap);

/* Prepends context to the message ("schema 'x': " + old message) and returns e. */
cg_err *cg_err_wrap(cg_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

int cg_err_code(const cg_err *e);
/* The message belongs to e and lives until cg_err_free(e). */
const char *cg_err_msg(const cg_err *e);
/* A short stable name for a code ("EINVAL", "SUBJECT_NOT_FOUND"), for logs and metrics. */
const char *cg_code_name(int code);
void cg_err_free(cg_err *e); /* NULL is fine */

#endif
