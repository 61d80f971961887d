/* libFuzzer target: codec_decode_event (Confluent-framed Avro with the
 * writer schemas of tests/data/schemas, which differ from ours, and JSON)
 * and codec_decode_result.
 *
 * Input: byte 0 selects the call (bit 0: content-type application/json
 * header, bit 1: decode a result instead of an event); the rest is the
 * record value. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "codec.h"

static codec *dec;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    codec_opts o = {0};
    wf_err err;

    (void)argc;
    (void)argv;
    wf_err_init(&err);
    o.schema_dir = WSFLYTE_SCHEMA_DIR;
    o.id_map_path = WSFLYTE_TEST_DATA "/schemas/schema-ids.json";
    dec = codec_new(&o, &err);
    if (dec == NULL) {
        fprintf(stderr, "fuzz_decode_event: %s\n", err.msg);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *ct;
    wf_err err;

    if (size < 1)
        return 0;
    ct = (data[0] & 1) ? "application/json" : NULL;
    wf_err_init(&err);
    if (data[0] & 2) {
        prov_result r;
        if (codec_decode_result(dec, data + 1, size - 1, &r, &err) == 0)
            prov_result_fini(&r);
    } else {
        ws_event ev;
        if (codec_decode_event(dec, data + 1, size - 1, ct, &ev, &err) == 0)
            ws_event_fini(&ev);
    }
    return 0;
}
