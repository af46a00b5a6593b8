/*
 * The few file operations Node cannot do well enough, as a small N-API addon.
 *
 * utimens(path, sec, nsec, followLast): set a file's modification time to the nanosecond,
 *   leaving its access time alone (UTIME_OMIT), as rsync -t does. Node's fs.utimes takes a
 *   double of seconds and lands up to ~1 us off.
 *
 * copy(src, tmp, dest, size, sec, nsec, mode, uid, gid, chown, sha256) -> Promise<hex SHA-256>:
 *   one file copied in one trip to the thread pool (Node needs eight: copyFile, stat, lstat,
 *   hash, lchown, chmod, utimes, rename, and hashes on the main thread): read the source once,
 *   hash what is written, put owner, mode and mtime on the temporary file `tmp` (created, never
 *   reused) through its descriptor, then rename it over `dest`. Between file systems that
 *   share extents, a file of 64 KiB or more is cloned instead of written (try_clone) and read
 *   only for its hash. The copy is refused (code
 *   ECHANGED) when the source no longer has the scanned size and mtime afterwards, and (code
 *   EHASH) when `sha256` is not empty and the bytes differ from it; the temporary file is
 *   removed on every failure.
 *
 * copyBatch(jobs, numbers, count, chown) -> Promise<Buffer>: `count` copies as copy() makes
 *   them, one after the other in one trip to the thread pool (a trip per file costs the main
 *   thread more than the copy of a small file). `jobs` a Buffer of fields each ended by NUL,
 *   four a job: src, tmp, dest, sha256 (or empty); `numbers` a Float64Array of six a job:
 *   size, sec, nsec, mode, uid, gid. Resolves with 33
 *   bytes a job: its SHA-256, then what the copy read first: 2 the ELF magic (\x7fELF), 1 not,
 *   0 not known (fewer than four bytes came in the first read): a tree's files are screened
 *   for ELF by their copies. At the first failure it stops and rejects with that
 *   copy's error, its `index` the job's. A mode with FRESH (0x10000) says nothing is at `dest`
 *   (its directory was made by this run): the file is then written unnamed (O_TMPFILE) and
 *   linked in at `dest` when whole, one directory change instead of a create and a rename,
 *   falling back to `tmp` where the file system or the process cannot (an empty `tmp`: a name
 *   made as src/fsops/copy.ts tempName makes it, only then). A batch's copies name their
 *   source and their unnamed file relative to directories kept open from one copy to the
 *   next, and set owner and mode only where they differ from what a new file of that
 *   directory turned out to be (run_copy).
 *
 * sha256(path) -> Promise<hex SHA-256>: a file's digest, off the main thread.
 *
 * states(paths, kinds, mode, listedNs? | settledNs) -> Promise: what each path is now, one line per path (see
 *   src/record.ts): `paths` a Buffer of NUL-separated paths, `kinds` one letter a path: S stat,
 *   L lstat (a line `<type>:<mode>:<dev>:<ino>:<size>:<mtime sec.nsec>:<ctime sec.nsec>`),
 *   D the directory's names (`list:<SHA-256 of the names sorted bytewise, each ended by NUL>`),
 *   C a file's content (`content:<dev>:<ino>:<size>:<SHA-256>`: a BOM file touched but not
 *   changed is the same); a failure is `missing:<code>`. Each path's hash, 8 bytes
 *   little-endian: of a stat line, its fields as numbers (stat_hash: no text to make or read);
 *   of the others, the 64-bit FNV-1a of the line (without the newline). `mode` 'lines': resolves with [the lines, each ended
 *   by a newline; a Buffer of their hashes]; 'hashes': the Buffer of hashes; a Buffer of
 *   hashes (as 'hashes' gave them earlier): a Buffer of the u32 (little-endian) indices of the
 *   paths whose hash is not that one; a Float64Array `ids` (with `settledNs`): the Buffer of
 *   hashes if every path (S or L) has the device and inode given, two numbers a path (-1: it
 *   must be missing), and a ctime before `settledNs`, else null (the first that has not ends
 *   the job). With `listedNs` (when those D lines were made), a D line
 *   right after the L line of the same directory, unchanged, whose ctime came well before it
 *   (names_settled) is not listed again: its names cannot have changed. Thousands of system
 *   calls in one trip to the thread pool.
 *
 * elfMagic(paths) -> Promise<Buffer>: for each path of a Buffer of NUL-separated paths, 1 if the
 *   file starts with the ELF magic (\x7fELF), else 0 (also when it cannot be read). Opened
 *   non-blocking, so that a FIFO put in a file's place cannot stall the pool.
 *
 * listDir(dir) -> Promise<Buffer>: a directory's entries, sorted by name (bytewise), each
 *   lstat'ed, in one trip to the thread pool: a u32 count, a u32 of padding, then a 64-byte record an entry (f64 size, mtime sec,
 *   ctime sec, dev, ino; u32 st_mode, uid, gid, mtime nsec, ctime nsec, length of the name),
 *   then the names, each ended by NUL. An entry that cannot be lstat'ed has st_mode 0 and its
 *   errno in place of uid. Rejects as Node's fs does when the directory cannot be read.
 *
 * quickCheck(dests, numbers, chown) -> Promise<Buffer>: rsync's quick check of regular files
 *   about to be copied, on the thread pool: `dests` NUL-separated paths, `numbers` a
 *   Float64Array of six a path (size, mtime sec, mtime nsec, mode, uid, gid of the source).
 *   One byte a path: 0 the destination is a regular file of that size and mtime (its owner,
 *   when `chown`, and permission bits are made the source's), 1 it must be copied, 2 it is a
 *   directory. Rejects with the error of a failed lchown or chmod, its `index` the path's.
 *
 * manifestRows(paths, numbers, sha, bom, cut, srcPrefix, first, into) -> number[] | number:
 *   the manifest's text for files of one copied tree, as src/written.ts writes a FileRow
 *   (JSON.stringify(manifest, null, 1) of the entry; strings known to need no escape):
 *   `paths` the image paths joined by NUL, `numbers` five a path (row, mode, size, mtime sec,
 *   mtime nsec), `sha` the tree's hashes (32 bytes a row), a path's source `srcPrefix` and the
 *   path from byte `cut` on, `first`: no comma before the first entry. Written into `into`,
 *   one section after the other: the entries' JSON, their digest lines, and the manifest
 *   index's paths, `<size> <mtime>` (each NUL-ended) and hashes; returns the offsets
 *   where the sections end, or (a number) how many bytes `into` must hold.
 *
 * reflinks() -> [{src, dst, ok, why}]: what copies decided of reflinks between each pair of
 *   devices (try_clone): shared, or not and the refusal's message.
 *
 * SHA-256 is OpenSSL's, the copy Node itself is built with and exports to addons.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#define PATH_BYTES 4097
#define BUFFER_BYTES (256 * 1024)

/* An Error as Node's fs makes them: "ENOENT: no such file or directory, open '/x'", with code, syscall and path. */
static napi_value fs_error(napi_env env, int err, const char *syscall, const char *path) {
  char message[PATH_BYTES + 200];
  const char *code = uv_err_name(-err);
  snprintf(message, sizeof message, "%s: %s, %s '%s'", code, uv_strerror(-err), syscall, path);
  napi_value msg, error, value;
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, NULL, msg, &error);
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &value);
  napi_set_named_property(env, error, "code", value);
  napi_create_int32(env, -err, &value);
  napi_set_named_property(env, error, "errno", value);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &value);
  napi_set_named_property(env, error, "syscall", value);
  napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &value);
  napi_set_named_property(env, error, "path", value);
  return error;
}

static bool get_path(napi_env env, napi_value v, char *out) {
  size_t len;
  return napi_get_value_string_utf8(env, v, out, PATH_BYTES, &len) == napi_ok && len < PATH_BYTES - 1 && strlen(out) == len;
}

static napi_value utimens(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  char path[PATH_BYTES];
  int64_t sec, nsec;
  bool follow;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 4 || !get_path(env, argv[0], path) ||
      napi_get_value_int64(env, argv[1], &sec) != napi_ok || napi_get_value_int64(env, argv[2], &nsec) != napi_ok ||
      napi_get_value_bool(env, argv[3], &follow) != napi_ok || nsec < 0 || nsec > 999999999) {
    napi_throw_type_error(env, NULL, "utimens(path: string, sec: number, nsec: number, followLast: boolean)");
    return NULL;
  }
  struct timespec times[2] = {{0, UTIME_OMIT}, {(time_t)sec, (long)nsec}};
  if (utimensat(AT_FDCWD, path, times, follow ? 0 : AT_SYMLINK_NOFOLLOW) != 0) napi_throw(env, fs_error(env, errno, "utimensat", path));
  return NULL;
}

/*
 * The directory of the last path looked at, kept open: a run over many paths of one directory
 * (a tree's files, in order) looks each name up in it instead of walking the whole path again,
 * which is most of what lstat of a long path costs. at_dir() gives the descriptor to pass to
 * the *at() call and the name to look up; a path it cannot split (no directory part, a last
 * part "." or "..") or whose directory cannot be opened goes whole, with AT_FDCWD, so that
 * every error is the one the plain call gives.
 */
