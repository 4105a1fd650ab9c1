# telewire-ingest against a real mosquitto, with history in a temp dir
tw_node_test(integration.ingest integration/ingest.test.mjs TIMEOUT 120)
tw_node_test(integration.metrics integration/metrics.test.mjs TIMEOUT 60)
tw_node_test(integration.history integration/history.test.mjs TIMEOUT 120)
tw_node_test(integration.ingest_delivery integration/ingest_delivery.test.mjs TIMEOUT 300)
