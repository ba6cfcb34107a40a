/* HTTP status module: Prometheus text (exact, naming rules, escaping), JSON for
 * the status page, and the "http" config section's errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "http_status.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S(x) ((int64_t)(x) * 1000000000LL)
#define T0 S(1700000000)

/* One Modbus source with two devices, one output backing off. Healthy except
 * for the device that is down. */
static void fixture(struct cg_status *st)
{
    memset(st, 0, sizeof(*st));
    snprintf(st->gateway_id, sizeof(st->gateway_id), "cabinet-7");
    snprintf(st->version, sizeof(st->version), "0.1.0");
    st->started_ns = T0;
    st->now_ns = T0 + S(600);
    st->journal = (struct cg_journal_stats){.bytes = 2048, .lines = 20, .appended_lines = 5000, .refused = 0,
                                            .max_bytes = 65536};
    st->fields_nonfinite = 1;
    st->uint_clipped = 2;
    st->cpu_user_s = 1.5;
    st->cpu_system_s = 0.25;
    st->rss_bytes = 4096000;
    st->n_sources = 1;
    st->sources = calloc(1, sizeof(*st->sources));
    assert_non_null(st->sources);
    struct cg_status_source *s = &st->sources[0];
    snprintf(s->name, sizeof(s->name), "bus-north");
    snprintf(s->type, sizeof(s->type), "modbus");
    s->counters = (struct cg_sink_counters){.points_in = 4990, .points_rejected = 3, .points_refused = 0,
                                            .last_ns = T0 + S(599) + 250000000};
    snprintf(s->last_lines, sizeof(s->last_lines), "air_quality,district=north pm25=12.5 1700000599000000000\n");
    s->n_devices = 2;
    s->devices = calloc(2, sizeof(*s->devices));
    assert_non_null(s->devices);
    snprintf(s->devices[0].name, sizeof(s->devices[0].name), "airq-12");
    s->devices[0].up = true;
    s->devices[0].ok = 590;
    s->devices[0].failed = 2;
    s->devices[0].latency_ms = 12.5;
    s->devices[0].last_ok_ns = T0 + S(599);
    snprintf(s->devices[1].name, sizeof(s->devices[1].name), "meter \"B\"\\2\nx");
    s->devices[1].up = false;
    s->devices[1].failed = 7;
    s->devices[1].consecutive_failures = 7;
    s->devices[1].latency_ms = -1;
    snprintf(s->devices[1].last_error, sizeof(s->devices[1].last_error), "timeout after 1000 ms");
    st->n_outputs = 1;
    st->outputs = calloc(1, sizeof(*st->outputs));
    assert_non_null(st->outputs);
    struct cg_status_output *o = &st->outputs[0];
    snprintf(o->name, sizeof(o->name), "city-db");
    snprintf(o->url, sizeof(o->url), "http://10.0.0.5:8086");
    o->st = (struct cg_output_stats){.lines_sent = 4900, .batches_sent = 49, .requests = 60, .retries = 10,
                                     .lines_dead_lettered = 1, .bytes_sent = 123456, .journal_unread_lines = 20,
                                     .last_status = 204, .last_ok_ns = T0 + S(590), .up = true,
                                     .lines_filtered = 7, .lines_late = 1, .windows_sent = 2};
}