typedef struct {
  char dir[PATH_BYTES];
  int fd;
  /* What a new file asked for with permissions `asked` turned out to be in this directory (umask, default ACL, set-group-ID directory), when known. */
  bool known;
  mode_t asked, made;
  uid_t uid;
  gid_t gid;
} dircache_t;

#define DIRCACHE_INIT {{0}, -1, false, 0, 0, 0, 0}

static int at_dir(dircache_t *c, const char *path, const char **name) {
  const char *slash = strrchr(path, '/');
  *name = path;
  if (!slash || !slash[1] || !strcmp(slash + 1, ".") || !strcmp(slash + 1, "..")) return AT_FDCWD;
  size_t len = slash == path ? 1 : (size_t)(slash - path);
  if (len >= PATH_BYTES) return AT_FDCWD;
  if (c->fd < 0 || strncmp(c->dir, path, len) || c->dir[len]) {
    if (c->fd >= 0) close(c->fd);
    memcpy(c->dir, path, len);
    c->dir[len] = 0;
    c->known = false;
    c->fd = open(c->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (c->fd < 0) return AT_FDCWD;
  }
  *name = slash + 1;
  return c->fd;
}

static void dircache_close(dircache_t *c) {
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
}

/*
 * One job for the thread pool: a copy (dest[0] != 0) or a digest. Its paths are a lone job's
 * own (job_alloc) or in a batch's text: a batch of 64 is 16 KB, not 64 times three paths of
 * PATH_BYTES (786 KB to allocate and touch on the main thread for each batch). A copy that
 * must name its temporary file itself gets room for it then (tmp_made).
 */
typedef struct {
  char *src, *tmp, *dest, *tmp_made;
  char expect[65];
  int64_t size, sec, nsec;
  uint32_t mode, uid, gid;
  bool chown;
  /* result */
  unsigned char md[32];
  char hex[65];
  char head;               /* '2' the first bytes read are the ELF magic, '1' they are not, '0' not known (a first read of fewer than 4) */
  int err;                 /* errno, or -1: source changed, -2: digest differs from `expect` */
  const char *syscall, *path;
  napi_async_work work;
  napi_deferred deferred;
} job_t;

/* Text without printf (which costs more than the stat it formats): decimal, octal, nine-digit nanoseconds, hex. */
static char *put_u(char *p, unsigned long long v) {
  char t[20];
  int n = 0;
  do t[n++] = (char)('0' + v % 10); while ((v /= 10));
  while (n) *p++ = t[--n];
  return p;
}

static char *put_i(char *p, long long v) {
  if (v >= 0) return put_u(p, (unsigned long long)v);
  *p++ = '-';
  return put_u(p, 0ULL - (unsigned long long)v);
}

static char *put_o(char *p, unsigned v) {
  char t[12];
  int n = 0;
  do t[n++] = (char)('0' + (v & 7)); while ((v >>= 3));
  while (n) *p++ = t[--n];
  return p;
}

static char *put_9(char *p, long v) {
  for (int i = 8; i >= 0; i--, v /= 10) p[i] = (char)('0' + v % 10);
  return p + 9;
}

static char *put_s(char *p, const char *s) {
  while (*s) *p++ = *s++;
  return p;
}

/* 32 bytes as 64 lowercase hex digits and a NUL. */
static void hex32(char *out, const unsigned char *md) {
  static const char digits[] = "0123456789abcdef";
  for (int i = 0; i < 32; i++) out[2 * i] = digits[md[i] >> 4], out[2 * i + 1] = digits[md[i] & 15];
  out[64] = 0;
}

static _Thread_local unsigned char *buffer;

/* A lone job, with room for its three paths after it. */
static job_t *job_alloc(void) {
  job_t *j = calloc(1, sizeof *j + 3 * PATH_BYTES);
  if (!j) return NULL;
  char *room = (char *)(j + 1);
  j->src = room, j->tmp = room + PATH_BYTES, j->dest = room + 2 * PATH_BYTES;
  return j;
}

static void job_free(job_t *j) {
  free(j->tmp_made);
  free(j);
}

static int fail(job_t *j, const char *syscall, const char *path) {
  j->err = errno ? errno : EIO;
  j->syscall = syscall;
  j->path = path;
  return -1;
}

/*
 * Read fd to its end, or to one byte past `limit` (unless -1: a source still growing is not
 * followed), writing to out (unless -1) and hashing; bytes read in *total.
 */
static int pump(job_t *j, int in, int out, const char *out_path, int64_t limit, int64_t *total) {
  if (!buffer && !(buffer = malloc(BUFFER_BYTES))) return errno = ENOMEM, fail(j, "malloc", j->src);
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
    EVP_MD_CTX_free(ctx);
    return errno = ENOMEM, fail(j, "sha256", j->src);
  }
  int rc = 0;
  *total = 0;
  for (;;) {
    size_t want = BUFFER_BYTES;
    if (limit >= 0 && (int64_t)want > limit + 1 - *total) want = (size_t)(limit + 1 - *total);
    if (want == 0) break;
    ssize_t n = read(in, buffer, want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) { rc = fail(j, "read", j->src); break; }
    if (n == 0) break;
    if (*total == 0) j->head = n < 4 ? '0' : memcmp(buffer, "\x7f" "ELF", 4) ? '1' : '2';
    *total += n;
    EVP_DigestUpdate(ctx, buffer, (size_t)n);
    for (ssize_t done = 0; out >= 0 && done < n;) {
      ssize_t w = write(out, buffer + done, (size_t)(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) { rc = fail(j, "write", out_path); break; }
      done += w;
    }
    if (rc) break;
    /* Fewer bytes than asked of a regular file is its end: with all `limit` of them read, the read that would say so is spared (the caller's fstat checks the size). */
    if (limit >= 0 && *total == limit && (size_t)n < want) break;
  }
  EVP_DigestFinal_ex(ctx, j->md, NULL);
  EVP_MD_CTX_free(ctx);
  hex32(j->hex, j->md);
  return rc;
}

static void run_digest(job_t *j) {
  int in = open(j->src, O_RDONLY | O_CLOEXEC);
  if (in < 0) { fail(j, "open", j->src); return; }
  int64_t total;
  pump(j, in, -1, NULL, -1, &total);
  close(in);
}

/*
 * Reflinks (FICLONE): a copy between file systems that share extents (XFS with reflink=1,
 * btrfs, overlayfs over them) writes no data: the new file shares the source's extents, and
 * the bytes are read once, for the hash. Whether a pair of devices (source, image) does is
 * decided by the first copy of at least CLONE_MIN bytes between them: a refusal (another file
 * system, none that can) makes every later copy between them read and write. Smaller files are
 * written: their data is a write or two, as cheap as the ioctl. reflinks() tells JS what was
 * decided (logged at debug level).
 */
#define CLONE_MIN (64 * 1024)
#define CLONE_PAIRS 32
static struct { dev_t src, dst; int ok; int err; } clone_pairs[CLONE_PAIRS];
static int clone_count;
static pthread_mutex_t clone_lock = PTHREAD_MUTEX_INITIALIZER;

/* The pair's decision: 1 clones, 0 does not, -1 not decided yet (or no room to keep it). */
static int clone_decided(dev_t src, dev_t dst) {
  int ok = -1;
  pthread_mutex_lock(&clone_lock);
  for (int i = 0; i < clone_count; i++) if (clone_pairs[i].src == src && clone_pairs[i].dst == dst) ok = clone_pairs[i].ok;
  pthread_mutex_unlock(&clone_lock);
  return ok;
}

static void clone_decide(dev_t src, dev_t dst, int ok, int err) {
  pthread_mutex_lock(&clone_lock);
  bool known = false;
  for (int i = 0; i < clone_count; i++) known |= clone_pairs[i].src == src && clone_pairs[i].dst == dst;
  if (!known && clone_count < CLONE_PAIRS) clone_pairs[clone_count].src = src, clone_pairs[clone_count].dst = dst, clone_pairs[clone_count].ok = ok, clone_pairs[clone_count++].err = err;
  pthread_mutex_unlock(&clone_lock);
}

/* Whether `out` now shares `in`'s extents: tried when the pair clones or is not decided yet. */
static bool try_clone(int in, int out, int64_t size) {
  struct stat a, b;
  if (size < CLONE_MIN || fstat(in, &a) != 0 || fstat(out, &b) != 0) return false;
  int ok = clone_decided(a.st_dev, b.st_dev);
  if (ok == 0) return false;
  if (ioctl(out, FICLONE, in) == 0) {
    if (ok < 0) clone_decide(a.st_dev, b.st_dev, 1, 0);
    return true;
  }
  /* What says the file systems cannot (not a passing failure: ENOSPC, EIO are tried again next time). */
  if (errno == EXDEV || errno == EOPNOTSUPP || errno == ENOTTY || errno == EINVAL || errno == EPERM || errno == EBADF) clone_decide(a.st_dev, b.st_dev, 0, errno);
  return false;
}

#define FRESH 0x10000
/* Cleared for good at the first file system or process that cannot link an unnamed file in. */
static volatile int unnamed_ok = 1;

/* An unnamed file in `dest`'s directory (O_TMPFILE) with permissions `perm` (as umask leaves them), or -1; `at`: that directory open (dircache_t), or AT_FDCWD. */
static int open_unnamed(int at, const char *dest, mode_t perm) {
  const char *slash = strrchr(dest, '/');
  if (!slash || !unnamed_ok) return -1;
  int fd;
  if (at != AT_FDCWD) {
    fd = openat(at, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, perm);
  } else {
    char dir[PATH_BYTES];
    size_t len = slash == dest ? 1 : (size_t)(slash - dest);
    memcpy(dir, dest, len);
    dir[len] = 0;
    fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, perm);
  }
  if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) unnamed_ok = 0;
  return fd;
}

