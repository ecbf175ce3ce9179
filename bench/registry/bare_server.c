/* bare_server.c - the ceiling for the registry benchmark.
 *
 * A libmicrohttpd server with the registry's threading model (internal thread pool sized
 * to the cores, epoll) that answers every request with one fixed body, read from a file,
 * once the whole request body has been read. It does no routing, no parsing and no
 * storage, so whatever rate it reaches on this machine is the most any libmicrohttpd
 * server can reach with the same load generator: bench/registry/run.sh divides the
 * registry's figures by this one.
 *
 * Usage: bare_server --listen HOST:PORT --body FILE [--status N] [--content-type T]
 *                    [--threads N]
 * Prints "bare_server: listening on http://HOST:PORT" when ready; stops on SIGINT or
 * SIGTERM.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#define DEFAULT_CONTENT_TYPE "application/vnd.schemaregistry.v1+json"

/* Read-only after start: shared by every pool thread without a lock. */
typedef struct bare_ctx {
    struct MHD_Response *resp; /* queued again and again; MHD refcounts it */
    unsigned int status;
} bare_ctx;

/* Runs on a pool thread. libmicrohttpd calls it once with the headers (*con_cls NULL),
 * then once per chunk of body, then once with *upload_data_size 0: we answer only then,
 * so that the bare server reads the body exactly as the registry must. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    static int marker; /* address only: "headers seen" for this request */
    const bare_ctx *ctx = cls;
    if (*con_cls == NULL) {
        *con_cls = &marker;
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        *upload_data_size = 0; /* consumed and discarded */
        return MHD_YES;
    }
    return MHD_queue_response(conn, ctx->status, ctx->resp);
}

static int parse_listen(const char *s, struct sockaddr_in *sa)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s)
        return -1;
    char host[64];
    size_t hl = (size_t)(colon - s);
    if (hl >= sizeof host)
        return -1;
    memcpy(host, s, hl);
    host[hl] = '\0';
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port <= 0 || port > 65535)
        return -1;
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        return -1;
    return 0;
}

/* Reads a whole file into a malloc'ed buffer the caller frees. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0;
    if (!f)
        return NULL;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: bare_server --listen HOST:PORT --body FILE [--status N]\n"
                 "                   [--content-type TYPE] [--threads N]\n"
                 "Answers every request with FILE's bytes, once the request body is read.\n");
}

int main(int argc, char **argv)
{
    const char *listen = "127.0.0.1:18081", *body_path = NULL;
    const char *ctype = DEFAULT_CONTENT_TYPE;
    long threads = sysconf(_SC_NPROCESSORS_ONLN);
    bare_ctx ctx = {NULL, 200};
    char *body = NULL;
    size_t body_len = 0;
    struct MHD_Daemon *d = NULL;
    int rc = 1;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (!v) {
            usage(stderr);
            return 2;
        }
        if (strcmp(a, "--listen") == 0)
            listen = v;
        else if (strcmp(a, "--body") == 0)
            body_path = v;
        else if (strcmp(a, "--content-type") == 0)
            ctype = v;
        else if (strcmp(a, "--status") == 0)
            ctx.status = (unsigned int)atoi(v);
        else if (strcmp(a, "--threads") == 0)
            threads = atol(v);
        else {
            usage(stderr);
            return 2;
        }
        i++;
    }
    if (!body_path || threads < 1) {
        usage(stderr);
        return 2;
    }
    struct sockaddr_in sa;
    if (parse_listen(listen, &sa) != 0) {
        fprintf(stderr, "bare_server: bad --listen '%s'\n", listen);
        return 2;
    }
    body = read_file(body_path, &body_len);
    if (!body) {
        fprintf(stderr, "bare_server: %s: %s\n", body_path, strerror(errno));
        return 1;
    }
    ctx.resp = MHD_create_response_from_buffer(body_len, body, MHD_RESPMEM_PERSISTENT);
    if (!ctx.resp || MHD_add_response_header(ctx.resp, "Content-Type", ctype) != MHD_YES) {
        fprintf(stderr, "bare_server: cannot build the response\n");
        goto done;
    }

    /* Block the stop signals before the pool starts, so that only sigwait() sees them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* The same flags and limits as registry/http.c, so that only the logic differs. */
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
                         MHD_USE_TURBO | MHD_USE_ERROR_LOG;
    d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, &ctx, MHD_OPTION_SOCK_ADDR,
                         (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)threads,
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned int)10000,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)120,
                         MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)1024, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "bare_server: cannot listen on %s\n", listen);
        goto done;
    }
    printf("bare_server: listening on http://%s (%ld threads, %zu-byte body)\n", listen, threads,
           body_len);
    fflush(stdout);
    int sig = 0;
    sigwait(&stop, &sig);
    rc = 0;
done:
    if (d)
        MHD_stop_daemon(d);
    if (ctx.resp)
        MHD_destroy_response(ctx.resp);
    free(body);
    return rc;
}
