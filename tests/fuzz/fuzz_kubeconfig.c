/* libFuzzer target: kubeconfig_load on one file (paths, base64 data,
 * merging rules, error messages). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "kubeconfig.h"
#include "log.h"

static char path[64];

/* Every run, ctest's corpus replays included, makes one file, in /dev/shm
 * when it can: remove it at exit, or they pile up (in memory, on tmpfs). */
static void remove_file(void)
{
    unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    int fd;

    (void)argc;
    (void)argv;
    /* tmpfs when there is one: a file is rewritten for every input. */
    snprintf(path, sizeof(path), "%s/wsflyte-fuzz-kubeconfig-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    fd = mkstemp(path);
    if (fd < 0)
        abort();
    close(fd);
    atexit(remove_file);
    log_setup(WF_LOG_TEXT, WF_LOG_ERROR); /* no warnings per input */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *fp = fopen(path, "wb");
    kubeconfig kc;
    wf_err err;

    if (fp == NULL)
        abort();
    if (size && fwrite(data, 1, size, fp) != size)
        abort();
    fclose(fp);
    wf_err_init(&err);
    kubeconfig_load(path, &kc, &err);
    kubeconfig_fini(&kc);
    return 0;
}
