/* gen_python_names.c - names and literals of the Python generator.
 *
 * Avro names are valid Python identifiers except where they collide with Python's own
 * words; those are escaped by appending '_' (the team's convention for C and Python,
 * docs/bindings-python.md). Beyond keywords, a few names are escaped because the
 * generated code needs them itself: builtins used in type hints (a field named "int"
 * would shadow int in its class body, and mypy would reject the hints after it), the
 * generated methods (a field "encode" would hide Person.encode), and at the top of a
 * module path the standard library's module names (Avro namespace "test" would be
 * shadowed by the standard library's test package). */
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen_python_internal.h"

static const char *const keywords[] = {
    "False", "None",     "True",  "and",    "as",   "assert", "async",  "await",    "break",
    "class", "continue", "def",   "del",    "elif", "else",   "except", "finally",  "for",
    "from",  "global",   "if",    "import", "in",   "is",     "lambda", "nonlocal", "not",
    "or",    "pass",     "raise", "return", "try",  "while",  "with",   "yield",    NULL,
};

/* Names the generated modules bind at module level or use in hints. */
static const char *const module_names[] = {
    "str",        "int",   "float",       "bool",        "bytes",     "list",
    "dict",       "tuple", "object",      "type",        "typing",    "datetime",
    "decimal",    "uuid",  "enum",        "dataclasses", "canongate", "SCHEMA",
    "isinstance", "super", "classmethod", "property",    NULL,
};

/* Members every generated record class has, or that its methods use as parameters. */
static const char *const member_names[] = {
    "self",          "cls",           "to_avro",       "from_avro", "to_json",
    "from_json",     "to_json_obj",   "from_json_obj", "encode",    "decode",
    "encode_framed", "decode_framed", "canon_key",     NULL,
};

static const char *const stdlib_names[] = {
    "test",
    "idlelib", /* not in sys.stdlib_module_names, installed all the same */
    "abc",
    "aifc",
    "antigravity",
    "argparse",
    "array",
    "ast",
    "asynchat",
    "asyncio",
    "asyncore",
    "atexit",
    "audioop",
    "base64",
    "bdb",
    "binascii",
    "bisect",
    "builtins",
    "bz2",
    "cProfile",
    "calendar",
    "cgi",
    "cgitb",
    "chunk",
    "cmath",
    "cmd",
    "code",
    "codecs",
    "codeop",
    "collections",
    "colorsys",
    "compileall",
    "concurrent",
    "configparser",
    "contextlib",
    "contextvars",
    "copy",
    "copyreg",
    "crypt",
    "csv",
    "ctypes",
    "curses",
    "dataclasses",
    "datetime",
    "dbm",
    "decimal",
    "difflib",
    "dis",
    "distutils",
    "doctest",
    "email",
    "encodings",
    "ensurepip",
    "enum",
    "errno",
    "faulthandler",
    "fcntl",
    "filecmp",
    "fileinput",
    "fnmatch",
    "fractions",
    "ftplib",
    "functools",
    "gc",
    "genericpath",
    "getopt",
    "getpass",
    "gettext",
    "glob",
    "graphlib",
    "grp",
    "gzip",
    "hashlib",
    "heapq",
    "hmac",
    "html",
    "http",
    "idlelib",
    "imaplib",
    "imghdr",
    "imp",
    "importlib",
    "inspect",
    "io",
    "ipaddress",
    "itertools",
    "json",
    "keyword",
    "lib2to3",
    "linecache",
    "locale",
    "logging",
    "lzma",
    "mailbox",
    "mailcap",
    "marshal",
    "math",
    "mimetypes",
    "mmap",
    "modulefinder",
    "msilib",
    "msvcrt",
    "multiprocessing",
    "netrc",
    "nis",
    "nntplib",
    "nt",
    "ntpath",
    "nturl2path",
    "numbers",
    "opcode",
    "operator",
    "optparse",
    "os",
    "ossaudiodev",
    "pathlib",
    "pdb",
    "pickle",
    "pickletools",
    "pipes",
    "pkgutil",
    "platform",
    "plistlib",
    "poplib",
    "posix",
    "posixpath",
    "pprint",
    "profile",
    "pstats",
    "pty",
    "pwd",
    "py_compile",
    "pyclbr",
    "pydoc",
    "pydoc_data",
    "pyexpat",
    "queue",
    "quopri",
    "random",
    "re",
    "readline",
    "reprlib",
    "resource",
    "rlcompleter",
    "runpy",
    "sched",
    "secrets",
    "select",
    "selectors",
    "shelve",
    "shlex",
    "shutil",
    "signal",
    "site",
    "smtpd",
    "smtplib",
    "sndhdr",
    "socket",
    "socketserver",
    "spwd",
    "sqlite3",
    "sre_compile",
    "sre_constants",
    "sre_parse",
    "ssl",
    "stat",
    "statistics",
    "string",
    "stringprep",
    "struct",
    "subprocess",
    "sunau",
    "symtable",
    "sys",
    "sysconfig",
    "syslog",
    "tabnanny",
    "tarfile",
    "telnetlib",
    "tempfile",
    "termios",
    "textwrap",
    "this",
    "threading",
    "time",
    "timeit",
    "tkinter",
    "token",
    "tokenize",
    "tomllib",
    "trace",
    "traceback",
    "tracemalloc",
    "tty",
    "turtle",
    "turtledemo",
    "types",
    "typing",
    "unicodedata",
    "unittest",
    "urllib",
    "uu",
    "uuid",
    "venv",
    "warnings",
    "wave",
    "weakref",
    "webbrowser",
    "winreg",
    "winsound",
    "wsgiref",
    "xdrlib",
    "xml",
    "xmlrpc",
    "zipapp",
    "zipfile",
    "zipimport",
    "zlib",
    "zoneinfo",
    NULL,
};

