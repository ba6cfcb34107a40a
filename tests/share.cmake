# Data-sharing agreements (issue 16): two influxd, mosquitto, citygate; an
# outage of the regional database and a kill -9 of citygate.
cg_integration_test(share_agreement share_agreement.sh TIMEOUT 180 LABELS share)
# lp_parse.c and share.c: selection and privacy byte for byte, config errors,
# aggregation replayed from crash points inside sent windows.
cg_unit_test(test_share ${PROJECT_SOURCE_DIR}/tests/unit/test_share.c)
