# the whole pipeline, end to end
tw_node_test(e2e.pipeline integration/e2e.test.mjs TIMEOUT 120)
tw_node_test(web.dashboard web/dashboard.test.mjs TIMEOUT 240)
# frame time of the dashboards, smoke mode (50 vehicles, a few seconds): the
# 1,000-vehicle figure is `node tests/web/frametime.mjs --build-dir DIR --out F.md`
add_test(NAME bench.frametime_smoke
  COMMAND ${NODE_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tests/web/frametime.mjs --build-dir ${PROJECT_BINARY_DIR}
    --smoke --out ${PROJECT_BINARY_DIR}/Testing/web/frametime-smoke.md
  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}/tests)
set_tests_properties(bench.frametime_smoke PROPERTIES TIMEOUT 120
  ENVIRONMENT "TW_BUILD_DIR=${PROJECT_BINARY_DIR};TW_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
  LABELS perf)