static int in_list(const char *const *list, const char *s)
{
    for (size_t i = 0; list[i]; i++)
        if (!strcmp(list[i], s))
            return 1;
    return 0;
}

const char *pg_strf(pyg *g, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n < 0 ? NULL : malloc((size_t)n + 1);
    if (!s) {
        g->oom = 1;
        return "";
    }
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    if (g->n_arena == g->cap_arena) {
        size_t cap = g->cap_arena ? g->cap_arena * 2 : 256;
        char **na = realloc(g->arena, cap * sizeof(*na));
        if (!na) {
            free(s);
            g->oom = 1;
            return "";
        }
        g->arena = na;
        g->cap_arena = cap;
    }
    g->arena[g->n_arena++] = s;
    return s;
}

char *pg_dup(pyg *g, const char *s)
{
    /* pg_strf's strings are malloc'ed char arrays the arena owns */
    return (char *)(uintptr_t)pg_strf(g, "%s", s);
}

void pg_free(pyg *g)
{
    for (size_t i = 0; i < g->n_arena; i++)
        free(g->arena[i]);
    free(g->arena);
    free(g->named);
    free(g->cls);
    free(g->unions);
    g->arena = NULL;
    g->named = NULL;
    g->cls = NULL;
    g->unions = NULL;
}

/* Grows a malloc'ed buffer for the literal builders; returns 0 or -1 (oom noted). */
static int buf_reserve(pyg *g, char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 64;
    while (ncap < need)
        ncap *= 2;
    char *nb = realloc(*buf, ncap);
    if (!nb) {
        g->oom = 1;
        return -1;
    }
    *buf = nb;
    *cap = ncap;
    return 0;
}

const char *pg_lit(pyg *g, const char *s)
{
    char *buf = NULL;
    size_t cap = 0, n = 0;
    if (buf_reserve(g, &buf, &cap, strlen(s) * 4 + 3))
        return "''";
    buf[n++] = '\'';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\\' || *p == '\'') {
            buf[n++] = '\\';
            buf[n++] = (char)*p;
        } else if (*p == '\n') {
            buf[n++] = '\\';
            buf[n++] = 'n';
        } else if (*p < 0x20 || *p == 0x7f) {
            n += (size_t)snprintf(buf + n, 5, "\\x%02x", *p);
        } else {
            buf[n++] = (char)*p; /* UTF-8 passes through: the source file is UTF-8 */
        }
    }
    buf[n++] = '\'';
    buf[n] = '\0';
    const char *r = pg_strf(g, "%s", buf);
    free(buf);
    return r;
}

