/* citygate exec source: runs a program (any language) and reads points from
 * its stdout, one per line, as InfluxDB line protocol or JSON; its stderr
 * lines go to citygate's log. Built only on the public adapter API
 * (include/citygate/): the proof that a third adapter needs nothing else.
 *
 * One thread per source: spawn, read stdout and stderr with poll(), decode
 * each stdout line with the public codecs, emit. When the program exits (or
 * says nothing on stdout for silence_timeout_s) it is restarted after a
 * backoff (restart_min_ms doubling to restart_max_ms, reset once a run lasted
 * restart_max_ms). The program runs in its own process group: stop() sends
 * SIGTERM to the group, SIGKILL after stop_timeout_ms, and always reaps it
 * (never a zombie). Pipes are non-blocking: a program that floods stdout
 * while the gateway's buffer is full simply blocks on its own write. */
#include <citygate/adapter.h>
#include <citygate/backoff.h>
#include <citygate/codec.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define ARGS_MAX 256
#define ENV_MAX 256
#define ARG_BYTES_MAX 4096
#define STDERR_LINE_MAX 1024 /* longer stderr lines are logged cut, with "..." */
#define BAD_SHOW_MAX 120     /* bytes of a malformed line quoted in the log */
#define ERR_MAX 200

static const char *const format_choices[] = {"influx", "json", NULL};
static const char *const prec_choices[] = {"ns", "us", "ms", "s", NULL};
static const char *const time_choices[] = {"auto", "s", "ms", "us", "ns", "rfc3339", NULL};

struct exec_conf {
    char *working_dir;
    int format; /* 0 influx, 1 json */
    char *measurement;
    int precision;
    char *time;
    int time_format;
    int64_t max_line_bytes, max_points_per_line, silence_timeout_s;
    int64_t restart_min_ms, restart_max_ms, stop_timeout_ms;
    int64_t stderr_lines_per_min, emit_timeout_ms;
};

static const struct cg_opt exec_opts[] = {
    {"type", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, 0, "\"exec\""},
    {"name", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, 0, "source name (logs, health)"},
    {"command", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, CG_OPT_REQUIRED,
     "argv array: [\"/usr/bin/python3\", \"sensor.py\", \"--fast\"]; no shell; a name without / is looked up in PATH"},
    {"env", CG_OPT_OTHER, 0, NULL, 0, 0, NULL, 0,
     "{\"NAME\": \"value\"} added to (or replacing in) citygate's environment"},
    {"working_dir", CG_OPT_STRING, offsetof(struct exec_conf, working_dir), NULL, 0, 0, NULL, 0,
     "directory the program runs in (default: citygate's, i.e. /)"},
    {"format", CG_OPT_ENUM, offsetof(struct exec_conf, format), "influx", 0, 0, format_choices, 0,
     "stdout lines: influx (line protocol) or json (one JSON object or array per line)"},
    {"measurement", CG_OPT_STRING, offsetof(struct exec_conf, measurement), NULL, 0, 0, NULL, 0,
     "measurement of the points (required for json; for influx it replaces the lines')"},
    {"precision", CG_OPT_ENUM, offsetof(struct exec_conf, precision), "ns", 0, 0, prec_choices, 0,
     "influx: unit of the line timestamps"},
    {"time", CG_OPT_STRING, offsetof(struct exec_conf, time), NULL, 0, 0, NULL, 0,
     "json: dot path of the timestamp (default: when the line was read)"},
    {"time_format", CG_OPT_ENUM, offsetof(struct exec_conf, time_format), "auto", 0, 0, time_choices, 0,
     "json: epoch s/ms/us/ns, rfc3339, or auto"},
    {"max_line_bytes", CG_OPT_INT, offsetof(struct exec_conf, max_line_bytes), "65536", 64, 16777216, NULL, 0,
     "longer stdout lines are discarded (counted, logged)"},
    {"max_points_per_line", CG_OPT_INT, offsetof(struct exec_conf, max_points_per_line), "1000", 1, 100000, NULL,
     0, "points one JSON line may carry"},
    {"silence_timeout_s", CG_OPT_INT, offsetof(struct exec_conf, silence_timeout_s), "0", 0, 86400, NULL, 0,
     "no stdout line for this long: the program is taken as hung, stopped and restarted (0 = off)"},
    {"restart_min_ms", CG_OPT_INT, offsetof(struct exec_conf, restart_min_ms), "1000", 10, 600000, NULL, 0,
     "first restart delay after the program exits (doubles on each exit)"},
    {"restart_max_ms", CG_OPT_INT, offsetof(struct exec_conf, restart_max_ms), "60000", 10, 3600000, NULL, 0,
     "longest restart delay; a run that lasted this long resets the delay"},
    {"stop_timeout_ms", CG_OPT_INT, offsetof(struct exec_conf, stop_timeout_ms), "3000", 10, 60000, NULL, 0,
     "after SIGTERM, how long before SIGKILL"},
    {"stderr_lines_per_min", CG_OPT_INT, offsetof(struct exec_conf, stderr_lines_per_min), "20", 0, 100000, NULL, 0,
     "stderr lines logged per minute; the rest are counted and reported as one line"},
    {"emit_timeout_ms", CG_OPT_INT, offsetof(struct exec_conf, emit_timeout_ms), "1000", 10, 60000, NULL, 0,
     "wait per attempt when the gateway's buffer is full (stdout is not read meanwhile)"},
    CG_OPT_END,
};

