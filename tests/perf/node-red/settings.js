// settings.js -- Node-RED as a benchmark peer: runtime only, on loopback, quiet
//
// scripts/lib/bench-e2e.sh starts it as
//   NODE_RED_PORT=P NODE_RED_USER_DIR=DIR MQTT_PORT=M \
//     node node_modules/node-red/red.js --settings settings.js
// with a copy of flows.json in DIR.
// What Node-RED's documentation offers for a lean runtime: no editor and no
// admin API, no projects, no palette installs, logging at warn without
// metrics or audit events, in-memory context, no diagnostics endpoint.
module.exports = {
	uiHost: '127.0.0.1',
	uiPort: Number(process.env.NODE_RED_PORT || 1880),
	userDir: process.env.NODE_RED_USER_DIR,
	flowFile: 'flows.json',
	flowFilePretty: false,
	credentialSecret: false,
	httpAdminRoot: false,
	httpNodeRoot: '/',
	disableEditor: true,
	editorTheme: { projects: { enabled: false } },
	externalModules: { autoInstall: false, palette: { allowInstall: false } },
	functionExternalModules: false,
	contextStorage: { default: { module: 'memory' } },
	logging: { console: { level: 'warn', metrics: false, audit: false } },
	diagnostics: { enabled: false, ui: false },
	runtimeState: { enabled: false, ui: false },
	telemetry: { enabled: false }
};
