/* citygate — InfluxDB output types: influxdb_v1 (POST /write) and influxdb_v2
 * (POST /api/v2/write). The engine (output.h) does batching, retries and
 * bisection; these are the protocol's pure parts, exposed for unit tests.
 *
 * Every HTTP status is classified explicitly (cg_influx_classify): 413 splits the
 * batch, 400/422 and other 4xx bisect it to isolate the poison lines (those go to
 * the dead-letter file), 401/403/404 keep the data and retry slowly and loudly,
 * 429/5xx/transport errors retry with exponential backoff + full jitter honouring
 * Retry-After. docs/outputs.md has the full table. */
#ifndef CG_OUTPUT_INFLUX_H
#define CG_OUTPUT_INFLUX_H

#include "buf.h"
#include "output.h"
#include <citygate/config.h>
#include <stddef.h>

/* The option table of both types (keys of outputs[i]). */
extern const struct cg_opt cg_influx_options[];

/* Status 0 means no HTTP answer (connection refused, timeout, TLS error):
 * 2xx OK; 413 SPLIT; 400, 422 and other 4xx REJECT; 401/403/404/407 and 3xx
 * HOLD; 408, 429, 5xx, 1xx, 0 RETRY. */
enum cg_output_verdict cg_influx_classify(long status);

/* gzip (RFC 1952) of in[0..len) appended to out at the given zlib level.
 * 0, -ENOBUFS / -ENOMEM from the buffer, or -EIO from zlib. */
int cg_influx_gzip(struct cg_buf *out, const void *in, size_t len, int level);

#endif
