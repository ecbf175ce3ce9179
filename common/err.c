/* err.c - the one error type (see err.h).
 *
 * Errors are heap objects so that messages can carry the detail a person needs (field
 * paths, versions). Allocation failure while building an error must not lose the fact
 * that something failed, hence the static fallback. */
#include "err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cg_err {
    int code;
    char *msg;
};

static cg_err oom_err = {CG_ENOMEM, "out of memory"};

cg_err *cg_err_newv(int code, const char *fmt, va_list ap)
{
    cg_err *e = malloc(sizeof(*e));
    if (!e)
        return &oom_err;
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    e->code = code;
    e->msg = malloc(n < 0 ? 1 : (size_t)n + 1);
    if (!e->msg) {
        free(e);
        return &oom_err;
    }
    if (n < 0)
        e->msg[0] = '\0';
    else
        vsnprintf(e->msg, (size_t)n + 1, fmt, ap);
    return e;
}

cg_err *cg_err_new(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cg_err *e = cg_err_newv(code, fmt, ap);
    va_end(ap);
    return e;
}

cg_err *cg_err_wrap(cg_err *e, const char *fmt, ...)
{
    if (!e || e == &oom_err)
        return e;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return e;
    size_t old = strlen(e->msg);
    char *m = malloc((size_t)n + old + 1);
    if (!m)
        return e;
    va_start(ap, fmt);
    vsnprintf(m, (size_t)n + 1, fmt, ap);
    va_end(ap);
    memcpy(m + n, e->msg, old + 1);
    free(e->msg);
    e->msg = m;
    return e;
}

int cg_err_code(const cg_err *e)
{
    return e ? e->code : 0;
}

const char *cg_err_msg(const cg_err *e)
{
    return e ? e->msg : "success";
}

const char *cg_code_name(int code)
{
    /* one line per code reads as the table it is */
    /* clang-format off */
    switch (code) {
    case 0: return "OK";
    case CG_EINVAL: return "EINVAL";
    case CG_ENOMEM: return "ENOMEM";
    case CG_EIO: return "EIO";
    case CG_EPARSE: return "EPARSE";
    case CG_ESTATE: return "ESTATE";
    case CG_EKAFKA: return "EKAFKA";
    case CG_EDECODE: return "EDECODE";
    case CG_EHTTP_NOT_FOUND: return "NOT_FOUND";
    case CG_EHTTP_METHOD: return "METHOD_NOT_ALLOWED";
    case CG_EHTTP_NOT_ACCEPTABLE: return "NOT_ACCEPTABLE";
    case CG_EINCOMPATIBLE: return "INCOMPATIBLE_SCHEMA";
    case CG_EHTTP_TOO_LARGE: return "PAYLOAD_TOO_LARGE";
    case CG_EHTTP_UNSUPPORTED_MEDIA: return "UNSUPPORTED_MEDIA_TYPE";
    case CG_EHTTP_UNPROCESSABLE: return "UNPROCESSABLE_ENTITY";
    case CG_ESUBJECT_NOT_FOUND: return "SUBJECT_NOT_FOUND";
    case CG_EVERSION_NOT_FOUND: return "VERSION_NOT_FOUND";
    case CG_ESCHEMA_NOT_FOUND: return "SCHEMA_NOT_FOUND";
    case CG_ESUBJECT_SOFT_DELETED: return "SUBJECT_SOFT_DELETED";
    case CG_ESUBJECT_NOT_SOFT_DELETED: return "SUBJECT_NOT_SOFT_DELETED";
    case CG_EVERSION_SOFT_DELETED: return "VERSION_SOFT_DELETED";
    case CG_EVERSION_NOT_SOFT_DELETED: return "VERSION_NOT_SOFT_DELETED";
    case CG_ESUBJECT_COMPAT_NOT_CONFIGURED: return "SUBJECT_COMPAT_NOT_CONFIGURED";
    case CG_ESUBJECT_MODE_NOT_CONFIGURED: return "SUBJECT_MODE_NOT_CONFIGURED";
    case CG_EINVALID_SCHEMA: return "INVALID_SCHEMA";
    case CG_EINVALID_VERSION: return "INVALID_VERSION";
    case CG_EINVALID_COMPAT: return "INVALID_COMPATIBILITY_LEVEL";
    case CG_EINVALID_MODE: return "INVALID_MODE";
    case CG_EOPERATION_NOT_PERMITTED: return "OPERATION_NOT_PERMITTED";
    case CG_EREFERENCE_EXISTS: return "REFERENCE_EXISTS";
    case CG_EID_MISMATCH: return "ID_MISMATCH";
    case CG_EINVALID_SUBJECT: return "INVALID_SUBJECT";
    case CG_ESTORE: return "STORE_ERROR";
    case CG_ETIMEOUT: return "OPERATION_TIMEOUT";
    case CG_EFORWARD: return "FORWARD_ERROR";
    default: return "UNKNOWN";
    }
    /* clang-format on */
}

void cg_err_free(cg_err *e)
{
    if (!e || e == &oom_err)
        return;
    free(e->msg);
    free(e);
}