/* Give the unnamed file `fd` the name `name` in `at` (as at_dir split dest): AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH, /proc/self/fd does not. */
static int link_unnamed(int fd, int at, const char *name) {
  if (linkat(fd, "", at, name, AT_EMPTY_PATH) == 0) return 0;
  if (errno != EPERM && errno != EACCES && errno != ENOENT && errno != EINVAL) return -1;
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
  return linkat(AT_FDCWD, proc, at, name, AT_SYMLINK_FOLLOW);
}

/* Seeded at load: temporary names differ from those of another process's copies. */
static uint32_t temp_counter;

/* An empty `tmp` (FRESH copies name one only if they fall back): `.<name>.copy_bom.<8 hex>.tmp` beside dest, as src/fsops/copy.ts tempName makes it. */
static int name_temp(job_t *j) {
  if (j->tmp[0]) return 0;
  if (!j->tmp_made && !(j->tmp_made = malloc(PATH_BYTES))) return errno = ENOMEM, fail(j, "malloc", j->dest);
  j->tmp = j->tmp_made;
  const char *slash = strrchr(j->dest, '/');
  const char *name = slash ? slash + 1 : j->dest;
  int dir = slash ? (int)(slash - j->dest) : 0;
  unsigned n = __atomic_add_fetch(&temp_counter, 1, __ATOMIC_RELAXED);
  int len = snprintf(j->tmp, PATH_BYTES, "%.*s%s.%s.copy_bom.%08x.tmp", dir, j->dest, slash ? "/" : "", strlen(name) > 200 ? "~" : name, n);
  if (len < 0 || (size_t)len >= PATH_BYTES) return errno = ENAMETOOLONG, fail(j, "open", j->dest);
  return 0;
}

/*
 * `dirs`: the source's and the destination's directories kept open from the last copy of a
 * batch (a batch's files share a few directories), so that a copy looks up three names instead
 * of walking three whole paths; NULL for a lone copy.
 */
static void run_copy(job_t *j, dircache_t *dirs) {
  const char *src_name = j->src, *dest_name = j->dest;
  int src_at = dirs ? at_dir(&dirs[0], j->src, &src_name) : AT_FDCWD;
  int in = openat(src_at, src_name, O_RDONLY | O_CLOEXEC);
  if (in < 0) { fail(j, "open", j->src); return; }
  int dest_at = dirs && (j->mode & FRESH) ? at_dir(&dirs[1], j->dest, &dest_name) : AT_FDCWD;
  /*
   * An unnamed file of a batch is made with its final permissions when they have no special
   * bits (no one can open it by a name until it is whole). Once the first such file in a
   * directory says what a new file there turns out to be (fstat), the owner and mode are set
   * only where they differ: for 200,000 small files, two system calls a file fewer.
   */
  mode_t want = j->mode & 07777, asked = dest_at != AT_FDCWD && !(want & 07000) ? want : 0600;
  int out = (j->mode & FRESH) ? open_unnamed(dest_at, j->dest, asked) : -1;
  int unnamed = out >= 0;
  dircache_t *made = unnamed && dest_at != AT_FDCWD ? &dirs[1] : NULL;
  if (made && (!made->known || made->asked != asked)) {
    struct stat now;
    made->known = fstat(out, &now) == 0;
    if (made->known) made->asked = asked, made->made = now.st_mode & 07777, made->uid = now.st_uid, made->gid = now.st_gid;
  }
  bool owner_as_made = made && made->known && made->uid == j->uid && made->gid == j->gid;
  bool mode_as_made = made && made->known && made->made == want;
  if (!unnamed && name_temp(j) != 0) { close(in); return; }
  if (!unnamed) out = open(j->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  const char *out_path = unnamed ? j->dest : j->tmp; /* for messages: an unnamed file has no name yet */
  if (out < 0) { fail(j, "open", j->tmp); close(in); return; }
  int64_t total;
  struct stat st;
  struct timespec times[2] = {{0, UTIME_OMIT}, {(time_t)j->sec, (long)j->nsec}};
  /* A clone still reads the source, for the hash: from the page cache when it was just read. */
  int rc = pump(j, in, try_clone(in, out, j->size) ? -1 : out, out_path, j->size, &total);
  if (!rc && fstat(in, &st) != 0) rc = fail(j, "fstat", j->src);
  if (!rc && (total != j->size || st.st_size != j->size || st.st_mtim.tv_sec != j->sec || st.st_mtim.tv_nsec != j->nsec)) {
    j->err = -1;
    rc = -1;
  }
  if (!rc && j->expect[0] && strcmp(j->expect, j->hex) != 0) {
    j->err = -2;
    rc = -1;
  }
  /* Owner before mode: chown clears the set-id bits. */
  if (!rc && j->chown && !owner_as_made && fchown(out, j->uid, j->gid) != 0) rc = fail(j, "fchown", out_path);
  if (!rc && !((!j->chown || owner_as_made) && mode_as_made) && fchmod(out, want) != 0) rc = fail(j, "fchmod", out_path);
  if (!rc && futimens(out, times) != 0) rc = fail(j, "futimens", out_path);
  if (!rc && unnamed && link_unnamed(out, dest_at, dest_name) != 0) {
    /* Something is at dest after all (EEXIST), or no way to link an unnamed file here: the named way. */
    if (errno != EEXIST) unnamed_ok = 0;
    close(out);
    close(in);
    j->mode &= ~FRESH;
    run_copy(j, dirs);
    return;
  }
  if (close(out) != 0 && !rc) {
    rc = fail(j, "close", out_path);
    if (unnamed) unlink(j->dest);
  }
  close(in);
  if (!rc && !unnamed && rename(j->tmp, j->dest) != 0) rc = fail(j, "rename", j->dest);
  if (rc && !unnamed) unlink(j->tmp);
}

static void run_job(job_t *j, dircache_t *dirs) {
  errno = 0;
  if (j->dest[0]) run_copy(j, dirs);
  else run_digest(j);
}

static void execute(napi_env env, void *data) { run_job(data, NULL); }

/* The error of a failed job: ECHANGED or EHASH (message: the digest read), or an fs error. */
static napi_value job_error(napi_env env, const job_t *j) {
  napi_value result, msg, code;
  if (j->err > 0) return fs_error(env, j->err, j->syscall, j->path);
  napi_create_string_utf8(env, j->hex, 64, &msg);
  napi_create_error(env, NULL, msg, &result);
  napi_create_string_utf8(env, j->err == -1 ? "ECHANGED" : "EHASH", NAPI_AUTO_LENGTH, &code);
  napi_set_named_property(env, result, "code", code);
  return result;
}

static napi_value cancelled(napi_env env) {
  napi_value msg, result;
  napi_create_string_utf8(env, "copy cancelled", NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, NULL, msg, &result);
  return result;
}

static void complete(napi_env env, napi_status status, void *data) {
  job_t *j = data;
  napi_value result;
  if (status != napi_ok) {
    napi_reject_deferred(env, j->deferred, cancelled(env));
  } else if (j->err == 0) {
    napi_create_string_utf8(env, j->hex, 64, &result);
    napi_resolve_deferred(env, j->deferred, result);
  } else {
    napi_reject_deferred(env, j->deferred, job_error(env, j));
  }
  napi_delete_async_work(env, j->work);
  job_free(j);
}

/* `data` queued on the thread pool: the promise `done` settles, or NULL (nothing queued). */
static napi_value start(napi_env env, const char *name, void *data, napi_async_execute_callback run, napi_async_complete_callback done,
                        napi_deferred *deferred, napi_async_work *work) {
  napi_value promise, label;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &label);
  if (napi_create_promise(env, deferred, &promise) != napi_ok || napi_create_async_work(env, NULL, label, run, done, data, work) != napi_ok ||
      napi_queue_async_work(env, *work) != napi_ok)
    return NULL;
  return promise;
}

static napi_value queue(napi_env env, job_t *j) {
  napi_value promise = start(env, "occlum-bom:fs", j, execute, complete, &j->deferred, &j->work);
  if (!promise) {
    job_free(j);
    napi_throw_error(env, NULL, "cannot queue file work");
    return NULL;
  }
  return promise;
}

