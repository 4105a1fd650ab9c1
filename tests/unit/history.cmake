# unit tests of history/: the SQLite store in a real file in a temp dir, the encoding of a point's values, the query parameter parser,
# and the GET /api/history endpoint of push/ without HTTP
tw_unit_test(history_store SOURCES test_history_store.c LIBS tw_history tw_transform)
tw_unit_test(history_params SOURCES test_history_params.c LIBS tw_history)
tw_unit_test(history_query SOURCES test_history_query.c LIBS tw_history tw_transform SQLite::SQLite3 m)
if(TARGET tw_push)
  tw_unit_test(history_api SOURCES test_history_api.c LIBS tw_push tw_history tw_transform SQLite::SQLite3)
endif()
tw_unit_test(history_rollup SOURCES test_history_rollup.c LIBS tw_history tw_transform SQLite::SQLite3 m)
tw_unit_test(history_vals SOURCES test_history_vals.c LIBS tw_history SQLite::SQLite3)
target_include_directories(test_history_vals PRIVATE ${PROJECT_SOURCE_DIR}/history)
