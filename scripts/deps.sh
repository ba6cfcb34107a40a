# citygate — install what building and testing need, from Debian 12 packages.
# Sourced by scripts/test, scripts/demo and scripts/bench. Installs only what is
# missing, so a second run costs a dpkg query and nothing else.
CG_PACKAGES=(
    cmake gcc make pkg-config ca-certificates curl openssl
    libmodbus-dev libpaho-mqtt-dev libcurl4-openssl-dev libcjson-dev zlib1g-dev
    libsystemd-dev libmicrohttpd-dev libssl-dev libcmocka-dev
    systemd man-db dpkg-dev adduser chromium fonts-dejavu-core
    mosquitto mosquitto-clients influxdb victoria-metrics socat
    python3 python3-pymodbus python3-serial-asyncio python3-jsonschema
)

cg_install_deps() {
    local missing=() p
    for p in "${CG_PACKAGES[@]}" "$@"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$p")
        fi
    done
    if [ ${#missing[@]} -eq 0 ]; then
        return 0
    fi
    echo "citygate: installing ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then
        echo "citygate: need root to install packages (run as root, or install them: apt-get install ${missing[*]})" >&2
        return 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    # Debian starts some daemons on install where systemd runs; our tests start
    # their own on free ports, so the system ones are not needed.
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}