static napi_value copy(napi_env env, napi_callback_info info) {
  size_t argc = 11;
  napi_value argv[11];
  job_t *j = job_alloc();
  size_t len;
  if (!j) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 11 || !get_path(env, argv[0], j->src) ||
      !get_path(env, argv[1], j->tmp) || !j->tmp[0] || !get_path(env, argv[2], j->dest) || !j->dest[0] ||
      napi_get_value_int64(env, argv[3], &j->size) != napi_ok || napi_get_value_int64(env, argv[4], &j->sec) != napi_ok ||
      napi_get_value_int64(env, argv[5], &j->nsec) != napi_ok || napi_get_value_uint32(env, argv[6], &j->mode) != napi_ok ||
      napi_get_value_uint32(env, argv[7], &j->uid) != napi_ok || napi_get_value_uint32(env, argv[8], &j->gid) != napi_ok ||
      napi_get_value_bool(env, argv[9], &j->chown) != napi_ok ||
      napi_get_value_string_utf8(env, argv[10], j->expect, sizeof j->expect, &len) != napi_ok || (len != 0 && len != 64) ||
      j->nsec < 0 || j->nsec > 999999999) {
    job_free(j);
    napi_throw_type_error(env, NULL,
                          "copy(src, tmp, dest: string, size, sec, nsec, mode, uid, gid: number, chown: boolean, sha256: string)");
    return NULL;
  }
  return queue(env, j);
}

/* copyBatch(): copies one after the other in one trip to the thread pool, up to the first failure. */
typedef struct {
  job_t *jobs;
  char *text;               /* the jobs' fields, each ended by NUL: their paths point into it */
  size_t count, ran;
  napi_async_work work;
  napi_deferred deferred;
} batch_t;

static void batch_free(batch_t *b) {
  for (size_t i = 0; b->jobs && i < b->count; i++) free(b->jobs[i].tmp_made);
  free(b->jobs);
  free(b->text);
  free(b);
}

static void run_batch(napi_env env, void *data) {
  batch_t *b = data;
  dircache_t dirs[2] = {DIRCACHE_INIT, DIRCACHE_INIT}; /* sources', destinations' */
  for (b->ran = 0; b->ran < b->count;) {
    job_t *j = &b->jobs[b->ran++];
    run_job(j, dirs);
    if (j->err) break;
  }
  dircache_close(&dirs[0]);
  dircache_close(&dirs[1]);
}

static void batch_done(napi_env env, napi_status status, void *data) {
  batch_t *b = data;
  napi_value result, index;
  const job_t *last = b->ran ? &b->jobs[b->ran - 1] : NULL;
  if (status != napi_ok) {
    napi_reject_deferred(env, b->deferred, cancelled(env));
  } else if (last && last->err) {
    result = job_error(env, last);
    napi_create_uint32(env, (uint32_t)(b->ran - 1), &index);
    napi_set_named_property(env, result, "index", index);
    napi_reject_deferred(env, b->deferred, result);
  } else {
    unsigned char *out;
    if (napi_create_buffer(env, 33 * b->count, (void **)&out, &result) == napi_ok) {
      for (size_t i = 0; i < b->count; i++) memcpy(out + 33 * i, b->jobs[i].md, 32), out[33 * i + 32] = b->jobs[i].head ? (unsigned char)(b->jobs[i].head - '0') : 0;
      napi_resolve_deferred(env, b->deferred, result);
    } else {
      napi_value msg;
      napi_create_string_utf8(env, "out of memory", NAPI_AUTO_LENGTH, &msg);
      napi_create_error(env, NULL, msg, &result);
      napi_reject_deferred(env, b->deferred, result);
    }
  }
  napi_delete_async_work(env, b->work);
  batch_free(b);
}

/* The next NUL-ended field of a batch's text, where it is (shorter than cap bytes); NULL at the end or when too long. */
static char *field(char *at, const char *end, char **out, size_t cap) {
  if (!at || at >= end) return NULL;
  size_t n = strnlen(at, (size_t)(end - at));
  if (n >= cap || at + n >= end) return NULL;
  *out = at;
  return at + n + 1;
}

static napi_value copy_batch(napi_env env, napi_callback_info info) {
  static const char usage[] = "copyBatch(jobs: Buffer (src, tmp, dest, sha256 a job, each ended by NUL), numbers: Float64Array (size, sec, nsec, mode, uid, gid a job), "
                              "count: number, chown: boolean)";
  size_t argc = 4, len, nlen = 0;
  uint32_t count;
  napi_value argv[4], promise;
  napi_typedarray_type type;
  double *nums = NULL;
  void *data;
  bool chown;
  batch_t *b = calloc(1, sizeof *b);
  if (!b || napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 4 || napi_get_buffer_info(env, argv[0], &data, &len) != napi_ok ||
      napi_get_typedarray_info(env, argv[1], &type, &nlen, (void **)&nums, NULL, NULL) != napi_ok || type != napi_float64_array ||
      napi_get_value_uint32(env, argv[2], &count) != napi_ok || nlen != 6 * (size_t)count || napi_get_value_bool(env, argv[3], &chown) != napi_ok ||
      !(b->jobs = calloc(count ? count : 1, sizeof *b->jobs)) || !(b->text = malloc(len + 1))) {
    if (b) batch_free(b);
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  memcpy(b->text, data, len);
  b->text[len] = '\0';
  char *at = b->text, *end = b->text + len, *expect = NULL;
  for (size_t i = 0; i < count && at; i++) {
    job_t *j = &b->jobs[i];
    const double *n = nums + 6 * i;
    at = field(at, end, &j->src, PATH_BYTES - 1);
    at = field(at, end, &j->tmp, PATH_BYTES - 1);
    at = field(at, end, &j->dest, PATH_BYTES - 1);
    at = field(at, end, &expect, sizeof j->expect);
    /* Whole numbers within 2^53, none below 0 but the seconds (a time before 1970); nanoseconds, a mode (FRESH too), ids. */
    bool whole = true;
    for (int k = 0; k < 6; k++) whole = whole && n[k] > -9007199254740992.0 && n[k] < 9007199254740992.0 && n[k] == (double)(int64_t)n[k] && (k == 1 || n[k] >= 0);
    if (at && (!whole || !j->src[0] || (!j->tmp[0] && !((uint32_t)n[3] & FRESH)) || !j->dest[0] || n[2] > 999999999 || n[3] > (0xffff | FRESH) ||
               n[4] > UINT32_MAX || n[5] > UINT32_MAX || (expect[0] && strlen(expect) != 64)))
      at = NULL;
    if (!at) break;
    strcpy(j->expect, expect);
    j->size = (int64_t)n[0], j->sec = (int64_t)n[1], j->nsec = (int64_t)n[2];
    j->mode = (uint32_t)n[3], j->uid = (uint32_t)n[4], j->gid = (uint32_t)n[5], j->chown = chown;
  }
  b->count = count;
  if (!at || at != end || !(promise = start(env, "occlum-bom:copyBatch", b, run_batch, batch_done, &b->deferred, &b->work))) {
    bool bad = !at || at != end;
    batch_free(b);
    if (bad) napi_throw_type_error(env, NULL, usage);
    else napi_throw_error(env, NULL, "cannot queue copyBatch");
    return NULL;
  }
  return promise;
}

static napi_value sha256(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  job_t *j = job_alloc();
  if (!j) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 || !get_path(env, argv[0], j->src)) {
    job_free(j);
    napi_throw_type_error(env, NULL, "sha256(path: string)");
    return NULL;
  }
  return queue(env, j);
}


/* states(): its own job, the answer grows with the paths. */
typedef struct {
  char *paths, *kinds, *out;
  size_t npaths, out_len, out_cap;
  bool lines;               /* keep the lines (else only their hashes) */
  unsigned char *hashes;    /* 8 bytes a path: made, or (with `expected`) compared */
  unsigned char *expected;  /* the hashes to compare with, or NULL */
  uint32_t *differ;         /* the indices whose hash is not the expected one */
  size_t ndiffer;
  int64_t listed_ns;        /* with `expected`: when the D lines were made (ns since 1970), or 0 (see run_states) */
  double *ids;              /* or: the device and inode each path must have (-1: none, it must be missing), */
  int64_t settled_ns;       /*   with a ctime before this */
  bool unsettled;           /*   one path is not as expected */
  int err;
  napi_async_work work;
  napi_deferred deferred;
} states_t;

static int append(states_t *j, const char *text, size_t n) {
  if (j->out_len + n + 1 > j->out_cap) {
    size_t cap = j->out_cap ? j->out_cap * 2 : 1 << 16;
    while (cap < j->out_len + n + 1) cap *= 2;
    char *grown = realloc(j->out, cap);
    if (!grown) return j->err = ENOMEM, -1;
    j->out = grown;
    j->out_cap = cap;
  }
  memcpy(j->out + j->out_len, text, n);
  j->out_len += n;
  return 0;
}

