
/*
 * Copyright (C) The ngx_http_invites_module authors
 */


/*
 * A main() for the fuzz targets without libFuzzer: runs
 * LLVMFuzzerTestOneInput once on every file named, or on every file in a
 * directory named, and prints "replayed N inputs".  A broken invariant
 * aborts, so the caller sees a failure and the file on stderr.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>


int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static int replay_file(const char *path);


static unsigned long  replay_n;


int
main(int argc, char **argv)
{
    int             i;
    DIR            *dir;
    char            path[4096];
    struct stat     st;
    struct dirent  *de;

    for (i = 1; i < argc; i++) {
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            return 2;
        }

        if (!S_ISDIR(st.st_mode)) {
            if (replay_file(argv[i]) != 0) {
                return 2;
            }

            continue;
        }

        dir = opendir(argv[i]);
        if (dir == NULL) {
            perror(argv[i]);
            return 2;
        }

        while ((de = readdir(dir)) != NULL) {
            if (de->d_name[0] == '.') {
                continue;
            }

            snprintf(path, sizeof(path), "%s/%s", argv[i], de->d_name);

            if (replay_file(path) != 0) {
                closedir(dir);
                return 2;
            }
        }

        closedir(dir);
    }

    printf("replayed %lu inputs\n", replay_n);

    return 0;
}


static int
replay_file(const char *path)
{
    FILE           *f;
    long            len;
    unsigned char  *buf;

    f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return 1;
    }

    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0)
    {
        perror(path);
        fclose(f);
        return 1;
    }

    /* one byte more, so that an empty file is not malloc(0) */
    buf = malloc(len + 1);
    if (buf == NULL || fread(buf, 1, len, f) != (size_t) len) {
        perror(path);
        free(buf);
        fclose(f);
        return 1;
    }

    fclose(f);

    fprintf(stderr, "replay: %s\n", path);
    LLVMFuzzerTestOneInput(buf, len);

    free(buf);
    replay_n++;

    return 0;
}
