/* citygate — the broker URL rules of every MQTT connection (the MQTT source
 * and the MQTT uplink output): one reader, so both accept and refuse the same
 * URLs with the same messages. */
#ifndef CITYGATE_MQTT_URL_H
#define CITYGATE_MQTT_URL_H

#include <citygate/config.h>
#include <stdbool.h>

/* url: tcp:// mqtt:// ssl:// mqtts:// host[:port], nothing after the host.
 * On success *paho_url is Paho's form (tcp:// or ssl://, default port 1883 /
 * 8883 added; caller frees) and 0 is returned. *ssl is set from the scheme
 * whether or not the rest is valid (the tls checks use it). Otherwise an
 * error naming path is added to errs (a URL with user:password@ is never
 * echoed) and -EINVAL (or -ENOMEM) is returned, *paho_url left NULL. */
int cg_mqtt_broker_url(const char *url, const char *path, char **paho_url, bool *ssl, struct cg_errs *errs);

#endif