/* A line reader over one non-blocking pipe, with a hard cap. */
struct reader {
    int fd;
    char *buf;
    size_t len, cap; /* cap = limit + 1 */
    bool dropping;   /* inside a line past the cap: skip to its newline */
};

struct ex {
    struct exec_conf c;
    char **argv; /* owned, NULL-terminated */
    char **envp; /* owned, NULL-terminated */
    struct cg_sink *sink;
    const char *name; /* the source's name, for logs (borrowed from the core) */
    struct cg_codec_lp_conf lp;
    struct cg_codec_json_conf jc;

    pthread_t thread;
    bool thread_running;
    int wake[2]; /* stop() writes here */
    atomic_bool stopping;

    /* the reader thread's own state */
    struct cg_batch batch;
    struct reader out, err;
    struct cg_backoff restart;
    struct cg_complain bad_complain;
    int64_t err_window_ms;
    uint64_t err_in_window, err_suppressed;
    int64_t last_line_ms;

    pthread_mutex_t lock; /* the health copy below */
    bool up;
    uint64_t starts, restarts, lines_ok, lines_bad, consecutive_bad;
    int64_t last_ok_ns;
    char exit_reason[ERR_MAX];
    char bad_reason[ERR_MAX];
};

/* ---- config ----------------------------------------------------------------- */

static void free_strv(char **v)
{
    for (size_t i = 0; v && v[i]; i++) {
        free(v[i]);
    }
    free(v);
}

static char **parse_command(const cJSON *a, const char *path, struct cg_errs *errs)
{
    char p[256];
    cg_path_key(p, sizeof(p), path, "command");
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) < 1 || cJSON_GetArraySize(a) > ARGS_MAX) {
        cg_errs_add(errs, p, "expected an array of 1..%d strings (the program and its arguments)", ARGS_MAX);
        return NULL;
    }
    char **v = calloc((size_t)cJSON_GetArraySize(a) + 1, sizeof(*v));
    if (v == NULL) {
        cg_errs_add(errs, p, "out of memory");
        return NULL;
    }
    size_t i = 0;
    for (const cJSON *it = a->child; it; it = it->next, i++) {
        char ip[280];
        cg_path_idx(ip, sizeof(ip), p, i);
        if (!cJSON_IsString(it) || (i == 0 && it->valuestring[0] == '\0') ||
            strlen(it->valuestring) > ARG_BYTES_MAX) {
            cg_errs_add(errs, ip, i == 0 ? "expected the program: a non-empty string" : "expected a string of at most %d bytes",
                        ARG_BYTES_MAX);
            goto fail;
        }
        v[i] = cg_conf_expand_env(it->valuestring, ip, errs);
        if (v[i] == NULL) {
            goto fail;
        }
    }
    return v;
