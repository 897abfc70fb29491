/* A text-transform plugin, built as a reactor (no main; see guest.GUEST_FLAGS): the README's
 * plugin example. `upper` takes a pointer and length of UTF-8 text the host put in memory
 * from this module's malloc, and returns the upper-cased copy as an i64: pointer in the high
 * 32 bits, length in the low 32 (pywasi's call_bytes convention). `describe` reports through
 * the host's own import env.log. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

__attribute__((import_module("env"), import_name("log"))) void host_log(const char *text,
                                                                        size_t length);

static uint64_t packed(const char *data, size_t length)
{
    return ((uint64_t)(uintptr_t)data << 32) | (uint32_t)length;
}

__attribute__((export_name("upper"))) uint64_t upper(const char *text, size_t length)
{
    char *out = malloc(length ? length : 1);
    if (out == NULL) {
        return 0;
    }
    for (size_t index = 0; index < length; index++) {
        char byte = text[index];
        out[index] = byte >= 'a' && byte <= 'z' ? (char)(byte - 'a' + 'A') : byte;
    }
    return packed(out, length);
}

__attribute__((export_name("describe"))) void describe(void)
{
    static const char message[] = "upper-cases ASCII letters";
    host_log(message, strlen(message));
}

/* `describe`, `count` times over: what one host import costs, without the call into the guest. */
__attribute__((export_name("describe_many"))) void describe_many(int count)
{
    for (int index = 0; index < count; index++) {
        describe();
    }
}
