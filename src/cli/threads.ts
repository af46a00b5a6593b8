// Imported first by the commands: libuv's thread pool (4 threads by default) runs every
// fs call, and copying or scanning thousands of files wants more of them in flight. It is
// sized when first used, so this must run before any file work starts.
process.env.UV_THREADPOOL_SIZE ??= '16';
