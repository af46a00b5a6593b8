{
  "targets": [
    {
      "target_name": "utimens",
      "sources": ["native/utimens.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
