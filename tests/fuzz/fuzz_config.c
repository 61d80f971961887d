/* libFuzzer target: wf_config_load (YAML file + environment) and
 * wf_config_dump.
 *
 * Input: the YAML text, optionally followed by a NUL byte and environment
 * entries, one "NAME=value" per line (e.g. WSFLYTE_RETRY_TIERS=1s,2m). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#define MAX_ENV 32

static char path[64];
static FILE *devnull;

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
    snprintf(path, sizeof(path), "%s/wsflyte-fuzz-config-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    fd = mkstemp(path);
    if (fd < 0)
        abort();
    close(fd);
    atexit(remove_file);
    devnull = fopen("/dev/null", "w");
    if (devnull == NULL)
        abort();
    return 0;
}

static void write_file(const uint8_t *data, size_t n)
{
    FILE *fp = fopen(path, "wb");

    if (fp == NULL)
        abort();
    if (n && fwrite(data, 1, n, fp) != n)
        abort();
    fclose(fp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t yaml_len = nul ? (size_t)(nul - data) : size;
    char *env_text = NULL, *envp[MAX_ENV + 1] = {NULL}, *save = NULL, *report = NULL;
    size_t n_env = 0;
    wf_config cfg;
    wf_err err;

    write_file(data, yaml_len);
    if (nul) {
        env_text = strndup((const char *)nul + 1, size - yaml_len - 1);
        for (char *line = strtok_r(env_text, "\n", &save); line && n_env < MAX_ENV;
             line = strtok_r(NULL, "\n", &save))
            envp[n_env++] = line;
    }
    wf_err_init(&err);
    if (wf_config_load(&cfg, path, envp, &report, &err) == 0)
        wf_config_dump(&cfg, devnull);
    wf_config_fini(&cfg);
    free(report);
    free(env_text);
    return 0;
}
