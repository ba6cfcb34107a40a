# Data-sharing agreements (issue 16): two influxd, mosquitto, citygate; an
# outage of the regional database and a kill -9 of citygate.
cg_integration_test(share_agreement share_agreement.sh TIMEOUT 180 LABELS share)
