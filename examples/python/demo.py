# The Python example's script: one line of results that needs the interpreter's C extensions
# (_ssl and _hashlib with OpenSSL, _sqlite3 with SQLite, zlib, _ctypes with libffi + dlopen).
import ctypes
import hashlib
import sqlite3
import ssl
import sys
import zlib

data = b"occlum " * 1000
packed = zlib.compress(data, 9)
assert zlib.decompress(packed) == data

db = sqlite3.connect(":memory:")
db.execute("create table t (n integer)")
db.executemany("insert into t values (?)", [(n,) for n in range(1, 101)])
(total,) = db.execute("select sum(n) from t").fetchone()

context = ssl.create_default_context()
assert context.verify_mode == ssl.CERT_REQUIRED

libc = ctypes.CDLL("libc.so.6")
libc.strlen.restype = ctypes.c_size_t
length = libc.strlen(b"hello, occlum")

print(
    f"python {sys.version_info.major}.{sys.version_info.minor}:",
    f"{ssl.OPENSSL_VERSION} sha256={hashlib.sha256(data).hexdigest()[:12]}",
    f"sqlite={sqlite3.sqlite_version} sum={total}",
    f"zlib={zlib.ZLIB_RUNTIME_VERSION} {len(data)}->{len(packed)}",
    f"ctypes strlen={length}",
)