static const char expected_metrics[] =
    "# HELP citygate_build_info Version of citygate and the gateway id, as labels; always 1.\n"
    "# TYPE citygate_build_info gauge\n"
    "citygate_build_info{version=\"0.1.0\",gateway=\"cabinet-7\"} 1\n"
    "# HELP citygate_healthy 1 when /healthz says ok, 0 when degraded.\n"
    "# TYPE citygate_healthy gauge\n"
    "citygate_healthy 0\n"
    "# HELP citygate_clock_synchronized 1 when the system clock is synchronised (adjtimex), 0 when not; absent when "
    "not checked.\n"
    "# TYPE citygate_clock_synchronized gauge\n"
    "# HELP citygate_source_points_in_total Readings accepted into the buffer.\n"
    "# TYPE citygate_source_points_in_total counter\n"
    "citygate_source_points_in_total{source=\"bus-north\",type=\"modbus\"} 4990\n"
    "# HELP citygate_source_points_rejected_total Invalid readings rejected (bad names, no fields).\n"
    "# TYPE citygate_source_points_rejected_total counter\n"
    "citygate_source_points_rejected_total{source=\"bus-north\",type=\"modbus\"} 3\n"
    "# HELP citygate_source_points_refused_total Readings refused because the buffer stayed full.\n"
    "# TYPE citygate_source_points_refused_total counter\n"
    "citygate_source_points_refused_total{source=\"bus-north\",type=\"modbus\"} 0\n"
    "# HELP citygate_source_last_point_timestamp_seconds When the source last delivered a reading (0 = never).\n"
    "# TYPE citygate_source_last_point_timestamp_seconds gauge\n"
    "citygate_source_last_point_timestamp_seconds{source=\"bus-north\",type=\"modbus\"} 1700000599.250\n"
    "# HELP citygate_device_up 1 when the last poll or connection of the device succeeded.\n"
    "# TYPE citygate_device_up gauge\n"
    "citygate_device_up{source=\"bus-north\",device=\"airq-12\"} 1\n"
    "citygate_device_up{source=\"bus-north\",device=\"meter \\\"B\\\"\\\\2\\nx\"} 0\n"
    "# HELP citygate_device_quarantined 1 while the device is skipped after repeated failures.\n"
    "# TYPE citygate_device_quarantined gauge\n"
    "citygate_device_quarantined{source=\"bus-north\",device=\"airq-12\"} 0\n"
    "citygate_device_quarantined{source=\"bus-north\",device=\"meter \\\"B\\\"\\\\2\\nx\"} 0\n"
    "# HELP citygate_device_latency_seconds Duration of the last poll.\n"
    "# TYPE citygate_device_latency_seconds gauge\n"
    "citygate_device_latency_seconds{source=\"bus-north\",device=\"airq-12\"} 0.0125\n"
    "# HELP citygate_device_reads_total Successful polls or messages.\n"
    "# TYPE citygate_device_reads_total counter\n"
    "citygate_device_reads_total{source=\"bus-north\",device=\"airq-12\"} 590\n"
    "citygate_device_reads_total{source=\"bus-north\",device=\"meter \\\"B\\\"\\\\2\\nx\"} 0\n"
    "# HELP citygate_device_errors_total Failed polls or rejected messages.\n"
    "# TYPE citygate_device_errors_total counter\n"
    "citygate_device_errors_total{source=\"bus-north\",device=\"airq-12\"} 2\n"
    "citygate_device_errors_total{source=\"bus-north\",device=\"meter \\\"B\\\"\\\\2\\nx\"} 7\n"
    "# HELP citygate_device_consecutive_failures Failures since the last success.\n"
    "# TYPE citygate_device_consecutive_failures gauge\n"
    "citygate_device_consecutive_failures{source=\"bus-north\",device=\"airq-12\"} 0\n"
    "citygate_device_consecutive_failures{source=\"bus-north\",device=\"meter \\\"B\\\"\\\\2\\nx\"} 7\n"
    "# HELP citygate_device_stray_frames_total Late or stray frames discarded (Modbus).\n"
    "# TYPE citygate_device_stray_frames_total counter\n"
    "citygate_device_stray_frames_total{source=\"bus-north\",device=\"airq-12\"} 0\n"
    "citygate_device_stray_frames_total{source=\"bus-north\",device=\"meter \\\"B\\\"\\\\2\\nx\"} 0\n"
    "# HELP citygate_device_polls_skipped_total Polls skipped while the device's link was down.\n"
    "# TYPE citygate_device_polls_skipped_total counter\n"
    "citygate_device_polls_skipped_total{source=\"bus-north\",device=\"airq-12\"} 0\n"
    "citygate_device_polls_skipped_total{source=\"bus-north\",device=\"meter \\\"B\\\"\\\\2\\nx\"} 0\n"
    "# HELP citygate_device_last_success_timestamp_seconds When the device last answered (0 = never).\n"
    "# TYPE citygate_device_last_success_timestamp_seconds gauge\n"
    "citygate_device_last_success_timestamp_seconds{source=\"bus-north\",device=\"airq-12\"} 1700000599.000\n"
    "citygate_device_last_success_timestamp_seconds{source=\"bus-north\",device=\"meter \\\"B\\\"\\\\2\\nx\"} 0\n"
    "# HELP citygate_source_item_up 1 when a source's link (bus, TCP gateway, broker connection), subscription or "
    "rule works; label kind.\n"
    "# TYPE citygate_source_item_up gauge\n"
    "# HELP citygate_source_item_reads_total Successful polls or messages through the item.\n"
    "# TYPE citygate_source_item_reads_total counter\n"
    "# HELP citygate_source_item_errors_total Failed polls or rejected messages through the item.\n"
    "# TYPE citygate_source_item_errors_total counter\n"
    "# HELP citygate_source_item_consecutive_failures Failures since the item last worked.\n"
    "# TYPE citygate_source_item_consecutive_failures gauge\n"
    "# HELP citygate_source_item_last_success_timestamp_seconds When the item last worked (0 = never).\n"
    "# TYPE citygate_source_item_last_success_timestamp_seconds gauge\n"
    "# HELP citygate_output_up 1 when the last write got a 2xx answer.\n"
    "# TYPE citygate_output_up gauge\n"
    "citygate_output_up{output=\"city-db\"} 1\n"
    "# HELP citygate_output_last_status HTTP status of the last write (0 = no answer).\n"
    "# TYPE citygate_output_last_status gauge\n"
    "citygate_output_last_status{output=\"city-db\"} 204\n"
    "# HELP citygate_output_lines_sent_total Lines accepted by the database.\n"
    "# TYPE citygate_output_lines_sent_total counter\n"
    "citygate_output_lines_sent_total{output=\"city-db\"} 4900\n"
    "# HELP citygate_output_lines_dead_lettered_total Lines the database rejected, kept in the dead-letter file.\n"
    "# TYPE citygate_output_lines_dead_lettered_total counter\n"
    "citygate_output_lines_dead_lettered_total{output=\"city-db\"} 1\n"
    "# HELP citygate_output_lines_dropped_total Rejected lines that could not be kept (dead-letter file full).\n"
    "# TYPE citygate_output_lines_dropped_total counter\n"
    "citygate_output_lines_dropped_total{output=\"city-db\"} 0\n"
    "# HELP citygate_output_lines_lost_total Lines dropped by the buffer limit before this output took them.\n"
    "# TYPE citygate_output_lines_lost_total counter\n"
    "citygate_output_lines_lost_total{output=\"city-db\"} 0\n"
    "# HELP citygate_output_requests_total Write requests attempted.\n"
    "# TYPE citygate_output_requests_total counter\n"
    "citygate_output_requests_total{output=\"city-db\"} 60\n"
    "# HELP citygate_output_retries_total Write requests repeating a failed one.\n"
    "# TYPE citygate_output_retries_total counter\n"
    "citygate_output_retries_total{output=\"city-db\"} 10\n"
    "# HELP citygate_output_sent_bytes_total Request bytes accepted (after compression).\n"
    "# TYPE citygate_output_sent_bytes_total counter\n"
    "citygate_output_sent_bytes_total{output=\"city-db\"} 123456\n"
    "# HELP citygate_output_unsent_lines Lines waiting for this output.\n"
    "# TYPE citygate_output_unsent_lines gauge\n"
    "citygate_output_unsent_lines{output=\"city-db\"} 20\n"
    "# HELP citygate_output_dead_letter_bytes Size of the dead-letter file.\n"
    "# TYPE citygate_output_dead_letter_bytes gauge\n"
    "citygate_output_dead_letter_bytes{output=\"city-db\"} 0\n"
    "# HELP citygate_output_last_success_timestamp_seconds When the last write succeeded (0 = never).\n"
    "# TYPE citygate_output_last_success_timestamp_seconds gauge\n"
    "citygate_output_last_success_timestamp_seconds{output=\"city-db\"} 1700000590.000\n"
    "# HELP citygate_output_lines_filtered_total Lines the output's agreement does not select (not errors).\n"
    "# TYPE citygate_output_lines_filtered_total counter\n"
    "citygate_output_lines_filtered_total{output=\"city-db\"} 7\n"
    "# HELP citygate_output_agreement_refused_total Lines the agreement could not read (not line protocol of this "
    "encoder): not sent to this output.\n"
    "# TYPE citygate_output_agreement_refused_total counter\n"
    "citygate_output_agreement_refused_total{output=\"city-db\"} 0\n"
    "# HELP citygate_output_lines_late_total Lines for an aggregate window already sent: not sent.\n"
    "# TYPE citygate_output_lines_late_total counter\n"
    "citygate_output_lines_late_total{output=\"city-db\"} 1\n"
    "# HELP citygate_output_lines_series_limit_total Lines of series past aggregate.max_series: not sent.\n"
    "# TYPE citygate_output_lines_series_limit_total counter\n"
    "citygate_output_lines_series_limit_total{output=\"city-db\"} 0\n"
    "# HELP citygate_output_windows_sent_total Aggregate window lines the agreement emitted.\n"
    "# TYPE citygate_output_windows_sent_total counter\n"
    "citygate_output_windows_sent_total{output=\"city-db\"} 2\n"
    "# HELP citygate_output_lines_duplicate_total Readings repeated (same series and timestamp) in an open "
    "aggregate window: counted once.\n"
    "# TYPE citygate_output_lines_duplicate_total counter\n"
    "citygate_output_lines_duplicate_total{output=\"city-db\"} 0\n"
    "# HELP citygate_output_oldest_unsent_age_seconds Upper bound of how long the oldest waiting line has waited "
    "(0 = nothing waits).\n"
    "# TYPE citygate_output_oldest_unsent_age_seconds gauge\n"
    "citygate_output_oldest_unsent_age_seconds{output=\"city-db\"} 10\n"
    "# HELP citygate_journal_bytes Bytes of readings held in the buffer.\n"
    "# TYPE citygate_journal_bytes gauge\n"
    "citygate_journal_bytes 2048\n"
    "# HELP citygate_journal_lines Lines held in the buffer.\n"
    "# TYPE citygate_journal_lines gauge\n"
    "citygate_journal_lines 20\n"
    "# HELP citygate_journal_capacity_bytes Buffer size limit (gateway.buffer_max_bytes).\n"
    "# TYPE citygate_journal_capacity_bytes gauge\n"
    "citygate_journal_capacity_bytes 65536\n"
    "# HELP citygate_journal_appended_lines_total Lines appended to the buffer.\n"
    "# TYPE citygate_journal_appended_lines_total counter\n"
    "citygate_journal_appended_lines_total 5000\n"
    "# HELP citygate_journal_refused_total Appends refused because the buffer stayed full.\n"
    "# TYPE citygate_journal_refused_total counter\n"
    "citygate_journal_refused_total 0\n"
    "# HELP citygate_buffer_write_errors_total Disk buffer writes or syncs that failed (disk full, I/O error); the readings were held, not taken.\n"
    "# TYPE citygate_buffer_write_errors_total counter\n"
    "citygate_buffer_write_errors_total 0\n"
    "# HELP citygate_buffer_corrupt_records_total Damaged disk buffer records (or segment tails) skipped while reading; their lines count as lost.\n"
    "# TYPE citygate_buffer_corrupt_records_total counter\n"
    "citygate_buffer_corrupt_records_total 0\n"
    "# HELP citygate_fields_nonfinite_total Fields dropped for being NaN or infinite.\n"
    "# TYPE citygate_fields_nonfinite_total counter\n"
    "citygate_fields_nonfinite_total 1\n"
    "# HELP citygate_uint_clipped_total Unsigned values clipped to the signed 64-bit range.\n"
    "# TYPE citygate_uint_clipped_total counter\n"
    "citygate_uint_clipped_total 2\n"
    "# HELP citygate_discarded_total Readings, fields or tags not stored as they came, by cause (docs/reliability.md).\n"
    "# TYPE citygate_discarded_total counter\n"
    "# HELP citygate_unmapped_total Values written unchanged because the schema does not know their measurement or field name.\n"
    "# TYPE citygate_unmapped_total counter\n"
    "# HELP process_cpu_seconds_total User and system CPU time spent.\n"
    "# TYPE process_cpu_seconds_total counter\n"
    "process_cpu_seconds_total 1.75\n"
    "# HELP process_resident_memory_bytes Resident memory size.\n"
    "# TYPE process_resident_memory_bytes gauge\n"
    "process_resident_memory_bytes 4096000\n"
    "# HELP process_start_time_seconds Start time of the process since the Unix epoch.\n"
    "# TYPE process_start_time_seconds gauge\n"
    "process_start_time_seconds 1700000000.000\n";