const char *pg_bytes_lit(pyg *g, const unsigned char *b, size_t len)
{
    char *buf = NULL;
    size_t cap = 0, n = 0;
    if (buf_reserve(g, &buf, &cap, len * 4 + 4))
        return "b''";
    buf[n++] = 'b';
    buf[n++] = '\'';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = b[i];
        if (c == '\\' || c == '\'') {
            buf[n++] = '\\';
            buf[n++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            n += (size_t)snprintf(buf + n, 5, "\\x%02x", c);
        } else {
            buf[n++] = (char)c;
        }
    }
    buf[n++] = '\'';
    buf[n] = '\0';
    const char *r = pg_strf(g, "%s", buf);
    free(buf);
    return r;
}

const char *pg_doc(pyg *g, const char *s)
{
    char *buf = NULL;
    size_t cap = 0, n = 0;
    if (buf_reserve(g, &buf, &cap, strlen(s) * 2 + 1))
        return "";
    for (const char *p = s; *p; p++) {
        if (*p == '\\') {
            buf[n++] = '\\';
            buf[n++] = '\\';
        } else if (*p == '"') {
            buf[n++] = '\\'; /* no """ can end the docstring early */
            buf[n++] = '"';
        } else if (*p == '\r') {
            continue;
        } else {
            buf[n++] = *p;
        }
    }
    buf[n] = '\0';
    const char *r = pg_strf(g, "%s", buf);
    free(buf);
    return r;
}

int pg_is_keyword(const char *s)
{
    return in_list(keywords, s) || in_list(module_names, s);
}

const char *pg_field_attr(pyg *g, const char *name)
{
    int clash =
        in_list(keywords, name) || in_list(module_names, name) || in_list(member_names, name);
    for (size_t i = 0; !clash && i < g->n_named; i++)
        if (g->cls[i] && !strcmp(g->cls[i], name))
            clash = 1;
    /* A leading "__" would be name-mangled inside the class body. */
    if (!strncmp(name, "__", 2))
        return pg_strf(g, "f%s", name);
    return clash ? pg_strf(g, "%s_", name) : name;
}

const char *pg_enum_member(pyg *g, const char *symbol)
{
    if (symbol[0] == '_')
        return pg_strf(g, "S%s", symbol); /* _sunder_ and __private names are not members */
    if (in_list(keywords, symbol) || !strcmp(symbol, "name") || !strcmp(symbol, "value") ||
        !strcmp(symbol, "mro"))
        return pg_strf(g, "%s_", symbol);
    return symbol;
}

const char *pg_component(pyg *g, const char *name, int top_level)
{
    if (in_list(keywords, name) || (top_level && in_list(stdlib_names, name)) ||
        (top_level && !strcmp(name, "canongate")))
        return pg_strf(g, "%s_", name);
    return name;
}

const char *pg_snake(pyg *g, const char *name)
{
    size_t len = strlen(name);
    char *buf = malloc(len * 2 + 1);
    if (!buf) {
        g->oom = 1;
        return "binding";
    }
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (isupper(c)) {
            /* a boundary before an upper-case letter that follows a lower-case one or
             * a digit, or that starts a word after an acronym ("HTTPServer") */
            int prev_lower = i > 0 && (islower((unsigned char)name[i - 1]) ||
                                       isdigit((unsigned char)name[i - 1]));
            int acronym_end = i > 0 && isupper((unsigned char)name[i - 1]) && i + 1 < len &&
                              islower((unsigned char)name[i + 1]);
            if (n > 0 && buf[n - 1] != '_' && (prev_lower || acronym_end))
                buf[n++] = '_';
            buf[n++] = (char)tolower(c);
        } else {
            buf[n++] = (char)c;
        }
    }
    buf[n] = '\0';
    const char *r = pg_strf(g, "%s", buf);
    free(buf);
    return r;
}

const char *pg_module_of(pyg *g, const char *ns, const char *mod)
{
    if (!ns || !*ns)
        return pg_component(g, mod, 1);
    const char *acc = "";
    const char *p = ns;
    int top = 1;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        const char *part = pg_strf(g, "%.*s", (int)len, p);
        part = pg_component(g, part, top);
        acc = *acc ? pg_strf(g, "%s.%s", acc, part) : part;
        top = 0;
        p += len;
        if (*p == '.')
            p++;
    }
    return pg_strf(g, "%s.%s", acc, pg_component(g, mod, 0));
}
