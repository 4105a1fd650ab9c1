# unit tests of transform/: records, the plugin loader, pipelines, the built-in plugins

# Small plugins that fail to load in each possible way, built beside the tests.
set(TW_TEST_PLUGIN_DIR ${PROJECT_BINARY_DIR}/tests/plugins)
foreach(p noentry badabi initfail probe)
  add_library(test_plugin_${p} MODULE test_transform_plugin_${p}.c)
  target_link_libraries(test_plugin_${p} PRIVATE tw_options)
  target_include_directories(test_plugin_${p} PRIVATE ${PROJECT_SOURCE_DIR}/transform/include)
  target_compile_options(test_plugin_${p} PRIVATE -fvisibility=hidden)
  set_target_properties(test_plugin_${p} PROPERTIES PREFIX "" OUTPUT_NAME ${p}
    LIBRARY_OUTPUT_DIRECTORY ${TW_TEST_PLUGIN_DIR})
endforeach()

# tw_transform_test(NAME): test_transform_NAME.c with both plugin dirs known
function(tw_transform_test name)
  tw_unit_test(transform_${name} SOURCES test_transform_${name}.c LIBS tw_transform)
  target_compile_definitions(test_transform_${name} PRIVATE
    TW_TEST_PLUGIN_DIR="${TW_TEST_PLUGIN_DIR}" TW_PLUGIN_DIR="${TW_PLUGIN_BUILD_DIR}")
  add_dependencies(test_transform_${name} tw_transform_plugins
    test_plugin_noentry test_plugin_badabi test_plugin_initfail test_plugin_probe)
endfunction()

tw_transform_test(record)
tw_transform_test(loader)
tw_transform_test(builtins)
tw_transform_test(pipeline)
tw_transform_test(moving_average)
tw_transform_test(threshold)
tw_transform_test(geofence)
tw_transform_test(rate_of_change)
tw_transform_test(downsample)
tw_transform_test(conflate)
tw_transform_test(example_scale)
# The example must appear in docs/plugins.md exactly as built.
target_compile_definitions(test_transform_example_scale PRIVATE
  TW_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