static void test_metrics_exact(void **state)
{
    struct cg_status st;
    struct cg_buf b;
    fixture(&st);
    cg_buf_init(&b, 1 << 20);
    assert_int_equal(cg_http_render_metrics(&st, &b), 0);
    if (strcmp(b.data, expected_metrics) != 0) {
        print_error("%s", b.data);
    }
    assert_string_equal(b.data, expected_metrics);
    cg_buf_done(&b);
    cg_status_done(&st);
}

/* The exposition rules a scraper relies on, checked line by line so new
 * families cannot break them: one HELP+TYPE per family before its samples,
 * our names prefixed, counters end in _total, every sample has a value. */
static void test_metrics_naming(void **state)
{
    struct cg_status st;
    struct cg_buf b;
    fixture(&st);
    cg_buf_init(&b, 1 << 20);
    assert_int_equal(cg_http_render_metrics(&st, &b), 0);
    char families[128][96];
    size_t nf = 0;
    char cur[96] = "", type[16] = "";
    char *save = NULL;
    for (char *line = strtok_r(b.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[96];
        if (strncmp(line, "# HELP ", 7) == 0) {
            assert_int_equal(sscanf(line + 7, "%95s", name), 1);
            for (size_t i = 0; i < nf; i++) {
                if (strcmp(families[i], name) == 0) {
                    fail_msg("family %s appears twice", name);
                }
            }
            assert_true(nf < 128);
            snprintf(families[nf++], sizeof(families[0]), "%s", name);
            snprintf(cur, sizeof(cur), "%s", name);
            type[0] = '\0';
            assert_true(strncmp(name, "citygate_", 9) == 0 || strncmp(name, "process_", 8) == 0);
            continue;
        }
        if (strncmp(line, "# TYPE ", 7) == 0) {
            assert_int_equal(sscanf(line + 7, "%95s %15s", name, type), 2);
            assert_string_equal(name, cur);
            size_t l = strlen(name);
            if (strcmp(type, "counter") == 0) {
                assert_true(l > 6 && strcmp(name + l - 6, "_total") == 0);
            } else {
                assert_string_equal(type, "gauge");
                assert_false(l > 6 && strcmp(name + l - 6, "_total") == 0);
            }
            continue;
        }
        assert_true(line[0] != '#');
        size_t l = strcspn(line, "{ ");
        assert_true(l == strlen(cur) && strncmp(line, cur, l) == 0);
        assert_true(type[0] != '\0');
        const char *v = strrchr(line, ' ');
        assert_non_null(v);
        char *end = NULL;
        strtod(v + 1, &end);
        assert_true(*end == '\0' && end != v + 1);
    }
    assert_true(nf >= 30);
    cg_buf_done(&b);
    cg_status_done(&st);
}

static void test_prom_escape(void **state)
{
    struct cg_buf b;
    cg_buf_init(&b, 64);
    assert_int_equal(cg_http_prom_escape(&b, "a\"b\\c\nd e{}"), 0);
    assert_string_equal(b.data, "a\\\"b\\\\c\\nd e{}");
    cg_buf_reset(&b);
    /* bounded: the buffer's limit is an error, not an overflow */
    char big[200];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(cg_http_prom_escape(&b, big), -ENOBUFS);
    cg_buf_done(&b);
}

static void test_metrics_too_big(void **state)
{
    struct cg_status st;
    struct cg_buf b;
    fixture(&st);
    cg_buf_init(&b, 1000);
    assert_int_equal(cg_http_render_metrics(&st, &b), -ENOBUFS);
    cg_buf_done(&b);
    cg_status_done(&st);
}

static void test_metrics_empty(void **state)
{
    struct cg_status st;
    struct cg_buf b;
    memset(&st, 0, sizeof(st));
    cg_buf_init(&b, 1 << 20);
    assert_int_equal(cg_http_render_metrics(&st, &b), 0);
    assert_non_null(strstr(b.data, "citygate_healthy 1\n"));
    assert_non_null(strstr(b.data, "# TYPE citygate_output_up gauge\n# HELP"));
    cg_buf_done(&b);
}

static void test_json(void **state)
{
    struct cg_status st;
    struct cg_buf b;
    fixture(&st);
    cg_buf_init(&b, 1 << 20);
    assert_int_equal(cg_http_render_json(&st, &b), 0);
    cJSON *j = cJSON_Parse(b.data);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "gateway_id")->valuestring, "cabinet-7");
    assert_string_equal(cJSON_GetObjectItem(j, "health")->valuestring, "degraded");
    assert_int_equal(cJSON_GetObjectItem(j, "uptime_s")->valuedouble, 600);
    cJSON *reasons = cJSON_GetObjectItem(j, "reasons");
    assert_int_equal(cJSON_GetArraySize(reasons), 1);
    assert_string_equal(cJSON_GetArrayItem(reasons, 0)->valuestring,
                        "device bus-north/meter \"B\"\\2 x down: timeout after 1000 ms");
    cJSON *buf = cJSON_GetObjectItem(j, "buffer");
    assert_true(cJSON_GetObjectItem(buf, "used_pct")->valuedouble == 3.1);
    cJSON *src = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "sources"), 0);
    assert_string_equal(cJSON_GetObjectItem(src, "name")->valuestring, "bus-north");
    assert_true(cJSON_GetObjectItem(src, "last_point_age_s")->valuedouble == 0.7);
    assert_non_null(strstr(cJSON_GetObjectItem(src, "last_lines")->valuestring, "pm25=12.5"));
    cJSON *devs = cJSON_GetObjectItem(src, "devices");
    assert_int_equal(cJSON_GetArraySize(devs), 2);
    cJSON *d0 = cJSON_GetArrayItem(devs, 0), *d1 = cJSON_GetArrayItem(devs, 1);
    assert_string_equal(cJSON_GetObjectItem(d0, "state")->valuestring, "up");
    assert_true(cJSON_GetObjectItem(d0, "latency_ms")->valuedouble == 12.5);
    assert_true(cJSON_GetObjectItem(d0, "last_ok_age_s")->valuedouble == 1.0);
    assert_string_equal(cJSON_GetObjectItem(d1, "state")->valuestring, "down");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(d1, "latency_ms")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(d1, "last_ok_age_s")));
    assert_string_equal(cJSON_GetObjectItem(d1, "last_error")->valuestring, "timeout after 1000 ms");
    cJSON *o = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "outputs"), 0);
    assert_string_equal(cJSON_GetObjectItem(o, "state")->valuestring, "up");
    assert_int_equal(cJSON_GetObjectItem(o, "unsent_lines")->valueint, 20);
    assert_int_equal(cJSON_GetObjectItem(o, "oldest_unsent_s")->valueint, 10);
    assert_int_equal(cJSON_GetObjectItem(o, "last_status")->valueint, 204);
    cJSON_Delete(j);
    cg_buf_done(&b);
    cg_status_done(&st);
}

