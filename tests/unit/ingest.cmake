# unit tests of ingest/: the payload decoder, envelopes, the result queue, the journal, routes
tw_unit_test(ingest_decode SOURCES test_ingest_decode.c LIBS tw_ingest_core)
tw_unit_test(ingest_envelope SOURCES test_ingest_envelope.c LIBS tw_ingest_core)
tw_unit_test(ingest_queue SOURCES test_ingest_queue.c LIBS tw_ingest_core)
tw_unit_test(ingest_journal SOURCES test_ingest_journal.c LIBS tw_ingest_core)
tw_unit_test(ingest_routes SOURCES test_ingest_routes.c LIBS tw_ingest_core)
target_compile_definitions(test_ingest_routes PRIVATE
  TW_TEST_PLUGIN_DIR="${PROJECT_BINARY_DIR}/tests/plugins" TW_PLUGIN_DIR="${TW_PLUGIN_BUILD_DIR}")
add_dependencies(test_ingest_routes tw_transform_plugins test_plugin_probe)