fail:
    free_strv(v);
    return NULL;
}

/* citygate's environment with the configured variables added or replaced. */
static char **build_env(const cJSON *env, const char *path, struct cg_errs *errs)
{
    char p[256];
    cg_path_key(p, sizeof(p), path, "env");
    if (env != NULL && (!cJSON_IsObject(env) || cJSON_GetArraySize(env) > ENV_MAX ||
                        cg_json_check_object(env, p, errs) < 0)) {
        if (!cJSON_IsObject(env) || cJSON_GetArraySize(env) > ENV_MAX) {
            cg_errs_add(errs, p, "expected an object of at most %d \"NAME\": \"value\" pairs", ENV_MAX);
        }
        return NULL;
    }
    size_t n_base = 0;
    while (environ && environ[n_base]) {
        n_base++;
    }
    size_t n_env = env ? (size_t)cJSON_GetArraySize(env) : 0;
    char **v = calloc(n_base + n_env + 1, sizeof(*v));
    if (v == NULL) {
        cg_errs_add(errs, p, "out of memory");
        return NULL;
    }
    size_t n = 0;
    for (const cJSON *it = env ? env->child : NULL; it; it = it->next) {
        char kp[280];
        cg_path_key(kp, sizeof(kp), p, it->string);
        if (it->string[0] == '\0' || strchr(it->string, '=') != NULL || !cJSON_IsString(it)) {
            cg_errs_add(errs, kp, "expected a string value under a name without '='");
            goto fail;
        }
        char *val = cg_conf_expand_env(it->valuestring, kp, errs);
        if (val == NULL) {
            goto fail;
        }
        int r = asprintf(&v[n], "%s=%s", it->string, val);
        free(val);
        if (r < 0) {
            v[n] = NULL;
            cg_errs_add(errs, kp, "out of memory");
            goto fail;
        }
        n++;
    }
    size_t n_set = n;
    for (size_t i = 0; i < n_base; i++) {
        const char *eq = strchr(environ[i], '=');
        size_t kl = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
        bool replaced = false;
        for (size_t k = 0; k < n_set && !replaced; k++) {
            replaced = strncmp(v[k], environ[i], kl) == 0 && v[k][kl] == '=';
        }
        if (!replaced && (v[n] = strdup(environ[i])) != NULL) {
            n++;
        }
    }
    return v;
fail:
    free_strv(v);
    return NULL;
}

static void ex_destroy(void *state)
{
    struct ex *x = state;
    if (x == NULL) {
        return;
    }
    cg_opt_free(exec_opts, &x->c);
    free_strv(x->argv);
    free_strv(x->envp);
    cg_batch_done(&x->batch);
    free(x->out.buf);
    free(x->err.buf);
    for (int i = 0; i < 2; i++) {
        if (x->wake[i] >= 0) {
            close(x->wake[i]);
        }
    }
    pthread_mutex_destroy(&x->lock);
    free(x);
}