static int by_bytes(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* `list:<hex>` of a directory's names, or `missing:<code>`. */
static int listing(states_t *j, const char *dir, char *line, size_t size) {
  DIR *d = opendir(dir);
  if (!d) return snprintf(line, size, "missing:%s", uv_err_name(-errno));
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  int rc = 0;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    if (n == cap) {
      char **grown = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof *names);
      if (!grown) { rc = -1; break; }
      names = grown;
    }
    if (!(names[n] = strdup(e->d_name))) { rc = -1; break; }
    n++;
  }
  closedir(d);
  if (!rc) qsort(names, n, sizeof *names, by_bytes);
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) rc = -1;
  for (size_t i = 0; i < n && !rc; i++) EVP_DigestUpdate(ctx, names[i], strlen(names[i]) + 1);
  unsigned char md[32];
  if (!rc) EVP_DigestFinal_ex(ctx, md, NULL);
  EVP_MD_CTX_free(ctx);
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
  if (rc) return j->err = ENOMEM, -1;
  memcpy(line, "list:", 5);
  hex32(line + 5, md);
  return 5 + 64;
}

static const char *type_of(mode_t m) {
  return S_ISDIR(m) ? "dir" : S_ISREG(m) ? "file" : S_ISLNK(m) ? "link" : "other";
}

/* `content:<dev>:<ino>:<size>:<SHA-256>` of a file (links followed), or `missing:<code>`. */
static int content(const char *path, char *line, size_t size) {
  job_t *j = calloc(1, sizeof *j);
  if (!j) return -1;
  j->src = (char *)path; /* for pump's messages */
  struct stat st;
  int64_t total;
  int in = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY), len, err = 0;
  if (in < 0 || fstat(in, &st) != 0) err = errno ? errno : EIO;
  else if (!S_ISREG(st.st_mode)) err = EINVAL;
  else if (pump(j, in, -1, NULL, -1, &total) != 0) err = j->err;
  if (err) len = snprintf(line, size, "missing:%s", uv_err_name(-err));
  else len = snprintf(line, size, "content:%llu:%llu:%lld:%s", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino, (long long)total, j->hex);
  if (in >= 0) close(in);
  free(j);
  return len;
}

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

/* FNV-1a, 64 bits: the hash of a line that is not a stat's (src/record.ts lineHash is the same). */
static uint64_t fnv1a(const char *s, size_t n) {
  uint64_t h = FNV_OFFSET;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * FNV_PRIME;
  return h;
}

/* One word into a stat's hash: FNV-1a's step on 64 bits at once, then the high half folded into the low (each step is one-to-one in h: a change of any one word changes the hash). */
static uint64_t mix(uint64_t h, uint64_t w) {
  h = (h ^ w) * FNV_PRIME;
  return h ^ (h >> 32);
}

/*
 * The hash of a stat line's fields, without the line: formatting and hashing 60 characters
 * cost half as much again as the stat itself (400,000 of them a rebuild of 200,000 files).
 * The words: the type (1 dir, 2 file, 3 link, 4 other) with the mode's 12 bits above it, then
 * dev, ino, size, mtime sec, nsec, ctime sec, nsec (two's complement); src/record.ts lineHash
 * reads them back from the line.
 */
static uint64_t stat_hash(const struct stat *st) {
  uint64_t type = S_ISDIR(st->st_mode) ? 1 : S_ISREG(st->st_mode) ? 2 : S_ISLNK(st->st_mode) ? 3 : 4;
  uint64_t h = mix(FNV_OFFSET, type | (uint64_t)(st->st_mode & 07777) << 8);
  h = mix(h, (uint64_t)st->st_dev);
  h = mix(h, (uint64_t)st->st_ino);
  h = mix(h, (uint64_t)(int64_t)st->st_size);
  h = mix(h, (uint64_t)(int64_t)st->st_mtim.tv_sec);
  h = mix(h, (uint64_t)st->st_mtim.tv_nsec);
  h = mix(h, (uint64_t)(int64_t)st->st_ctim.tv_sec);
  return mix(h, (uint64_t)st->st_ctim.tv_nsec);
}

/*
 * Whether a directory whose lstat line is unchanged still has the names a D line listed at
 * `listed_ns`: when its ctime came before that by more than a timestamp can lag the clock
 * (the kernel stamps from a clock that lags by up to a tick; a file system of whole seconds
 * truncates), any change of its names since would have given it a later ctime. 50 ms for a
 * ctime with a fraction, 2 s (src/elf/cache.ts RACY_NS) for one of whole seconds.
 */
/* A ctime in ns since 1970: the kernel's clock, no overflow before 2262. */
static int64_t ctime_ns(const struct stat *st) { return (int64_t)st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec; }

static bool names_settled(const struct stat *st, int64_t listed_ns) {
  return ctime_ns(st) + (st->st_ctim.tv_nsec ? 50000000LL : 2000000000LL) < listed_ns;
}

static void run_states(napi_env env, void *data) {
  states_t *j = data;
  const char *p = j->paths, *settled_dir = NULL; /* the last L path unchanged whose names are settled */
  char line[256];
  dircache_t dirs = DIRCACHE_INIT;
  for (size_t i = 0; i < j->npaths && !j->err; i++, p += strlen(p) + 1) {
    int len;
    if (j->kinds[i] == 'D' && settled_dir && !strcmp(settled_dir, p)) continue; /* unchanged: not listed */
    struct stat st;
    bool stated = false;
    if (j->kinds[i] == 'D') {
      if ((len = listing(j, p, line, sizeof line)) < 0) break;
    } else if (j->kinds[i] == 'C') {
      if ((len = content(p, line, sizeof line)) < 0) { j->err = ENOMEM; break; }
    } else {
      const char *name;
      int fd = at_dir(&dirs, p, &name);
      if (!(stated = fstatat(fd, name, &st, j->kinds[i] == 'S' ? 0 : AT_SYMLINK_NOFOLLOW) == 0)) {
        len = snprintf(line, sizeof line, "missing:%s", uv_err_name(-errno));
      } else if (!j->lines) {
        len = 0; /* hashed from st below: no line wanted */
      } else {
        /* type:mode:dev:ino:size:mtime:ctime, as "%s:%o:%llu:%llu:%lld:%lld.%09ld:%lld.%09ld" would write it */
        char *q = put_s(line, type_of(st.st_mode));
        *q++ = ':', q = put_o(q, (unsigned)(st.st_mode & 07777));
        *q++ = ':', q = put_u(q, (unsigned long long)st.st_dev);
        *q++ = ':', q = put_u(q, (unsigned long long)st.st_ino);
        *q++ = ':', q = put_i(q, (long long)st.st_size);
        *q++ = ':', q = put_i(q, (long long)st.st_mtim.tv_sec);
        *q++ = '.', q = put_9(q, st.st_mtim.tv_nsec);
        *q++ = ':', q = put_i(q, (long long)st.st_ctim.tv_sec);
        *q++ = '.', q = put_9(q, st.st_ctim.tv_nsec);
        len = (int)(q - line);
      }
    }
    uint64_t h = stated ? stat_hash(&st) : fnv1a(line, (size_t)len);
    unsigned char md[8];
    memcpy(md, &h, 8); /* little-endian on the platforms built for, as src/record.ts writes it */
    if (j->ids) {
      double dev = j->ids[2 * i], ino = j->ids[2 * i + 1];
      bool as_seen = dev == -1 ? !stated
                               : stated && dev >= 0 && st.st_dev < (1ULL << 53) && st.st_ino < (1ULL << 53) && (double)st.st_dev == dev && (double)st.st_ino == ino &&
                                     ctime_ns(&st) < j->settled_ns;
      if (!as_seen) {
        j->unsettled = true;
        break;
      }
    }
    if (j->expected) {
      bool same = memcmp(j->expected + 8 * i, md, 8) == 0;
      if (!same) j->differ[j->ndiffer++] = (uint32_t)i;
      settled_dir = same && stated && j->kinds[i] == 'L' && S_ISDIR(st.st_mode) && j->listed_ns && names_settled(&st, j->listed_ns) ? p : NULL;
    } else {
      memcpy(j->hashes + 8 * i, md, 8);
    }
    line[len++] = '\n';
    if (j->lines && append(j, line, (size_t)len) != 0) break;
  }
  dircache_close(&dirs);
}

static void states_free(states_t *j) {
  free(j->paths);
  free(j->kinds);
  free(j->out);
  free(j->hashes);
  free(j->expected);
  free(j->differ);
  free(j->ids);
  free(j);
}

