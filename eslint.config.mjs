// Lint is a gate, not a suggestion: module boundaries, one owner per outside client, and promise
// safety are errors, and CI runs with --max-warnings=0.
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

/** Outside clients and the one lib allowed to import each (STYLE.md: one owner per dependency). */
const OWNED = {
  kafkajs: 'messaging',
  openai: 'llm',
  mongoose: 'memory',
  mongodb: 'memory',
  '@qdrant/js-client-rest': 'retrieval',
  'better-sqlite3': 'embedded-db',
  jose: 'auth',
  '@opentelemetry/api': 'telemetry',
  '@opentelemetry/sdk-trace-base': 'telemetry',
  '@opentelemetry/sdk-trace-node': 'telemetry',
  '@opentelemetry/core': 'telemetry',
  '@opentelemetry/resources': 'telemetry',
  '@opentelemetry/exporter-trace-otlp-http': 'telemetry',
  '@opentelemetry/semantic-conventions': 'telemetry',
};
const ALL_OWNED = Object.keys(OWNED);
const LIBS = ['common', 'config', 'telemetry', 'contracts', 'guardrails', 'embedded-db', 'messaging', 'workflow', 'llm', 'memory', 'retrieval', 'tools', 'auth', 'platform', 'sample-business',
  'service-gateway', 'service-coordinator', 'service-planner', 'service-retriever', 'service-tool', 'service-validator'];

const depConstraints = [
  { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:feature', 'type:adapter', 'type:contract', 'type:util'], bannedExternalImports: ALL_OWNED },
  { sourceTag: 'type:feature', onlyDependOnLibsWithTags: ['type:feature', 'type:adapter', 'type:contract', 'type:util'] },
  { sourceTag: 'type:adapter', onlyDependOnLibsWithTags: ['type:adapter', 'type:contract', 'type:util'] },
  { sourceTag: 'type:contract', onlyDependOnLibsWithTags: ['type:contract', 'type:util'] },
  { sourceTag: 'type:util', onlyDependOnLibsWithTags: ['type:util'] },
  { sourceTag: 'scope:shared', onlyDependOnLibsWithTags: ['scope:shared'] },
  { sourceTag: 'scope:embedded', onlyDependOnLibsWithTags: ['scope:shared', 'scope:gateway', 'scope:coordinator', 'scope:planner', 'scope:retriever', 'scope:tool', 'scope:validator', 'scope:sample'] },
  ...['gateway', 'coordinator', 'planner', 'retriever', 'tool', 'validator', 'sample'].map((s) => ({
    sourceTag: `scope:${s}`,
    onlyDependOnLibsWithTags: ['scope:shared', `scope:${s}`],
  })),
  // Every lib may import only the outside clients it owns.
  ...LIBS.map((lib) => ({
    sourceTag: `lib:${lib}`,
    bannedExternalImports: ALL_OWNED.filter((pkg) => OWNED[pkg] !== lib),
  })),
];

export default [
  { ignores: ['**/dist/**', '**/node_modules/**', '.nx/**', '.infra/**', '.data/**', 'coverage/**', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: {
        project: ['./libs/*/tsconfig.spec.json', './apps/*/tsconfig.spec.json', './tsconfig.test.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@nx/enforce-module-boundaries': ['error', { enforceBuildableLibDependency: false, allow: [], depConstraints, banTransitiveDependencies: true }],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      // Non-null assertions are used after a check the compiler cannot follow (Map lookups of keys
      // just validated); an error rather than a warning would only breed casts.
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-imports': ['error', { patterns: [
        { group: ['@flotilla/*/*'], message: 'Import a lib only through its public entry point.' },
        { group: ['../../libs/*', '../../../libs/*', '../../../../libs/*', '../../apps/*', '../../../apps/*'], message: 'No relative imports across projects.' },
      ] }],
    },
  },
  {
    // Tests may use a lib's own test doubles (e.g. the OpenAI-compatible test server) by path.
    files: ['test/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['@flotilla/*/*'], message: 'Import a lib only through its public entry point.' }] }],
    },
  },
];
