/* The musl example: a dynamically linked program built with musl-gcc. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

int main(int argc, char **argv) {
    struct utsname u;
    if (uname(&u) != 0) return 1;
    char *copy = strdup(argc > 1 ? argv[1] : "world");
    if (copy == NULL) return 1;
    printf("hello, %s, from musl on %s\n", copy, u.sysname);
    free(copy);
    return 0;
}
