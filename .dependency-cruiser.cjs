// The house, checked by `npm test` (test/house.test.ts): imports go one way, from the stages of
// a run (cli, apply, the manifest, the record) down to what they use, never back up.
const stages = '^src/(cli|apply|written|manifest|record|report|sync|sbom|generate|trace)';
module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', comment: 'an import cycle', from: {}, to: { circular: true } },
    {
      name: 'low-modules-stay-low',
      severity: 'error',
      comment: 'file operations, ELF reading and the shared helpers never import a stage above them',
      from: { path: '^src/(fsops|elf)/|^src/(inputs|errors|log|pool|output|progress|resources|vendor|version)\\.ts$' },
      to: { path: `${stages}|^src/(plan|bom)/` },
    },
    {
      name: 'planning-before-applying',
      severity: 'error',
      comment: 'reading BOMs and planning never import what applies the plan or reports on it',
      from: { path: '^src/(plan|bom)/' },
      to: { path: stages },
    },
  ],
  options: { tsPreCompilationDeps: true, tsConfig: { fileName: 'tsconfig.json' }, doNotFollow: { path: 'node_modules' } },
};
