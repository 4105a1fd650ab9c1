// selftest.test.mjs -- the harness itself: a broker starts, carries a message, and stops
import { test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { startBroker } from './index.mjs';

test('private mosquitto carries a QoS 1 message and stops', async (t) => {
  const broker = await startBroker(t);
  const client = await mqtt.connectAsync(broker.url);
  t.after(() => client.endAsync());
  const got = new Promise((resolve) => client.on('message', (topic, p) => resolve([topic, p.toString()])));
  await client.subscribeAsync('selftest/#', { qos: 1 });
  await client.publishAsync('selftest/a', 'hello', { qos: 1 });
  assert.deepEqual(await got, ['selftest/a', 'hello']);
  await client.endAsync();
  await broker.stop();
  assert.throws(() => process.kill(broker.proc.pid, 0), /ESRCH/, 'mosquitto still running after stop');
});
