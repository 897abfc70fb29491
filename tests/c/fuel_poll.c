/* Calls poll_oneoff forever with argv[1] clock subscriptions that are due at once: a guest
 * cheap in wasm instructions whose every call costs the host work (tests/test_fuel.py). Only
 * running out of fuel ends it. */
#include <wasi/api.h>
#include <stdlib.h>
#include "check.h"

int main(int argc, char **argv) {
    CHECK(argc == 2);
    size_t count = (size_t)atoi(argv[1]);
    __wasi_subscription_t *subs = calloc(count, sizeof *subs);
    __wasi_event_t *events = calloc(count, sizeof *events);
    CHECK(subs && events);
    for (size_t i = 0; i < count; i++) {
        subs[i].userdata = i;
        subs[i].u.tag = __WASI_EVENTTYPE_CLOCK;
        subs[i].u.u.clock.id = __WASI_CLOCKID_MONOTONIC;
        subs[i].u.u.clock.timeout = 0;
    }
    for (;;) {
        __wasi_size_t n = 0;
        CHECK_EQ(__wasi_poll_oneoff(subs, events, count, &n), 0);
    }
}