static int ex_create(const cJSON *conf, const char *path, struct cg_sink *sink, void **state, struct cg_errs *errs)
{
    struct ex *x = calloc(1, sizeof(*x));
    if (x == NULL) {
        return -ENOMEM;
    }
    x->wake[0] = x->wake[1] = -1;
    x->out.fd = x->err.fd = -1;
    pthread_mutex_init(&x->lock, NULL);
    *state = x;
    size_t before = cg_errs_count(errs);
    cg_opt_parse(exec_opts, conf, path, &x->c, errs);
    x->argv = parse_command(cJSON_GetObjectItemCaseSensitive(conf, "command"), path, errs);
    x->envp = build_env(cJSON_GetObjectItemCaseSensitive(conf, "env"), path, errs);
    char p[256];
    if (x->c.format == 1 && x->c.measurement == NULL) {
        cg_path_key(p, sizeof(p), path, "measurement");
        cg_errs_add(errs, p, "required with format json");
    }
    if (x->c.restart_min_ms > x->c.restart_max_ms) {
        cg_path_key(p, sizeof(p), path, "restart_min_ms");
        cg_errs_add(errs, p, "must not exceed restart_max_ms (%lld), got %lld", (long long)x->c.restart_max_ms,
                    (long long)x->c.restart_min_ms);
    }
    if (cg_errs_count(errs) > before || x->argv == NULL || x->envp == NULL) {
        return -EINVAL;
    }
    static const int64_t prec_ns[] = {1, 1000, 1000000, 1000000000};
    x->lp.precision_ns = prec_ns[x->c.precision];
    x->jc = (struct cg_codec_json_conf){.time_path = x->c.time,
                                        .time_format = (enum cg_time_format)x->c.time_format,
                                        .max_depth = 32};
    x->sink = sink;
    x->name = cg_sink_source_name(sink);
    cg_batch_init(&x->batch, (size_t)x->c.max_points_per_line, (size_t)x->c.max_line_bytes * 2 + 4096);
    x->out.cap = (size_t)x->c.max_line_bytes + 1;
    x->err.cap = STDERR_LINE_MAX + 1;
    x->out.buf = malloc(x->out.cap);
    x->err.buf = malloc(x->err.cap);
    if (x->out.buf == NULL || x->err.buf == NULL || pipe2(x->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
        return -ENOMEM;
    }
    return 0;
}

/* ---- the program ------------------------------------------------------------ */

static void set_exit_reason(struct ex *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_exit_reason(struct ex *x, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&x->lock);
    vsnprintf(x->exit_reason, sizeof(x->exit_reason), fmt, ap);
    pthread_mutex_unlock(&x->lock);
    va_end(ap);
}

/* The executable for argv[0]: as given when it has a '/', else the first
 * executable match in PATH (looked up here, before fork: the child may only
 * make async-signal-safe calls). */
static int resolve(const char *prog, char *out, size_t n)
{
    if (strchr(prog, '/') != NULL) {
        snprintf(out, n, "%s", prog);
        return 0;
    }
    const char *path = getenv("PATH");
    path = path ? path : "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        size_t l = strcspn(path, ":");
        if ((size_t)snprintf(out, n, "%.*s/%s", (int)l, l ? path : ".", prog) < n && access(out, X_OK) == 0) {
            return 0;
        }
        path += l + (path[l] == ':');
    }
    return -ENOENT;
}

static pid_t spawn(struct ex *x, int *out_fd, int *err_fd)
{
    char exe[PATH_MAX];
    int po[2] = {-1, -1}, pe[2] = {-1, -1}, devnull = -1;
    pid_t pid = -1;
    int e = resolve(x->argv[0], exe, sizeof(exe));
    if (e < 0) {
        set_exit_reason(x, "cannot run '%s': not found in PATH", x->argv[0]);
        return e;
    }
    if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0 ||
        (devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
        e = -errno;
        set_exit_reason(x, "cannot run '%s': %s", x->argv[0], strerror(errno));
        goto out;
    }
    pid = fork();
    if (pid == 0) {
        /* child: async-signal-safe calls only */
        setpgid(0, 0);
        dup2(devnull, 0);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        struct sigaction dfl = {.sa_handler = SIG_DFL};
        const int sigs[] = {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2};
        for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
            sigaction(sigs[i], &dfl, NULL);
        }
        close_range(3, ~0U, 0);
        if (x->c.working_dir != NULL && chdir(x->c.working_dir) < 0) {
            static const char m[] = "citygate exec: cannot change to working_dir\n";
            (void)!write(2, m, sizeof(m) - 1);
            _exit(126);
        }
        execve(exe, x->argv, x->envp);
        static const char m[] = "citygate exec: cannot execute the program\n";
        (void)!write(2, m, sizeof(m) - 1);
        _exit(127);
    }
    if (pid < 0) {
        e = -errno;
        set_exit_reason(x, "cannot run '%s': fork: %s", x->argv[0], strerror(errno));
        goto out;
    }
    setpgid(pid, pid); /* also here: no signal can miss the group whoever runs first */
    *out_fd = po[0];
    *err_fd = pe[0];
    po[0] = pe[0] = -1;
    fcntl(*out_fd, F_SETFL, O_NONBLOCK);
    fcntl(*err_fd, F_SETFL, O_NONBLOCK);
    e = 0;
