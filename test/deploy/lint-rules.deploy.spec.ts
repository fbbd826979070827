import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/*
 * Lint rules that exist on paper only are an anti-pattern (STYLE.md): this proves the module
 * boundaries, the one-owner-per-outside-client rule and promise safety actually fail the lint.
 */
jest.setTimeout(120_000);

const ROOT = resolve(__dirname, '../..');

function lint(project: string, code: string): string {
  const file = join(ROOT, project, 'src', `zz-lint-probe-${process.pid}.ts`);
  writeFileSync(file, code);
  try {
    execFileSync(process.execPath, [join(ROOT, 'node_modules/eslint/bin/eslint.js'), '--no-cache', file], { cwd: ROOT, stdio: 'pipe' });
    return '';
  } catch (err) {
    return String((err as { stdout?: Buffer }).stdout ?? err);
  } finally {
    rmSync(file, { force: true });
  }
}

describe('lint enforces the house rules', () => {
  it('bans outside clients outside their owning lib, and cross-scope imports', () => {
    const out = lint('libs/service-planner', "import { Kafka } from 'kafkajs';\nimport mongoose from 'mongoose';\nimport { GatewayModule } from '@flotilla/service-gateway';\nexport const x = [Kafka, mongoose, GatewayModule];\n");
    expect(out).toMatch(/not allowed to import "kafkajs"/);
    expect(out).toMatch(/not allowed to import "mongoose"/);
    expect(out).toMatch(/scope:planner" can only depend on libs tagged with/);
  });

  it('lets the owning lib import its client', () => {
    expect(lint('libs/messaging', "import { Kafka } from 'kafkajs';\nexport const k = Kafka;\n")).toBe('');
  });

  it('keeps utils free of adapters', () => {
    expect(lint('libs/config', "import { openEmbeddedDb } from '@flotilla/embedded-db';\nexport const f = openEmbeddedDb;\n"))
      .toMatch(/type:util" can only depend on libs tagged with "type:util"/);
  });

  it('forbids deep imports and floating promises', () => {
    const out = lint('libs/workflow', "import { decode } from '@flotilla/contracts/src/registry';\nexport async function f(): Promise<void> {}\nexport function g(): void { f(); }\nexport const d = decode;\n");
    expect(out).toMatch(/public entry point/);
    expect(out).toMatch(/no-floating-promises/);
  });
});