/* ---- config ------------------------------------------------------------- */

static void expect_conf(const char *json, int want_rc, const char *const *want)
{
    cJSON *o = json ? cJSON_Parse(json) : NULL;
    struct cg_http_conf *c = NULL;
    struct cg_errs e = {0};
    int rc = cg_http_conf_parse(o, "http", &c, &e);
    size_t n = 0;
    while (want && want[n]) {
        n++;
    }
    if (e.n != n) {
        for (size_t i = 0; i < e.n; i++) {
            print_error("got: %s\n", e.msg[i]);
        }
        fail_msg("json %s: %zu errors, want %zu", json ? json : "(null)", e.n, n);
    }
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(e.msg[i], want[i]);
    }
    assert_int_equal(rc, want_rc);
    if (rc == 0) {
        assert_non_null(c);
    } else {
        assert_null(c);
    }
    cg_http_conf_free(c);
    cg_errs_done(&e);
    cJSON_Delete(o);
}

/* An unsynchronised clock: gauge 0, degraded with the reason (or a note when
 * ignored), status.json's clock object. */
static void test_clock(void **state)
{
    (void)state;
    struct cg_status st;
    struct cg_buf b;
    char reasons[1024], notes[256];
    fixture(&st);
    st.sources[0].devices[1].up = true; /* healthy but for the clock */
    assert_true(cg_status_healthy(&st, reasons, sizeof(reasons)));
    st.clock = CG_STATUS_CLOCK_UNSYNCED;
    assert_false(cg_status_healthy(&st, reasons, sizeof(reasons)));
    assert_string_equal(reasons, "system clock not synchronised (adjtimex); timestamps may be wrong, readings are "
                                 "marked quality=unsynced_clock\n");
    cg_status_notes(&st, notes, sizeof(notes));
    assert_string_equal(notes, "");
    cg_buf_init(&b, 1 << 20);
    assert_int_equal(cg_http_render_metrics(&st, &b), 0);
    assert_non_null(strstr(b.data, "\ncitygate_clock_synchronized 0\n"));
    assert_non_null(strstr(b.data, "\ncitygate_healthy 0\n"));
    cg_buf_done(&b);
    st.clock_ignored = true;
    assert_true(cg_status_healthy(&st, reasons, sizeof(reasons)));
    cg_status_notes(&st, notes, sizeof(notes));
    assert_string_equal(notes, "system clock not synchronised (adjtimex); ignored by gateway.unsynced_clock\n");
    cg_buf_init(&b, 1 << 20);
    assert_int_equal(cg_http_render_json(&st, &b), 0);
    cJSON *j = cJSON_Parse(b.data);
    assert_non_null(j);
    cJSON *ck = cJSON_GetObjectItem(j, "clock");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(ck, "checked")));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(ck, "synchronized")));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(ck, "affects_health")));
    cJSON_Delete(j);
    cg_buf_done(&b);
    st.clock = CG_STATUS_CLOCK_SYNCED;
    cg_buf_init(&b, 1 << 20);
    assert_int_equal(cg_http_render_metrics(&st, &b), 0);
    assert_non_null(strstr(b.data, "\ncitygate_clock_synchronized 1\n"));
    cg_buf_done(&b);
    cg_status_done(&st);
}