static void states_done(napi_env env, napi_status status, void *data) {
  states_t *j = data;
  napi_value result, hashes, lines;
  if (status != napi_ok || j->err) {
    napi_value msg;
    napi_create_string_utf8(env, status != napi_ok ? "states cancelled" : "out of memory", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &result);
    napi_reject_deferred(env, j->deferred, result);
  } else {
    if (j->expected) napi_create_buffer_copy(env, 4 * j->ndiffer, j->differ, NULL, &result); /* read as little-endian: x86-64 and arm64 are */
    else napi_create_buffer_copy(env, 8 * j->npaths, j->hashes, NULL, &hashes);
    if (!j->expected && j->lines) {
      napi_create_string_utf8(env, j->out ? j->out : "", j->out_len, &lines);
      napi_create_array_with_length(env, 2, &result);
      napi_set_element(env, result, 0, lines);
      napi_set_element(env, result, 1, hashes);
    } else if (j->unsettled) {
      napi_get_null(env, &result);
    } else if (!j->expected) {
      result = hashes;
    }
    napi_resolve_deferred(env, j->deferred, result);
  }
  napi_delete_async_work(env, j->work);
  states_free(j);
}

/* A whole JS string as a malloc'd UTF-8 buffer (NULs kept); its length in *len. */
static char *utf8(napi_env env, napi_value v, size_t *len) {
  if (napi_get_value_string_utf8(env, v, NULL, 0, len) != napi_ok) return NULL;
  char *buf = malloc(*len + 1);
  if (buf && napi_get_value_string_utf8(env, v, buf, *len + 1, len) != napi_ok) {
    free(buf);
    return NULL;
  }
  return buf;
}

/* A Buffer of NUL-separated paths as a NUL-ended copy, and how many paths it holds; NULL if it is no Buffer. */
static char *paths_of(napi_env env, napi_value v, size_t *len, size_t *count) {
  void *data;
  char *paths;
  if (napi_get_buffer_info(env, v, &data, len) != napi_ok || !(paths = malloc(*len + 1))) return NULL;
  memcpy(paths, data, *len);
  paths[*len] = '\0';
  *count = *len ? 1 : 0;
  for (size_t i = 0; i < *len; i++) *count += paths[i] == '\0';
  return paths;
}

static napi_value states(napi_env env, napi_callback_info info) {
  static const char usage[] = "states(paths: Buffer, kinds: string (S, L, D or C for each NUL-separated path), mode: 'lines' | 'hashes' | Buffer, listedNs?: bigint) "
                              "or states(paths: Buffer, kinds: string (S or L), ids: Float64Array, settledNs: bigint)";
  size_t argc = 4, plen = 0, klen = 0, count = 0, elen = 0;
  napi_value argv[4], promise;
  char mode[8] = "";
  void *expected = NULL;
  bool is_buffer = false, is_typed = false, is_ids = false, lossless;
  napi_typedarray_type type;
  size_t ids_len = 0;
  void *ids = NULL;
  states_t *j = calloc(1, sizeof *j);
  bool ok = j && napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && (argc == 3 || argc == 4) && (j->paths = paths_of(env, argv[0], &plen, &count)) &&
            (j->kinds = utf8(env, argv[1], &klen)) && napi_is_buffer(env, argv[2], &is_buffer) == napi_ok && napi_is_typedarray(env, argv[2], &is_typed) == napi_ok;
  if (ok && is_typed && (ok = napi_get_typedarray_info(env, argv[2], &type, &ids_len, &ids, NULL, NULL) == napi_ok) && type == napi_float64_array)
    is_ids = true, is_buffer = false; /* napi_is_buffer says true of any typed array */
  if (ok && is_ids) ok = argc == 4 && ids_len == 2 * klen && strspn(j->kinds, "SL") == klen &&
                         napi_get_value_bigint_int64(env, argv[3], &j->settled_ns, &lossless) == napi_ok && lossless;
  else if (ok && is_buffer) ok = napi_get_buffer_info(env, argv[2], &expected, &elen) == napi_ok &&
                            (argc == 3 || (napi_get_value_bigint_int64(env, argv[3], &j->listed_ns, &lossless) == napi_ok && lossless && j->listed_ns > 0));
  else if (ok) ok = argc == 3 && napi_get_value_string_utf8(env, argv[2], mode, sizeof mode, NULL) == napi_ok && (!strcmp(mode, "lines") || !strcmp(mode, "hashes"));
  if (ok) {
    if (!plen && klen) count = 1; /* a single empty path */
    for (size_t i = 0; i < klen; i++) if (!strchr("SLDC", j->kinds[i]) || !j->kinds[i]) count = (size_t)-1;
    ok = count == klen && (!is_buffer || elen == 8 * klen);
  }
  if (!ok) {
    if (j) states_free(j);
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  j->npaths = klen;
  j->lines = !strcmp(mode, "lines");
  /* One spare byte each: malloc(0) may give NULL. */
  if ((is_buffer ? !(j->expected = malloc(elen + 1)) || !(j->differ = malloc(4 * klen + 1)) : !(j->hashes = malloc(8 * klen + 1)))) {
    states_free(j);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  if (is_buffer) memcpy(j->expected, expected, elen);
  if (is_ids && !(j->ids = malloc(16 * klen + 1))) {
    states_free(j);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  if (j->ids) memcpy(j->ids, ids, 16 * klen);
  if (!(promise = start(env, "occlum-bom:states", j, run_states, states_done, &j->deferred, &j->work))) {
    states_free(j);
    napi_throw_error(env, NULL, "cannot queue states");
    return NULL;
  }
  return promise;
}

/* elfMagic(): the answer is one byte a path. */
typedef struct {
  char *paths;
  size_t count;
  unsigned char *out;
  napi_async_work work;
  napi_deferred deferred;
} magic_t;

static void run_magic(napi_env env, void *data) {
  magic_t *j = data;
  const char *p = j->paths;
  dircache_t dirs = DIRCACHE_INIT;
  for (size_t i = 0; i < j->count; i++, p += strlen(p) + 1) {
    unsigned char head[4];
    const char *name;
    int at = at_dir(&dirs, p, &name);
    int fd = openat(at, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    j->out[i] = fd >= 0 && pread(fd, head, 4, 0) == 4 && !memcmp(head, "\x7f" "ELF", 4);
    if (fd >= 0) close(fd);
  }
  dircache_close(&dirs);
}

static void magic_done(napi_env env, napi_status status, void *data) {
  magic_t *j = data;
  napi_value result;
  void *copy;
  if (status != napi_ok || napi_create_buffer_copy(env, j->count, j->out, &copy, &result) != napi_ok) {
    napi_value msg;
    napi_create_string_utf8(env, "elfMagic failed", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &result);
    napi_reject_deferred(env, j->deferred, result);
  } else {
    napi_resolve_deferred(env, j->deferred, result);
  }
  napi_delete_async_work(env, j->work);
  free(j->paths), free(j->out), free(j);
}

static napi_value elf_magic(napi_env env, napi_callback_info info) {
  size_t argc = 1, len;
  napi_value argv[1], promise = NULL;
  magic_t *j = calloc(1, sizeof *j);
  if (!j || napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 || !(j->paths = paths_of(env, argv[0], &len, &j->count))) {
    if (j) free(j->paths), free(j);
    napi_throw_type_error(env, NULL, "elfMagic(paths: Buffer)");
    return NULL;
  }
  if (!(j->out = malloc(j->count + 1)) || !(promise = start(env, "occlum-bom:elfMagic", j, run_magic, magic_done, &j->deferred, &j->work))) {
    free(j->paths), free(j->out), free(j);
    napi_throw_error(env, NULL, "cannot queue elfMagic");
    return NULL;
  }
  return promise;
}

typedef struct {
  double size, mtime_sec, ctime_sec, dev, ino;
  uint32_t mode, uid, gid, mtime_nsec, ctime_nsec, name_len;
} record_t;
_Static_assert(sizeof(record_t) == 64, "records are 64 bytes");

/* A directory's listing as listDir() answers it, in a malloc'd buffer; 0 or the errno of the failure. */
static int list_into(const char *dir, char **out, size_t *out_len) {
  DIR *d = opendir(dir);
  if (!d) return errno ? errno : EIO;
  char **names = NULL;
  size_t n = 0, cap = 0, bytes = 0;
  struct dirent *e;
  int err = 0;
  for (errno = 0; (e = readdir(d)); errno = 0) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    if (n == cap) {
      char **grown = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof *names);
      if (!grown) { err = ENOMEM; break; }
      names = grown;
    }
    if (!(names[n] = strdup(e->d_name))) { err = ENOMEM; break; }
    bytes += strlen(names[n++]) + 1;
  }
  if (!err && errno) err = errno;
  if (!err) qsort(names, n, sizeof *names, by_bytes);
  size_t len = 8 + n * sizeof(record_t) + bytes;
  char *data = err ? NULL : malloc(len);
  if (!err && !data) err = ENOMEM;
  if (!err) {
    uint32_t count = (uint32_t)n, pad = 0;
    memcpy(data, &count, 4);
    memcpy(data + 4, &pad, 4);
    record_t *records = (record_t *)(data + 8);
    char *text = (char *)(records + n);
    for (size_t i = 0; i < n; i++) {
      struct stat st;
      record_t r = {0};
      size_t name_len = strlen(names[i]);
      if (fstatat(dirfd(d), names[i], &st, AT_SYMLINK_NOFOLLOW) != 0) {
        r.uid = (uint32_t)errno;
      } else {
        r.size = (double)st.st_size, r.mtime_sec = (double)st.st_mtim.tv_sec, r.ctime_sec = (double)st.st_ctim.tv_sec;
        r.dev = (double)st.st_dev, r.ino = (double)st.st_ino;
        r.mode = st.st_mode, r.uid = st.st_uid, r.gid = st.st_gid;
        r.mtime_nsec = (uint32_t)st.st_mtim.tv_nsec, r.ctime_nsec = (uint32_t)st.st_ctim.tv_nsec;
      }
      r.name_len = (uint32_t)name_len;
      memcpy(&records[i], &r, sizeof r);
      memcpy(text, names[i], name_len + 1);
      text += name_len + 1;
    }
  }
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
  closedir(d);
  *out = data;
  *out_len = len;
  return err;
}

/* listDir(): on the thread pool, so that a walk lists the next directories while it takes in one. */
typedef struct {
  char dir[PATH_BYTES];
  char *data;
  size_t len;
  int err;
  napi_async_work work;
  napi_deferred deferred;
} list_t;

static void run_list(napi_env env, void *data) {
  list_t *j = data;
  j->err = list_into(j->dir, &j->data, &j->len);
}

static void list_done(napi_env env, napi_status status, void *data) {
  list_t *j = data;
  napi_value result;
  void *copy;
  if (status != napi_ok) napi_reject_deferred(env, j->deferred, cancelled(env));
  else if (j->err) napi_reject_deferred(env, j->deferred, fs_error(env, j->err, "scandir", j->dir));
  else if (napi_create_buffer_copy(env, j->len, j->data, &copy, &result) != napi_ok) napi_reject_deferred(env, j->deferred, cancelled(env));
  else napi_resolve_deferred(env, j->deferred, result);
  napi_delete_async_work(env, j->work);
  free(j->data);
  free(j);
}

static napi_value list_dir(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], promise;
  list_t *j = calloc(1, sizeof *j);
  if (!j || napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 || !get_path(env, argv[0], j->dir)) {
    free(j);
    napi_throw_type_error(env, NULL, "listDir(dir: string)");
    return NULL;
  }
  if (!(promise = start(env, "occlum-bom:listDir", j, run_list, list_done, &j->deferred, &j->work))) {
    free(j);
    napi_throw_error(env, NULL, "cannot queue listDir");
    return NULL;
  }
  return promise;
}

/* quickCheck(): one job for many files. */
typedef struct {
  char *paths;
  size_t count, failed;
  double *numbers;
  bool chown;
  unsigned char *out;
  int err;
  const char *syscall, *path;
  napi_async_work work;
  napi_deferred deferred;
} check_t;

static void run_check(napi_env env, void *data) {
  check_t *j = data;
  const char *p = j->paths;
  dircache_t dirs = DIRCACHE_INIT;
  for (size_t i = 0; i < j->count; i++, p += strlen(p) + 1) {
    const double *v = j->numbers + 6 * i;
    uint32_t mode = (uint32_t)v[3] & 07777, uid = (uint32_t)v[4], gid = (uint32_t)v[5];
    struct stat st;
    const char *name;
    int at = at_dir(&dirs, p, &name);
    if (fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      j->out[i] = 1;
      continue;
    }
    if (!S_ISREG(st.st_mode) || (double)st.st_size != v[0] || (double)st.st_mtim.tv_sec != v[1] || (double)st.st_mtim.tv_nsec != v[2]) {
      j->out[i] = S_ISDIR(st.st_mode) ? 2 : 1;
      continue;
    }
    j->out[i] = 0;
    bool owner_differs = st.st_uid != uid || st.st_gid != gid;
    /* Owner before mode: chown clears the set-id bits. */
    if (j->chown && owner_differs && lchown(p, uid, gid) != 0) { j->err = errno, j->syscall = "lchown", j->path = p, j->failed = i; break; }
    if ((owner_differs || (st.st_mode & 07777) != mode) && chmod(p, mode) != 0) { j->err = errno, j->syscall = "chmod", j->path = p, j->failed = i; break; }
  }
  dircache_close(&dirs);
}

static void check_done(napi_env env, napi_status status, void *data) {
  check_t *j = data;
  napi_value result, index;
  void *copy;
  if (status != napi_ok) {
    napi_reject_deferred(env, j->deferred, cancelled(env));
  } else if (j->err) {
    result = fs_error(env, j->err, j->syscall, j->path);
    napi_create_uint32(env, (uint32_t)j->failed, &index);
    napi_set_named_property(env, result, "index", index);
    napi_reject_deferred(env, j->deferred, result);
  } else if (napi_create_buffer_copy(env, j->count, j->out, &copy, &result) != napi_ok) {
    napi_reject_deferred(env, j->deferred, cancelled(env));
  } else {
    napi_resolve_deferred(env, j->deferred, result);
  }
  napi_delete_async_work(env, j->work);
  free(j->paths), free(j->numbers), free(j->out), free(j);
}

static napi_value quick_check(napi_env env, napi_callback_info info) {
  size_t argc = 3, len, count = 0, length = 0;
  napi_value argv[3], promise = NULL, buffer;
  napi_typedarray_type type;
  void *numbers;
  check_t *j = calloc(1, sizeof *j);
  if (!j || napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 3 || !(j->paths = paths_of(env, argv[0], &len, &count)) ||
      napi_get_typedarray_info(env, argv[1], &type, &length, &numbers, &buffer, NULL) != napi_ok || type != napi_float64_array ||
      length != 6 * count || napi_get_value_bool(env, argv[2], &j->chown) != napi_ok) {
    if (j) free(j->paths), free(j);
    napi_throw_type_error(env, NULL, "quickCheck(dests: Buffer, numbers: Float64Array of 6 a path, chown: boolean)");
    return NULL;
  }
  j->count = count;
  if ((j->numbers = malloc(length * sizeof(double) + 1))) memcpy(j->numbers, numbers, length * sizeof(double));
  if (!j->numbers || !(j->out = malloc(count + 1)) || !(promise = start(env, "occlum-bom:quickCheck", j, run_check, check_done, &j->deferred, &j->work))) {
    free(j->paths), free(j->numbers), free(j->out), free(j);
    napi_throw_error(env, NULL, "cannot queue quickCheck");
    return NULL;
  }
  return promise;
}

/* The directory named by a call's one argument, opened (its path in `dir`); NULL, with the exception thrown, when it cannot be. */
static DIR *dir_argument(napi_env env, napi_callback_info info, const char *usage, char *dir) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 || !get_path(env, argv[0], dir)) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  DIR *d = opendir(dir);
  if (!d) napi_throw(env, fs_error(env, errno, "opendir", dir));
  return d;
}

