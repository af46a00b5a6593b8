{
  "targets": [
    {
      "target_name": "fs",
      "sources": ["native/fs.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