/* One log line per change: unsynced at start, synced again, nothing while
 * unchanged or unchecked, nothing for "synced from the start". */
static void test_clock_transition(void **state)
{
    (void)state;
    enum cg_status_clock last = CG_STATUS_CLOCK_UNCHECKED;
    enum cg_log_level lvl = CG_LOG_DEBUG;
    assert_null(cg_status_clock_transition(&last, CG_STATUS_CLOCK_UNCHECKED, false, &lvl));
    assert_null(cg_status_clock_transition(&last, CG_STATUS_CLOCK_SYNCED, false, &lvl));
    assert_int_equal(last, CG_STATUS_CLOCK_SYNCED);
    assert_null(cg_status_clock_transition(&last, CG_STATUS_CLOCK_SYNCED, false, &lvl));
    const char *m = cg_status_clock_transition(&last, CG_STATUS_CLOCK_UNSYNCED, false, &lvl);
    assert_string_equal(m, "system clock not synchronised (adjtimex): readings are marked quality=unsynced_clock; "
                           "/healthz says degraded until it is");
    assert_int_equal(lvl, CG_LOG_WARN);
    assert_null(cg_status_clock_transition(&last, CG_STATUS_CLOCK_UNSYNCED, false, &lvl));
    assert_null(cg_status_clock_transition(&last, CG_STATUS_CLOCK_UNCHECKED, false, &lvl)); /* probe failed */
    m = cg_status_clock_transition(&last, CG_STATUS_CLOCK_SYNCED, false, &lvl);
    assert_string_equal(m, "system clock synchronised again");
    assert_int_equal(lvl, CG_LOG_INFO);
    m = cg_status_clock_transition(&last, CG_STATUS_CLOCK_UNSYNCED, true, &lvl);
    assert_string_equal(m, "system clock not synchronised (adjtimex): readings are marked quality=unsynced_clock; "
                           "/healthz stays ok (gateway.unsynced_clock: ignore)");
}

