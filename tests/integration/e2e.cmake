# the whole pipeline, end to end
tw_node_test(e2e.pipeline integration/e2e.test.mjs TIMEOUT 120)
