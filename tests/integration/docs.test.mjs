// docs.test.mjs -- docs/config.md documents every long flag that each binary's --help lists
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, ROOT } from '../harness/index.mjs';

const DOC = path.join(ROOT, 'docs', 'config.md');
const BINARIES = ['telewire-hub', 'telewire-ingest', 'telewire-sim', 'telewire-history'];

/** The long flags an option line of --help starts with, in order, without duplicates. */
function helpFlags(name) {
  const r = spawnSync(path.join(BIN, name), ['--help'], { encoding: 'utf8', timeout: 10000 });
  assert.equal(r.error, undefined, `${name} --help could not run: ${r.error?.message}`);
  assert.equal(r.status, 0, `${name} --help exited with ${r.status}:\n${r.stdout}${r.stderr}`);
  const flags = [...r.stdout.matchAll(/^\s+(--[A-Za-z0-9][A-Za-z0-9-]*)/gm)].map((m) => m[1]);
  assert.ok(flags.length > 0, `${name} --help lists no flags:\n${r.stdout}`);
  return [...new Set(flags)];
}

/** The text of the doc's "## NAME" section, up to the next "## " heading. */
function section(doc, name) {
  const lines = doc.split('\n');
  const start = lines.findIndex((l) => l.trim() === `## ${name}`);
  if (start < 0) return null;
  const end = lines.findIndex((l, i) => i > start && l.startsWith('## '));
  return lines.slice(start, end < 0 ? undefined : end).join('\n');
}

/** True when text names flag exactly: --max-queue is not --max-queue-kib. */
function mentions(text, flag) {
  const escaped = flag.replace(/[-]/g, '\\-');
  return new RegExp(`${escaped}(?![A-Za-z0-9-])`).test(text);
}

const doc = fs.readFileSync(DOC, 'utf8');

for (const name of BINARIES) {
  test(`docs/config.md documents every flag of ${name} --help`, () => {
    const flags = helpFlags(name);
    const text = section(doc, name);
    assert.ok(text, `docs/config.md has no section "## ${name}" (flags to document: ${flags.join(', ')})`);
    const missing = flags.filter((f) => !mentions(text, f));
    assert.deepEqual(missing, [],
      `${name}: ${missing.length} flag(s) of --help missing from section "## ${name}" of ` +
      `docs/config.md: ${missing.join(', ')}`);
  });
}
