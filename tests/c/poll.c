/* poll_oneoff driven from the command line, one subscription per argument:
 *   clock:ID:NS        relative timeout of NS ns on clock ID
 *   clock:ID:+NS:abs   absolute timeout, NS ns after the clock's reading now
 *   read:FD / write:FD readiness of FD
 * The userdata of each subscription is its argument's index (from 1). Prints
 *   result ERRNO nevents N wall_ns W cpu_ns C
 * then one line per event: event USERDATA error ERRNO type TYPE nbytes N flags F */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wasi/api.h>

static uint64_t now(__wasi_clockid_t clock) {
    __wasi_timestamp_t time = 0;
    if (__wasi_clock_time_get(clock, 1, &time) != 0) exit(3);
    return time;
}

static void parse(const char *arg, __wasi_subscription_t *sub) {
    if (strncmp(arg, "clock:", 6) == 0) {
        char *rest;
        __wasi_clockid_t id = (__wasi_clockid_t)strtoul(arg + 6, &rest, 10);
        uint64_t ns = strtoull(rest + 1, &rest, 10);
        sub->u.tag = __WASI_EVENTTYPE_CLOCK;
        sub->u.u.clock.id = id;
        if (strcmp(rest, ":abs") == 0) {
            sub->u.u.clock.timeout = now(id) + ns;
            sub->u.u.clock.flags = __WASI_SUBCLOCKFLAGS_SUBSCRIPTION_CLOCK_ABSTIME;
        } else {
            sub->u.u.clock.timeout = ns;
        }
    } else if (strncmp(arg, "read:", 5) == 0) {
        sub->u.tag = __WASI_EVENTTYPE_FD_READ;
        sub->u.u.fd_read.file_descriptor = atoi(arg + 5);
    } else if (strncmp(arg, "write:", 6) == 0) {
        sub->u.tag = __WASI_EVENTTYPE_FD_WRITE;
        sub->u.u.fd_write.file_descriptor = atoi(arg + 6);
    } else {
        fprintf(stderr, "bad subscription %s\n", arg);
        exit(2);
    }
}

int main(int argc, char **argv) {
    int count = argc - 1;
    __wasi_subscription_t subs[count + 1];
    __wasi_event_t events[count + 1];
    memset(subs, 0, sizeof subs);
    for (int i = 0; i < count; i++) {
        subs[i].userdata = (uint64_t)(i + 1);
        parse(argv[i + 1], &subs[i]);
    }
    __wasi_size_t nevents = 0;
    uint64_t wall = now(__WASI_CLOCKID_MONOTONIC), cpu = now(__WASI_CLOCKID_PROCESS_CPUTIME_ID);
    __wasi_errno_t error = __wasi_poll_oneoff(subs, events, (__wasi_size_t)count, &nevents);
    wall = now(__WASI_CLOCKID_MONOTONIC) - wall;
    cpu = now(__WASI_CLOCKID_PROCESS_CPUTIME_ID) - cpu;
    printf("result %d nevents %u wall_ns %" PRIu64 " cpu_ns %" PRIu64 "\n",
           error, (unsigned)nevents, wall, cpu);
    for (__wasi_size_t i = 0; i < nevents; i++)
        printf("event %" PRIu64 " error %d type %d nbytes %" PRIu64 " flags %d\n",
               events[i].userdata, events[i].error, events[i].type, events[i].fd_readwrite.nbytes,
               events[i].fd_readwrite.flags);
    return 0;
}
