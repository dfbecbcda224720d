/*
 * bare.c: the two floors of `cargo xtask bench` ("bare" and "threaded"), plus two
 * helpers for the bench driver. Compiled by the xtask with `cc -O2 -pthread` into
 * target/bench/bare.
 *
 *   bare serve N WAIT_MS [SCALE_FILE]
 *       The bench scenario without any framework: a master that forks N workers
 *       (WAIT_MS between two forks), respawns a dead worker with the same id, and
 *       turns signals into the same lifecycle as cotyledon: SIGTERM = stop every
 *       worker with SIGTERM, reap them, exit 0; SIGINT = SIGINT to every worker,
 *       exit 1; SIGHUP = read SCALE_FILE (if given and present) as the new worker
 *       count (scale-down stops the highest ids with SIGTERM; an id is reused only
 *       once its old process is reaped), then SIGHUP to every worker. All signals
 *       are blocked and taken synchronously with sigwaitinfo(). A worker prints
 *       `run bare ID PID` on start and `reload bare ID PID` on SIGHUP, with one
 *       write(2) each, and exits 0 on SIGTERM (PR_SET_PDEATHSIG: SIGTERM).
 *
 *   bare threaded N WAIT_MS [SCALE_FILE]
 *       The same, except that each worker first starts one pthread (default
 *       attributes), which prints the `run` line and then blocks on a condition
 *       variable forever: the run thread every cotyledon worker has, doing
 *       nothing. The worker's main thread takes the signals as in `serve`, and
 *       SIGTERM still ends the process at once (_exit, from the main thread).
 *
 *   bare signal
 *       Sends signals for the driver, which is std-only: reads lines
 *       `kill SIG PID` (PID < 0: a process group), `track PGID`, `untrack PGID`
 *       on stdin, answers `0` or an errno per line. At end of input (the driver
 *       exited, even by a crash) it SIGKILLs every tracked process group.
 *       `watch PID` opens a pidfd on PID (answers `0` or an errno), and
 *       `killwait SIG PID TIMEOUT_MS` sends SIG to PID, then waits until every
 *       watched process has exited (its pidfd is readable) and forgets them; it
 *       answers `0 NS`, NS the nanoseconds from just before kill(2) to the last
 *       exit seen, or an errno (ETIMEDOUT when some were left at the timeout).
 *       `deadat TIMEOUT_MS` sends nothing: it waits the same way, at real-time
 *       priority (SCHED_FIFO 1) when allowed, and answers `0 NS RT`, NS the
 *       CLOCK_MONOTONIC time (ns) just after the last exit was seen (the time
 *       of a death, on the clock a worker can print too), RT 1 if it waited at
 *       real-time priority (woken at once even with every CPU busy), else 0.
 *
 *   bare reaper PROG ARGS...
 *       Runs PROG as a child subreaper (PR_SET_CHILD_SUBREAPER), so the workers
 *       orphaned when a subject is killed are reaped even when PID 1 does not reap
 *       (as in some containers); exits with PROG's status.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_WORKERS 65536

static pid_t slots[MAX_WORKERS]; /* pid per worker id, 0 = none */
static int high;                 /* ids below this may be in use */
static int desired;
static int alive;
static long long wait_ns;
static long long last_fork_ns = -1;
static pid_t master;
static int threaded; /* `bare threaded`: each worker holds an idle run thread */
static pthread_mutex_t idle_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t idle_cond = PTHREAD_COND_INITIALIZER;

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void say(const char *what, int id) {
    char line[64];
    int n = snprintf(line, sizeof line, "%s bare %d %d\n", what, id, (int)getpid());
    if (write(1, line, (size_t)n) < 0) {
        _exit(1);
    }
}

/* The run thread of `bare threaded`: announces the worker, then waits for a
 * signal on idle_cond that never comes. */
static void *run_thread(void *arg) {
    say("run", (int)(intptr_t)arg);
    pthread_mutex_lock(&idle_lock);
    for (;;) {
        pthread_cond_wait(&idle_cond, &idle_lock);
    }
    return NULL;
}

