# the whole pipeline, end to end
tw_node_test(e2e.pipeline integration/e2e.test.mjs TIMEOUT 120)
tw_node_test(web.dashboard web/dashboard.test.mjs TIMEOUT 240)
