// Generates the per-project boilerplate (package.json, project.json, tsconfig*.json) from
// tools/projects.json so tags, references and targets never drift apart. Re-run after editing it.
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const spec = JSON.parse(readFileSync('tools/projects.json', 'utf8'));
const write = (file, obj) => writeFileSync(file, JSON.stringify(obj, null, 2) + '\n');
const refs = [];

function common(root, name, kind, tags, deps, extraPkg) {
  mkdirSync(join(root, 'src'), { recursive: true });
  refs.push({ path: `./${root}` });
  write(join(root, 'package.json'), {
    name: `@flotilla/${name}`,
    version: '0.1.0',
    private: true,
    ...extraPkg,
    dependencies: Object.fromEntries(deps.map((d) => [`@flotilla/${d}`, '*'])),
  });
  write(join(root, 'tsconfig.json'), {
    extends: '../../tsconfig.base.json',
    compilerOptions: { rootDir: 'src', outDir: 'dist', tsBuildInfoFile: 'dist/tsconfig.tsbuildinfo' },
    include: ['src/**/*.ts'],
    exclude: ['src/**/*.spec.ts', 'src/**/testing/**'],
    references: deps.map((d) => ({ path: `../../libs/${d}` })),
  });
  write(join(root, 'tsconfig.spec.json'), {
    extends: '../../tsconfig.base.json',
    compilerOptions: { composite: false, declaration: false, declarationMap: false, noEmit: true, rootDir: '../..' },
    include: ['src/**/*.ts'],
  });
  write(join(root, 'project.json'), {
    name,
    $schema: '../../node_modules/nx/schemas/project-schema.json',
    sourceRoot: `${root}/src`,
    projectType: kind,
    tags,
    targets: {
      build: { executor: 'nx:run-commands', options: { command: `tsc -b ${root}` }, outputs: [`{projectRoot}/dist`], dependsOn: ['^build'] },
      lint: { executor: 'nx:run-commands', options: { command: `eslint --max-warnings=0 ${root}` } },
      test: { executor: 'nx:run-commands', options: { command: `jest --selectProjects unit --passWithNoTests --testPathPattern=${root}/` } },
    },
  });
  const idx = join(root, 'src', kind === 'library' ? 'index.ts' : 'main.ts');
  if (!existsSync(idx)) writeFileSync(idx, 'export {};\n');
}

for (const [name, l] of Object.entries(spec.libs)) {
  const tags = [`scope:${l.scope ?? 'shared'}`, `type:${l.type}`, `lib:${name}`];
  common(`libs/${name}`, name, 'library', tags, l.deps, {
    main: './dist/index.js',
    types: './dist/index.d.ts',
    exports: { '.': { '@flotilla/source': './src/index.ts', types: './dist/index.d.ts', default: './dist/index.js' } },
  });
}
for (const [name, a] of Object.entries(spec.apps)) {
  common(`apps/${name}`, `app-${name}`, 'application', [`scope:${a.scope}`, 'type:app'], a.deps, { main: './dist/main.js' });
}
write('tsconfig.json', { files: [], references: refs });
console.log(`generated ${refs.length} projects`);
