# the harness itself
tw_node_test(harness.selftest harness/selftest.test.mjs TIMEOUT 60)
tw_node_test(integration.docs integration/docs.test.mjs TIMEOUT 60)