out:
    for (int i = 0; i < 2; i++) {
        if (po[i] >= 0) {
            close(po[i]);
        }
        if (pe[i] >= 0) {
            close(pe[i]);
        }
    }
    if (devnull >= 0) {
        close(devnull);
    }
    return e < 0 ? e : pid;
}

/* SIGTERM to the group, SIGKILL after stop_timeout_ms; always reaps. */
static int terminate(struct ex *x, pid_t pid)
{
    int status = 0;
    kill(-pid, SIGTERM);
    int64_t deadline = cg_time_mono_ms() + x->c.stop_timeout_ms;
    while (cg_time_mono_ms() < deadline) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD)) {
            kill(-pid, SIGKILL); /* what the program left behind in its group */
            return status;
        }
        nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
    }
    cg_log(CG_LOG_WARN, x->name, "program did not exit %lld ms after SIGTERM: SIGKILL",
           (long long)x->c.stop_timeout_ms);
    kill(-pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
}

static void flush_stderr_window(struct ex *x, bool force)
{
    int64_t now = cg_time_mono_ms();
    if (!force && now - x->err_window_ms < 60000) {
        return;
    }
    if (x->err_suppressed > 0) {
        cg_log(CG_LOG_WARN, x->name, "stderr: %llu more lines not logged (more than %lld a minute)",
               (unsigned long long)x->err_suppressed, (long long)x->c.stderr_lines_per_min);
    }
    x->err_window_ms = now;
    x->err_in_window = 0;
    x->err_suppressed = 0;
}

static void stderr_line(struct ex *x, const char *s, size_t n, bool cut)
{
    flush_stderr_window(x, false);
    if (x->err_in_window >= (uint64_t)x->c.stderr_lines_per_min) {
        x->err_suppressed++;
        return;
    }
    x->err_in_window++;
    /* cg_log writes control bytes as \xNN: the program cannot forge lines */
    cg_log(CG_LOG_WARN, x->name, "stderr: %.*s%s", (int)n, s, cut ? "..." : "");
}

static void bad_line(struct ex *x, const char *why, const char *s, size_t n)
{
    pthread_mutex_lock(&x->lock);
    x->lines_bad++;
    x->consecutive_bad++;
    snprintf(x->bad_reason, sizeof(x->bad_reason), "%s", why);
    uint64_t total = x->lines_bad;
    pthread_mutex_unlock(&x->lock);
    cg_complain(&x->bad_complain, CG_LOG_WARN, x->name, "stdout line discarded (%s; %llu so far): '%.*s%s'", why,
                (unsigned long long)total, (int)(n > BAD_SHOW_MAX ? BAD_SHOW_MAX : n), s, n > BAD_SHOW_MAX ? "..." : "");
}

static void stdout_line(struct ex *x, char *s, size_t n)
{
    if (n > 0 && s[n - 1] == '\r') {
        n--;
    }
    if (n == 0 || s[0] == '#') {
        return; /* blank lines and line protocol comments */
    }
    const char *why = NULL;
    cg_batch_reset(&x->batch);
    x->batch.now_ns = cg_time_now_ns();
    int e = x->c.format == 0 ? cg_codec_lp_decode(&x->lp, x->c.measurement, s, n, &x->batch, &why)
                             : cg_codec_json_decode(&x->jc, x->c.measurement, s, n, &x->batch, &why);
    if (e < 0) {
        bad_line(x, why ? why : strerror(-e), s, n);
        return;
    }
    cg_batch_finish(&x->batch);
    int rc;
    do {
        rc = cg_sink_emit(x->sink, x->batch.points, x->batch.n_points, (int)x->c.emit_timeout_ms);
    } while (cg_sink_hold(rc) && !atomic_load(&x->stopping));
    if (rc >= 0) {
        pthread_mutex_lock(&x->lock);
        x->lines_ok++;
        x->consecutive_bad = 0;
        x->last_ok_ns = cg_time_now_ns();
        pthread_mutex_unlock(&x->lock);
        cg_complain_clear(&x->bad_complain, x->name, "stdout");
    }
}