static void worker(int id) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != master) {
        _exit(0);
    }
    if (threaded) {
        /* The signals stay blocked in the new thread: the mask is inherited. */
        pthread_t thread;
        int err = pthread_create(&thread, NULL, run_thread, (void *)(intptr_t)id);
        if (err != 0) {
            fprintf(stderr, "bare: pthread_create: %s\n", strerror(err));
            _exit(1);
        }
    } else {
        say("run", id);
    }
    for (;;) {
        int sig = sigwaitinfo(&set, NULL);
        if (sig == SIGHUP) {
            say("reload", id);
        } else if (sig == SIGTERM) {
            _exit(0);
        } else if (sig == SIGINT) {
            _exit(1);
        }
    }
}

static void spawn_missing(void) {
    for (int id = 0; id < desired; id++) {
        if (slots[id] != 0) {
            continue;
        }
        if (wait_ns > 0 && last_fork_ns >= 0) {
            long long left = last_fork_ns + wait_ns - now_ns();
            if (left > 0) {
                struct timespec ts = {left / 1000000000LL, left % 1000000000LL};
                while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
                }
            }
        }
        pid_t pid = fork();
        if (pid == 0) {
            worker(id);
        }
        if (pid < 0) {
            perror("fork");
            return;
        }
        last_fork_ns = now_ns();
        slots[id] = pid;
        alive++;
        if (id >= high) {
            high = id + 1;
        }
    }
}

static void reap(void) {
    pid_t pid;
    while ((pid = waitpid(-1, NULL, WNOHANG)) > 0) {
        for (int id = 0; id < high; id++) {
            if (slots[id] == pid) {
                slots[id] = 0;
                alive--;
                break;
            }
        }
    }
}

static void signal_all(int sig) {
    for (int id = 0; id < high; id++) {
        if (slots[id] != 0) {
            kill(slots[id], sig);
        }
    }
}

static void rescale(const char *path) {
    FILE *f = path ? fopen(path, "r") : NULL;
    if (f == NULL) {
        return;
    }
    int n;
    if (fscanf(f, "%d", &n) == 1 && n >= 1 && n <= MAX_WORKERS) {
        for (int id = n; id < high; id++) {
            if (id >= desired) {
                break;
            }
            if (slots[id] != 0) {
                kill(slots[id], SIGTERM);
            }
        }
        desired = n;
    }
    fclose(f);
}

static int serve(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: bare serve|threaded N WAIT_MS [SCALE_FILE]\n");
        return 64;
    }
    desired = atoi(argv[2]);
    wait_ns = atoll(argv[3]) * 1000000LL;
    const char *scale_file = argc > 4 ? argv[4] : NULL;
    if (desired < 1 || desired > MAX_WORKERS) {
        fprintf(stderr, "bare: bad worker count\n");
        return 64;
    }
    master = getpid();
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int stopping = 0;
    spawn_missing();
    for (;;) {
        int sig = sigwaitinfo(&set, NULL);
        switch (sig) {
        case SIGCHLD:
            reap();
            if (!stopping) {
                spawn_missing();
            }
            break;
        case SIGTERM:
            if (!stopping) {
                stopping = 1;
                signal_all(SIGTERM);
            }
            break;
        case SIGINT:
            signal_all(SIGINT);
            return 1;
        case SIGHUP:
            if (!stopping) {
                rescale(scale_file);
                signal_all(SIGHUP);
                spawn_missing();
            }
            break;
        }
        if (stopping && alive == 0) {
            return 0;
        }
    }
}

#define MAX_WATCHED 4096

static struct pollfd watched[MAX_WATCHED];
static int nwatched;

/* Waits until every watched process has exited (at most until `deadline`, in
 * CLOCK_MONOTONIC ns) and forgets them; returns 0 (with the CLOCK_MONOTONIC time
 * just after the last exit was seen in *end) or an errno. */
static int wait_watched(long long deadline, long long *end) {
    int err = 0;
    int left = nwatched;
    while (left > 0) {
        long long wait_ms = (deadline - now_ns()) / 1000000LL;
        if (wait_ms <= 0) {
            err = ETIMEDOUT;
            break;
        }
        int n = poll(watched, (nfds_t)nwatched, (int)wait_ms);
        if (n < 0 && errno != EINTR) {
            err = errno;
            break;
        }
        for (int i = 0; i < nwatched && n > 0; i++) {
            if (watched[i].fd >= 0 && watched[i].revents != 0) {
                close(watched[i].fd);
                watched[i].fd = -1; /* poll ignores negative fds */
                left--;
            }
        }
    }
    *end = now_ns();
    for (int i = 0; i < nwatched; i++) {
        if (watched[i].fd >= 0) {
            close(watched[i].fd);
        }
    }
    nwatched = 0;
    return err;
}

