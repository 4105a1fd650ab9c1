# common: options and config, host:port, errors, the MQTT client against a real broker
tw_unit_test(common_opts SOURCES test_common_opts.c LIBS tw_common)
tw_unit_test(common_mqtt SOURCES test_common_mqtt.c LIBS tw_common)
set_tests_properties(unit.common_mqtt PROPERTIES LABELS "unit;broker")