/* Reads what the pipe has; calls on_line per complete line. 1 at EOF. */
static int drain(struct ex *x, struct reader *r, bool is_stdout)
{
    for (;;) {
        char chunk[4096];
        ssize_t got = read(r->fd, chunk, sizeof(chunk));
        if (got == 0) {
            if (r->len > 0 && !r->dropping) { /* a last line without newline */
                is_stdout ? stdout_line(x, r->buf, r->len) : stderr_line(x, r->buf, r->len, false);
            }
            r->len = 0;
            return 1;
        }
        if (got < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno == EAGAIN ? 0 : 1;
        }
        for (ssize_t i = 0; i < got; i++) {
            if (chunk[i] == '\n') {
                if (!r->dropping) {
                    if (is_stdout) {
                        x->last_line_ms = cg_time_mono_ms();
                        stdout_line(x, r->buf, r->len);
                    } else {
                        stderr_line(x, r->buf, r->len, false);
                    }
                }
                r->len = 0;
                r->dropping = false;
            } else if (r->dropping) {
                continue;
            } else if (r->len + 1 >= r->cap) {
                if (is_stdout) {
                    char why[80];
                    snprintf(why, sizeof(why), "longer than max_line_bytes %zu", r->cap - 1);
                    bad_line(x, why, r->buf, r->len);
                } else {
                    stderr_line(x, r->buf, r->len, true);
                }
                r->dropping = true;
                r->len = 0;
            } else {
                r->buf[r->len++] = chunk[i];
            }
        }
    }
}

static void describe_status(char *out, size_t n, int status)
{
    if (WIFEXITED(status)) {
        snprintf(out, n, "exited with status %d", WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
        snprintf(out, n, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    } else {
        snprintf(out, n, "ended (status 0x%x)", (unsigned)status);
    }
}

/* Runs the program once, until it ends, falls silent, or stop(). */
static void run_once(struct ex *x)
{
    pid_t pid = spawn(x, &x->out.fd, &x->err.fd);
    if (pid < 0) {
        return;
    }
    pthread_mutex_lock(&x->lock);
    x->up = true;
    x->starts++;
    pthread_mutex_unlock(&x->lock);
    x->out.len = x->err.len = 0;
    x->out.dropping = x->err.dropping = false;
    x->last_line_ms = cg_time_mono_ms();
    bool out_open = true, err_open = true, exited = false, silent = false, lost_status = false;
    int status = 0;
    while (!atomic_load(&x->stopping) && !exited) {
        struct pollfd p[3] = {{x->wake[0], POLLIN, 0}, {out_open ? x->out.fd : -1, POLLIN, 0},
                              {err_open ? x->err.fd : -1, POLLIN, 0}};
        poll(p, 3, 200);
        if (p[1].revents && drain(x, &x->out, true)) {
            out_open = false;
        }
        if (p[2].revents && drain(x, &x->err, false)) {
            err_open = false;
        }
        /* the program may end while a child of its own still holds the pipes */
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD)) { /* ECHILD: SIGCHLD ignored, the kernel reaped it */
            exited = true;
            lost_status = r < 0;
            if (out_open) {
                drain(x, &x->out, true);
            }
            if (err_open) {
                drain(x, &x->err, false);
            }
            kill(-pid, SIGKILL); /* anything it left in its group */
        } else if (x->c.silence_timeout_s > 0 && cg_time_mono_ms() - x->last_line_ms > x->c.silence_timeout_s * 1000) {
            silent = true;
            break;
        }
    }
    char why[ERR_MAX];
    if (!exited) {
        status = terminate(x, pid);
    }
    close(x->out.fd);
    close(x->err.fd);
    x->out.fd = x->err.fd = -1;
    flush_stderr_window(x, true);
    if (silent) {
        snprintf(why, sizeof(why), "no line on stdout for %lld s: stopped", (long long)x->c.silence_timeout_s);
    } else if (lost_status) {
        snprintf(why, sizeof(why), "ended (exit status not available)");
    } else {
        describe_status(why, sizeof(why), status);
    }
    pthread_mutex_lock(&x->lock);
    x->up = false;
    if (!atomic_load(&x->stopping)) {
        snprintf(x->exit_reason, sizeof(x->exit_reason), "%s", why);
    }
    pthread_mutex_unlock(&x->lock);
}