/* Sends `sig` to `pid`, then waits until every watched process has exited;
 * returns 0 (with the nanoseconds taken in *ns) or an errno. */
static int killwait(int sig, int pid, int timeout_ms, long long *ns) {
    long long start = now_ns();
    long long end = start;
    int err = kill(pid, sig) < 0 ? errno : 0;
    /* A failed kill still forgets the watched processes (a deadline passed). */
    int waited = wait_watched(err == 0 ? start + (long long)timeout_ms * 1000000LL : 0, &end);
    *ns = end - start;
    return err != 0 ? err : waited;
}

static int signaller(void) {
    static pid_t tracked[1024];
    int ntracked = 0;
    char line[128];
    signal(SIGINT, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    while (fgets(line, sizeof line, stdin) != NULL) {
        int sig, pid, timeout_ms, err = 0;
        if (sscanf(line, "kill %d %d", &sig, &pid) == 2) {
            err = kill(pid, sig) < 0 ? errno : 0;
        } else if (sscanf(line, "track %d", &pid) == 1 && ntracked < 1024) {
            tracked[ntracked++] = pid;
        } else if (sscanf(line, "untrack %d", &pid) == 1) {
            for (int i = 0; i < ntracked; i++) {
                if (tracked[i] == pid) {
                    tracked[i] = tracked[--ntracked];
                    break;
                }
            }
        } else if (sscanf(line, "watch %d", &pid) == 1) {
            int fd = (int)syscall(SYS_pidfd_open, pid, 0);
            if (fd < 0) {
                err = errno;
            } else if (nwatched == MAX_WATCHED) {
                close(fd);
                err = ENOSPC;
            } else {
                watched[nwatched].fd = fd;
                watched[nwatched].events = POLLIN;
                nwatched++;
            }
        } else if (sscanf(line, "killwait %d %d %d", &sig, &pid, &timeout_ms) == 3) {
            long long ns = 0;
            err = killwait(sig, pid, timeout_ms, &ns);
            if (err == 0) {
                printf("0 %lld\n", ns);
                continue;
            }
        } else if (sscanf(line, "deadat %d", &timeout_ms) == 1) {
            /* Real-time while it waits, so that it reads the clock as soon as
             * the death wakes it, even with every CPU busy. */
            struct sched_param fifo = {.sched_priority = 1}, other = {.sched_priority = 0};
            int rt = sched_setscheduler(0, SCHED_FIFO, &fifo) == 0;
            long long end = 0;
            err = wait_watched(now_ns() + (long long)timeout_ms * 1000000LL, &end);
            if (rt) {
                sched_setscheduler(0, SCHED_OTHER, &other);
            }
            if (err == 0) {
                printf("0 %lld %d\n", end, rt);
                continue;
            }
        } else {
            err = EINVAL;
        }
        printf("%d\n", err);
    }
    for (int i = 0; i < ntracked; i++) {
        killpg(tracked[i], SIGKILL);
    }
    return 0;
}

static void on_alarm(int sig) { (void)sig; }

static int reaper(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bare reaper PROG ARGS...\n");
        return 64;
    }
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    signal(SIGINT, SIG_IGN);
    pid_t child = fork();
    if (child == 0) {
        signal(SIGINT, SIG_DFL);
        execvp(argv[2], argv + 2);
        perror(argv[2]);
        _exit(127);
    }
    if (child < 0) {
        perror("fork");
        return 1;
    }
    int status = 0, code = 1;
    for (;;) {
        pid_t pid = wait(&status);
        if (pid == child) {
            code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            break;
        }
        if (pid < 0 && errno != EINTR) {
            break;
        }
    }
    /* Reap what the driver left behind (its signal helper kills the subjects it
     * still tracks), for at most 10 s. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    alarm(10);
    while (wait(NULL) > 0) {
    }
    return code;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "serve") == 0) {
        return serve(argc, argv);
    }
    if (argc >= 2 && strcmp(argv[1], "threaded") == 0) {
        threaded = 1;
        return serve(argc, argv);
    }
    if (argc >= 2 && strcmp(argv[1], "signal") == 0) {
        return signaller();
    }
    if (argc >= 2 && strcmp(argv[1], "reaper") == 0) {
        return reaper(argc, argv);
    }
    fprintf(stderr, "usage: bare serve|threaded|signal|reaper ...\n");
    return 64;
}