/* readdir's next entry other than "." and ".."; NULL at the end, with errno set when reading failed. */
static struct dirent *next_name(DIR *d) {
  struct dirent *e;
  for (errno = 0; (e = readdir(d)); errno = 0)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) return e;
  return NULL;
}

/* Close a directory read to its end; false, with the exception thrown, when reading it failed. */
static bool read_whole(napi_env env, DIR *d, const char *dir) {
  int err = errno;
  closedir(d);
  if (err) napi_throw(env, fs_error(env, err, "readdir", dir));
  return !err;
}

/* How many names a directory holds ("." and ".." not counted): what a listing costs without making the names. */
static napi_value count_names(napi_env env, napi_callback_info info) {
  char dir[PATH_BYTES];
  DIR *d = dir_argument(env, info, "countNames(dir: string)", dir);
  if (!d) return NULL;
  double n = 0;
  while (next_name(d)) n++;
  if (!read_whole(env, d, dir)) return NULL;
  napi_value result;
  napi_create_double(env, n, &result);
  return result;
}

/* The names of a directory's subdirectories (not links to one): what a tree's files must not meet in the image. */
static napi_value subdirs(napi_env env, napi_callback_info info) {
  char dir[PATH_BYTES];
  DIR *d = dir_argument(env, info, "subdirs(dir: string)", dir);
  if (!d) return NULL;
  napi_value result, name;
  napi_create_array(env, &result);
  uint32_t n = 0;
  struct dirent *e;
  struct stat st;
  while ((e = next_name(d))) {
    bool is_dir = e->d_type == DT_DIR || (e->d_type == DT_UNKNOWN && fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode));
    if (!is_dir) continue;
    napi_create_string_utf8(env, e->d_name, NAPI_AUTO_LENGTH, &name);
    napi_set_element(env, result, n++, name);
  }
  return read_whole(env, d, dir) ? result : NULL;
}

/* n bytes appended at p. */
static char *put_n(char *p, const void *s, size_t n) {
  memcpy(p, s, n);
  return p + n;
}

/* A string literal appended at p: a copy of known length, not a loop a byte (put_s). */
#define PUT_LIT(p, lit) ((p) = put_n((p), (lit), sizeof(lit) - 1))