/* Items that are not devices (a bus, a subscription, a rule) stay out of the
 * device families and carry their kind; a link that is down says "link". */
static void test_item_kinds(void **state)
{
    (void)state;
    struct cg_status st;
    struct cg_buf b;
    char reasons[1024];
    fixture(&st);
    struct cg_status_device *d = &st.sources[0].devices[1];
    snprintf(d->name, sizeof(d->name), "rtu:/dev/ttyUSB0");
    d->kind = CG_HEALTH_LINK;
    assert_false(cg_status_healthy(&st, reasons, sizeof(reasons)));
    assert_string_equal(reasons, "link bus-north/rtu:/dev/ttyUSB0 down: timeout after 1000 ms\n");
    d->kind = CG_HEALTH_SUBSCRIPTION;
    snprintf(d->name, sizeof(d->name), "subscription t/#");
    assert_false(cg_status_healthy(&st, reasons, sizeof(reasons)));
    assert_string_equal(reasons, "bus-north/subscription t/# down: timeout after 1000 ms\n");
    cg_buf_init(&b, 1 << 20);
    assert_int_equal(cg_http_render_metrics(&st, &b), 0);
    assert_null(strstr(b.data, "device=\"subscription t/#\""));
    assert_non_null(strstr(b.data, "\ncitygate_device_up{source=\"bus-north\",device=\"airq-12\"} 1\n"));
    assert_non_null(strstr(b.data, "\ncitygate_source_item_up{source=\"bus-north\",item=\"subscription t/#\","
                                   "kind=\"subscription\"} 0\n"));
    assert_non_null(strstr(b.data, "\ncitygate_source_item_errors_total{source=\"bus-north\",item=\"subscription "
                                   "t/#\",kind=\"subscription\"} 7\n"));
    cg_buf_done(&b);
    cg_buf_init(&b, 1 << 20);
    assert_int_equal(cg_http_render_json(&st, &b), 0);
    assert_non_null(strstr(b.data, "\"name\":\"airq-12\",\"kind\":\"device\""));
    assert_non_null(strstr(b.data, "\"name\":\"subscription t/#\",\"kind\":\"subscription\""));
    cg_buf_done(&b);
    assert_string_equal(cg_status_kind_name(CG_HEALTH_RULE), "rule");
    cg_status_done(&st);
}

