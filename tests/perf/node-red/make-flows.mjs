// make-flows.mjs -- writes flows.json: Node-RED doing ingest's end-to-end job for scripts/lib/bench-e2e.sh
//
//   node tests/perf/node-red/make-flows.mjs > tests/perf/node-red/flows.json
//
// mqtt in (devices/+/telemetry, QoS 1, parsed JSON) -> one function (the
// three calculations of the benchmark's ingest route) -> a websocket out
// per group, listening on /ws/g0 .. /ws/g99. A device goes to the group of
// the last two digits of its id, as the benchmark's ingest routes send
// bench-???NN to the hub group gNN, so both deliver each message to the
// same clients of ws_swarm (connection i joins g(i % 100)).
// The broker's port comes from the environment (MQTT_PORT) when the flow
// starts.

const GROUPS = 100;

// The function node's body. It mirrors the route: unit_convert (speed km/h
// to mph into speed_mph), moving_average (speed over the last 10 values per
// device into speed_avg) and threshold (temp above 30 raises, back below 29
// clears, per device), then builds the record the hub would send. The
// device state lives in a Map in the node's memory context, which returns
// the same object every time (no copy per message).
const func = `let devices = context.get('devices');
if (!devices) {
	devices = new Map();
	context.set('devices', devices);
}
const topic = msg.topic;
const device = topic.slice(8, topic.length - 10);
const v = msg.payload;
let d = devices.get(device);
if (!d) {
	d = { speeds: [], sum: 0, hot: false };
	devices.set(device, d);
}
const values = { temp: v.temp, speed: v.speed, t: v.t };
if (typeof v.speed === 'number') {
	values.speed_mph = v.speed / 1.609344;
	d.speeds.push(v.speed);
	d.sum += v.speed;
	if (d.speeds.length > 10)
		d.sum -= d.speeds.shift();
	values.speed_avg = d.sum / d.speeds.length;
}
if (typeof v.temp === 'number') {
	if (!d.hot && v.temp > 30)
		d.hot = true;
	else if (d.hot && v.temp < 29)
		d.hot = false;
	values.temp_alert = d.hot;
}
const out = new Array(${GROUPS}).fill(null);
out[Number(device.slice(-2)) % ${GROUPS}] = {
	payload: JSON.stringify({ device: device, ts: v.ts, seq: v.seq, values: values })
};
return out;
`;

const nodes = [
	{ id: 'bench-tab', type: 'tab', label: 'telewire end-to-end peer', disabled: false, info: '' },
	{
		id: 'bench-broker', type: 'mqtt-broker', name: 'bench broker', broker: '127.0.0.1',
		port: '${MQTT_PORT}', clientid: 'node-red-bench', autoConnect: true, usetls: false,
		protocolVersion: '4', keepalive: '60', cleansession: true, autoUnsubscribe: true,
		birthTopic: '', closeTopic: '', willTopic: ''
	},
	{
		id: 'bench-in', type: 'mqtt in', z: 'bench-tab', name: 'telemetry',
		topic: 'devices/+/telemetry', qos: '1', datatype: 'json', broker: 'bench-broker',
		nl: false, rap: true, rh: 0, inputs: 0, x: 120, y: 100, wires: [['bench-calc']]
	},
	{
		id: 'bench-calc', type: 'function', z: 'bench-tab', name: 'three calculations',
		func, outputs: GROUPS, timeout: 0, noerr: 0, initialize: '', finalize: '', libs: [],
		x: 340, y: 100, wires: []
	}
];
for (let g = 0; g < GROUPS; g++) {
	nodes[3].wires.push([`bench-out-${g}`]);
	nodes.push({
		id: `bench-ws-${g}`, type: 'websocket-listener', path: `/ws/g${g}`, wholemsg: 'false'
	});
	nodes.push({
		id: `bench-out-${g}`, type: 'websocket out', z: 'bench-tab', name: `g${g}`,
		server: `bench-ws-${g}`, client: '', x: 560, y: 40 + 20 * g, wires: []
	});
}
process.stdout.write(JSON.stringify(nodes, null, 1) + '\n');
