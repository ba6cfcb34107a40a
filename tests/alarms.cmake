# Alarm rules and the emergency lane (issue 16): real mosquitto, influxd, citygate.
foreach(t alarm_rules alarm_backlog alarm_kill9 alarm_demo alarm_agreement)
  if(EXISTS ${PROJECT_SOURCE_DIR}/tests/integration/${t}.sh)
    cg_integration_test(${t} ${t}.sh TIMEOUT 120 LABELS alarms)
  endif()
endforeach()
cg_unit_test(test_alarm ${PROJECT_SOURCE_DIR}/tests/unit/test_alarm.c)