static void *thread_main(void *arg)
{
    struct ex *x = arg;
    while (!atomic_load(&x->stopping)) {
        int64_t t0 = cg_time_mono_ms();
        run_once(x);
        if (atomic_load(&x->stopping)) {
            break;
        }
        if (cg_time_mono_ms() - t0 >= x->c.restart_max_ms) {
            cg_backoff_reset(&x->restart); /* it ran well for a while: a fresh start */
        }
        int64_t delay = cg_backoff_next(&x->restart);
        pthread_mutex_lock(&x->lock);
        uint64_t n = ++x->restarts;
        char why[ERR_MAX];
        snprintf(why, sizeof(why), "%s", x->exit_reason);
        pthread_mutex_unlock(&x->lock);
        cg_log(CG_LOG_WARN, x->name, "program %s: %s; restart %llu in %lld ms", x->argv[0], why, (unsigned long long)n,
               (long long)delay);
        struct pollfd p = {x->wake[0], POLLIN, 0};
        int64_t until = cg_time_mono_ms() + delay;
        while (!atomic_load(&x->stopping) && cg_time_mono_ms() < until) {
            poll(&p, 1, (int)(until - cg_time_mono_ms()));
        }
    }
    return NULL;
}

/* ---- lifecycle ---------------------------------------------------------------- */

static int ex_start(void *state)
{
    struct ex *x = state;
    char c;
    while (read(x->wake[0], &c, 1) == 1) {
    }
    atomic_store(&x->stopping, false);
    cg_backoff_init(&x->restart, x->c.restart_min_ms, x->c.restart_max_ms, CG_BACKOFF_NONE, 1);
    x->err_window_ms = cg_time_mono_ms();
    x->err_in_window = x->err_suppressed = 0;
    int e = pthread_create(&x->thread, NULL, thread_main, x);
    if (e != 0) {
        return -e;
    }
    x->thread_running = true;
    return 0;
}

static void ex_stop(void *state)
{
    struct ex *x = state;
    if (x == NULL || !x->thread_running) {
        return;
    }
    atomic_store(&x->stopping, true);
    (void)!write(x->wake[1], "x", 1);
    pthread_join(x->thread, NULL);
    x->thread_running = false;
}

static void ex_health(void *state, cg_health_fn report, void *ctx)
{
    struct ex *x = state;
    pthread_mutex_lock(&x->lock);
    struct cg_health_item prog = {
        .device = "program",
        .kind = CG_HEALTH_LINK,
        .up = x->up,
        .ok = x->starts,
        .failed = x->restarts,
        .consecutive_failures = x->up ? 0 : x->restarts,
        .latency_ms = -1,
        .last_ok_ns = x->last_ok_ns,
        .last_error = x->exit_reason[0] ? x->exit_reason : NULL,
    };
    struct cg_health_item out = {
        .device = "stdout",
        .kind = CG_HEALTH_RULE,
        .up = x->up && x->consecutive_bad == 0,
        .ok = x->lines_ok,
        .failed = x->lines_bad,
        .consecutive_failures = x->consecutive_bad,
        .latency_ms = -1,
        .last_ok_ns = x->last_ok_ns,
        .last_error = x->bad_reason[0] ? x->bad_reason : NULL,
    };
    report(ctx, &prog);
    report(ctx, &out);
    pthread_mutex_unlock(&x->lock);
}

const struct cg_adapter cg_adapter_exec = {
    .api_version = CG_ADAPTER_API_VERSION,
    .type = "exec",
    .summary = "runs a program and reads line protocol or JSON lines from its stdout",
    .create = ex_create,
    .start = ex_start,
    .stop = ex_stop,
    .destroy = ex_destroy,
    .health = ex_health,
    .options = exec_opts,
};
