#!/usr/bin/env node
// Verifies the deployment's hash-chained audit log and exits non-zero at the first bad record.
//   embedded:    FLOTILLA_DATA_DIR=.data node scripts/audit-verify.mjs      (reads <dir>/flotilla.db)
//   distributed: FLOTILLA_MODE=distributed MONGO_URL=mongodb://… node scripts/audit-verify.mjs
// Uses the memory lib's own adapters (build first: npx tsc -b), so there is one definition of the hash.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const { SqliteAuditLog, MongoAuditLog } = require('../libs/memory/dist/index.js');

const mode = process.env.FLOTILLA_MODE ?? (process.env.MONGO_URL && !process.env.FLOTILLA_DATA_DIR ? 'distributed' : 'embedded');
let log;
if (mode === 'distributed') {
  if (!process.env.MONGO_URL) {
    console.error('audit-verify: MONGO_URL is required in distributed mode');
    process.exit(2);
  }
  log = new MongoAuditLog(process.env.MONGO_URL);
} else {
  const file = join(process.env.FLOTILLA_DATA_DIR ?? '.data', 'flotilla.db');
  if (!existsSync(file)) {
    console.error(`audit-verify: no embedded database at ${file} (set FLOTILLA_DATA_DIR)`);
    process.exit(2);
  }
  log = new SqliteAuditLog(file);
}

try {
  await log.init();
  const result = await log.verify();
  if (result.ok) {
    console.log(JSON.stringify({ ok: true, records: result.records }));
    process.exitCode = 0;
  } else {
    const bad = (await log.list({ limit: 1_000_000 })).find((r) => r.seq === result.firstBadSeq);
    console.error(JSON.stringify({ ok: false, records: result.records, firstBadSeq: result.firstBadSeq, reason: result.reason, record: bad ?? null }));
    process.exitCode = 1;
  }
} catch (err) {
  console.error(`audit-verify: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 2;
} finally {
  await log.close();
}
