// Test tiers are split by suffix (STYLE.md): *.unit.spec.ts are pure and fast; *.int.spec.ts need the
// real Kafka broker and MongoDB-compatible server from scripts/infra.sh; *.e2e.spec.ts drive the
// running system through its public interfaces.
const transform = {
  // isolatedModules: transpile only (type checking is `npm run build` and lint), with decorator metadata for Nest.
  '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.test.json', diagnostics: false }],
};
const base = {
  transform,
  testEnvironment: 'node',
  // Resolve @flotilla/* to sources through the workspace packages' "@flotilla/source" export condition.
  testEnvironmentOptions: { customExportConditions: ['@flotilla/source', 'node', 'require', 'default'] },
  moduleFileExtensions: ['ts', 'js', 'json'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
};
module.exports = {
  projects: [
    { ...base, displayName: 'unit', testMatch: ['<rootDir>/{apps,libs}/*/src/**/*.unit.spec.ts'] },
    { ...base, displayName: 'int', testMatch: ['<rootDir>/{apps,libs,test}/**/*.int.spec.ts'] },
    // Real Qdrant: run only where QDRANT_URL points at one (none is available offline here).
    { ...base, displayName: 'qdrant', testMatch: ['<rootDir>/libs/**/*.qdrant.spec.ts'] },
    { ...base, displayName: 'deploy', testMatch: ['<rootDir>/test/deploy/**/*.deploy.spec.ts'] },
    { ...base, displayName: 'e2e-embedded', testMatch: ['<rootDir>/test/e2e/**/*.e2e.spec.ts', '<rootDir>/test/fuzz/**/*.e2e.spec.ts'], setupFiles: ['<rootDir>/test/support/mode-embedded.ts'] },
    { ...base, displayName: 'e2e-distributed', testMatch: ['<rootDir>/test/e2e/**/*.e2e.spec.ts', '<rootDir>/test/distributed/**/*.e2e.spec.ts'], setupFiles: ['<rootDir>/test/support/mode-distributed.ts'] },
    // Fault suite (test/fault): kill -9, broker restart, provider outage and poison messages on real Kafka + FerretDB; bounded, writes tmp/fault-table.md.
    { ...base, displayName: 'fault', testMatch: ['<rootDir>/test/fault/**/*.fault.spec.ts'], setupFiles: ['<rootDir>/test/support/mode-distributed.ts'] },
  ],
};
