# the harness itself
tw_node_test(harness.selftest harness/selftest.test.mjs TIMEOUT 60)
