/*
 * utimens(path, mtimeSec, mtimeNsec, followLast): set a file's modification time to the
 * nanosecond, leaving its access time alone (UTIME_OMIT), as rsync -t does.
 * Node's fs.utimes takes a double of seconds and lands up to ~1 us off.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static napi_value fail(napi_env env, int err, const char *path) {
  char message[4200];
  snprintf(message, sizeof message, "%s, utimensat '%s'", strerror(err), path);
  napi_value msg, code, error;
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg);
  const char *name = err == ENOENT ? "ENOENT" : err == EPERM ? "EPERM" : err == EACCES ? "EACCES" : err == ELOOP ? "ELOOP"
                     : err == ENOTDIR ? "ENOTDIR" : err == EROFS ? "EROFS" : err == ENAMETOOLONG ? "ENAMETOOLONG" : "EIO";
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, code, msg, &error);
  napi_set_named_property(env, error, "code", code);
  napi_throw(env, error);
  return NULL;
}

static napi_value utimens(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 4) {
    napi_throw_type_error(env, NULL, "utimens(path, sec, nsec, followLast)");
    return NULL;
  }
  char path[4097];
  size_t len;
  int64_t sec, nsec;
  bool follow;
  if (napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != napi_ok || len >= sizeof path - 1 ||
      napi_get_value_int64(env, argv[1], &sec) != napi_ok || napi_get_value_int64(env, argv[2], &nsec) != napi_ok ||
      napi_get_value_bool(env, argv[3], &follow) != napi_ok || nsec < 0 || nsec > 999999999) {
    napi_throw_type_error(env, NULL, "utimens(path: string, sec: number, nsec: number, followLast: boolean)");
    return NULL;
  }
  struct timespec times[2] = {{0, UTIME_OMIT}, {(time_t)sec, (long)nsec}};
  if (utimensat(AT_FDCWD, path, times, follow ? 0 : AT_SYMLINK_NOFOLLOW) != 0) return fail(env, errno, path);
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "utimens", NAPI_AUTO_LENGTH, utimens, NULL, &fn);
  napi_set_named_property(env, exports, "utimens", fn);
  return exports;
}
