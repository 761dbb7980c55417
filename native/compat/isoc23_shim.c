/*
 * glibc < 2.38 compatibility shim for the prebuilt uWebSockets.js binaries.
 * See native/compat/README.md for the why and the how.
 *
 * The uws_linux_*.node binaries of @btc-vision/uwebsockets.js 20.57.0 were linked against
 * glibc 2.38 and import three C23 functions that glibc 2.36/2.37 lack:
 *
 *   __isoc23_strtol, __isoc23_strtoul, __isoc23_sscanf   (all GLIBC_2.38)
 *
 * This file defines them (default visibility, unversioned). scripts/uws-compat.mjs marks the
 * GLIBC_2.38 version need of a *copy* of the uWS binary as weak, and src/uws.ts loads this
 * module with RTLD_NOW | RTLD_GLOBAL before that copy, so the dynamic linker binds the three
 * references to the definitions below (libc.so.6 of glibc < 2.38 has no such symbols, so the
 * lookup falls through to this object; on glibc >= 2.38 libc's own definitions come first).
 *
 * It must be an N-API module that self-registers: process.dlopen() unloads a plain shared
 * library again ("Module did not self-register"), and then the symbols would be gone.
 *
 * C23 semantics implemented:
 *   - strtol/strtoul: identical to the C99 functions, except that when base is 0 or 2 an
 *     optional "0b"/"0B" prefix (after optional whitespace and sign) introduces a binary
 *     number. "0b" that is not followed by a binary digit is not a prefix: only the "0" is
 *     consumed (endptr points at the 'b'), exactly as glibc 2.38 does.
 *   - sscanf: delegated to the C99 vsscanf (__isoc99_vsscanf). LIMITATION: unlike glibc 2.38's
 *     __isoc23_sscanf, "%i" does NOT accept a "0b" binary prefix here, and the C23 "%b"
 *     conversion is not supported. For decimal/hex/octal input the C99 function behaves
 *     identically, which is what an HTTP server parses.
 *
 * Test hooks: the module's exports are
 *   strtol(str, base)  -> [value: bigint, consumed: number, errno: number]
 *   strtoul(str, base) -> [value: bigint, consumed: number, errno: number]
 *   sscanfLong(str, fmt) -> [assigned: number, value: bigint]   (fmt: one of %li %ld %lx %lo %lu)
 * where consumed is endptr - str in bytes of the UTF-8 string and errno is 0 or ERANGE.
 */

/* No _GNU_SOURCE / C2x mode: with them, glibc >= 2.38 headers redirect strtol & co. to the
 * __isoc23_* names and the delegation below would call itself. The asm labels on the c99_*
 * declarations make the delegation target explicit regardless of headers. */
#undef _GNU_SOURCE

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <node_api.h>

#define SHIM_EXPORT __attribute__((visibility("default")))

/* The C99 implementations, bound by symbol name (not through header macros). */
extern long c99_strtol(const char *nptr, char **endptr, int base) __asm__("strtol");
extern unsigned long c99_strtoul(const char *nptr, char **endptr, int base) __asm__("strtoul");
extern int c99_vsscanf(const char *s, const char *format, va_list ap) __asm__("__isoc99_vsscanf");

SHIM_EXPORT long __isoc23_strtol(const char *nptr, char **endptr, int base);
SHIM_EXPORT unsigned long __isoc23_strtoul(const char *nptr, char **endptr, int base);
SHIM_EXPORT int __isoc23_sscanf(const char *s, const char *format, ...);

/*
 * If nptr (after whitespace and an optional sign) starts with 0b/0B followed by a binary digit
 * and base is 0 or 2, parse the binary digits. Returns 1 with *mag (saturated magnitude),
 * *neg, *overflow and *end set; returns 0 if this is not a binary literal (the caller then
 * delegates to the C99 function, which handles everything else, including "0b" alone).
 */
static int parse_binary(const char *nptr, int base, unsigned long *mag, int *neg, int *overflow,
                        const char **end) {
  const char *p = nptr;
  if (base != 0 && base != 2) return 0;
  while (isspace((unsigned char)*p)) p++;
  *neg = 0;
  if (*p == '+' || *p == '-') {
    *neg = (*p == '-');
    p++;
  }
  if (p[0] != '0' || (p[1] != 'b' && p[1] != 'B') || (p[2] != '0' && p[2] != '1')) return 0;
  p += 2;
  unsigned long v = 0;
  *overflow = 0;
  for (; *p == '0' || *p == '1'; p++) {
    if (v > (ULONG_MAX >> 1)) *overflow = 1;
    if (!*overflow) v = (v << 1) | (unsigned long)(*p - '0');
  }
  *mag = *overflow ? ULONG_MAX : v;
  *end = p;
  return 1;
}

SHIM_EXPORT long __isoc23_strtol(const char *nptr, char **endptr, int base) {
  unsigned long mag;
  int neg, overflow;
  const char *end;
  if (!parse_binary(nptr, base, &mag, &neg, &overflow, &end)) return c99_strtol(nptr, endptr, base);
  if (endptr) *endptr = (char *)end;
  /* |LONG_MIN| = LONG_MAX + 1 */
  unsigned long limit = neg ? (unsigned long)LONG_MAX + 1UL : (unsigned long)LONG_MAX;
  if (overflow || mag > limit) {
    errno = ERANGE;
    return neg ? LONG_MIN : LONG_MAX;
  }
  if (neg) return mag == (unsigned long)LONG_MAX + 1UL ? LONG_MIN : -(long)mag;
  return (long)mag;
}