/* manifestRows(): 200,000 entries are 90 MB of text, a third of a second of the main thread as JS strings. */
static napi_value manifest_rows(napi_env env, napi_callback_info info) {
  static const char usage[] =
      "manifestRows(paths: string (NUL-separated), numbers: Float64Array (row, mode, size, mtime sec, mtime nsec a path), sha: Buffer (32 bytes a row), "
      "bom: string, cut: number, srcPrefix: string, first: boolean, into: Buffer)";
  size_t argc = 8, plen = 0, blen = 0, slen = 0, nlen = 0, shalen = 0, room = 0;
  napi_value argv[8], result, end;
  napi_typedarray_type type;
  double *nums = NULL;
  void *shadata, *intodata;
  uint32_t cut;
  bool first;
  char *paths = NULL, *bom = NULL, *prefix = NULL;
  bool ok = napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc == 8 && (paths = utf8(env, argv[0], &plen)) &&
            napi_get_typedarray_info(env, argv[1], &type, &nlen, (void **)&nums, NULL, NULL) == napi_ok && type == napi_float64_array &&
            nlen % 5 == 0 && napi_get_buffer_info(env, argv[2], &shadata, &shalen) == napi_ok && (bom = utf8(env, argv[3], &blen)) &&
            napi_get_value_uint32(env, argv[4], &cut) == napi_ok && (prefix = utf8(env, argv[5], &slen)) &&
            napi_get_value_bool(env, argv[6], &first) == napi_ok && napi_get_buffer_info(env, argv[7], &intodata, &room) == napi_ok;
  /* `count` paths, each at least `cut` bytes, and nothing after them. */
  size_t count = nlen / 5;
  char *stop = paths ? paths + plen + 1 : NULL, *at = paths;
  for (size_t k = 0; ok && k < count; k++) {
    size_t len = at < stop ? strlen(at) : 0;
    ok = at < stop && len >= cut;
    at += len + 1;
  }
  ok = ok && (count ? at == stop : plen == 0);
  for (size_t k = 0; ok && k < count; k++) {
    double row = nums[5 * k], size = nums[5 * k + 2], sec = nums[5 * k + 3], nsec = nums[5 * k + 4];
    ok = row >= 0 && 32 * (row + 1) <= (double)shalen && size >= 0 && size < 9007199254740992.0 && sec >= 0 && sec < 9007199254740992.0 && nsec >= 0 &&
         nsec <= 999999999;
  }
  if (!ok) {
    free(paths), free(bom), free(prefix);
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  /* At most, a path: 300 bytes of keys and marks, its path twice (and once in each of two
     sections), the BOM's place, three numbers of 20 digits, a hash in hex twice, and in bytes. */
  size_t need = count * (300 + slen + blen + 60 + 128 + 32 + 60) + 4 * plen + 8;
  if (room < need) {
    free(paths), free(bom), free(prefix);
    napi_create_double(env, (double)need, &result);
    return result;
  }
  char *out = intodata, *p = paths, hex[65], mode[4];
  char *ends[5];
  /* The sections in turn: JSON, digest lines, the index's paths, sizes and mtimes, hashes. */
  for (int s = 0; s < 5; s++) {
    p = paths;
    for (size_t k = 0; k < count; k++, p += strlen(p) + 1) {
      size_t len = strlen(p), row = (size_t)nums[5 * k];
      unsigned m = (unsigned)nums[5 * k + 1] & 07777;
      const unsigned char *md = (const unsigned char *)shadata + 32 * row;
      if (s == 4) {
        out = put_n(out, md, 32);
        continue;
      }
      if (s == 2) {
        out = put_n(out, p, len + 1);
        continue;
      }
      for (int d = 3; d >= 0; d--, m >>= 3) mode[d] = (char)('0' + (m & 7));
      char size[24], *se = put_u(size, (unsigned long long)nums[5 * k + 2]);
      char mtime[32], *me = put_9(put_s(put_u(mtime, (unsigned long long)nums[5 * k + 3]), "."), (long)nums[5 * k + 4]);
      if (s == 3) {
        out = put_n(out, size, (size_t)(se - size));
        *out++ = ' ';
        out = put_n(out, mtime, (size_t)(me - mtime));
        *out++ = '\0';
        continue;
      }
      hex32(hex, md);
      if (s == 1) {
        out = put_n(out, p, len);
        PUT_LIT(out, "\tfile\t");
        out = put_n(out, mode, 4);
        *out++ = '\t';
        out = put_n(out, size, (size_t)(se - size));
        *out++ = '\t';
        out = put_n(out, hex, 64);
        PUT_LIT(out, "\t\n");
        continue;
      }
      if (!(first && k == 0)) *out++ = ',';
      PUT_LIT(out, "\n  {\n   \"path\": \"");
      out = put_n(out, p, len);
      PUT_LIT(out, "\",\n   \"type\": \"file\",\n   \"mode\": \"");
      out = put_n(out, mode, 4);
      PUT_LIT(out, "\",\n   \"size\": ");
      out = put_n(out, size, (size_t)(se - size));
      PUT_LIT(out, ",\n   \"mtime\": \"");
      out = put_n(out, mtime, (size_t)(me - mtime));
      PUT_LIT(out, "\",\n   \"sha256\": \"");
      out = put_n(out, hex, 64);
      PUT_LIT(out, "\",\n   \"from\": {\n    \"bom\": \"");
      out = put_n(out, bom, blen);
      PUT_LIT(out, "\",\n    \"op\": \"tree\",\n    \"source\": \"");
      out = put_n(out, prefix, slen);
      out = put_n(out, p + cut, len - cut);
      PUT_LIT(out, "\"\n   }\n  }");
    }
    ends[s] = out;
  }
  napi_create_array_with_length(env, 5, &result);
  for (int s = 0; s < 5; s++) {
    napi_create_double(env, (double)(ends[s] - (char *)intodata), &end);
    napi_set_element(env, result, (uint32_t)s, end);
  }
  free(paths), free(bom), free(prefix);
  return result;
}

/* reflinks() -> [{src, dst, ok, why}]: what was decided for each pair of devices (see try_clone), and the refusal's message. */
static napi_value reflinks(napi_env env, napi_callback_info info) {
  napi_value out, item, v;
  napi_create_array(env, &out);
  pthread_mutex_lock(&clone_lock);
  for (int i = 0; i < clone_count; i++) {
    napi_create_object(env, &item);
    napi_create_double(env, (double)clone_pairs[i].src, &v);
    napi_set_named_property(env, item, "src", v);
    napi_create_double(env, (double)clone_pairs[i].dst, &v);
    napi_set_named_property(env, item, "dst", v);
    napi_get_boolean(env, clone_pairs[i].ok == 1, &v);
    napi_set_named_property(env, item, "ok", v);
    napi_create_string_utf8(env, clone_pairs[i].err ? strerror(clone_pairs[i].err) : "", NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, item, "why", v);
    napi_set_element(env, out, (uint32_t)i, item);
  }
  pthread_mutex_unlock(&clone_lock);
  return out;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "reflinks", NAPI_AUTO_LENGTH, reflinks, NULL, &fn);
  napi_set_named_property(env, exports, "reflinks", fn);
  temp_counter = (uint32_t)getpid() * 2654435761u ^ (uint32_t)uv_hrtime();
  napi_create_function(env, "utimens", NAPI_AUTO_LENGTH, utimens, NULL, &fn);
  napi_set_named_property(env, exports, "utimens", fn);
  napi_create_function(env, "copy", NAPI_AUTO_LENGTH, copy, NULL, &fn);
  napi_set_named_property(env, exports, "copy", fn);
  napi_create_function(env, "copyBatch", NAPI_AUTO_LENGTH, copy_batch, NULL, &fn);
  napi_set_named_property(env, exports, "copyBatch", fn);
  napi_create_function(env, "sha256", NAPI_AUTO_LENGTH, sha256, NULL, &fn);
  napi_set_named_property(env, exports, "sha256", fn);
  napi_create_function(env, "states", NAPI_AUTO_LENGTH, states, NULL, &fn);
  napi_set_named_property(env, exports, "states", fn);
  napi_create_function(env, "elfMagic", NAPI_AUTO_LENGTH, elf_magic, NULL, &fn);
  napi_set_named_property(env, exports, "elfMagic", fn);
  napi_create_function(env, "listDir", NAPI_AUTO_LENGTH, list_dir, NULL, &fn);
  napi_set_named_property(env, exports, "listDir", fn);
  napi_create_function(env, "quickCheck", NAPI_AUTO_LENGTH, quick_check, NULL, &fn);
  napi_set_named_property(env, exports, "quickCheck", fn);
  napi_create_function(env, "countNames", NAPI_AUTO_LENGTH, count_names, NULL, &fn);
  napi_set_named_property(env, exports, "countNames", fn);
  napi_create_function(env, "subdirs", NAPI_AUTO_LENGTH, subdirs, NULL, &fn);
  napi_set_named_property(env, exports, "subdirs", fn);
  napi_create_function(env, "manifestRows", NAPI_AUTO_LENGTH, manifest_rows, NULL, &fn);
  napi_set_named_property(env, exports, "manifestRows", fn);
  return exports;
}
