/* citygate — MQTT broker URLs (see citygate/mqtt_url.h). */
#include <citygate/mqtt_url.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

int cg_mqtt_broker_url(const char *url, const char *path, char **paho_url, bool *ssl, struct cg_errs *errs)
{
    const char *rest = NULL;
    *paho_url = NULL;
    if (strncmp(url, "tcp://", 6) == 0 || strncmp(url, "mqtt://", 7) == 0) {
        rest = strchr(url, '/') + 2;
    } else if (strncmp(url, "ssl://", 6) == 0 || strncmp(url, "mqtts://", 8) == 0) {
        rest = strchr(url, '/') + 2;
        *ssl = true;
    }
    size_t hostlen = rest ? strcspn(rest, "/?#") : 0;
    if (rest != NULL && memchr(rest, '@', hostlen) != NULL) {
        /* Never echo the URL: the part before '@' is a password. */
        cg_errs_add(errs, path,
                    "must not contain credentials (user:password@): use the username and password "
                    "(or password_file) keys");
        return -EINVAL;
    }
    if (rest == NULL || rest[0] == '\0' || rest[0] == ':' || rest[hostlen] != '\0') {
        cg_errs_add(errs, path, "must be tcp://host[:port] or ssl://host[:port] (mqtt://, mqtts://), got '%s'", url);
        return -EINVAL;
    }
    bool has_port = strrchr(rest, ':') != NULL && strrchr(rest, ']') < strrchr(rest, ':');
    if (asprintf(paho_url, "%s://%s%s", *ssl ? "ssl" : "tcp", rest, has_port ? "" : (*ssl ? ":8883" : ":1883")) < 0) {
        *paho_url = NULL;
        cg_errs_add(errs, path, "out of memory");
        return -ENOMEM;
    }
    return 0;
}