SHIM_EXPORT unsigned long __isoc23_strtoul(const char *nptr, char **endptr, int base) {
  unsigned long mag;
  int neg, overflow;
  const char *end;
  if (!parse_binary(nptr, base, &mag, &neg, &overflow, &end)) return c99_strtoul(nptr, endptr, base);
  if (endptr) *endptr = (char *)end;
  if (overflow) {
    /* Like strtoul: out of range (before negation) gives ULONG_MAX and ERANGE. */
    errno = ERANGE;
    return ULONG_MAX;
  }
  return neg ? -mag : mag; /* strtoul negates in unsigned arithmetic */
}

SHIM_EXPORT int __isoc23_sscanf(const char *s, const char *format, ...) {
  va_list ap;
  va_start(ap, format);
  int r = c99_vsscanf(s, format, ap);
  va_end(ap);
  return r;
}

/* ---------------------------------------------------------------- test hooks (N-API) */

#define NAPI_OK(call)                                                   \
  do {                                                                  \
    if ((call) != napi_ok) {                                            \
      napi_throw_error(env, NULL, "uws_glibc_compat: N-API call failed: " #call); \
      return NULL;                                                      \
    }                                                                   \
  } while (0)

/* Reads a JS string as UTF-8 into a malloc'ed buffer (caller frees). */
static char *get_string(napi_env env, napi_value v) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "uws_glibc_compat: expected a string");
    return NULL;
  }
  char *buf = malloc(len + 1);
  if (!buf) {
    napi_throw_error(env, NULL, "uws_glibc_compat: out of memory");
    return NULL;
  }
  if (napi_get_value_string_utf8(env, v, buf, len + 1, &len) != napi_ok) {
    free(buf);
    napi_throw_type_error(env, NULL, "uws_glibc_compat: expected a string");
    return NULL;
  }
  return buf;
}

static napi_value make_result(napi_env env, napi_value value, size_t consumed, int err) {
  napi_value arr, n, e;
  NAPI_OK(napi_create_array_with_length(env, 3, &arr));
  NAPI_OK(napi_create_int64(env, (int64_t)consumed, &n));
  NAPI_OK(napi_create_int32(env, err, &e));
  NAPI_OK(napi_set_element(env, arr, 0, value));
  NAPI_OK(napi_set_element(env, arr, 1, n));
  NAPI_OK(napi_set_element(env, arr, 2, e));
  return arr;
}

static napi_value js_strto(napi_env env, napi_callback_info info, int is_unsigned) {
  size_t argc = 2;
  napi_value args[2];
  NAPI_OK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  if (argc < 1) {
    napi_throw_type_error(env, NULL, "uws_glibc_compat: strtol(str, base)");
    return NULL;
  }
  int32_t base = 0;
  if (argc >= 2) {
    napi_valuetype t;
    NAPI_OK(napi_typeof(env, args[1], &t));
    if (t != napi_undefined) NAPI_OK(napi_get_value_int32(env, args[1], &base));
  }
  char *s = get_string(env, args[0]);
  if (!s) return NULL;
  char *end = NULL;
  napi_value value;
  napi_status st;
  int err;
  size_t consumed;
  errno = 0;
  if (is_unsigned) {
    unsigned long r = __isoc23_strtoul(s, &end, base);
    err = errno;
    consumed = (size_t)(end - s);
    st = napi_create_bigint_uint64(env, (uint64_t)r, &value);
  } else {
    long r = __isoc23_strtol(s, &end, base);
    err = errno;
    consumed = (size_t)(end - s);
    st = napi_create_bigint_int64(env, (int64_t)r, &value);
  }
  free(s);
  if (st != napi_ok) {
    napi_throw_error(env, NULL, "uws_glibc_compat: cannot create BigInt");
    return NULL;
  }
  return make_result(env, value, consumed, err);
}

static napi_value js_strtol(napi_env env, napi_callback_info info) { return js_strto(env, info, 0); }
static napi_value js_strtoul(napi_env env, napi_callback_info info) { return js_strto(env, info, 1); }

static napi_value js_sscanf_long(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2];
  NAPI_OK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  if (argc < 2) {
    napi_throw_type_error(env, NULL, "uws_glibc_compat: sscanfLong(str, fmt)");
    return NULL;
  }
  char *fmt = get_string(env, args[1]);
  if (!fmt) return NULL;
  /* Only a single long conversion: anything else could write through a wrong pointer type. */
  static const char *const allowed[] = {"%li", "%ld", "%lx", "%lo", "%lu"};
  int ok = 0;
  for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
    if (strcmp(fmt, allowed[i]) == 0) ok = 1;
  if (!ok) {
    free(fmt);
    napi_throw_range_error(env, NULL, "uws_glibc_compat: sscanfLong fmt must be %li, %ld, %lx, %lo or %lu");
    return NULL;
  }
  char *s = get_string(env, args[0]);
  if (!s) {
    free(fmt);
    return NULL;
  }
  long v = 0;
  int n = __isoc23_sscanf(s, fmt, &v);
  free(s);
  free(fmt);
  napi_value arr, count, value;
  NAPI_OK(napi_create_array_with_length(env, 2, &arr));
  NAPI_OK(napi_create_int32(env, n, &count));
  NAPI_OK(napi_create_bigint_int64(env, (int64_t)v, &value));
  NAPI_OK(napi_set_element(env, arr, 0, count));
  NAPI_OK(napi_set_element(env, arr, 1, value));
  return arr;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"strtol", NULL, js_strtol, NULL, NULL, NULL, napi_enumerable, NULL},
      {"strtoul", NULL, js_strtoul, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sscanfLong", NULL, js_sscanf_long, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) {
    napi_throw_error(env, NULL, "uws_glibc_compat: cannot define exports");
    return NULL;
  }
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