static void test_conf_defaults(void **state)
{
    struct cg_http_conf *c = NULL;
    struct cg_errs e = {0};
    assert_int_equal(cg_http_conf_parse(NULL, "http", &c, &e), 0);
    assert_string_equal(c->listen, "127.0.0.1:9273");
    assert_true(c->enabled && c->loopback && cg_http_conf_enabled(c));
    assert_null(c->token);
    assert_int_equal(c->max_connections, 64);
    assert_int_equal(c->max_connections_per_client, 8);
    assert_int_equal(c->timeout_s, 10);
    cg_http_conf_free(c);
    cg_http_conf_free(NULL);
}

static void test_conf_ok(void **state)
{
    expect_conf("{\"listen\":\"[::1]:9000\"}", 0, NULL);
    expect_conf("{\"listen\":\"localhost:0\"}", 0, NULL);
    expect_conf("{\"listen\":\"\"}", 0, NULL);
    expect_conf("{\"enabled\":false,\"listen\":\"0.0.0.0:80\"}", 0, NULL);
    expect_conf("{\"listen\":\"0.0.0.0:9273\",\"token\":\"s3cret\"}", 0, NULL);
    expect_conf("{\"listen\":\"[::]:9273\",\"username\":\"tech\",\"password\":\"pw\"}", 0, NULL);
}

