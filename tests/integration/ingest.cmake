# telewire-ingest against a real mosquitto, with history in a temp dir
tw_node_test(integration.ingest integration/ingest.test.mjs TIMEOUT 120)
