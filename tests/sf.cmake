# Store-and-forward fault tests (issue 5): real mosquitto, influxd, citygate.
foreach(t sf_db_outage sf_kill9 sf_both sf_budget sf_two_outputs sf_live_first)
  cg_integration_test(${t} ${t}.sh TIMEOUT 240 LABELS sf)
endforeach()
