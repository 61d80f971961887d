/* Writes the decode_event seed corpus: every event of a JSON-lines file as
 * JSON and as Confluent-framed Avro, and a result of each, each prefixed
 * with fuzz_decode_event's selector byte.  Not built by CMake; run by hand:
 *   cc -Ikafka -Icore tests/fuzz/gen_seeds.c
 *      build/libwf_kafka.a build/libwf_core.a $(pkg-config --libs ...)
 *   ./gen_seeds schemas tests/data/events/seed.jsonl tests/fuzz/corpus/decode_event */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

static void put(const char *dir, const char *name, int n, unsigned char sel, const void *buf,
                size_t len)
{
    char path[512];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s-%d", dir, name, n);
    fp = fopen(path, "wb");
    if (fp == NULL) {
        perror(path);
        exit(1);
    }
    fputc(sel, fp);
    fwrite(buf, 1, len, fp);
    fclose(fp);
}

int main(int argc, char **argv)
{
    codec_opts o = {0};
    wf_err err;
    codec *c;
    char line[65536];
    FILE *in;
    int n = 0;

    if (argc != 4)
        return 2;
    o.schema_dir = argv[1];
    wf_err_init(&err);
    c = codec_new(&o, &err);
    in = fopen(argv[2], "r");
    if (c == NULL || in == NULL)
        return 1;
    while (fgets(line, sizeof(line), in)) {
        ws_event ev;
        prov_result r = {0};
        void *out;
        size_t len;
        if (line[0] != '{' || codec_decode_event(c, line, strlen(line), NULL, &ev, &err) != 0)
            continue;
        n++;
        put(argv[3], "event-json", n, 1, line, strlen(line));
        if (codec_encode_event(c, &ev, CODEC_AVRO, &out, &len, &err) == 0) {
            put(argv[3], "event-avro", n, 0, out, len);
            free(out);
        }
        r.result_id = ev.event_id;
        r.event_id = ev.event_id;
        r.event_type = ev.type;
        r.workspace_id = ev.ws.workspace_id;
        r.workspace_version = ev.workspace_version;
        r.status = PROV_SUCCEEDED;
        r.namespaces = (char *[]){"ws-development"};
        r.n_namespaces = 1;
        for (int f = 0; f < 2; f++)
            if (codec_encode_result(c, &r, f ? CODEC_JSON : CODEC_AVRO, &out, &len, &err) == 0) {
                put(argv[3], f ? "result-json" : "result-avro", n, 2, out, len);
                free(out);
            }
        ws_event_fini(&ev);
    }
    fclose(in);
    codec_free(c);
    printf("%d events, %s\n", n, err.msg);
    return 0;
}