static void test_conf_errors(void **state)
{
    expect_conf("{\"listen\":\"0.0.0.0:9273\"}", -EINVAL,
                (const char *const[]){"http.listen: '0.0.0.0:9273' is not a loopback address: set token (or "
                                      "token_file) or username and password, so metrics and status are not open "
                                      "to the network",
                                      NULL});
    expect_conf("{\"listen\":\"[::]:1\"}", -EINVAL,
                (const char *const[]){"http.listen: '[::]:1' is not a loopback address: set token (or "
                                      "token_file) or username and password, so metrics and status are not open "
                                      "to the network",
                                      NULL});
    expect_conf("{\"listen\":\"127.0.0.1\"}", -EINVAL,
                (const char *const[]){"http.listen: must be IPv4:PORT, [IPv6]:PORT or localhost:PORT (numeric "
                                      "address, port 0..65535); got '127.0.0.1'",
                                      NULL});
    expect_conf("{\"listen\":\"example.org:80\"}", -EINVAL,
                (const char *const[]){"http.listen: must be IPv4:PORT, [IPv6]:PORT or localhost:PORT (numeric "
                                      "address, port 0..65535); got 'example.org:80'",
                                      NULL});
    expect_conf("{\"listen\":\"127.0.0.1:70000\"}", -EINVAL,
                (const char *const[]){"http.listen: must be IPv4:PORT, [IPv6]:PORT or localhost:PORT (numeric "
                                      "address, port 0..65535); got '127.0.0.1:70000'",
                                      NULL});
    expect_conf("{\"username\":\"tech\"}", -EINVAL,
                (const char *const[]){"http.password: missing: basic auth needs both username and password", NULL});
    expect_conf("{\"lisen\":\"127.0.0.1:1\",\"max_connections\":0}", -EINVAL,
                (const char *const[]){"http.lisen: unknown key (did you mean 'listen'?)",
                                      "http.max_connections: must be 2..1024, got 0", NULL});
    expect_conf("{\"max_connections\":8,\"max_connections_per_client\":8}", -EINVAL,
                (const char *const[]){"http.max_connections_per_client: must be below max_connections (8), got 8: "
                                      "one client could then take every connection",
                                      NULL});
    /* An empty secret is not "no authentication": Authorization: Bearer (empty)
     * would match it. */
    expect_conf("{\"token\":\"\"}", -EINVAL,
                (const char *const[]){"http.token: must not be empty; leave the key out for none", NULL});
    expect_conf("{\"username\":\"tech\",\"password\":\"\"}", -EINVAL,
                (const char *const[]){"http.password: must not be empty; leave the key out for none", NULL});
    expect_conf("{\"username\":\"\",\"password\":\"pw\"}", -EINVAL,
                (const char *const[]){"http.username: must not be empty; leave username and password out for none",
                                      NULL});
    expect_conf("{\"token\":\"a\",\"token_file\":\"/nonexistent\"}", -EINVAL,
                (const char *const[]){"http.token_file: give either token or token_file, not both", NULL});
    expect_conf("[1]", -EINVAL, (const char *const[]){"http: must be an object", NULL});
}

static void test_conf_token_file(void **state)
{
    char path[] = "/tmp/cg_http_tokXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "t0k\n", 4), 4);
    close(fd);
    char json[256];
    snprintf(json, sizeof(json), "{\"listen\":\"0.0.0.0:9273\",\"token_file\":\"%s\"}", path);
    cJSON *o = cJSON_Parse(json);
    struct cg_http_conf *c = NULL;
    struct cg_errs e = {0};
    assert_int_equal(cg_http_conf_parse(o, "http", &c, &e), 0);
    assert_string_equal(c->token, "t0k");
    assert_false(c->loopback);
    cg_http_conf_free(c);
    cJSON_Delete(o);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_exact), cmocka_unit_test(test_metrics_naming),
        cmocka_unit_test(test_prom_escape),   cmocka_unit_test(test_metrics_too_big),
        cmocka_unit_test(test_metrics_empty), cmocka_unit_test(test_json),
        cmocka_unit_test(test_conf_defaults), cmocka_unit_test(test_conf_ok),
        cmocka_unit_test(test_conf_errors),   cmocka_unit_test(test_conf_token_file),
        cmocka_unit_test(test_clock),         cmocka_unit_test(test_clock_transition),
        cmocka_unit_test(test_item_kinds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
