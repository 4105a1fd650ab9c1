# push -- telewire-hub against a private mosquitto, driven by the official SignalR client and raw WebSockets
tw_node_test(integration.hub integration/hub.test.mjs TIMEOUT 180)
tw_node_test(integration.rest integration/rest.test.mjs TIMEOUT 180)
tw_node_test(integration.auth integration/auth.test.mjs TIMEOUT 120)
tw_node_test(conformance.signalr conformance/signalr.test.mjs TIMEOUT 300)
tw_node_test(integration.transports integration/transports.test.mjs TIMEOUT 240)
